//! Known vulnerabilities of what each model runs: advisories in the OSV schema read from a
//! directory ([`osv`]), indexed by package and matched with PEP 440 versions ([`index`]),
//! ranked by their CVSS vectors ([`severity`]), against the pins and ranges of a model's
//! `requirements.txt` ([`requirements`]); [`scan`] puts them together for `pitcrew scan`.
//! [`builtin`] holds the real advisories that ship with the simulated fleet; [`bump`] chooses
//! the upgrade a patch proposes. The serving
//! images' findings are trivy-operator's reports ([`trivy`]).

pub mod builtin;
pub mod bump;
pub mod index;
pub mod osv;
pub mod requirements;
pub mod scan;
pub mod severity;
pub mod trivy;
