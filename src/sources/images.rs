//! What each model's serving images are known to be vulnerable to: trivy-operator's
//! `VulnerabilityReport`s, read with kube and followed to the model's Deployment.
//!
//! Per namespace, three list requests (the RBAC rules `pitcrew rbac` prints):
//! `GET /apis/apps/v1/namespaces/NS/deployments`, `GET /apis/apps/v1/namespaces/NS/replicasets`
//! and `GET /apis/aquasecurity.github.io/v1alpha1/namespaces/NS/vulnerabilityreports`. A model
//! is served by the Deployment `deployment_template` names (as for the actuator); trivy-operator
//! scans the pods of a ReplicaSet and owns its reports by it, so a report counts for a model
//! when its owner is a ReplicaSet whose controller is that Deployment **and** whose revision is
//! the Deployment's (the images serving now, not those of an older rollout). The serving images
//! are the Deployment's containers'.
//!
//! A model whose Deployment is not there, or whose current ReplicaSet has no report yet, is
//! "not scanned" (its last findings stand): only a report says there is nothing to find.

use crate::clients::kube_error::{KubeError, Op};
use crate::config::{KubeConfig, fill_template};
use crate::domain::Vulnerability;
use crate::security::trivy::ReportObject;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use std::collections::BTreeMap;

/// trivy-operator's API group.
pub const GROUP: &str = "aquasecurity.github.io";
/// Its version.
pub const VERSION: &str = "v1alpha1";
/// The report resource.
pub const RESOURCE: &str = "vulnerabilityreports";
/// A Deployment's (and its ReplicaSets') revision.
const REVISION: &str = "deployment.kubernetes.io/revision";

/// What one model's Deployment serves, and what trivy-operator found in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelImages {
    /// The model's key, `namespace/name`.
    pub key: String,
    /// Its Deployment.
    pub deployment: String,
    /// Its containers and their images, as the Deployment's template says.
    pub images: Vec<(String, String)>,
    /// Every finding of the reports of its current ReplicaSet; `None` when none has a report
    /// yet (not scanned).
    pub found: Option<Vec<Vulnerability>>,
}

/// What a scan of the images read: one answer per model, and the reports it could not read.
#[derive(Debug, Default)]
pub struct Scan {
    /// Per model, in the order asked.
    pub models: Vec<(String, Result<ModelImages, NotScanned>)>,
    /// Reports that could not be read (why, naming the report).
    pub unread: Vec<String>,
}

/// Why a model's images were not scanned.
#[derive(Debug)]
pub enum NotScanned {
    /// The Deployment `deployment_template` names is not there.
    NoDeployment {
        /// Its name.
        name: String,
    },
    /// A request failed (for every model of the namespace).
    Failed(std::sync::Arc<KubeError>),
}

impl std::fmt::Display for NotScanned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotScanned::NoDeployment { name } => write!(
                f,
                "no Deployment {name} (kubernetes.deployment_template) to follow its reports to"
            ),
            NotScanned::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// The report resource, for a dynamic list.
fn report_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "VulnerabilityReport"),
        RESOURCE,
    )
}

/// The namespace and name of a model key (`name` alone: the configured namespace).
fn split<'k>(cfg: &'k KubeConfig, key: &'k str) -> (&'k str, &'k str) {
    match key.split_once('/') {
        Some((ns, name)) => (ns, name),
        None => (cfg.namespace.as_str(), key),
    }
}

