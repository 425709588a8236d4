//! One executor per namespace: a `coordination.k8s.io/v1` Lease.
//!
//! Every pitcrew that can act (a console or `pitcrew agent`) competes for the Lease
//! `[kubernetes] lease_name` (default `pitcrew-executor`) in each namespace it acts in. Only the
//! holder executes actions there; the others show who holds it. The holder identity is
//! `user@host/pid (console|agent)`.
//!
//! - **acquire**: no Lease yet → create it (POST) with us as the holder;
//! - **renew**: we hold it → update (PUT, with the `resourceVersion` we read) `renewTime`;
//! - **take over**: another holder's `renewTime + leaseDurationSeconds` is in the past, or the
//!   holder was cleared → update it with us as the holder and `leaseTransitions` + 1;
//! - **give up** on stop: clear the holder (PUT), so another pitcrew can take it at once;
//! - a 409 Conflict on create or update means another pitcrew won the race: the Lease is read
//!   again and the winner reported.
//!
//! Time is passed in (`now`), so tests use fixed times. Expiry is judged from the Lease's own
//! `renewTime` against our clock, so clocks must agree to within a fraction of the duration
//! (client-go's leader election instead waits a full duration after it first sees a renewal;
//! keep `lease_seconds` well above the clock skew of the machines that run pitcrew).

use crate::clients::kube_error::{KubeError, Op};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, PostParams};
use serde::Serialize;
use std::collections::BTreeMap;

/// Attempts of one acquire, renew or release before giving up on conflicts.
const ATTEMPTS: u32 = 3;

/// Which kind of pitcrew holds a Lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The interactive console.
    Console,
    /// `pitcrew agent`.
    Agent,
}

impl Role {
    /// `console` or `agent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Console => "console",
            Role::Agent => "agent",
        }
    }
}

/// The holder identity of this process: `user@host/pid (console|agent)`.
pub fn identity(role: Role) -> String {
    let user = crate::operator::os_account();
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "unknown-host".to_string());
    format!(
        "{}@{}/{} ({})",
        user.trim(),
        host.trim(),
        std::process::id(),
        role.as_str()
    )
}

/// How we came to hold a Lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Acquired {
    /// There was none: we created it.
    Created,
    /// We held it and renewed it.
    Renewed,
    /// It had expired or was released: we took it over from `from` (none: released).
    TookOver {
        /// The previous holder, when there was one.
        from: Option<String>,
    },
}

/// The state of one namespace's Lease, as this pitcrew last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LeaseStatus {
    /// This pitcrew holds it and may act in the namespace.
    Held {
        /// How (created, renewed, taken over).
        how: Acquired,
        /// When it was renewed.
        renewed: Timestamp,
        /// When it expires unless renewed.
        expires: Timestamp,
        /// `leaseTransitions` after our write.
        transitions: i32,
    },
    /// Another pitcrew holds it: this one does not act in the namespace.
    Other {
        /// Its identity (`user@host/pid (console|agent)`).
        holder: String,
        /// When it last renewed.
        renewed: Timestamp,
        /// When it expires unless renewed.
        expires: Timestamp,
    },
    /// The Lease could not be read or written (the reason); this pitcrew does not act there.
    Unknown {
        /// What went wrong.
        error: String,
    },
    /// This pitcrew gave it up (on stop).
    Released,
}

impl LeaseStatus {
    /// True when this pitcrew may act.
    pub fn is_held(&self) -> bool {
        matches!(self, LeaseStatus::Held { .. })
    }

    /// A few words for the status bar, e.g. `executor: bob@h/12 (agent)`.
    pub fn short(&self) -> String {
        match self {
            LeaseStatus::Held { .. } => "executor: this pitcrew".to_string(),
            LeaseStatus::Other { holder, .. } => format!("executor: {holder}"),
            LeaseStatus::Unknown { .. } => "executor: unknown (lease error)".to_string(),
            LeaseStatus::Released => "executor: released".to_string(),
        }
    }
}

