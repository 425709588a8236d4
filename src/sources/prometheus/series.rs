//! Series → models → samples (pure): the label map, the model registry, the merger of one round's series into rows, and time alignment.

use super::*;

/// Which labels name a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMap {
    /// Label with the model's name.
    pub model_label: String,
    /// Label with the namespace.
    pub namespace_label: String,
    /// Namespace of series without one.
    pub default_namespace: String,
}

impl LabelMap {
    /// From the config.
    pub(crate) fn from_config(cfg: &PrometheusConfig) -> LabelMap {
        LabelMap {
            model_label: cfg.model_label.clone(),
            namespace_label: cfg.namespace_label.clone(),
            default_namespace: cfg.default_namespace.clone(),
        }
    }

    /// `(namespace, name, version)` of a series; `None` without a (non-empty) model label.
    pub(crate) fn identify(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Option<(String, String, Option<String>)> {
        let name = labels.get(&self.model_label).filter(|s| !s.is_empty())?;
        let ns = labels
            .get(&self.namespace_label)
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.default_namespace);
        let version = labels.get("version").filter(|s| !s.is_empty()).cloned();
        Some((ns.clone(), name.clone(), version))
    }
}

/// Models seen so far, in the order they were announced (the engine's indices).
#[derive(Debug, Clone)]
pub struct Registry {
    pub(super) labels: LabelMap,
    configs: BTreeMap<String, ModelConfig>,
    index: HashMap<String, u32>,
    metas: Vec<ModelMeta>,
    pending: BTreeSet<u32>,
}

impl Registry {
    /// Empty; `configs` gives priority and replica bounds by `namespace/name`.
    pub fn new(labels: LabelMap, configs: BTreeMap<String, ModelConfig>) -> Registry {
        Registry {
            labels,
            configs,
            index: HashMap::new(),
            metas: Vec::new(),
            pending: BTreeSet::new(),
        }
    }

    /// [`Registry::new`] with `known` models at the first indices, in that order (the models of
    /// an engine resumed from its journal): announced again at once, their priority and replica
    /// bounds from `configs` as today's config says.
    pub fn knowing(
        labels: LabelMap,
        configs: BTreeMap<String, ModelConfig>,
        known: Vec<ModelMeta>,
    ) -> Registry {
        let mut r = Registry::new(labels, configs);
        for mut m in known {
            let key = m.key();
            if r.index.contains_key(&key) {
                continue;
            }
            if let Some(c) = r.configs.get(&key) {
                m.priority = c.priority;
                m.min_replicas = c.min_replicas;
                m.max_replicas = c.max_replicas;
            }
            let i = r.metas.len() as u32;
            r.metas.push(m);
            r.index.insert(key, i);
            r.pending.insert(i);
        }
        r
    }

    /// The index of the model a series belongs to (new models get the next index and are
    /// announced by [`Registry::take_announcements`]); `None` without a model label.
    pub fn resolve(&mut self, labels: &BTreeMap<String, String>) -> Option<u32> {
        let (ns, name, version) = self.labels.identify(labels)?;
        let key = format!("{ns}/{name}");
        if let Some(&i) = self.index.get(&key) {
            return Some(i);
        }
        let cfg = self.configs.get(&key);
        let i = self.metas.len() as u32;
        self.metas.push(ModelMeta {
            name,
            namespace: ns,
            version: version.unwrap_or_default(),
            priority: cfg.map_or(DEFAULT_PRIORITY, |c| c.priority),
            size_gb: 0.0,
            complexity: 0.0,
            min_replicas: cfg.map_or(0, |c| c.min_replicas),
            max_replicas: cfg.map_or(0, |c| c.max_replicas),
        });
        self.index.insert(key, i);
        self.pending.insert(i);
        Some(i)
    }

    /// Set the version a model serves (announced again when it changed).
    pub(crate) fn set_version(&mut self, model: u32, version: &str) {
        if let Some(m) = self.metas.get_mut(model as usize)
            && m.version != version
        {
            m.version = version.to_string();
            self.pending.insert(model);
        }
    }

    /// New or changed models since the last call, in index order (for `Event::Models`).
    pub(crate) fn take_announcements(&mut self) -> Vec<ModelMeta> {
        let p = std::mem::take(&mut self.pending);
        p.into_iter()
            .map(|i| self.metas[i as usize].clone())
            .collect()
    }

    /// Every model, in index order.
    pub fn metas(&self) -> &[ModelMeta] {
        &self.metas
    }
}

/// Points of several signals and models merged into one sample per model and time.
#[derive(Debug, Clone, Default)]
pub(crate) struct Merger {
    rows: BTreeMap<i64, BTreeMap<u32, Sample>>,
    duplicates: usize,
    unlabelled: usize,
    /// Per model the version seen with most weight: (from request rate, time, value, version).
    versions: HashMap<u32, (bool, f64, f64, String)>,
}

