//! The Kubernetes actuator: actions on the Deployments that serve the models.
//!
//! A model `namespace/name` is served by the Deployment
//! `fill_template(deployment_template, namespace, name)` (default `{name}`) in its namespace.
//!
//! | action | what is sent |
//! |---|---|
//! | `Scale{replicas}` | GET then PATCH `/apis/apps/v1/namespaces/NS/deployments/NAME/scale`, merge patch `{"spec":{"replicas":N}}` |
//! | `Restart` | merge patch of the pod template annotation `kubectl.kubernetes.io/restartedAt` = RFC 3339 now (as `kubectl rollout restart`) |
//! | `Rollback` | as `kubectl rollout undo`: the Deployment's ReplicaSets (label selector + controller owner reference, `deployment.kubernetes.io/revision`), the highest revision below the current one; its pod template (without the `pod-template-hash` label) is patched into the Deployment |
//! | `Canary{version, share}` | the canary shape below |
//! | `Retrain` | a Job from the CronJob `fill_template(retrain_template, NS, name)` (default `{name}-retrain`), as `kubectl create job --from=cronjob/…` |
//! | `Patch{bumps}` | a Job from the CronJob `fill_template(build_template, NS, name)` (default `{name}-build`), its containers given `PITCREW_PINS` (`pkg==version …`) and the Job the annotation `pitcrew.dev/pins`; the build registers the patched version, which the engine then rolls out as a canary |
//!
//! ## The canary shape
//!
//! A model's canary is a second Deployment, `canary_template` (default `{name}-canary`), whose
//! pods carry the same labels the model's Service selects, so traffic splits by ready pods. The
//! version a pod serves is carried by its pod template: the annotation `pitcrew.dev/model-version`
//! and the environment variable `MODEL_VERSION` on every container (the serving container loads
//! that version of the model from the registry). Images are never changed.
//!
//! With T = the stable's + the canary's current replicas (at least 1):
//! - share s in (0, 1): the canary's template gets version v; canary = round(T·s) clamped to
//!   1 ..= T−1, stable = T − canary (with T < 2 both get one pod: T becomes 2);
//! - share 0: the canary goes to 0 and the stable back to T;
//! - share 1 (promotion): the stable's template gets version v (annotation and `MODEL_VERSION`,
//!   which rolls its pods), the stable goes to T and the canary to 0.
//!
//! Increases are applied before decreases, so serving capacity never dips.
//!
//! ## Safety
//!
//! - Server-side dry run (`dry_run`): every write carries `dryRun=All`; the server validates it
//!   (admission, RBAC) and stores nothing; replies say "server-side dry run: would …".
//! - Template changes (rollback, version) are computed from what was read and sent as a merge
//!   patch carrying that `metadata.resourceVersion`, so a concurrent change gives 409 Conflict;
//!   every 409 is retried (read again, apply again) at most [`ATTEMPTS`] times.
//! - 403 names the verb, resource (with subresource), API group and namespace that are missing
//!   and points at `pitcrew rbac`; 404 names the Deployment and the template that made its name.
//! - The actuator acts in a namespace only while this pitcrew holds its Lease
//!   ([`super::lease`]); otherwise it says who does. It acquires or renews the Lease before
//!   every action; [`KubeActuator::keep_leases`] holds the Leases of the namespaces a session
//!   watches between actions and gives them up on stop. In dry-run mode the Lease writes are
//!   dry runs too (nothing is stored), so a dry-run console never keeps a real executor out,
//!   but it still refuses where another pitcrew holds a fresh Lease.
//! - Replica bounds, cooldowns and blast radius are the engine's guardrails, checked before an
//!   action reaches any actuator; this one carries out what it is given.

mod actions;
mod manifest;
mod rbac;

pub use crate::clients::kube_error::{DeploymentNotFound, KubeError, Op};
pub use manifest::{
    CanarySplit, canary_split, job_from_cronjob, merge_diff, version_of, with_pins, with_version,
};
pub use rbac::{RBAC_RULES, RbacRule, rbac_role};

