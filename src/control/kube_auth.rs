//! Who is calling and what they may do, asked of the Kubernetes API server, so that the
//! cluster's identity provider and RBAC decide: the bearer token goes into a `TokenReview`
//! (authentication.k8s.io/v1), and the user it names, with their groups, into a
//! `SubjectAccessReview` (authorization.k8s.io/v1) for the verb on the resource `remediations`
//! of the group `pitcrew.dev` in the agent's namespace (no CRD is needed). Any failure of the
//! API server refuses (fails closed). Answers are kept a little while, as the API server's own
//! webhook authenticators do: who a token is for 60 s, an allowed or denied verb for 30 s.

use super::Verb;
use super::auth::{Denied, Identity, token_hash};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long who a token is stays known …
const WHO_FOR: Duration = Duration::from_secs(60);
/// … and whether a user may use a verb.
const MAY_FOR: Duration = Duration::from_secs(30);
/// Entries kept at most in each (the oldest are dropped past it).
const KEPT: usize = 4096;
/// How long one review may take.
const REVIEW_WAIT: Duration = Duration::from_secs(5);

/// The API group of the resource the verbs are asked on.
pub const GROUP: &str = "pitcrew.dev";
/// The resource the verbs are asked on.
pub const RESOURCE: &str = "remediations";

/// What a SubjectAccessReview is asked with: user, uid, groups and verb.
type Asked = (String, Option<String>, Vec<String>, Verb);

/// Reviews callers with the API server.
pub struct KubeReview {
    client: kube::Client,
    namespace: String,
    who: Mutex<HashMap<String, (Instant, Identity)>>,
    may: Mutex<HashMap<Asked, (Instant, bool)>>,
}

impl std::fmt::Debug for KubeReview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeReview")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

fn unverifiable(what: &str, e: &dyn std::fmt::Display) -> Denied {
    Denied::Unverifiable(crate::redact::text(&format!("{what}: {e}"), 300))
}

fn keep<K: std::hash::Hash + Eq + Clone, V>(m: &mut HashMap<K, (Instant, V)>, k: K, v: V) {
    if m.len() >= KEPT {
        let now = Instant::now();
        m.retain(|_, (at, _)| now.duration_since(*at) < WHO_FOR);
        if m.len() >= KEPT
            && let Some(old) = m
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            m.remove(&old);
        }
    }
    m.insert(k, (Instant::now(), v));
}

impl KubeReview {
    /// Reviews with `client`, asking about `namespace`.
    pub fn new(client: kube::Client, namespace: &str) -> KubeReview {
        KubeReview {
            client,
            namespace: namespace.to_string(),
            who: Mutex::new(HashMap::new()),
            may: Mutex::new(HashMap::new()),
        }
    }

    /// Who holds `token`, when a TokenReview said so a little while ago.
    pub fn cached(&self, token: &str) -> Option<Identity> {
        let m = self.who.lock().ok()?;
        let (at, who) = m.get(&token_hash(token))?;
        (at.elapsed() < WHO_FOR).then(|| who.clone())
    }

