//! Pure manifest arithmetic: how a canary step splits replicas, a pod template's model version,
//! the merge patch between two objects, the Job a CronJob would create, and a build Job told
//! its pins.

use super::{
    IMAGE_FIXES_ANNOTATION, IMAGE_FIXES_ENV, INSTANTIATE_ANNOTATION, PINS_ANNOTATION, PINS_ENV,
    VERSION_ANNOTATION, VERSION_ENV,
};
use crate::domain::Bump;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{EnvVar, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::Value;
use std::collections::BTreeMap;

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

/// `job` told what a patch build installs: the Python requirements' pins in `PITCREW_PINS`
/// (`name==version`, space-separated) and the serving images' package versions in
/// `PITCREW_IMAGE_FIXES` (`container:package=version`, space-separated), on every container,
/// replacing ones already there (both are set, an empty one empty: a value the CronJob's template
/// carries is never built by mistake), and the non-empty ones in the annotations
/// `pitcrew.dev/pins` and `pitcrew.dev/image-fixes` (what `kubectl describe job` shows). The
/// container in an image fix ends at its first `:` (a Java package's name has one too). No
/// bumps: `job` as is.
pub fn with_pins(mut job: Job, bumps: &[Bump]) -> Job {
    let (pins, fixes): (Vec<&Bump>, Vec<&Bump>) =
        bumps.iter().partition(|b| b.source.is_requirements());
    let pins: Vec<String> = pins
        .iter()
        .map(|b| format!("{}=={}", b.package, b.to))
        .collect();
    let fixes: Vec<String> = fixes
        .iter()
        .map(|b| match &b.source {
            crate::domain::Source::Image { container, .. } => {
                format!("{container}:{}={}", b.package, b.to)
            }
            crate::domain::Source::Requirements => format!("{}={}", b.package, b.to),
        })
        .collect();
    if bumps.is_empty() {
        return job;
    }
    for (list, env_name, annotation) in [
        (pins, PINS_ENV, PINS_ANNOTATION),
        (fixes, IMAGE_FIXES_ENV, IMAGE_FIXES_ANNOTATION),
    ] {
        let value = list.join(" ");
        if !list.is_empty() {
            job.metadata
                .annotations
                .get_or_insert_with(BTreeMap::new)
                .insert(annotation.to_string(), value.clone());
        }
        if let Some(pod) = job.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            for c in &mut pod.containers {
                let env = c.env.get_or_insert_with(Vec::new);
                env.retain(|e| e.name != env_name);
                env.push(EnvVar {
                    name: env_name.to_string(),
                    value: Some(value.clone()),
                    value_from: None,
                });
            }
        }
    }
    job
}