use super::lease::{LeaseStatus, Leases, Role, identity};
use super::{Acted, Actuator};
use crate::config::{KubeConfig, fill_template};
use crate::domain::Action;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, PatchParams, PostParams};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Attempts of one write before a 409 Conflict is reported.
pub(crate) const ATTEMPTS: u32 = 3;
/// The annotation `kubectl rollout restart` sets.
pub(crate) const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The pod template annotation with the model version a pod serves.
pub(crate) const VERSION_ANNOTATION: &str = "pitcrew.dev/model-version";
/// The environment variable with the model version a container serves.
pub(crate) const VERSION_ENV: &str = "MODEL_VERSION";
/// The environment variable that tells a patch build's containers what to pin.
pub(crate) const PINS_ENV: &str = "PITCREW_PINS";
/// The build Job's annotation with the same pins.
pub(crate) const PINS_ANNOTATION: &str = "pitcrew.dev/pins";
/// The environment variable a build Job's containers read the image packages to rebuild with
/// from: `container:package=version`, space-separated.
pub(crate) const IMAGE_FIXES_ENV: &str = "PITCREW_IMAGE_FIXES";
/// The annotation that shows the same on the build Job.
pub(crate) const IMAGE_FIXES_ANNOTATION: &str = "pitcrew.dev/image-fixes";
/// A ReplicaSet's (and Deployment's) revision.
pub(crate) const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The label a Deployment adds to its ReplicaSets' templates.
pub(crate) const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// What `kubectl create job --from=cronjob/…` marks a Job with.
pub(crate) const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

/// Where time comes from (tests use fixed times).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Carries out actions on Kubernetes Deployments (see the module docs).
pub struct KubeActuator {
    client: Client,
    cfg: KubeConfig,
    dry_run: bool,
    clock: Clock,
    leases: Leases,
    status: watch::Sender<BTreeMap<String, LeaseStatus>>,
    name: String,
}

/// A client of the cluster of the kubeconfig context `context` (else inferred: the current
/// context, or the in-cluster service account).
pub async fn client_for(context: Option<&str>) -> Result<Client, KubeError> {
    crate::clients::kube::client(context)
        .await
        .map_err(|e| KubeError::Config {
            what: e.what,
            message: e.message,
        })
}

impl KubeActuator {
    /// Connect with the kubeconfig context `cfg.context` (else inferred: the current context,
    /// or the in-cluster service account).
    pub async fn new(cfg: &KubeConfig, dry_run: bool, role: Role) -> Result<Self, KubeError> {
        let client = client_for(cfg.context.as_deref()).await?;
        Ok(Self::with_client(client, cfg, dry_run).with_identity(identity(role)))
    }

    /// Over an existing client (tests); the identity is this process's console identity and
    /// the clock the system clock.
    pub fn with_client(client: Client, cfg: &KubeConfig, dry_run: bool) -> Self {
        let id = identity(Role::Console);
        KubeActuator {
            leases: Leases::new(
                client.clone(),
                &cfg.lease_name,
                cfg.lease_seconds,
                id,
                dry_run,
            ),
            client,
            cfg: cfg.clone(),
            dry_run,
            clock: Arc::new(Timestamp::now),
            status: watch::Sender::new(BTreeMap::new()),
            name: if dry_run {
                "kubernetes (server-side dry run)".to_string()
            } else {
                "kubernetes".to_string()
            },
        }
    }

    /// Use another clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Use another holder identity for the Leases.
    pub fn with_identity(mut self, id: String) -> Self {
        self.leases = Leases::new(
            self.client.clone(),
            &self.cfg.lease_name,
            self.cfg.lease_seconds,
            id,
            self.dry_run,
        );
        self
    }

    /// The Leases this actuator competes for.
    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// The Lease state per namespace, as last seen (for the status bar).
    pub fn lease_status(&self) -> watch::Receiver<BTreeMap<String, LeaseStatus>> {
        self.status.subscribe()
    }

    fn note(&self, namespace: &str, s: LeaseStatus) {
        self.status.send_modify(|m| {
            m.insert(namespace.to_string(), s);
        });
    }

    /// Acquire or renew the Leases of `namespaces` now and every `lease_seconds / 3` until
    /// `cancel`, then give them up. The states go to [`Self::lease_status`].
    pub async fn keep_leases(&self, namespaces: &[String], cancel: CancellationToken) {
        let period =
            std::time::Duration::from_millis(u64::from(self.cfg.lease_seconds.max(1)) * 1000 / 3);
        loop {
            for ns in namespaces {
                self.check_lease(ns).await;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(period) => {}
            }
        }
        self.release_leases(namespaces).await;
    }