/// The Lease of every namespace, for one pitcrew identity.
#[derive(Clone)]
pub struct Leases {
    client: Client,
    name: String,
    duration_seconds: u32,
    identity: String,
    dry_run: bool,
}

impl Leases {
    /// The Lease `name` held for `duration_seconds` by `identity`; in dry-run mode every write
    /// carries `dryRun=All` (the server checks it, nothing is stored).
    pub fn new(
        client: Client,
        name: &str,
        duration_seconds: u32,
        identity: String,
        dry_run: bool,
    ) -> Leases {
        Leases {
            client,
            name: name.to_string(),
            duration_seconds: duration_seconds.max(1),
            identity,
            dry_run,
        }
    }

    /// Our holder identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lease duration, seconds.
    pub fn duration_seconds(&self) -> u32 {
        self.duration_seconds
    }

    fn api(&self, namespace: &str) -> Api<Lease> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn op(&self, verb: &'static str, namespace: &str) -> Op {
        Op::new(verb, "coordination.k8s.io", "leases", namespace, &self.name)
    }

    fn pp(&self) -> PostParams {
        PostParams {
            dry_run: self.dry_run,
            ..PostParams::default()
        }
    }

    /// Read the Lease (None when there is none).
    pub async fn read(&self, namespace: &str) -> Result<Option<Lease>, KubeError> {
        self.api(namespace)
            .get_opt(&self.name)
            .await
            .map_err(|e| KubeError::from_kube(self.op("get", namespace), e))
    }

    /// Who holds the Lease of `namespace` at `now` (None: nobody, or it expired).
    pub async fn holder(
        &self,
        namespace: &str,
        now: Timestamp,
    ) -> Result<Option<String>, KubeError> {
        Ok(self
            .read(namespace)
            .await?
            .and_then(|l| fresh_holder(&l, now, self.duration_seconds).map(|(h, _, _)| h)))
    }

    /// Acquire, renew or take over the Lease of `namespace` at `now`; `Other` when another
    /// pitcrew holds a fresh one (or won a race for it).
    pub async fn acquire(&self, namespace: &str, now: Timestamp) -> Result<LeaseStatus, KubeError> {
        let api = self.api(namespace);
        let me = self.identity.as_str();
        let duration = i32::try_from(self.duration_seconds).unwrap_or(i32::MAX);
        let mut last_conflict = None;
        for _ in 0..ATTEMPTS {
            let current = self.read(namespace).await?;
            match current {
                None => {
                    let lease = Lease {
                        metadata: ObjectMeta {
                            name: Some(self.name.clone()),
                            namespace: Some(namespace.to_string()),
                            ..ObjectMeta::default()
                        },
                        spec: Some(LeaseSpec {
                            holder_identity: Some(me.to_string()),
                            lease_duration_seconds: Some(duration),
                            acquire_time: Some(MicroTime(now)),
                            renew_time: Some(MicroTime(now)),
                            lease_transitions: Some(0),
                            ..LeaseSpec::default()
                        }),
                    };
                    match api.create(&self.pp(), &lease).await {
                        Ok(_) => {
                            return Ok(LeaseStatus::Held {
                                how: Acquired::Created,
                                renewed: now,
                                expires: expiry(now, self.duration_seconds),
                                transitions: 0,
                            });
                        }
                        Err(e) if status_code(&e) == Some(409) => {
                            last_conflict = Some(self.op("create", namespace));
                            continue;
                        }
                        Err(e) => {
                            return Err(KubeError::from_kube(self.op("create", namespace), e));
                        }
                    }
                }
                Some(mut lease) => {
                    let spec = lease.spec.clone().unwrap_or_default();
                    let holder = spec
                        .holder_identity
                        .clone()
                        .filter(|h| !h.trim().is_empty());
                    let ours = holder.as_deref() == Some(me);
                    if !ours
                        && let Some((holder, renewed, expires)) =
                            fresh_holder(&lease, now, self.duration_seconds)
                    {
                        return Ok(LeaseStatus::Other {
                            holder,
                            renewed,
                            expires,
                        });
                    }
                    let transitions = spec.lease_transitions.unwrap_or(0);
                    let (how, transitions) = if ours {
                        (Acquired::Renewed, transitions)
                    } else {
                        (
                            Acquired::TookOver {
                                from: holder.clone(),
                            },
                            transitions.saturating_add(1),
                        )
                    };
                    let mut new_spec = spec;
                    new_spec.holder_identity = Some(me.to_string());
                    new_spec.lease_duration_seconds = Some(duration);
                    new_spec.renew_time = Some(MicroTime(now));
                    new_spec.lease_transitions = Some(transitions);
                    if !ours {
                        new_spec.acquire_time = Some(MicroTime(now));
                    }
                    lease.spec = Some(new_spec);
                    match api.replace(&self.name, &self.pp(), &lease).await {
                        Ok(_) => {
                            return Ok(LeaseStatus::Held {
                                how,
                                renewed: now,
                                expires: expiry(now, self.duration_seconds),
                                transitions,
                            });
                        }
                        Err(e) if status_code(&e) == Some(409) => {
                            last_conflict = Some(self.op("update", namespace));
                            continue;
                        }
                        Err(e) => {
                            return Err(KubeError::from_kube(self.op("update", namespace), e));
                        }
                    }
                }
            }
        }
        Err(KubeError::Conflict {
            op: last_conflict.unwrap_or_else(|| self.op("update", namespace)),
            attempts: ATTEMPTS,
        })
    }

