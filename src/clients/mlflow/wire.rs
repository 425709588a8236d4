//! MLflow's wire types (its protobuf JSON: int64 as numbers or strings, missing fields allowed).

use super::*;

fn de_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| serde::de::Error::custom(format!("{n} is not an integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("'{s}' is not an integer"))),
        Some(v) => Err(serde::de::Error::custom(format!("{v} is not an integer"))),
    }
}

fn de_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(f64::NAN),
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => s
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a number"))),
        },
        Some(v) => Err(serde::de::Error::custom(format!("{v} is not a number"))),
    }
}

/// A key/value tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// An alias of a registered model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAlias {
    /// Alias, e.g. `champion`.
    pub alias: String,
    /// Version it points at.
    pub version: String,
}

/// A registered model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    /// Name.
    pub name: String,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Latest version per stage (MLflow's own summary).
    #[serde(default)]
    pub latest_versions: Vec<ModelVersion>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Aliases.
    #[serde(default)]
    pub aliases: Vec<ModelAlias>,
}

impl RegisteredModel {
    /// The version an alias points at.
    pub fn alias(&self, alias: &str) -> Option<u64> {
        self.aliases
            .iter()
            .find(|a| a.alias == alias)
            .and_then(|a| a.version.parse().ok())
    }
}

/// A model version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// Registered model name.
    pub name: String,
    /// Version (a decimal number as a string).
    pub version: String,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Deprecated stage (`None`, `Staging`, `Production`, `Archived`).
    #[serde(default)]
    pub current_stage: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Artifact source.
    #[serde(default)]
    pub source: String,
    /// Run that produced it.
    #[serde(default)]
    pub run_id: String,
    /// `PENDING_REGISTRATION`, `FAILED_REGISTRATION` or `READY`.
    #[serde(default)]
    pub status: String,
    /// Status detail.
    #[serde(default)]
    pub status_message: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Aliases pointing here.
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl ModelVersion {
    /// The version number (None when MLflow sent something that is not a number).
    pub fn number(&self) -> Option<u64> {
        self.version.parse().ok()
    }

    /// A tag's value.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// Registration finished.
    pub fn is_ready(&self) -> bool {
        self.status.is_empty() || self.status == "READY"
    }

    /// In the (deprecated) `Archived` stage.
    pub fn is_archived(&self) -> bool {
        self.current_stage.eq_ignore_ascii_case("archived")
    }

    /// pitcrew rolled back away from it.
    pub fn is_rolled_back(&self) -> bool {
        self.tag(TAG_ROLLED_BACK_AT).is_some()
    }

    /// pitcrew promoted it at some point (it has served).
    pub fn has_served(&self) -> bool {
        self.tag(TAG_PROMOTED_AT).is_some()
    }

    /// May serve: READY, not archived, not rolled back.
    pub(crate) fn is_eligible(&self) -> bool {
        self.is_ready() && !self.is_archived() && !self.is_rolled_back()
    }
}

/// A logged metric (its latest value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Key.
    pub key: String,
    /// Value (NaN when MLflow sent none).
    #[serde(default, deserialize_with = "de_f64")]
    pub value: f64,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub timestamp: i64,
    /// Step.
    #[serde(default, deserialize_with = "de_i64")]
    pub step: i64,
}

/// A run parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A run's metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Run id.
    #[serde(default)]
    pub run_id: String,
    /// Experiment id.
    #[serde(default)]
    pub experiment_id: String,
    /// Run name.
    #[serde(default)]
    pub run_name: String,
    /// `RUNNING`, `FINISHED`, `FAILED`, …
    #[serde(default)]
    pub status: String,
    /// Unix ms.
    #[serde(default, deserialize_with = "de_i64")]
    pub start_time: i64,
    /// Unix ms (0 while running).
    #[serde(default, deserialize_with = "de_i64")]
    pub end_time: i64,
    /// `active` or `deleted`.
    #[serde(default)]
    pub lifecycle_stage: String,
}

/// What a run logged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunData {
    /// Latest value of each metric.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Parameters.
    #[serde(default)]
    pub params: Vec<Param>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A tracking run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Metadata.
    #[serde(default)]
    pub info: RunInfo,
    /// Metrics, params, tags.
    #[serde(default)]
    pub data: RunData,
}

impl Run {
    /// A metric's latest value.
    pub fn metric(&self, key: &str) -> Option<f64> {
        self.data
            .metrics
            .iter()
            .find(|m| m.key == key)
            .map(|m| m.value)
            .filter(|v| v.is_finite())
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// Items.
    pub items: Vec<T>,
    /// Token for the next page (None: last page).
    pub next_page_token: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ModelsPage {
    #[serde(default)]
    pub(super) registered_models: Vec<RegisteredModel>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct VersionsPage {
    #[serde(default)]
    pub(super) model_versions: Vec<ModelVersion>,
    #[serde(default)]
    pub(super) next_page_token: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct OneModel {
    pub(super) registered_model: RegisteredModel,
}

#[derive(Deserialize)]
pub(super) struct OneVersion {
    pub(super) model_version: ModelVersion,
}

#[derive(Deserialize)]
pub(super) struct OneRun {
    pub(super) run: Run,
}

#[derive(Deserialize)]
pub(super) struct Empty {}

#[derive(Deserialize)]
pub(super) struct ErrorBody {
    pub(super) error_code: String,
    #[serde(default)]
    pub(super) message: String,
}