    /// Acquire or renew one Lease now, recording the outcome.
    pub async fn check_lease(&self, namespace: &str) -> LeaseStatus {
        let s = match self.leases.acquire(namespace, (self.clock)()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("lease in {namespace}: {e}");
                LeaseStatus::Unknown {
                    error: e.to_string(),
                }
            }
        };
        self.note(namespace, s.clone());
        s
    }

    /// Give up the Leases of `namespaces` that this pitcrew holds.
    pub async fn release_leases(&self, namespaces: &[String]) {
        for ns in namespaces {
            match self.leases.release(ns, (self.clock)()).await {
                Ok(true) => self.note(ns, LeaseStatus::Released),
                Ok(false) => {}
                Err(e) => tracing::warn!("releasing the lease in {ns}: {e}"),
            }
        }
    }

    fn split_key<'k>(&'k self, key: &'k str) -> Result<(&'k str, &'k str), KubeError> {
        let (ns, name) = match key.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => (self.cfg.namespace.as_str(), key),
        };
        if ns.is_empty() || name.is_empty() || name.contains('/') {
            return Err(KubeError::Invalid(format!(
                "model key '{key}' is not namespace/name"
            )));
        }
        Ok((ns, name))
    }

    fn deployments(&self, ns: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), ns)
    }

    fn patch_params(&self) -> PatchParams {
        PatchParams {
            dry_run: self.dry_run,
            ..PatchParams::default()
        }
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            dry_run: self.dry_run,
            ..PostParams::default()
        }
    }

    fn said(&self, would: String, did: String) -> String {
        if self.dry_run {
            format!("server-side dry run: would {would}")
        } else {
            did
        }
    }

    /// Carry out `action` on the model `key` (`namespace/name`).
    pub async fn act(&self, key: &str, action: &Action) -> Result<String, KubeError> {
        let (ns, model) = self.split_key(key)?;
        match self.leases.acquire(ns, (self.clock)()).await {
            Ok(s) => {
                self.note(ns, s.clone());
                if let LeaseStatus::Other {
                    holder,
                    renewed,
                    expires,
                } = s
                {
                    return Err(KubeError::LeaseHeld {
                        namespace: ns.to_string(),
                        lease: self.leases.name().to_string(),
                        holder,
                        renewed,
                        expires,
                    });
                }
            }
            Err(e) => {
                self.note(
                    ns,
                    LeaseStatus::Unknown {
                        error: e.to_string(),
                    },
                );
                return Err(e);
            }
        }
        let stable = fill_template(&self.cfg.deployment_template, ns, model);
        match action {
            Action::Scale { replicas } => self.scale(ns, model, &stable, *replicas).await,
            Action::Restart => self.restart(ns, model, &stable).await,
            Action::Rollback => self.rollback(ns, model, &stable).await,
            Action::Canary { version, share } => {
                self.canary(ns, model, &stable, *version, *share).await
            }
            Action::Retrain => self.retrain(ns, model).await,
            Action::Patch { bumps, .. } => self.build(ns, model, bumps).await,
        }
    }
}

/// The operation of a Deployment patch (`scale`: of its scale subresource).
fn patch_op(ns: &str, name: &str, scale: bool) -> Op {
    let resource = if scale {
        "deployments/scale"
    } else {
        "deployments"
    };
    Op::new("patch", "apps", resource, ns, name)
}

/// Every attempt of a patch met a 409.
fn conflict(ns: &str, name: &str, scale: bool) -> KubeError {
    KubeError::Conflict {
        op: patch_op(ns, name, scale),
        attempts: ATTEMPTS,
    }
}

/// A replica count as the API wants it.
fn replica_count(replicas: u32) -> Result<i32, KubeError> {
    i32::try_from(replicas)
        .map_err(|_| KubeError::Invalid(format!("{replicas} replicas is too many")))
}

impl Actuator for KubeActuator {
    fn name(&self) -> &str {
        &self.name
    }

    fn dry_run(&self) -> bool {
        self.dry_run
    }