    /// Give the Lease of `namespace` up (clear the holder) if we hold it; true when we did.
    pub async fn release(&self, namespace: &str, now: Timestamp) -> Result<bool, KubeError> {
        let api = self.api(namespace);
        for _ in 0..ATTEMPTS {
            let Some(mut lease) = self.read(namespace).await? else {
                return Ok(false);
            };
            let mut spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(false);
            }
            spec.holder_identity = None;
            spec.renew_time = Some(MicroTime(now));
            lease.spec = Some(spec);
            match api.replace(&self.name, &self.pp(), &lease).await {
                Ok(_) => return Ok(true),
                Err(e) if status_code(&e) == Some(409) => continue,
                Err(e) => return Err(KubeError::from_kube(self.op("update", namespace), e)),
            }
        }
        Err(KubeError::Conflict {
            op: self.op("update", namespace),
            attempts: ATTEMPTS,
        })
    }
}

/// `renewTime + duration` (saturating).
pub(crate) fn expiry(renewed: Timestamp, duration_seconds: u32) -> Timestamp {
    renewed
        .saturating_add(SignedDuration::from_secs(i64::from(duration_seconds)))
        .unwrap_or(Timestamp::MAX)
}

/// The holder of `lease` with its renewal and expiry, when it has one that has not expired at
/// `now`. A Lease without `leaseDurationSeconds` uses `default_duration`; one without
/// `renewTime` its `acquireTime`; one with neither has expired.
pub(crate) fn fresh_holder(
    lease: &Lease,
    now: Timestamp,
    default_duration: u32,
) -> Option<(String, Timestamp, Timestamp)> {
    let spec = lease.spec.as_ref()?;
    let holder = spec
        .holder_identity
        .clone()
        .filter(|h| !h.trim().is_empty())?;
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0)?;
    let duration = spec
        .lease_duration_seconds
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(default_duration);
    let expires = expiry(renewed, duration);
    (expires > now).then_some((holder, renewed, expires))
}

/// The HTTP status of an API error.
pub(crate) fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

/// What [`executor_summary`] says when this pitcrew executes.
pub const EXECUTOR_HERE: &str = "executor: this pitcrew";

