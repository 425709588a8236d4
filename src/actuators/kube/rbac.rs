//! The Role pitcrew needs in a namespace, rule by rule, and its YAML (`pitcrew check --rbac`).

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
        why: "rollback and canary read a Deployment's template and patch it (rollback, version); restart patches the restartedAt annotation; list names the Deployments that exist when a configured name is not found, and the image scan reads their containers",
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
        why: "rollback finds the ReplicaSet of the previous revision; the image scan follows a report's ReplicaSet to its Deployment",
    },
    RbacRule {
        group: "aquasecurity.github.io",
        resource: "vulnerabilityreports",
        verbs: &["list"],
        why: "the image scan reads trivy-operator's reports of the serving images",
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
