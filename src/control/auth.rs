//! Who is calling and what they may do: bearer tokens checked against a tokens file (each
//! token's SHA-256, never the token), a role per user, and failed attempts rate-limited per
//! address. Tokens are compared by hash and never logged, printed or journaled.
//!
//! The tokens file (TOML):
//!
//! ```toml
//! [[tokens]]
//! user = "alice"
//! role = "approver"          # viewer, approver or admin
//! sha256 = "9f86d0…"         # `pitcrew token --user alice --role approver --out F` makes one
//! ```

use super::{Role, Verb};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A caller the agent knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    /// The user's name, as journaled with each decision.
    pub user: String,
    /// What they may do, when a tokens file says (in Kubernetes the cluster's RBAC decides,
    /// verb by verb).
    pub role: Option<Role>,
    /// Their groups, user id and extra attributes, as the cluster's TokenReview said (what a
    /// SubjectAccessReview must be asked with).
    pub groups: Vec<String>,
    /// The cluster's user id.
    pub uid: Option<String>,
    /// The cluster's extra attributes.
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one the agent does not know (401).
    Unauthenticated(String),
    /// Known, but not allowed this verb (403).
    Forbidden {
        /// Who asked.
        user: String,
        /// What for.
        verb: Verb,
    },
    /// Too many failed attempts from this address (429).
    Throttled {
        /// Seconds until it may try again.
        retry_after: u64,
    },
    /// Who the caller is or what they may do could not be checked (the API server failed):
    /// refused, never let through (503).
    Unverifiable(String),
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Unauthenticated(why) => write!(f, "not authenticated: {why}"),
            Denied::Forbidden { user, verb } => write!(
                f,
                "{user} may not {verb} (verb \"{verb}\" on remediations.pitcrew.dev is not granted)",
                verb = verb.name()
            ),
            Denied::Throttled { retry_after } => write!(
                f,
                "too many failed attempts from this address: try again in {retry_after} s"
            ),
            Denied::Unverifiable(why) => write!(f, "refused: cannot check the caller now ({why})"),
        }
    }
}

/// The SHA-256 of a token, as the tokens file writes it (lower-case hex).
pub fn token_hash(token: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (32 bytes from the system's generator, URL-safe base64).
pub fn new_token() -> Result<String, String> {
    use base64::Engine as _;
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system's random generator failed".to_string())?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tokens: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    user: String,
    role: String,
    sha256: String,
}

/// The tokens the agent accepts, by hash.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    by_hash: HashMap<String, Identity>,
}

impl Tokens {
    /// Read a tokens file; every problem is said with the file's name.
    pub fn load(path: &std::path::Path) -> Result<Tokens, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot be read: {e}", path.display()))?;
        Tokens::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parse a tokens file's text.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        // the parser's message without what it quotes of the file (a token pasted in by
        // mistake must not reach a log), and where
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                text[..s.start.min(text.len())].matches('\n').count() + 1
            });
            let mut msg = String::new();
            for (k, part) in e.message().split('`').enumerate() {
                msg.push_str(if k % 2 == 0 { part } else { "…" });
            }
            format!("line {line}: {}", msg.trim())
        })?;
        let mut by_hash = HashMap::new();
        for (i, e) in file.tokens.into_iter().enumerate() {
            let n = i + 1;
            let role = Role::from_name(e.role.trim()).ok_or_else(|| {
                format!(
                    "token {n} ({}): unknown role '{}'; use viewer, approver or admin",
                    e.user, e.role
                )
            })?;
            let hash = e.sha256.trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "token {n} ({}): sha256 must be 64 hex digits (the token's SHA-256, not the token)",
                    e.user
                ));
            }
            let user = e.user.trim().to_string();
            if user.is_empty() || user.chars().any(char::is_control) {
                return Err(format!(
                    "token {n}: the user name is empty or not printable"
                ));
            }
            let who = Identity {
                user,
                role: Some(role),
                ..Identity::default()
            };
            if by_hash.insert(hash, who).is_some() {
                return Err(format!("token {n}: the same token is given twice"));
            }
        }
        if by_hash.is_empty() {
            return Err("no [[tokens]] entry: nobody could attach".into());
        }
        Ok(Tokens { by_hash })
    }

    /// Who holds `token`.
    pub fn identify(&self, token: &str) -> Option<&Identity> {
        self.by_hash.get(&token_hash(token))
    }
}

