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

use super::Action;
use super::actuator::Actuator;
use super::lease::{LeaseStatus, Leases, Role, identity, status_code};
use crate::config::{KubeConfig, fill_template};
use futures::future::BoxFuture;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{EnvVar, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Attempts of one write before a 409 Conflict is reported.
pub const ATTEMPTS: u32 = 3;
/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";
/// The pod template annotation with the model version a pod serves.
pub const VERSION_ANNOTATION: &str = "pitcrew.dev/model-version";
/// The environment variable with the model version a container serves.
pub const VERSION_ENV: &str = "MODEL_VERSION";
/// A ReplicaSet's (and Deployment's) revision.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// The label a Deployment adds to its ReplicaSets' templates.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// What `kubectl create job --from=cronjob/…` marks a Job with.
pub const INSTANTIATE_ANNOTATION: &str = "cronjob.kubernetes.io/instantiate";

/// Where time comes from (tests use fixed times).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// One API request: what a 403 or a failure names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// RBAC verb (`get`, `list`, `create`, `update`, `patch`).
    pub verb: &'static str,
    /// API group (`apps`, `batch`, `coordination.k8s.io`).
    pub group: &'static str,
    /// Resource, with the subresource (`deployments/scale`).
    pub resource: &'static str,
    /// Namespace.
    pub namespace: String,
    /// Object name (empty for a list).
    pub name: String,
}

impl Op {
    /// Describe a request.
    pub fn new(
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        namespace: &str,
        name: &str,
    ) -> Op {
        Op {
            verb,
            group,
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name.is_empty() {
            write!(
                f,
                "{} {} in namespace {}",
                self.verb, self.resource, self.namespace
            )
        } else {
            write!(
                f,
                "{} {} {}/{}",
                self.verb, self.resource, self.namespace, self.name
            )
        }
    }
}

/// What went wrong talking to Kubernetes.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No client configuration.
    #[error(
        "cannot load the Kubernetes client configuration ({what}): {message}; set [kubernetes] context to a context of your kubeconfig (KUBECONFIG or ~/.kube/config), or run pitcrew in a pod with a service account"
    )]
    Config {
        /// Which configuration was tried.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// 403 Forbidden.
    #[error(
        "Kubernetes refused to {} {} in namespace {} (403 Forbidden): the identity pitcrew runs as may not '{}' the resource '{}' of API group '{}' in namespace {}; `pitcrew rbac --namespace {}` prints the Role pitcrew needs (server said: {message})",
        op.verb, if op.name.is_empty() { op.resource.to_string() } else { format!("{} {}", op.resource, op.name) }, op.namespace, op.verb, op.resource, op.group, op.namespace, op.namespace
    )]
    Forbidden {
        /// The refused request.
        op: Op,
        /// The server's message.
        message: String,
    },
    /// A Deployment does not exist.
    #[error("{0}")]
    DeploymentNotFound(Box<DeploymentNotFound>),
    /// The retraining CronJob does not exist.
    #[error(
        "cronjob {namespace}/{name} not found: retraining model {model} creates a Job from it (kubernetes.retrain_template = \"{template}\"); create the CronJob (it may be suspended) or fix the template"
    )]
    CronJobNotFound {
        /// Namespace.
        namespace: String,
        /// The CronJob name looked for.
        name: String,
        /// The model key.
        model: String,
        /// The template.
        template: String,
    },
    /// Nothing to roll back to.
    #[error(
        "deployment {namespace}/{name} has no revision before {current} to roll back to (revisions of its ReplicaSets: {}); nothing was changed",
        if revisions.is_empty() { "none".to_string() } else { revisions.iter().map(u64::to_string).collect::<Vec<_>>().join(", ") }
    )]
    NoPreviousRevision {
        /// Namespace.
        namespace: String,
        /// Deployment.
        name: String,
        /// Its current revision.
        current: u64,
        /// Revisions found.
        revisions: Vec<u64>,
    },
    /// 409 Conflict on every attempt.
    #[error(
        "{op}: 409 Conflict on each of {attempts} attempts (read again before each); something else keeps changing it — try again later"
    )]
    Conflict {
        /// The request.
        op: Op,
        /// How often it was tried.
        attempts: u32,
    },
    /// Another pitcrew executes in this namespace.
    #[error(
        "not executed: namespace {namespace} is run by {holder} (Lease {namespace}/{lease} renewed {renewed}, valid until {expires}); only the holder of the Lease acts there"
    )]
    LeaseHeld {
        /// Namespace.
        namespace: String,
        /// Lease name.
        lease: String,
        /// The other pitcrew.
        holder: String,
        /// When it last renewed.
        renewed: Timestamp,
        /// When it expires.
        expires: Timestamp,
    },
    /// Any other failure of a request.
    #[error("{op} failed{}: {message}", if *code == 0 { String::new() } else { format!(" ({code})") })]
    Api {
        /// The request.
        op: Op,
        /// HTTP status (0: no answer).
        code: u16,
        /// What the server (or the connection) said.
        message: String,
    },
    /// An action that cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),
}