    fn execute<'a>(&'a self, _index: u32, key: &'a str, action: &'a Action) -> Acted<'a> {
        Box::pin(async move { self.act(key, action).await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::CronJob;
    use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::{Value, json};

    #[test]
    fn canary_split_follows_the_documented_shape() {
        let s = canary_split(10, 0, 0.1);
        assert_eq!((s.stable, s.canary, s.version_on_stable), (9, 1, false));
        // (stable, canary, weight) -> (stable, canary, version on the stable)
        for ((stable, canary, weight), want) in [
            ((9, 1, 0.5), (5, 5, false)),
            // at least one canary pod, at least one stable pod
            ((1, 0, 0.5), (1, 1, false)),
            // 0: all back on the stable; 1: promotion
            ((5, 5, 0.0), (10, 0, false)),
            ((5, 5, 1.0), (10, 0, true)),
        ] {
            let s = canary_split(stable, canary, weight);
            assert_eq!(
                (s.stable, s.canary, s.version_on_stable),
                want,
                "canary_split({stable}, {canary}, {weight})"
            );
        }
        assert_eq!(canary_split(10, 0, 0.01).canary, 1);
        assert_eq!(canary_split(10, 0, 0.99).canary, 9);
        assert_eq!(canary_split(0, 0, 0.0).stable, 1);
        assert_eq!(canary_split(4, 0, f64::NAN).canary, 0);
    }

    #[test]
    fn merge_diff_turns_current_into_target() {
        let cur = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2], "gone": true});
        let tgt = json!({"a": 1, "b": {"c": 5, "d": 3}, "e": [1], "new": "x"});
        let d = merge_diff(&cur, &tgt).unwrap();
        assert_eq!(
            d,
            json!({"b": {"c": 5}, "e": [1], "new": "x", "gone": null})
        );
        assert_eq!(apply_merge(cur.clone(), &d), tgt);
        assert_eq!(merge_diff(&tgt, &tgt), None);
    }

    fn apply_merge(mut target: Value, patch: &Value) -> Value {
        if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    let cur = t.remove(k).unwrap_or(Value::Null);
                    t.insert(k.clone(), apply_merge(cur, v));
                }
            }
            target
        } else if patch.is_object() {
            apply_merge(json!({}), patch)
        } else {
            patch.clone()
        }
    }

    #[test]
    fn version_goes_on_annotation_and_every_container() {
        let mut t = PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                containers: vec![
                    Container {
                        name: "server".into(),
                        env: Some(vec![EnvVar {
                            name: VERSION_ENV.into(),
                            value: Some("3".into()),
                            value_from: None,
                        }]),
                        ..Container::default()
                    },
                    Container {
                        name: "sidecar".into(),
                        ..Container::default()
                    },
                ],
                ..PodSpec::default()
            }),
        };
        with_version(&mut t, 4);
        assert_eq!(version_of(&t).as_deref(), Some("4"));
        let spec = t.spec.as_ref().unwrap();
        for c in &spec.containers {
            let env = c.env.as_ref().unwrap();
            assert_eq!(env.len(), 1, "{}", c.name);
            assert_eq!(env[0].value.as_deref(), Some("4"));
        }
    }

    #[test]
    fn job_names_fit_63_characters_and_carry_the_owner() {
        let cron = CronJob {
            metadata: ObjectMeta {
                name: Some("x".repeat(70)),
                uid: Some("u-1".into()),
                ..ObjectMeta::default()
            },
            ..CronJob::default()
        };
        let now = Timestamp::from_second(1_796_112_000).unwrap();
        let j = job_from_cronjob(&cron, "ml", now, 2);
        let name = j.metadata.name.unwrap();
        assert!(name.len() <= 63, "{name}");
        assert!(name.ends_with("-manual-1796112000-2"), "{name}");
        let o = &j.metadata.owner_references.unwrap()[0];
        assert_eq!(
            (o.kind.as_str(), o.uid.as_str(), o.controller),
            ("CronJob", "u-1", Some(true))
        );
        assert_eq!(
            j.metadata.annotations.unwrap()[INSTANTIATE_ANNOTATION],
            "manual"
        );
    }

    #[test]
    fn rbac_role_lists_every_rule_with_its_reason() {
        let y = rbac_role("ml");
        assert!(y.contains("kind: Role\n") && y.contains("kind: RoleBinding\n"));
        assert!(y.contains("  namespace: ml\n"));
        for r in RBAC_RULES {
            assert!(
                y.contains(&format!("resources: [\"{}\"]", r.resource)),
                "{}",
                r.resource
            );
            assert!(y.contains(&format!("# {}", r.why)));
        }
        assert!(!y.contains("\"*\""), "no wildcards");
    }

    #[test]
    fn forbidden_names_verb_resource_namespace_and_the_fix() {
        let e = KubeError::Forbidden {
            op: Op::new("patch", "apps", "deployments/scale", "ml", "fraud"),
            message: "nope".into(),
        };
        let s = e.to_string();
        for w in [
            "'patch'",
            "'deployments/scale'",
            "'apps'",
            "namespace ml",
            "pitcrew rbac",
            "nope",
        ] {
            assert!(s.contains(w), "{w} in {s}");
        }
    }
}