/// Failed attempts per address within [`FAIL_WINDOW`] after which the address waits …
pub const MAX_FAILURES: u32 = 10;
/// … a window that starts with the first failure.
pub const FAIL_WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most (the oldest windows are forgotten first).
const MAX_ADDRESSES: usize = 10_000;

/// Failed attempts per address: past [`MAX_FAILURES`] in [`FAIL_WINDOW`], refused until the
/// window ends.
#[derive(Debug, Default)]
pub struct FailLimiter {
    seen: std::sync::Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailLimiter {
    /// `Err` while `addr` is held back.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), Denied> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match seen.get(&addr) {
            Some(&(since, n)) if n >= MAX_FAILURES && now.duration_since(since) < FAIL_WINDOW => {
                let left = FAIL_WINDOW.saturating_sub(now.duration_since(since));
                Err(Denied::Throttled {
                    retry_after: left.as_secs().max(1),
                })
            }
            _ => Ok(()),
        }
    }

    /// Count a failure from `addr`.
    pub fn failed(&self, addr: IpAddr, now: Instant) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (since, _)| now.duration_since(*since) < FAIL_WINDOW);
            if seen.len() >= MAX_ADDRESSES {
                // every address is in its window: forget the oldest one
                if let Some(oldest) = seen.iter().min_by_key(|(_, (s, _))| *s).map(|(a, _)| *a) {
                    seen.remove(&oldest);
                }
            }
        }
        let e = seen.entry(addr).or_insert((now, 0));
        if now.duration_since(e.0) >= FAIL_WINDOW {
            *e = (now, 0);
        }
        e.1 += 1;
    }
}

/// Where callers are checked.
#[derive(Debug)]
enum Source {
    /// A tokens file.
    Tokens(Tokens),
    /// The Kubernetes API server: TokenReview, then SubjectAccessReview.
    Kube(super::kube_auth::KubeReview),
}

/// Decides who a caller is and whether they may do what they ask.
#[derive(Debug)]
pub struct Authority {
    source: Source,
    limiter: FailLimiter,
}

impl Authority {
    /// Over a tokens file's tokens.
    pub fn new(tokens: Tokens) -> Authority {
        Authority {
            source: Source::Tokens(tokens),
            limiter: FailLimiter::default(),
        }
    }

    /// Over the cluster's identity and RBAC.
    pub fn kube(review: super::kube_auth::KubeReview) -> Authority {
        Authority {
            source: Source::Kube(review),
            limiter: FailLimiter::default(),
        }
    }