/// A Deployment that does not exist, and where its name came from.
#[derive(Debug, thiserror::Error)]
#[error(
    "deployment {namespace}/{name} not found: model {model} maps to it through kubernetes.{template_key} = \"{template}\"; {}",
    if others.is_empty() { "there is no Deployment in that namespace (is it the right cluster context?)".to_string() } else { format!("Deployments in {namespace}: {}; fix the template in the config", others.join(", ")) }
)]
pub struct DeploymentNotFound {
    /// Namespace.
    pub namespace: String,
    /// The Deployment name looked for.
    pub name: String,
    /// The model key.
    pub model: String,
    /// `deployment_template` or `canary_template`.
    pub template_key: &'static str,
    /// The template.
    pub template: String,
    /// Deployments that do exist there (at most 20).
    pub others: Vec<String>,
}

impl KubeError {
    /// Classify a failed request.
    pub fn from_kube(op: Op, e: kube::Error) -> KubeError {
        match e {
            kube::Error::Api(s) if s.code == 403 => KubeError::Forbidden {
                op,
                message: s.message.clone(),
            },
            kube::Error::Api(s) => KubeError::Api {
                op,
                code: s.code,
                message: if s.message.is_empty() {
                    s.reason.clone()
                } else {
                    s.message.clone()
                },
            },
            other => KubeError::Api {
                op,
                code: 0,
                message: format!(
                    "{other}; is the API server reachable (kubeconfig context, network)?"
                ),
            },
        }
    }
}

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