pub(super) fn time_key(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

impl Merger {
    /// Empty.
    pub fn new() -> Merger {
        Merger::default()
    }

    /// One point. Non-finite times are dropped; non-finite values are missing (NaN). A second
    /// value for the same model, signal and time is dropped (the first is kept).
    pub(crate) fn add(&mut self, t: f64, model: u32, signal: Signal, v: f64) {
        let Some(slot) = self.slot(t, model, signal) else {
            return;
        };
        if slot.is_finite() {
            self.duplicates += 1;
        } else if v.is_finite() {
            *slot = v as f32;
        }
    }

    /// The value of `signal` for `model` at `t` (created missing); none for a non-finite time.
    fn slot(&mut self, t: f64, model: u32, signal: Signal) -> Option<&mut f32> {
        if !t.is_finite() {
            return None;
        }
        let s = self
            .rows
            .entry(time_key(t))
            .or_default()
            .entry(model)
            .or_insert(Sample::MISSING);
        Some(&mut s.values[signal.index()])
    }

    /// A point of one more series of an additive signal (request rate, replicas): summed with
    /// what other series gave for the same model and time.
    pub(crate) fn add_summed(&mut self, t: f64, model: u32, signal: Signal, v: f64) {
        let Some(slot) = self.slot(t, model, signal) else {
            return;
        };
        if v.is_finite() {
            *slot = if slot.is_finite() {
                *slot + v as f32
            } else {
                v as f32
            };
        }
    }

    /// Every point of every series of one signal's answer. Several series of one model (per
    /// version, per pod) are summed for request rate and replicas; for the other signals the
    /// first is kept (see [`Merger::duplicates`]). A time repeated within one series counts once.
    pub(crate) fn add_result(&mut self, reg: &mut Registry, signal: Signal, series: &[Series]) {
        let additive = matches!(signal, Signal::RequestRate | Signal::Replicas);
        for s in series {
            let Some(m) = reg.resolve(&s.labels) else {
                self.unlabelled += 1;
                continue;
            };
            let mut seen = std::collections::HashSet::with_capacity(s.points.len());
            for &(t, v) in &s.points {
                if !t.is_finite() || !seen.insert(time_key(t)) {
                    continue;
                }
                if additive {
                    self.add_summed(t, m, signal, v);
                } else {
                    self.add(t, m, signal, v);
                }
            }
            if let Some(version) = s.labels.get("version").filter(|v| !v.is_empty())
                && let Some(&(t, v)) = s.points.iter().rev().find(|p| p.0.is_finite())
            {
                let cand = (
                    signal == Signal::RequestRate,
                    t,
                    if v.is_finite() { v } else { f64::MIN },
                );
                let better = self.versions.get(&m).is_none_or(|o| {
                    (cand.0, cand.1, cand.2)
                        .partial_cmp(&(o.0, o.1, o.2))
                        .is_some_and(|c| c == std::cmp::Ordering::Greater)
                });
                if better {
                    self.versions
                        .insert(m, (cand.0, cand.1, cand.2, version.clone()));
                }
            }
        }
    }

    /// Give each model the version of its series with the most traffic at the latest time (a
    /// query `by (namespace, model, version)` during a rollout has one series per version).
    pub(crate) fn apply_versions(&self, reg: &mut Registry) {
        for (m, (_, _, _, v)) in &self.versions {
            reg.set_version(*m, v);
        }
    }

    /// Values dropped because another series already gave one (several series per model).
    pub(crate) fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Series dropped because they have no model label.
    pub(crate) fn unlabelled(&self) -> usize {
        self.unlabelled
    }

    /// Rows in increasing time, strictly after `after`: `(t, samples by model index)`; samples
    /// with every value missing are left out, and so are rows left empty.
    pub(crate) fn into_rows(self, after: Option<f64>) -> Vec<(f64, Vec<(u32, Sample)>)> {
        let min = after.map(time_key);
        self.rows
            .into_iter()
            .filter(|(k, _)| min.is_none_or(|m| *k > m))
            .filter_map(|(k, models)| {
                let samples: Vec<(u32, Sample)> = models
                    .into_iter()
                    .filter(|(_, s)| s.values.iter().any(|v| v.is_finite()))
                    .collect();
                (!samples.is_empty()).then_some((k as f64 / 1000.0, samples))
            })
            .collect()
    }
}

/// `t` rounded down to a multiple of `step`.
pub(crate) fn align_down(t: f64, step: f64) -> f64 {
    (t / step).floor() * step
}

/// The range to backfill before live data at `now_aligned`: from the step after the last data
/// (or `max_back` seconds back when there is none, or when the gap is longer), up to the step
/// before `now_aligned`; `None` when there is no gap.
pub(crate) fn gap_range(
    last: Option<f64>,
    now_aligned: f64,
    step: f64,
    max_back: f64,
) -> Option<(f64, f64)> {
    let earliest = align_down(now_aligned - max_back.max(0.0), step);
    let start = match last {
        Some(l) => (align_down(l, step) + step).max(earliest),
        None => earliest,
    };
    let end = now_aligned - step;
    (end >= start - 1e-9 && end.is_finite() && start.is_finite()).then_some((start, end))
}

/// A one-line summary of warnings and failures for the status label (or empty).
pub(crate) fn notice(warnings: &[String]) -> String {
    match warnings {
        [] => String::new(),
        [w] => format!("warning: {w}"),
        [w, rest @ ..] => format!("{} warnings: {w} (+{} more)", rest.len() + 1, rest.len()),
    }
}

pub(super) fn label_with(base: &str, notice: &str) -> String {
    if notice.is_empty() {
        return base.to_string();
    }
    let full = format!("{base} — {notice}");
    if full.chars().count() <= LABEL_MAX {
        full
    } else {
        let mut s: String = full.chars().take(LABEL_MAX - 1).collect();
        s.push('…');
        s
    }
}
