//! trivy-operator's `VulnerabilityReport` (`aquasecurity.github.io/v1alpha1`): what it found in
//! one container image of one workload, read into findings ([`Vulnerability`] with an
//! [`Source::Image`]). One report names one container (label `trivy-operator.container.name`)
//! and one image (`report.registry.server` / `report.artifact.repository` : `tag` or
//! `@digest`); its vulnerabilities name an OS or language package (`resource`), the version
//! installed, the versions that fix it (`fixedVersion`, empty when none) and a severity.
//!
//! Severity: scored from the CVSS vectors the report carries (`cvss.<source>.V40Vector`,
//! `V3Vector`, `V2Vector`, with the `cvss` crate, as for OSV advisories), else the scanner's own
//! rating (`severity`: CRITICAL … UNKNOWN) with its `score`.

use super::osv::SeverityVector;
use crate::domain::{Severity, Source, Vulnerability};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The label trivy-operator puts the scanned container's name in.
pub const CONTAINER_LABEL: &str = "trivy-operator.container.name";

/// The part of a `VulnerabilityReport` object pitcrew reads (unknown fields are ignored; a
/// missing one is empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ReportObject {
    /// `metadata.labels`.
    pub metadata: Metadata,
    /// `report`.
    pub report: Report,
}

/// The metadata pitcrew reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Metadata {
    /// The report's name.
    pub name: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its owners (trivy-operator: the ReplicaSet of a Deployment).
    pub owner_references: Vec<OwnerRef>,
}

/// An owner reference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OwnerRef {
    /// Its kind.
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Whether it is the controller.
    pub controller: Option<bool>,
}

/// `report`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Report {
    /// The image scanned.
    pub artifact: Artifact,
    /// Its registry.
    pub registry: Registry,
    /// What was found.
    pub vulnerabilities: Vec<Finding>,
}

/// `report.artifact`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Artifact {
    /// `library/nginx`.
    pub repository: String,
    /// `1.16`.
    pub tag: Option<String>,
    /// `sha256:…`.
    pub digest: Option<String>,
}

/// `report.registry`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Registry {
    /// `index.docker.io`.
    pub server: Option<String>,
}

/// One entry of `report.vulnerabilities`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Finding {
    /// `CVE-2019-20367`.
    #[serde(rename = "vulnerabilityID")]
    pub vulnerability_id: String,
    /// The package.
    pub resource: String,
    /// Its version in the image.
    pub installed_version: String,
    /// The versions that fix it, comma-separated; empty when none does.
    pub fixed_version: String,
    /// CRITICAL, HIGH, MEDIUM, LOW or UNKNOWN.
    pub severity: String,
    /// The scanner's score.
    pub score: Option<f64>,
    /// One line on it.
    pub title: String,
    /// CVSS vectors by source (`nvd`, `redhat`, `ghsa`).
    pub cvss: BTreeMap<String, Cvss>,
}

/// One source's CVSS data.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Cvss {
    /// CVSS 2.
    #[serde(rename = "V2Vector")]
    pub v2: Option<String>,
    /// CVSS 3.x.
    #[serde(rename = "V3Vector")]
    pub v3: Option<String>,
    /// CVSS 4.0.
    #[serde(rename = "V40Vector")]
    pub v40: Option<String>,
}

impl ReportObject {
    /// Read a report object (as the API server answers it, or as YAML converted to JSON).
    pub fn from_value(v: &serde_json::Value) -> Result<ReportObject, String> {
        ReportObject::deserialize(v).map_err(|e| {
            let name = v["metadata"]["name"].as_str().unwrap_or("(no name)");
            format!("VulnerabilityReport {name} not read: {e}")
        })
    }

    /// The workload that owns it: (kind, name) of its controller owner (else its first owner).
    pub fn owner(&self) -> Option<(&str, &str)> {
        let owners = &self.metadata.owner_references;
        owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or(owners.first())
            .map(|o| (o.kind.as_str(), o.name.as_str()))
    }

    /// The container scanned (its label; else the last part of the report's name, which
    /// trivy-operator makes `<kind>-<workload>-<container>`).
    pub fn container(&self) -> String {
        self.metadata
            .labels
            .get(CONTAINER_LABEL)
            .cloned()
            .or_else(|| {
                let name = self.metadata.name.as_deref()?;
                name.rsplit('-').next().map(str::to_string)
            })
            .unwrap_or_default()
    }

    /// The image scanned, `registry/repository:tag` (or `@digest` when it has no tag).
    pub fn image(&self) -> String {
        let a = &self.report.artifact;
        let mut s = match self.report.registry.server.as_deref() {
            Some(r) if !r.is_empty() => format!("{r}/{}", a.repository),
            _ => a.repository.clone(),
        };
        match (&a.tag, &a.digest) {
            (Some(t), _) if !t.is_empty() => {
                s.push(':');
                s.push_str(t);
            }
            (_, Some(d)) if !d.is_empty() => {
                s.push('@');
                s.push_str(d);
            }
            _ => {}
        }
        s
    }

