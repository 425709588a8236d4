//! Advisories in the OSV schema (<https://ossf.github.io/osv-schema/>): the fields pitcrew
//! reads, and a directory of records loaded whole (YAML as the PyPA advisory database keeps
//! them, or JSON as an OSV export does). A record that does not parse is named with its
//! reason and skipped; the others are kept.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One advisory.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// Its id (`PYSEC-2019-132`, `GHSA-…`).
    pub id: String,
    /// Other ids of the same vulnerability (a CVE, a GHSA).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One line on it, when the record has one.
    #[serde(default)]
    pub summary: Option<String>,
    /// The full description.
    #[serde(default)]
    pub details: Option<String>,
    /// When it was withdrawn: a withdrawn record affects nothing.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// When it was published (RFC 3339).
    #[serde(default)]
    pub published: Option<String>,
    /// Severity vectors of the whole record.
    #[serde(default)]
    pub severity: Vec<SeverityVector>,
    /// The packages it affects, and which of their versions.
    #[serde(default)]
    pub affected: Vec<Affected>,
}

/// A severity as the record states it: a CVSS vector (`CVSS_V2`, `CVSS_V3`, `CVSS_V4`).
#[derive(Debug, Clone, Deserialize)]
pub struct SeverityVector {
    /// `CVSS_V3` and the like.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector (`CVSS:3.1/AV:N/…`).
    pub score: String,
}

/// A package the advisory affects.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    /// The package, by ecosystem and name.
    pub package: Package,
    /// Ranges of affected versions.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Affected versions listed one by one.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Severity vectors for this package alone.
    #[serde(default)]
    pub severity: Vec<SeverityVector>,
}

/// A package's ecosystem and name.
#[derive(Debug, Clone, Deserialize)]
pub struct Package {
    /// `PyPI` for Python packages.
    pub ecosystem: String,
    /// Its name as the ecosystem writes it.
    pub name: String,
}

/// A range: events in version order (`ECOSYSTEM` ranges are in the ecosystem's own versions;
/// `GIT` ranges are in commits, which pitcrew does not read).
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    /// `ECOSYSTEM`, `SEMVER` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Where affected versions start and end.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One event of a range (exactly one field is set).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    /// Versions from this one on are affected (`0`: from the first).
    #[serde(default)]
    pub introduced: Option<String>,
    /// This version is the first not affected again.
    #[serde(default)]
    pub fixed: Option<String>,
    /// The last affected version (what follows is not known to be fixed).
    #[serde(default)]
    pub last_affected: Option<String>,
}

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// The records of a directory, read recursively (`*.yaml`, `*.yml`, `*.json`), in path
/// order; the files that did not parse, with their reason.
pub fn load_dir(dir: &Path) -> Result<(Vec<Record>, Vec<Unread>), String> {
    let mut files = Vec::new();
    collect(dir, &mut files).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    files.sort();
    let mut records = Vec::with_capacity(files.len());
    let mut unread = Vec::new();
    for path in files {
        match read_record(&path) {
            Ok(r) => records.push(r),
            Err(reason) => unread.push(Unread { path, reason }),
        }
    }
    Ok((records, unread))
}

/// One record from a file, by its extension.
pub fn read_record(path: &Path) -> Result<Record, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    parse_record(&text, path.extension().is_some_and(|x| x == "json"))
}

/// One record from its text (JSON, else YAML).
pub fn parse_record(text: &str, json: bool) -> Result<Record, String> {
    if json {
        serde_json::from_str(text).map_err(|e| e.to_string())
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(&path, out)?;
        } else if kind.is_file()
            && path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x, "yaml" | "yml" | "json"))
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_yaml_record_reads_and_a_broken_one_says_why() {
        let r = parse_record(
            "id: PYSEC-0\naffected:\n- package: {name: urllib3, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: 1.24.3\n  versions: [\"1.0\", 1.24.2]\naliases: [CVE-1]\n",
            false,
        )
        .expect("a valid test input");
        assert_eq!(r.id, "PYSEC-0");
        assert_eq!(r.affected[0].versions, ["1.0", "1.24.2"]);
        assert_eq!(
            r.affected[0].ranges[0].events[1].fixed.as_deref(),
            Some("1.24.3")
        );
        assert!(parse_record("id: [", false).is_err());
        assert!(parse_record("{\"id\": 3}", true).is_err());
    }
}
