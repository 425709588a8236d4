//! Models, signals and samples; the bounded history kept for each model is in
//! [`history`], on the rings of [`ring`].

mod history;
mod ring;
mod times;

pub use history::*;
pub use ring::{Fill, Ring, RingOf};

use crate::domain::Signal;
use serde::{Deserialize, Serialize};

/// Static facts about a served model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Model name, unique within its namespace.
    pub name: String,
    /// Kubernetes namespace (or team) the model is served in.
    pub namespace: String,
    /// Version currently serving most traffic.
    pub version: String,
    /// Business priority, 1 (highest) to 5.
    pub priority: u8,
    /// Size of the model's weights, GB (0 when unknown).
    #[serde(default)]
    pub size_gb: f64,
    /// Complexity score in [0, 1] (layers, custom ops, pipeline stages; 0 when unknown).
    #[serde(default)]
    pub complexity: f64,
    /// Fewest replicas allowed (0 when unknown).
    #[serde(default)]
    pub min_replicas: u32,
    /// Most replicas allowed (0 when unknown: no bound known).
    #[serde(default)]
    pub max_replicas: u32,
}

impl ModelMeta {
    /// `namespace/name`, the key used everywhere a model is named.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// True when `key` is this model's `namespace/name` (without allocating).
    pub fn is(&self, key: &str) -> bool {
        key.len() == self.namespace.len() + 1 + self.name.len()
            && key.starts_with(self.namespace.as_str())
            && key.as_bytes()[self.namespace.len()] == b'/'
            && key.ends_with(self.name.as_str())
    }
}

/// One observation of every signal of one model at one instant. Missing values are NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Values indexed by [`Signal::index`] (missing: NaN, written as `null` in JSON).
    #[serde(with = "nan_as_null")]
    pub values: [f32; Signal::COUNT],
}

/// JSON has no NaN: missing values are written as `null` and read back as NaN.
mod nan_as_null {
    use super::Signal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        v: &[f32; Signal::COUNT],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let o: [Option<f32>; Signal::COUNT] = v.map(|x| x.is_finite().then_some(x));
        o.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[f32; Signal::COUNT], D::Error> {
        let o = <[Option<f32>; Signal::COUNT]>::deserialize(d)?;
        Ok(o.map(|x| x.unwrap_or(f32::NAN)))
    }
}

impl Sample {
    /// A sample with every value missing.
    pub(crate) const MISSING: Sample = Sample {
        values: [f32::NAN; Signal::COUNT],
    };

    /// The value of one signal.
    pub fn get(&self, s: Signal) -> f32 {
        self.values[s.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_compact() {
        assert_eq!(Signal::RequestRate.format(1234.0), "1.2k/s");
        assert_eq!(Signal::LatencyP95.format(87.4), "87ms");
        assert_eq!(Signal::LatencyP95.format(2500.0), "2.5s");
        assert_eq!(Signal::ErrorRate.format(0.0123), "1.2%");
        assert_eq!(Signal::Accuracy.format(0.9312), "0.931");
        assert_eq!(Signal::Cpu.format(f64::NAN), "—");
    }
}
