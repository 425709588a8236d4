//! Each action as Kubernetes requests: scale, rolling restart, rollback to the previous
//! ReplicaSet's template, a canary split between two Deployments, and a retraining or patch
//! build Job from the model's CronJob. Writes are retried on 409 Conflict, and a dry run says what it would do.

use super::{
    ATTEMPTS, DeploymentNotFound, KubeActuator, KubeError, Op, POD_TEMPLATE_HASH, RESTARTED_AT,
    REVISION_ANNOTATION, canary_split, conflict, job_from_cronjob, merge_diff, patch_op,
    replica_count, version_of, with_pins, with_version,
};
use crate::actuators::lease::status_code;
use crate::config::fill_template;
use crate::domain::Bump;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, ListParams, Patch};
use serde_json::json;

/// What a Job made from a model's CronJob is for.
#[derive(Debug, Clone, Copy)]
enum JobPurpose {
    /// Retraining (`retrain_template`).
    Retrain,
    /// Building a patched version (`build_template`).
    Build,
}

impl KubeActuator {
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

    pub(super) async fn scale(
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

    pub(super) async fn restart(
        &self,
        ns: &str,
        model: &str,
        name: &str,
    ) -> Result<String, KubeError> {
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

    pub(super) async fn rollback(
        &self,
        ns: &str,
        model: &str,
        name: &str,
    ) -> Result<String, KubeError> {
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

    pub(super) async fn canary(
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

    pub(super) async fn retrain(&self, ns: &str, model: &str) -> Result<String, KubeError> {
        let cron = self.cronjob(ns, model, JobPurpose::Retrain).await?;
        self.create_job(ns, &cron, &[]).await
    }

    /// A build of a patched version: a Job from the model's build CronJob whose containers
    /// are told the new pins (`PITCREW_PINS`, `PITCREW_IMAGE_FIXES`).
    pub(super) async fn build(
        &self,
        ns: &str,
        model: &str,
        bumps: &[Bump],
    ) -> Result<String, KubeError> {
        if bumps.is_empty() {
            return Err(KubeError::Invalid(
                "a patch pins at least one package".into(),
            ));
        }
        let cron = self.cronjob(ns, model, JobPurpose::Build).await?;
        self.create_job(ns, &cron, bumps).await
    }

    /// The CronJob a model's Job of `purpose` is made from.
    async fn cronjob(
        &self,
        ns: &str,
        model: &str,
        purpose: JobPurpose,
    ) -> Result<CronJob, KubeError> {
        let (template, setting) = match purpose {
            JobPurpose::Retrain => (&self.cfg.retrain_template, "retrain_template"),
            JobPurpose::Build => (&self.cfg.build_template, "build_template"),
        };
        let cron_name = fill_template(template, ns, model);
        let crons: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
        match crons.get(&cron_name).await {
            Ok(c) => Ok(c),
            Err(e) if status_code(&e) == Some(404) => Err(KubeError::CronJobNotFound {
                setting,
                namespace: ns.to_string(),
                name: cron_name,
                model: format!("{ns}/{model}"),
                template: template.clone(),
            }),
            Err(e) => Err(KubeError::from_kube(
                Op::new("get", "batch", "cronjobs", ns, &cron_name),
                e,
            )),
        }
    }

    /// A Job from `cron`, as `kubectl create job --from=cronjob/…` makes it (with `bumps`,
    /// pinned); a name taken (two in one second) moves on to the next.
    async fn create_job(
        &self,
        ns: &str,
        cron: &CronJob,
        bumps: &[Bump],
    ) -> Result<String, KubeError> {
        let cron_name = cron.metadata.name.clone().unwrap_or_default();
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let now = (self.clock)();
        let mut last = Op::new("create", "batch", "jobs", ns, "");
        for attempt in 0..ATTEMPTS {
            let job = with_pins(job_from_cronjob(cron, ns, now, attempt), bumps);
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