    /// Who holds the bearer token of this `Authorization` header value, from `addr`.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        addr: IpAddr,
    ) -> Result<Identity, Denied> {
        let now = Instant::now();
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        // a token known to be good passes whatever others sent from the same address (behind
        // a proxy every caller shares one); the rest wait out the failures' window
        if let Some(who) = token.and_then(|t| self.known(t)) {
            return Ok(who);
        }
        self.limiter.check(addr, now)?;
        let Some(token) = token else {
            self.limiter.failed(addr, now);
            return Err(Denied::Unauthenticated(
                "no bearer token (Authorization: Bearer …)".into(),
            ));
        };
        let found = match &self.source {
            Source::Tokens(_) => Err(Denied::Unauthenticated("the token is not known".into())),
            Source::Kube(k) => k.authenticate(token).await,
        };
        if matches!(found, Err(Denied::Unauthenticated(_))) {
            self.limiter.failed(addr, now);
        }
        found
    }

    /// Who holds `token`, when that is known without asking anyone.
    fn known(&self, token: &str) -> Option<Identity> {
        match &self.source {
            Source::Tokens(t) => t.identify(token).cloned(),
            Source::Kube(k) => k.cached(token),
        }
    }

    /// Whether `who` may `verb`.
    pub async fn authorize(&self, who: &Identity, verb: Verb) -> Result<(), Denied> {
        let allowed = match (&self.source, who.role) {
            (Source::Tokens(_), Some(role)) => role.allows(verb),
            (Source::Tokens(_), None) => false,
            (Source::Kube(k), _) => k.allows(who, verb).await?,
        };
        if allowed {
            Ok(())
        } else {
            Err(Denied::Forbidden {
                user: who.user.clone(),
                verb,
            })
        }
    }

    /// The verbs `who` may use (for the console to know; each request is checked anyway).
    pub async fn verbs(&self, who: &Identity) -> Vec<Verb> {
        let mut out = Vec::new();
        for v in Verb::ALL {
            if self.authorize(who, v).await.is_ok() {
                out.push(v);
            }
        }
        out
    }

    /// Both: the caller of this request, if they may `verb`.
    pub async fn check(
        &self,
        authorization: Option<&str>,
        addr: IpAddr,
        verb: Verb,
    ) -> Result<Identity, Denied> {
        let who = self.authenticate(authorization, addr).await?;
        self.authorize(&who, verb).await?;
        Ok(who)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(entries: &[(&str, &str, &str)]) -> String {
        entries
            .iter()
            .map(|(u, r, t)| {
                format!(
                    "[[tokens]]\nuser = \"{u}\"\nrole = \"{r}\"\nsha256 = \"{}\"\n",
                    token_hash(t)
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn a_known_token_names_its_user_and_role_and_the_role_bounds_the_verbs() {
        let tokens = Tokens::parse(&file(&[
            ("alice", "approver", "tok-a"),
            ("vic", "viewer", "tok-v"),
        ]))
        .unwrap();
        let auth = Authority::new(tokens);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let alice = auth
            .check(Some("Bearer tok-a"), ip, Verb::Approve)
            .await
            .unwrap();
        assert_eq!(alice.user, "alice");
        assert_eq!(
            auth.check(Some("Bearer tok-v"), ip, Verb::Approve).await,
            Err(Denied::Forbidden {
                user: "vic".into(),
                verb: Verb::Approve
            })
        );
        assert!(
            auth.check(Some("Bearer tok-v"), ip, Verb::Watch)
                .await
                .is_ok()
        );
        assert!(matches!(
            auth.check(None, ip, Verb::Watch).await,
            Err(Denied::Unauthenticated(_))
        ));
        assert!(matches!(
            auth.check(Some("Basic dG9rLWE="), ip, Verb::Watch).await,
            Err(Denied::Unauthenticated(_))
        ));
        let forbidden = auth
            .check(Some("Bearer tok-v"), ip, Verb::Phase)
            .await
            .unwrap_err()
            .to_string();
        assert!(forbidden.contains("\"phase\""), "{forbidden}");
        assert!(!forbidden.contains("tok-v"), "{forbidden}");
    }

    #[tokio::test]
    async fn failed_attempts_are_held_back_per_address_and_the_window_ends() {
        let auth = Authority::new(Tokens::parse(&file(&[("a", "admin", "good")])).unwrap());
        let bad: IpAddr = "10.0.0.9".parse().unwrap();
        let other: IpAddr = "10.0.0.10".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(matches!(
                auth.check(Some("Bearer wrong"), bad, Verb::Get).await,
                Err(Denied::Unauthenticated(_))
            ));
        }
        // that address waits now for anything but a known token (behind a proxy, callers
        // share one address: the holder of a good token is not locked out by another's
        // mistakes); another address is not held back at all
        for t in [Some("Bearer wrong"), Some("Bearer other"), None] {
            assert!(matches!(
                auth.check(t, bad, Verb::Get).await,
                Err(Denied::Throttled { .. })
            ));
        }
        assert!(
            auth.check(Some("Bearer good"), bad, Verb::Get)
                .await
                .is_ok()
        );
        assert!(matches!(
            auth.check(Some("Bearer wrong"), other, Verb::Get).await,
            Err(Denied::Unauthenticated(_))
        ));
        let lim = FailLimiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            lim.failed(bad, t0);
        }
        assert!(lim.check(bad, t0).is_err());
        assert!(lim.check(bad, t0 + FAIL_WINDOW).is_ok());
    }

    #[test]
    fn malformed_tokens_files_are_refused_with_the_reason() {
        for (text, says) in [
            (
                "[[tokens]]\nuser = \"a\"\nrole = \"root\"\nsha256 = \"00\"\n",
                "unknown role",
            ),
            (
                "[[tokens]]\nuser = \"a\"\nrole = \"admin\"\nsha256 = \"xyz\"\n",
                "64 hex",
            ),
            ("", "nobody could attach"),
            ("[[tokens]]\nuser = \"a\"\n", "missing field"),
            ("tokens = 3", "invalid type"),
            (
                "[[tokens]]\nuser = \"a\"\nrole = admin-s3cret-token\n",
                "line 3",
            ),
        ] {
            let e = Tokens::parse(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
            assert!(!e.contains("s3cret"), "the file's text quoted: {e}");
        }
        let twice = file(&[("a", "admin", "same"), ("b", "viewer", "same")]);
        assert!(Tokens::parse(&twice).unwrap_err().contains("twice"));
    }

    #[test]
    fn new_tokens_differ_and_hash_to_64_hex_digits() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_ne!(a, b);
        assert!(a.len() >= 40);
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