/// Read the reports of the serving images of every model (by key, `namespace/name`),
/// namespace by namespace; one answer per model, in the order asked.
pub async fn scan(client: &kube::Client, cfg: &KubeConfig, keys: &[String]) -> Scan {
    let mut by_ns: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        by_ns.entry(split(cfg, k).0).or_default().push(i);
    }
    let mut out: Vec<Option<Result<ModelImages, NotScanned>>> =
        (0..keys.len()).map(|_| None).collect();
    let mut unread = Vec::new();
    for (ns, idx) in by_ns {
        match read_namespace(client, ns).await {
            Ok(world) => {
                unread.extend(world.unread.iter().cloned());
                for i in idx {
                    let (_, name) = split(cfg, &keys[i]);
                    let dep = fill_template(&cfg.deployment_template, ns, name);
                    out[i] = Some(world.model(&keys[i], &dep));
                }
            }
            Err(e) => {
                let e = std::sync::Arc::new(e);
                for i in idx {
                    out[i] = Some(Err(NotScanned::Failed(e.clone())));
                }
            }
        }
    }
    Scan {
        models: keys
            .iter()
            .cloned()
            .zip(out)
            .filter_map(|(k, r)| r.map(|r| (k, r)))
            .collect(),
        unread,
    }
}

/// One namespace's Deployments, ReplicaSets and reports.
struct Namespace {
    deployments: Vec<Deployment>,
    replica_sets: Vec<ReplicaSet>,
    reports: Vec<ReportObject>,
    unread: Vec<String>,
}

async fn read_namespace(client: &kube::Client, ns: &str) -> Result<Namespace, KubeError> {
    let lp = ListParams::default();
    let deployments = Api::<Deployment>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| KubeError::from_kube(Op::new("list", "apps", "deployments", ns, ""), e))?
        .items;
    let replica_sets = Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .list(&lp)
        .await
        .map_err(|e| KubeError::from_kube(Op::new("list", "apps", "replicasets", ns, ""), e))?
        .items;
    let reports = Api::<DynamicObject>::namespaced_with(client.clone(), ns, &report_resource())
        .list(&lp)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => KubeError::Api {
                op: Op::new("list", GROUP, RESOURCE, ns, ""),
                code: 404,
                message: "trivy-operator's VulnerabilityReport resource is not installed in this cluster (its CRD vulnerabilityreports.aquasecurity.github.io); install trivy-operator to scan the serving images".to_string(),
            },
            e => KubeError::from_kube(Op::new("list", GROUP, RESOURCE, ns, ""), e),
        })?
        .items;
    let (mut read, mut unread) = (Vec::new(), Vec::new());
    for o in reports {
        match serde_json::to_value(&o)
            .map_err(|e| e.to_string())
            .and_then(|v| ReportObject::from_value(&v))
        {
            Ok(r) => read.push(r),
            Err(e) => unread.push(format!("{ns}: {e}")),
        }
    }
    Ok(Namespace {
        deployments,
        replica_sets,
        reports: read,
        unread,
    })
}

fn revision(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<&str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .map(String::as_str)
}

impl Namespace {
    /// What the Deployment `dep` serves and what was found in it.
    fn model(&self, key: &str, dep: &str) -> Result<ModelImages, NotScanned> {
        let d = self
            .deployments
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some(dep))
            .ok_or_else(|| NotScanned::NoDeployment {
                name: dep.to_string(),
            })?;
        let images = d
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| {
                p.containers
                    .iter()
                    .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let rev = revision(&d.metadata);
        let current: Vec<&str> = self
            .replica_sets
            .iter()
            .filter(|rs| {
                let owned = rs.metadata.owner_references.iter().flatten().any(|o| {
                    o.controller == Some(true)
                        && o.kind == "Deployment"
                        && o.name == dep
                        && d.metadata.uid.as_ref().is_none_or(|u| *u == o.uid)
                });
                owned && revision(&rs.metadata) == rev
            })
            .filter_map(|rs| rs.metadata.name.as_deref())
            .collect();
        let mut found: Option<Vec<Vulnerability>> = None;
        for r in &self.reports {
            if let Some(("ReplicaSet", owner)) = r.owner()
                && current.contains(&owner)
            {
                found
                    .get_or_insert_with(Vec::new)
                    .extend(r.vulnerabilities());
            }
        }
        Ok(ModelImages {
            key: key.to_string(),
            deployment: dep.to_string(),
            images,
            found,
        })
    }
}