    /// Its findings (each package and id once).
    pub fn vulnerabilities(&self) -> Vec<Vulnerability> {
        let source = Source::Image {
            container: self.container(),
            image: self.image(),
        };
        let mut out: Vec<Vulnerability> = Vec::new();
        for f in &self.report.vulnerabilities {
            if f.vulnerability_id.is_empty()
                || out
                    .iter()
                    .any(|v| v.advisory == f.vulnerability_id && v.package == f.resource)
            {
                continue;
            }
            let (severity, score) = f.severity_and_score();
            let fixed = Some(f.fixed_version.trim().to_string()).filter(|s| !s.is_empty());
            out.push(Vulnerability {
                advisory: f.vulnerability_id.clone(),
                cve: f
                    .vulnerability_id
                    .starts_with("CVE-")
                    .then(|| f.vulnerability_id.clone()),
                package: f.resource.clone(),
                installed: f.installed_version.clone(),
                upgrade_to: fixed.clone(),
                fixed,
                severity,
                score,
                title: f.title.clone(),
                source: source.clone(),
            });
        }
        out
    }
}

impl Finding {
    /// Scored from its CVSS vectors when it carries any that score; else the scanner's rating.
    fn severity_and_score(&self) -> (Severity, Option<f64>) {
        let vectors: Vec<SeverityVector> = self
            .cvss
            .values()
            .flat_map(|c| [&c.v40, &c.v3, &c.v2])
            .flatten()
            .map(|v| SeverityVector {
                kind: String::new(),
                score: v.clone(),
            })
            .collect();
        let refs: Vec<&SeverityVector> = vectors.iter().collect();
        match Severity::of_vectors(&refs) {
            (Severity::Unknown, _) => {
                let rated = Severity::from_name(&self.severity.to_ascii_lowercase())
                    .unwrap_or(Severity::Unknown);
                let score = self.score.filter(|s| s.is_finite() && *s >= 0.0);
                (rated, score)
            }
            scored => scored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(vulns: serde_json::Value) -> ReportObject {
        ReportObject::from_value(&json!({
            "metadata": {
                "name": "replicaset-fraud-6d4cf56db6-server",
                "labels": {"trivy-operator.container.name": "server"},
                "ownerReferences": [
                    {"kind": "ReplicaSet", "name": "fraud-6d4cf56db6", "controller": true}
                ]
            },
            "report": {
                "artifact": {"repository": "ml/fraud-server", "tag": "3.1"},
                "registry": {"server": "ghcr.io"},
                "vulnerabilities": vulns
            }
        }))
        .expect("a report")
    }

    #[test]
    fn a_report_names_its_owner_container_image_and_findings() {
        let r = report(json!([
            {"vulnerabilityID": "CVE-2019-20367", "resource": "libbsd0",
             "installedVersion": "0.9.1-2", "fixedVersion": "0.9.1-2+deb10u1",
             "severity": "CRITICAL", "score": 9.1, "title": ""},
            {"vulnerabilityID": "CVE-2018-25009", "resource": "libwebp6",
             "installedVersion": "0.6.1-2", "fixedVersion": "",
             "severity": "CRITICAL", "score": 9.1, "title": "libwebp: out-of-bounds read"},
            {"vulnerabilityID": "CVE-2020-27350", "resource": "apt",
             "installedVersion": "1.8.2", "fixedVersion": "1.8.2.2", "severity": "HIGH",
             "cvss": {"nvd": {"V3Vector": "CVSS:3.1/AV:L/AC:L/PR:H/UI:N/S:C/C:L/I:L/A:L"}}},
            {"vulnerabilityID": "CVE-2020-27350", "resource": "apt",
             "installedVersion": "1.8.2", "fixedVersion": "1.8.2.2", "severity": "HIGH"},
            {"vulnerabilityID": "TEMP-0000", "resource": "x", "installedVersion": "1",
             "fixedVersion": "", "severity": "SOMETHING"}
        ]));
        assert_eq!(r.owner(), Some(("ReplicaSet", "fraud-6d4cf56db6")));
        assert_eq!(r.container(), "server");
        assert_eq!(r.image(), "ghcr.io/ml/fraud-server:3.1");
        let v = r.vulnerabilities();
        assert_eq!(v.len(), 4, "{v:#?}");
        assert_eq!(v[0].severity, Severity::Critical);
        assert_eq!(v[0].fixed.as_deref(), Some("0.9.1-2+deb10u1"));
        assert_eq!(v[0].cve.as_deref(), Some("CVE-2019-20367"));
        assert_eq!(
            v[0].source,
            Source::Image {
                container: "server".into(),
                image: "ghcr.io/ml/fraud-server:3.1".into()
            }
        );
        // no fix: none to propose
        assert_eq!(v[1].fixed, None);
        assert_eq!(v[1].upgrade_to, None);
        // the vector outranks the label: 5.7 is medium, whatever the scanner said
        assert_eq!(v[2].severity, Severity::Medium);
        assert_eq!(v[2].score, Some(5.7));
        // a rating trivy does not define is unknown, and an id without CVE has none
        assert_eq!(v[3].severity, Severity::Unknown);
        assert_eq!(v[3].cve, None);
    }

    #[test]
    fn a_report_with_missing_parts_reads_as_empty_and_a_wrong_type_is_an_error() {
        let r = ReportObject::from_value(&json!({"metadata": {"name": "replicaset-a-1-web"}}))
            .expect("read");
        assert_eq!(r.owner(), None);
        assert_eq!(r.container(), "web");
        assert!(r.vulnerabilities().is_empty());
        let digest = ReportObject::from_value(&json!({"report": {"artifact":
            {"repository": "r", "digest": "sha256:ab"}}}))
        .expect("read");
        assert_eq!(digest.image(), "r@sha256:ab");
        let e = ReportObject::from_value(&json!({"metadata": {"name": "bad"},
            "report": {"vulnerabilities": "many"}}))
        .expect_err("a string is not a list");
        assert!(e.contains("VulnerabilityReport bad not read"), "{e}");
    }
}