impl KubeActuator {
    /// Connect with the kubeconfig context `cfg.context` (else inferred: the current context,
    /// or the in-cluster service account).
    pub async fn new(cfg: &KubeConfig, dry_run: bool, role: Role) -> Result<Self, KubeError> {
        let config = match &cfg.context {
            Some(ctx) => {
                let opts = kube::config::KubeConfigOptions {
                    context: Some(ctx.clone()),
                    ..Default::default()
                };
                kube::Config::from_kubeconfig(&opts)
                    .await
                    .map_err(|e| KubeError::Config {
                        what: format!("kubeconfig context {ctx}"),
                        message: e.to_string(),
                    })?
            }
            None => kube::Config::infer().await.map_err(|e| KubeError::Config {
                what: "current kubeconfig context or in-cluster".to_string(),
                message: e.to_string(),
            })?,
        };
        let client = Client::try_from(config).map_err(|e| KubeError::Config {
            what: "client".to_string(),
            message: e.to_string(),
        })?;
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
        }
    }

    /// A 404 on `name`: name the template and list what exists.
    async fn not_found(&self, ns: &str, model: &str, name: &str, canary: bool) -> KubeError {
        let others = match self
            .deployments(ns)
            .list(&ListParams::default().limit(20))
            .await
        {
            Ok(list) => list
                .items
                .iter()
                .filter_map(|d| d.metadata.name.clone())
                .collect(),
            Err(e) => vec![format!(
                "(could not list them: {})",
                KubeError::from_kube(Op::new("list", "apps", "deployments", ns, ""), e)
            )],
        };
        let (template_key, template) = if canary {
            ("canary_template", self.cfg.canary_template.clone())
        } else {
            ("deployment_template", self.cfg.deployment_template.clone())
        };
        KubeError::DeploymentNotFound(Box::new(DeploymentNotFound {
            namespace: ns.to_string(),
            name: name.to_string(),
            model: format!("{ns}/{model}"),
            template_key,
            template,
            others,
        }))
    }

    async fn get_replicas(
        &self,
        ns: &str,
        model: &str,
        name: &str,
        canary: bool,
    ) -> Result<u32, KubeError> {
        match self.deployments(ns).get_scale(name).await {
            Ok(s) => Ok(s
                .spec
                .and_then(|s| s.replicas)
                .and_then(|r| u32::try_from(r).ok())
                .unwrap_or(0)),
            Err(e) if status_code(&e) == Some(404) => {
                Err(self.not_found(ns, model, name, canary).await)
            }
            Err(e) => Err(KubeError::from_kube(
                Op::new("get", "apps", "deployments/scale", ns, name),
                e,
            )),
        }
    }

    /// One merge patch of a Deployment (`scale`: of its scale subresource): `Ok(true)` when it
    /// landed, `Ok(false)` on a 409 (the caller re-reads and retries), a 404 named with the
    /// template that produced the name, anything else as the API's error.
    async fn merge_patch(
        &self,
        ns: &str,
        model: &str,
        name: &str,
        canary: bool,
        scale: bool,
        patch: &serde_json::Value,
    ) -> Result<bool, KubeError> {
        let api = self.deployments(ns);
        let pp = self.patch_params();
        let sent = if scale {
            api.patch_scale(name, &pp, &Patch::Merge(patch))
                .await
                .map(|_| ())
        } else {
            api.patch(name, &pp, &Patch::Merge(patch)).await.map(|_| ())
        };
        match sent {
            Ok(()) => Ok(true),
            Err(e) if status_code(&e) == Some(409) => Ok(false),
            Err(e) if status_code(&e) == Some(404) => {
                Err(self.not_found(ns, model, name, canary).await)
            }
            Err(e) => Err(KubeError::from_kube(patch_op(ns, name, scale), e)),
        }
    }

    /// Merge-patch the scale subresource, retrying 409s.
    async fn patch_replicas(
        &self,
        ns: &str,
        model: &str,
        name: &str,
        replicas: u32,
        canary: bool,
    ) -> Result<(), KubeError> {
        let patch = json!({"spec": {"replicas": replica_count(replicas)?}});
        for _ in 0..ATTEMPTS {
            if self
                .merge_patch(ns, model, name, canary, true, &patch)
                .await?
            {
                return Ok(());
            }
        }
        Err(conflict(ns, name, true))
    }

    async fn scale(
        &self,
        ns: &str,
        model: &str,
        name: &str,
        replicas: u32,
    ) -> Result<String, KubeError> {
        let patch = json!({"spec": {"replicas": replica_count(replicas)?}});
        for _ in 0..ATTEMPTS {
            // read again on every attempt: a 409 means someone else changed it
            let from = self.get_replicas(ns, model, name, false).await?;
            if self
                .merge_patch(ns, model, name, false, true, &patch)
                .await?
            {
                return Ok(self.said(
                    format!("scale deployment {ns}/{name} from {from} to {replicas} replicas"),
                    format!("scaled deployment {ns}/{name} from {from} to {replicas} replicas"),
                ));
            }
        }
        Err(conflict(ns, name, true))
    }

    async fn restart(&self, ns: &str, model: &str, name: &str) -> Result<String, KubeError> {
        let at = (self.clock)().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let patch =
            json!({"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}});
        for _ in 0..ATTEMPTS {
            if self
                .merge_patch(ns, model, name, false, false, &patch)
                .await?
            {
                return Ok(self.said(
                    format!("restart deployment {ns}/{name} ({RESTARTED_AT}={at})"),
                    format!("restarted deployment {ns}/{name} ({RESTARTED_AT}={at})"),
                ));
            }
        }
        Err(conflict(ns, name, false))
    }

    async fn get_deployment(
        &self,
        ns: &str,
        model: &str,
        name: &str,
        canary: bool,
    ) -> Result<Deployment, KubeError> {
        match self.deployments(ns).get(name).await {
            Ok(d) => Ok(d),
            Err(e) if status_code(&e) == Some(404) => {
                Err(self.not_found(ns, model, name, canary).await)
            }
            Err(e) => Err(KubeError::from_kube(
                Op::new("get", "apps", "deployments", ns, name),
                e,
            )),
        }
    }

    /// Patch a Deployment's pod template from `current` to `target` (a merge patch of the
    /// difference, with the resourceVersion read). Ok(false) when nothing differs; Err(None)
    /// on a 409 (read again and retry).
    async fn patch_template(
        &self,
        ns: &str,
        name: &str,
        d: &Deployment,
        target: &PodTemplateSpec,
    ) -> Result<bool, Option<KubeError>> {
        let op = Op::new("patch", "apps", "deployments", ns, name);
        let current = d
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let cur = serde_json::to_value(&current)
            .map_err(|e| Some(KubeError::Invalid(format!("{op}: {e}"))))?;
        let tgt = serde_json::to_value(target)
            .map_err(|e| Some(KubeError::Invalid(format!("{op}: {e}"))))?;
        let Some(diff) = merge_diff(&cur, &tgt) else {
            return Ok(false);
        };
        let mut patch = json!({"spec": {"template": diff}});
        if let Some(rv) = &d.metadata.resource_version {
            patch["metadata"] = json!({"resourceVersion": rv});
        }
        match self
            .deployments(ns)
            .patch(name, &self.patch_params(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_code(&e) == Some(409) => Err(None),
            Err(e) => Err(Some(KubeError::from_kube(op, e))),
        }
    }

    async fn rollback(&self, ns: &str, model: &str, name: &str) -> Result<String, KubeError> {
        for _ in 0..ATTEMPTS {
            let d = self.get_deployment(ns, model, name, false).await?;
            let sets = self.replica_sets_of(ns, &d).await?;
            let revisions: Vec<u64> = sets.iter().map(|(r, _)| *r).collect();
            let current = d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION_ANNOTATION))
                .and_then(|r| r.parse::<u64>().ok())
                .or_else(|| revisions.iter().copied().max())
                .unwrap_or(0);
            let Some((rev, rs)) = sets
                .iter()
                .filter(|(r, _)| *r < current)
                .max_by_key(|(r, _)| *r)
            else {
                return Err(KubeError::NoPreviousRevision {
                    namespace: ns.to_string(),
                    name: name.to_string(),
                    current,
                    revisions,
                });
            };
            let mut target = rs
                .spec
                .as_ref()
                .and_then(|s| s.template.clone())
                .unwrap_or_default();
            if let Some(labels) = target.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                labels.remove(POD_TEMPLATE_HASH);
            }
            let what = format!(
                "deployment {ns}/{name} from revision {current} to revision {rev}{}",
                version_of(&target)
                    .map(|v| format!(" (model version {v})"))
                    .unwrap_or_default()
            );
            match self.patch_template(ns, name, &d, &target).await {
                Ok(true) => {
                    return Ok(
                        self.said(format!("roll back {what}"), format!("rolled back {what}"))
                    );
                }
                Ok(false) => {
                    return Ok(format!(
                        "nothing to do: deployment {ns}/{name}'s template already matches revision {rev}"
                    ));
                }
                Err(None) => continue,
                Err(Some(e)) => return Err(e),
            }
        }
        Err(conflict(ns, name, false))
    }

    /// The ReplicaSets controlled by `d`, with their revisions.
    async fn replica_sets_of(
        &self,
        ns: &str,
        d: &Deployment,
    ) -> Result<Vec<(u64, ReplicaSet)>, KubeError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let selector = d.spec.as_ref().map(|s| &s.selector);
        let mut lp = ListParams::default();
        if let Some(sel) = selector
            && sel.match_expressions.as_ref().is_none_or(|e| e.is_empty())
            && let Some(labels) = &sel.match_labels
            && !labels.is_empty()
        {
            let s: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            lp = lp.labels(&s.join(","));
        }
        let list = api
            .list(&lp)
            .await
            .map_err(|e| KubeError::from_kube(Op::new("list", "apps", "replicasets", ns, ""), e))?;
        let uid = d.metadata.uid.as_deref();
        let name = d.metadata.name.as_deref();
        Ok(list
            .items
            .into_iter()
            .filter(|rs| {
                rs.metadata.owner_references.as_ref().is_some_and(|o| {
                    o.iter().any(|o| {
                        o.controller == Some(true)
                            && o.kind == "Deployment"
                            && match uid {
                                Some(uid) => o.uid == uid,
                                None => Some(o.name.as_str()) == name,
                            }
                    })
                })
            })
            .filter_map(|rs| {
                let rev = rs
                    .metadata
                    .annotations
                    .as_ref()?
                    .get(REVISION_ANNOTATION)?
                    .parse::<u64>()
                    .ok()?;
                Some((rev, rs))
            })
            .collect())
    }

    /// Set the model version on a Deployment's template (read, patch, retry on 409). True
    /// when it changed.
    async fn set_version(
        &self,
        ns: &str,
        model: &str,
        name: &str,
        version: u32,
        canary: bool,
    ) -> Result<bool, KubeError> {
        for _ in 0..ATTEMPTS {
            let d = self.get_deployment(ns, model, name, canary).await?;
            let mut target = d
                .spec
                .as_ref()
                .map(|s| s.template.clone())
                .unwrap_or_default();
            with_version(&mut target, version);
            match self.patch_template(ns, name, &d, &target).await {
                Ok(changed) => return Ok(changed),
                Err(None) => continue,
                Err(Some(e)) => return Err(e),
            }
        }
        Err(conflict(ns, name, false))
    }

    async fn canary(
        &self,
        ns: &str,
        model: &str,
        stable: &str,
        version: u32,
        share: f64,
    ) -> Result<String, KubeError> {
        if !share.is_finite() {
            return Err(KubeError::Invalid(format!(
                "canary share {share} is not a number between 0 and 1"
            )));
        }
        let canary = fill_template(&self.cfg.canary_template, ns, model);
        let s = self.get_replicas(ns, model, stable, false).await?;
        let c = self.get_replicas(ns, model, &canary, true).await?;
        let plan = canary_split(s, c, share);
        let mut notes = Vec::new();
        if plan.version_on_stable {
            if self.set_version(ns, model, stable, version, false).await? {
                notes.push(format!("{ns}/{stable} template set to v{version}"));
            }
        } else if plan.canary > 0 && self.set_version(ns, model, &canary, version, true).await? {
            notes.push(format!("{ns}/{canary} template set to v{version}"));
        }
        // increases first, so serving capacity never dips
        let steps = [
            (stable, plan.stable, s, false),
            (canary.as_str(), plan.canary, c, true),
        ];
        let (ups, downs): (Vec<_>, Vec<_>) = steps.iter().partition(|(_, to, from, _)| to >= from);
        for &(name, to, from, is_canary) in ups.into_iter().chain(downs) {
            if to != from {
                self.patch_replicas(ns, model, name, to, is_canary).await?;
            }
        }
        let head = if plan.version_on_stable {
            format!("promote v{version}")
        } else if plan.canary == 0 {
            format!("move all traffic off the canary v{version}")
        } else {
            format!(
                "canary v{version} at {:.0} %",
                share.clamp(0.0, 1.0) * 100.0
            )
        };
        let what = format!(
            "{head}: {ns}/{stable} {s} → {} replicas, {ns}/{canary} {c} → {} replicas{}",
            plan.stable,
            plan.canary,
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        );
        Ok(self.said(what.clone(), what))
    }

    async fn retrain(&self, ns: &str, model: &str) -> Result<String, KubeError> {
        let template = &self.cfg.retrain_template;
        let cron_name = fill_template(template, ns, model);
        let crons: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
        let cron = match crons.get(&cron_name).await {
            Ok(c) => c,
            Err(e) if status_code(&e) == Some(404) => {
                return Err(KubeError::CronJobNotFound {
                    namespace: ns.to_string(),
                    name: cron_name,
                    model: format!("{ns}/{model}"),
                    template: template.clone(),
                });
            }
            Err(e) => {
                return Err(KubeError::from_kube(
                    Op::new("get", "batch", "cronjobs", ns, &cron_name),
                    e,
                ));
            }
        };
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let now = (self.clock)();
        let mut last = Op::new("create", "batch", "jobs", ns, "");
        for attempt in 0..ATTEMPTS {
            let job = job_from_cronjob(&cron, ns, now, attempt);
            let job_name = job.metadata.name.clone().unwrap_or_default();
            last = Op::new("create", "batch", "jobs", ns, &job_name);
            match jobs.create(&self.post_params(), &job).await {
                Ok(_) => {
                    return Ok(self.said(
                        format!("create job {ns}/{job_name} from cronjob {ns}/{cron_name}"),
                        format!("created job {ns}/{job_name} from cronjob {ns}/{cron_name}"),
                    ));
                }
                // a job of that name exists (two retrains in one second): the next name
                Err(e) if status_code(&e) == Some(409) => continue,
                Err(e) => return Err(KubeError::from_kube(last, e)),
            }
        }
        Err(KubeError::Conflict {
            op: last,
            attempts: ATTEMPTS,
        })
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

    fn execute<'a>(
        &'a self,
        _index: u32,
        key: &'a str,
        action: &'a Action,
    ) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move { self.act(key, action).await.map_err(|e| e.to_string()) })
    }
}

