//! `[security]`: where the advisories that `pitcrew scan` (and, later, the console) match
//! models' dependencies against come from.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where advisories come from. With no `[security]` section, the real advisories that ship
/// with the simulated fleet are used (they cover only its pins).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// A directory of OSV records, read recursively (YAML or JSON): a checkout of the PyPA
    /// advisory database, or an OSV export of the PyPI ecosystem. A relative path is taken
    /// from the working directory.
    #[serde(default)]
    pub advisories: Option<PathBuf>,
    /// An OSV API to ask instead (`https://api.osv.dev`, or a mirror that speaks it): every
    /// advisory of each package the models require is fetched when they are scanned.
    #[serde(default)]
    pub osv_api: Option<String>,
}