    /// Who holds `token`, as a TokenReview says.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Denied> {
        // kept by the token's hash, never the token
        let key = token_hash(token);
        if let Ok(m) = self.who.lock()
            && let Some((at, who)) = m.get(&key)
            && at.elapsed() < WHO_FOR
        {
            return Ok(who.clone());
        }
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let answer = tokio::time::timeout(REVIEW_WAIT, api.create(&PostParams::default(), &review))
            .await
            .map_err(|_| unverifiable("TokenReview", &"the API server did not answer in time"))?
            .map_err(|e| unverifiable("TokenReview", &e))?;
        let status = answer.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            return Err(Denied::Unauthenticated(match status.error {
                Some(e) if !e.is_empty() => {
                    format!(
                        "the cluster does not accept the token ({})",
                        crate::redact::text(&e, 200)
                    )
                }
                _ => "the cluster does not accept the token".into(),
            }));
        }
        let user = status.user.unwrap_or_default();
        let Some(name) = user.username.filter(|u| !u.is_empty()) else {
            return Err(Denied::Unauthenticated(
                "the cluster accepted the token but named no user".into(),
            ));
        };
        // the name is asked about as it is (a changed name would be another user); one that
        // could not be shown or journaled safely is refused, not cleaned
        if name.len() > 256 || name.chars().any(char::is_control) {
            return Err(Denied::Unauthenticated(
                "the cluster names a user that cannot be shown (too long, or control characters)"
                    .into(),
            ));
        }
        let who = Identity {
            user: name,
            role: None,
            groups: user.groups.unwrap_or_default(),
            uid: user.uid,
            extra: user.extra.unwrap_or_default(),
        };
        if let Ok(mut m) = self.who.lock() {
            keep(&mut m, key, who.clone());
        }
        Ok(who)
    }

    /// Whether `who` may `verb`, as a SubjectAccessReview says.
    pub async fn allows(&self, who: &Identity, verb: Verb) -> Result<bool, Denied> {
        // kept by everything the review is asked with, not the name alone
        let key = (who.user.clone(), who.uid.clone(), who.groups.clone(), verb);
        if let Ok(m) = self.may.lock()
            && let Some((at, ok)) = m.get(&key)
            && at.elapsed() < MAY_FOR
        {
            return Ok(*ok);
        }
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(who.user.clone()),
                groups: Some(who.groups.clone()),
                uid: who.uid.clone(),
                extra: (!who.extra.is_empty()).then(|| who.extra.clone()),
                resource_attributes: Some(ResourceAttributes {
                    group: Some(GROUP.into()),
                    resource: Some(RESOURCE.into()),
                    verb: Some(verb.name().into()),
                    namespace: Some(self.namespace.clone()),
                    ..ResourceAttributes::default()
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = tokio::time::timeout(REVIEW_WAIT, api.create(&PostParams::default(), &review))
            .await
            .map_err(|_| {
                unverifiable(
                    "SubjectAccessReview",
                    &"the API server did not answer in time",
                )
            })?
            .map_err(|e| unverifiable("SubjectAccessReview", &e))?;
        let status = answer.status.unwrap_or_default();
        if let Some(e) = status.evaluation_error.filter(|e| !e.is_empty())
            && !status.allowed
        {
            tracing::info!(user = %who.user, verb = verb.name(), "access review: {e}");
        }
        let ok = status.allowed && status.denied != Some(true);
        if let Ok(mut m) = self.may.lock() {
            keep(&mut m, key, ok);
        }
        Ok(ok)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Arc;

    /// The fake API server's state: what it was asked, and how it answers.
    #[derive(Default)]
    struct Fake {
        asked: Vec<(String, Value)>,
        fail: bool,
    }

    /// A fake API server on loopback: `alice-token` is alice (group oncall), who may `watch`
    /// and `approve`; anything else is not authenticated.
    async fn fake() -> (kube::Client, Arc<Mutex<Fake>>) {
        use axum::routing::post;
        let state = Arc::new(Mutex::new(Fake::default()));
        let s1 = state.clone();
        let s2 = state.clone();
        let app = axum::Router::new()
            .route(
                "/apis/authentication.k8s.io/v1/tokenreviews",
                post(move |body: axum::Json<Value>| {
                    let s = s1.clone();
                    async move {
                        let mut g = s.lock().unwrap();
                        g.asked.push(("tokenreview".into(), body.0.clone()));
                        if g.fail {
                            return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd down","reason":"InternalError","code":500})));
                        }
                        let ok = body.0["spec"]["token"] == "alice-token";
                        let mut out = body.0.clone();
                        out["status"] = if ok {
                            json!({"authenticated": true, "user": {"username": "alice", "uid": "u-1", "groups": ["oncall", "system:authenticated"]}})
                        } else {
                            json!({"authenticated": false, "error": "invalid bearer token"})
                        };
                        (axum::http::StatusCode::CREATED, axum::Json(out))
                    }
                }),
            )
            .route(
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                post(move |body: axum::Json<Value>| {
                    let s = s2.clone();
                    async move {
                        let mut g = s.lock().unwrap();
                        g.asked.push(("sar".into(), body.0.clone()));
                        if g.fail {
                            return (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"kind":"Status","apiVersion":"v1","status":"Failure","message":"unavailable","reason":"ServiceUnavailable","code":503})));
                        }
                        let verb = body.0["spec"]["resourceAttributes"]["verb"].as_str().unwrap_or("");
                        let allowed = body.0["spec"]["user"] == "alice" && ["watch", "approve"].contains(&verb);
                        let mut out = body.0.clone();
                        out["status"] = json!({"allowed": allowed});
                        (axum::http::StatusCode::CREATED, axum::Json(out))
                    }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cfg = kube::Config::new(format!("http://{addr}").parse().unwrap());
        (kube::Client::try_from(cfg).unwrap(), state)
    }

    #[tokio::test]
    async fn the_reviews_are_those_kubernetes_defines_and_failures_refuse() {
        let (client, state) = fake().await;
        let review = KubeReview::new(client, "mlops");
        let auth = super::super::auth::Authority::kube(review);
        let ip: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let alice = auth
            .check(Some("Bearer alice-token"), ip, Verb::Approve)
            .await
            .unwrap();
        assert_eq!(alice.user, "alice");
        assert_eq!(alice.groups, ["oncall", "system:authenticated"]);
        {
            let g = state.lock().unwrap();
            let (kind, tr) = &g.asked[0];
            assert_eq!(kind, "tokenreview");
            assert_eq!(tr["apiVersion"], "authentication.k8s.io/v1");
            assert_eq!(tr["kind"], "TokenReview");
            assert_eq!(tr["spec"], json!({"token": "alice-token"}));
            let (kind, sar) = &g.asked[1];
            assert_eq!(kind, "sar");
            assert_eq!(sar["apiVersion"], "authorization.k8s.io/v1");
            assert_eq!(sar["kind"], "SubjectAccessReview");
            assert_eq!(
                sar["spec"],
                json!({
                    "user": "alice",
                    "uid": "u-1",
                    "groups": ["oncall", "system:authenticated"],
                    "resourceAttributes": {
                        "group": "pitcrew.dev",
                        "resource": "remediations",
                        "verb": "approve",
                        "namespace": "mlops"
                    }
                })
            );
        }
        // denied by the cluster's RBAC: 403 naming the verb
        assert_eq!(
            auth.check(Some("Bearer alice-token"), ip, Verb::Phase)
                .await,
            Err(Denied::Forbidden {
                user: "alice".into(),
                verb: Verb::Phase
            })
        );
        // a token the cluster does not know: 401
        assert!(matches!(
            auth.check(Some("Bearer mallory"), ip, Verb::Watch).await,
            Err(Denied::Unauthenticated(_))
        ));
        // the API server failing: refused (503), never let through, for a new token and for
        // a verb not yet reviewed
        state.lock().unwrap().fail = true;
        let (client, state2) = fake().await;
        state2.lock().unwrap().fail = true;
        let down = super::super::auth::Authority::kube(KubeReview::new(client, "mlops"));
        assert!(matches!(
            down.check(Some("Bearer alice-token"), ip, Verb::Watch)
                .await,
            Err(Denied::Unverifiable(_))
        ));
        assert!(matches!(
            auth.check(Some("Bearer alice-token"), ip, Verb::Veto).await,
            Err(Denied::Unverifiable(_))
        ));
        // the answers are kept a while: alice's approve does not ask again
        let before = state.lock().unwrap().asked.len();
        assert!(
            auth.check(Some("Bearer alice-token"), ip, Verb::Approve)
                .await
                .is_ok()
        );
        assert_eq!(state.lock().unwrap().asked.len(), before);
    }
}