/// How a canary step splits the replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanarySplit {
    /// Stable replicas.
    pub stable: u32,
    /// Canary replicas.
    pub canary: u32,
    /// Promotion: the version goes onto the stable's template.
    pub version_on_stable: bool,
}

/// The split for `share` given the stable's and the canary's current replicas (module docs).
pub fn canary_split(stable: u32, canary: u32, share: f64) -> CanarySplit {
    let total = stable.saturating_add(canary).max(1);
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if share >= 1.0 {
        return CanarySplit {
            stable: total,
            canary: 0,
            version_on_stable: true,
        };
    }
    if share <= 0.0 {
        return CanarySplit {
            stable: total,
            canary: 0,
            version_on_stable: false,
        };
    }
    let total = total.max(2);
    let c = (f64::from(total) * share)
        .round()
        .clamp(1.0, f64::from(total - 1)) as u32;
    CanarySplit {
        stable: total - c,
        canary: c,
        version_on_stable: false,
    }
}

/// Put `version` on a pod template: the annotation and `MODEL_VERSION` on every container.
pub fn with_version(t: &mut PodTemplateSpec, version: u32) {
    let v = version.to_string();
    t.metadata
        .get_or_insert_with(ObjectMeta::default)
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(VERSION_ANNOTATION.to_string(), v.clone());
    if let Some(spec) = t.spec.as_mut() {
        for c in &mut spec.containers {
            let env = c.env.get_or_insert_with(Vec::new);
            match env.iter_mut().find(|e| e.name == VERSION_ENV) {
                Some(e) => {
                    e.value = Some(v.clone());
                    e.value_from = None;
                }
                None => env.push(EnvVar {
                    name: VERSION_ENV.to_string(),
                    value: Some(v.clone()),
                    value_from: None,
                }),
            }
        }
    }
}