/// The Lease states in a few words for the status bar: who executes actions.
pub fn executor_summary(leases: &BTreeMap<String, LeaseStatus>) -> Option<String> {
    if leases.is_empty() {
        return Some("executor: acquiring the lease…".into());
    }
    let others: Vec<String> = leases
        .iter()
        .filter_map(|(ns, s)| match s {
            LeaseStatus::Other { holder, .. } => Some(format!("{ns}: {holder}")),
            _ => None,
        })
        .collect();
    if !others.is_empty() {
        return Some(format!("executor elsewhere ({})", others.join(", ")));
    }
    if let Some((ns, _)) = leases
        .iter()
        .find(|(_, s)| matches!(s, LeaseStatus::Unknown { .. }))
    {
        return Some(format!(
            "executor unknown in {ns} (lease error; not acting there)"
        ));
    }
    if leases.values().all(LeaseStatus::is_held) {
        return Some(EXECUTOR_HERE.into());
    }
    leases.values().next().map(LeaseStatus::short)
}

/// A Lease held by this process, renewed at the epoch (for tests).
#[cfg(test)]
impl LeaseStatus {
    pub(crate) fn held_for_test() -> LeaseStatus {
        LeaseStatus::Held {
            how: Acquired::Renewed,
            renewed: Timestamp::UNIX_EPOCH,
            expires: Timestamp::UNIX_EPOCH,
            transitions: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, renewed: i64, duration: Option<i32>) -> Lease {
        Lease {
            metadata: ObjectMeta::default(),
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: Some(MicroTime(Timestamp::from_second(renewed).unwrap())),
                lease_duration_seconds: duration,
                ..LeaseSpec::default()
            }),
        }
    }

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    #[test]
    fn a_holder_is_fresh_until_renewal_plus_duration() {
        let l = lease(Some("bob@h/1 (agent)"), 1000, Some(30));
        let (h, r, e) = fresh_holder(&l, t(1029), 15).unwrap();
        assert_eq!(h, "bob@h/1 (agent)");
        assert_eq!(r, t(1000));
        assert_eq!(e, t(1030));
        assert!(fresh_holder(&l, t(1030), 15).is_none(), "expired at 1030");
        // no duration on the Lease: the default applies
        let l = lease(Some("bob"), 1000, None);
        assert!(fresh_holder(&l, t(1014), 15).is_some());
        assert!(fresh_holder(&l, t(1016), 15).is_none());
    }

    #[test]
    fn a_cleared_holder_is_never_fresh() {
        assert!(fresh_holder(&lease(None, 1000, Some(30)), t(1001), 30).is_none());
        assert!(fresh_holder(&lease(Some(" "), 1000, Some(30)), t(1001), 30).is_none());
    }

    #[test]
    fn identity_names_user_host_pid_and_role() {
        let id = identity(Role::Agent);
        assert!(
            id.ends_with(&format!("/{} (agent)", std::process::id())),
            "{id}"
        );
        assert!(id.contains('@'), "{id}");
        assert!(identity(Role::Console).ends_with("(console)"));
    }

    #[test]
    fn status_bar_text_says_who_holds_it() {
        let s = LeaseStatus::Other {
            holder: "bob@h/1 (agent)".into(),
            renewed: t(0),
            expires: t(30),
        };
        assert_eq!(s.short(), "executor: bob@h/1 (agent)");
        assert!(!s.is_held());
    }

    #[test]
    fn executor_summary_names_the_other_holder_first() {
        let mut m = BTreeMap::new();
        assert_eq!(
            executor_summary(&m).as_deref(),
            Some("executor: acquiring the lease…")
        );
        m.insert("a".to_string(), LeaseStatus::held_for_test());
        m.insert("b".to_string(), LeaseStatus::held_for_test());
        assert_eq!(
            executor_summary(&m).as_deref(),
            Some("executor: this pitcrew")
        );
        m.insert(
            "c".to_string(),
            LeaseStatus::Unknown {
                error: "403".into(),
            },
        );
        assert!(executor_summary(&m).unwrap().contains("unknown in c"));
        m.insert(
            "d".to_string(),
            LeaseStatus::Other {
                holder: "bob@h/7 (agent)".into(),
                renewed: Timestamp::UNIX_EPOCH,
                expires: Timestamp::UNIX_EPOCH,
            },
        );
        assert_eq!(
            executor_summary(&m).as_deref(),
            Some("executor elsewhere (d: bob@h/7 (agent))")
        );
    }
}
