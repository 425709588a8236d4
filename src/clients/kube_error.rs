//! What a Kubernetes request can fail with, and the request ([`Op`]) a failure names: the verb,
//! group, resource, namespace and name that RBAC and the operator need to see.

use jiff::Timestamp;

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
        "cronjob {namespace}/{name} not found: {} model {model} creates a Job from it (kubernetes.{setting} = \"{template}\"); create the CronJob (it may be suspended) or fix the template",
        job_purpose(setting)
    )]
    CronJobNotFound {
        /// The setting that names the CronJob (`retrain_template`, `build_template`).
        setting: &'static str,
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
    pub(crate) fn from_kube(op: Op, e: kube::Error) -> KubeError {
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

/// What a Job from the CronJob named by `setting` is for, in words.
fn job_purpose(setting: &str) -> &'static str {
    if setting == "build_template" {
        "building a patched version of"
    } else {
        "retraining"
    }
}