/// The model version a pod template carries (annotation, else the first `MODEL_VERSION`).
pub fn version_of(t: &PodTemplateSpec) -> Option<String> {
    t.metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(VERSION_ANNOTATION).cloned())
        .or_else(|| {
            t.spec.as_ref()?.containers.iter().find_map(|c| {
                c.env
                    .as_ref()?
                    .iter()
                    .find(|e| e.name == VERSION_ENV)?
                    .value
                    .clone()
            })
        })
}

/// The JSON merge patch (RFC 7386) that turns `current` into `target`; None when they are
/// equal. Keys only in `current` become `null`; arrays and scalars are replaced whole.
pub fn merge_diff(current: &Value, target: &Value) -> Option<Value> {
    match (current, target) {
        (Value::Object(c), Value::Object(t)) => {
            let mut out = serde_json::Map::new();
            for (k, tv) in t {
                match c.get(k) {
                    Some(cv) => {
                        if let Some(d) = merge_diff(cv, tv) {
                            out.insert(k.clone(), d);
                        }
                    }
                    None => {
                        out.insert(k.clone(), tv.clone());
                    }
                }
            }
            for k in c.keys() {
                if !t.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        (c, t) if c == t => None,
        (_, t) => Some(t.clone()),
    }
}

/// The Job `kubectl create job --from=cronjob/NAME` would create: the CronJob's job template,
/// the annotation `cronjob.kubernetes.io/instantiate: manual` and a controller owner reference
/// to the CronJob. Its name is `NAME-manual-SECONDS` (63 characters at most; `-N` on retries).
pub fn job_from_cronjob(cron: &CronJob, ns: &str, now: Timestamp, attempt: u32) -> Job {
    let cron_name = cron.metadata.name.clone().unwrap_or_default();
    let mut suffix = format!("-manual-{}", now.as_second());
    if attempt > 0 {
        suffix.push_str(&format!("-{attempt}"));
    }
    let keep = 63usize.saturating_sub(suffix.len());
    let base: String = cron_name.chars().take(keep).collect();
    let base = base.trim_end_matches(['-', '.']);
    let template = cron.spec.job_template.clone();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(INSTANTIATE_ANNOTATION.to_string(), "manual".to_string());
    Job {
        metadata: ObjectMeta {
            name: Some(format!("{base}{suffix}")),
            namespace: Some(ns.to_string()),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "batch/v1".to_string(),
                kind: "CronJob".to_string(),
                name: cron_name,
                uid: cron.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// One rule of the Role pitcrew needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RbacRule {
    /// API group.
    pub group: &'static str,
    /// Resource (with subresource).
    pub resource: &'static str,
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Which feature needs it.
    pub why: &'static str,
}

/// Every rule pitcrew's Kubernetes features need, and nothing more.
pub const RBAC_RULES: &[RbacRule] = &[
    RbacRule {
        group: "apps",
        resource: "deployments",
        verbs: &["get", "list", "patch"],
        why: "rollback and canary read a Deployment's template and patch it (rollback, version); restart patches the restartedAt annotation; list names the Deployments that exist when a configured name is not found",
    },
    RbacRule {
        group: "apps",
        resource: "deployments/scale",
        verbs: &["get", "patch"],
        why: "scale and the canary split read and patch the replica count",
    },
    RbacRule {
        group: "apps",
        resource: "replicasets",
        verbs: &["list"],
        why: "rollback finds the ReplicaSet of the previous revision",
    },
    RbacRule {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        why: "one executor per namespace: the Lease is read, created, renewed, taken over and released",
    },
    RbacRule {
        group: "batch",
        resource: "cronjobs",
        verbs: &["get"],
        why: "retrain reads the model's retraining CronJob",
    },
    RbacRule {
        group: "batch",
        resource: "jobs",
        verbs: &["create"],
        why: "retrain creates a Job from that CronJob",
    },
];

/// The least-privilege Role and a RoleBinding for `namespace` (YAML, commented: which feature
/// needs which rule). `pitcrew rbac` prints it.
pub fn rbac_role(namespace: &str) -> String {
    let mut y = String::new();
    y.push_str(&format!(
        "# The least-privilege Role pitcrew needs in namespace {namespace}.\n\
         # Apply with: pitcrew rbac --namespace {namespace} | kubectl apply -f -\n\
         # Server-side dry run (--dry-run) needs the same verbs: the server checks them.\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: Role\n\
         metadata:\n  name: pitcrew\n  namespace: {namespace}\n\
         rules:\n"
    ));
    for r in RBAC_RULES {
        let verbs: Vec<String> = r.verbs.iter().map(|v| format!("\"{v}\"")).collect();
        y.push_str(&format!(
            "  # {}\n  - apiGroups: [\"{}\"]\n    resources: [\"{}\"]\n    verbs: [{}]\n",
            r.why,
            r.group,
            r.resource,
            verbs.join(", ")
        ));
    }
    y.push_str(&format!(
        "---\n\
         # Binds the Role to the identity pitcrew runs as: here the ServiceAccount pitcrew in\n\
         # {namespace} (pitcrew agent in a pod); for a person use kind: User and their user name.\n\
         apiVersion: rbac.authorization.k8s.io/v1\n\
         kind: RoleBinding\n\
         metadata:\n  name: pitcrew\n  namespace: {namespace}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: pitcrew\n\
         subjects:\n  - kind: ServiceAccount\n    name: pitcrew\n    namespace: {namespace}\n"
    ));
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    #[test]
    fn canary_split_follows_the_documented_shape() {
        let s = canary_split(10, 0, 0.1);
        assert_eq!((s.stable, s.canary, s.version_on_stable), (9, 1, false));
        assert_eq!(
            canary_split(9, 1, 0.5),
            CanarySplit {
                stable: 5,
                canary: 5,
                version_on_stable: false
            }
        );
        // at least one canary pod, at least one stable pod
        assert_eq!(canary_split(10, 0, 0.01).canary, 1);
        assert_eq!(canary_split(10, 0, 0.99).canary, 9);
        assert_eq!(
            canary_split(1, 0, 0.5),
            CanarySplit {
                stable: 1,
                canary: 1,
                version_on_stable: false
            }
        );
        // 0: all back on the stable; 1: promotion
        assert_eq!(
            canary_split(5, 5, 0.0),
            CanarySplit {
                stable: 10,
                canary: 0,
                version_on_stable: false
            }
        );
        assert_eq!(
            canary_split(5, 5, 1.0),
            CanarySplit {
                stable: 10,
                canary: 0,
                version_on_stable: true
            }
        );
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
