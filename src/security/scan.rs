//! `pitcrew scan`: the advisories that affect each model's requirements, without a terminal.
//! A pinned requirement is matched as installed; a range (`>=`, `~=`, `!=`) is matched
//! against every version the advisory data names that it admits, and said to admit them.
//! Each finding carries the advisory's first fixed version and the smallest upgrade that
//! leaves no known advisory; findings are listed most severe first.

use super::index::{Advisory, Index};
use super::requirements::{Entry, parse};
use super::severity::Severity;
use crate::domain::Vulnerability;
use pep440_rs::Version;
use std::fmt::Write as _;
use std::sync::Arc;

/// A model and the text of its `requirements.txt`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The model (or the file) the requirements are of.
    pub model: String,
    /// The requirements' text.
    pub requirements: String,
}

/// One advisory affecting one requirement of one model (borrowing the model's name and the
/// advisory from what was scanned).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding<'a> {
    /// The model.
    pub model: &'a str,
    /// The package (normalised name).
    pub package: Arc<str>,
    /// The pinned version; `None` for a range.
    pub installed: Option<Version>,
    /// For a range: what it admits.
    pub admits: Option<Admits>,
    /// The line of the requirement.
    pub line: usize,
    /// The requirement's environment marker, when it has one (it holds only there).
    pub marker: Option<Arc<str>>,
    /// The advisory.
    pub advisory: &'a Advisory,
    /// The first version after the installed one that this advisory does not affect (`None`:
    /// no fix known, nothing to propose).
    pub fixed: Option<Version>,
    /// The smallest version after the installed one that no known advisory affects.
    pub upgrade_to: Option<Version>,
}

/// The affected versions a range admits.
#[derive(Debug, Clone, PartialEq)]
pub struct Admits {
    /// The range's specifiers (empty: any version).
    pub specifiers: Arc<str>,
    /// The lowest affected version it admits.
    pub lowest: Version,
    /// The highest.
    pub highest: Version,
}

impl Finding<'_> {
    /// Its severity (the advisory's).
    pub fn severity(&self) -> Severity {
        self.advisory.severity
    }

    /// As the engine, the journal and the screens hold it.
    pub fn vulnerability(&self) -> Vulnerability {
        let installed = match (&self.installed, &self.admits) {
            (Some(v), _) => v.to_string(),
            (None, Some(a)) if a.specifiers.is_empty() => "any version".to_string(),
            (None, Some(a)) => a.specifiers.to_string(),
            (None, None) => "?".to_string(),
        };
        Vulnerability {
            advisory: self.advisory.id.clone(),
            cve: self
                .advisory
                .aliases
                .iter()
                .find(|a| a.starts_with("CVE-"))
                .cloned(),
            package: self.package.to_string(),
            installed,
            fixed: self.fixed.as_ref().map(Version::to_string),
            upgrade_to: self.upgrade_to.as_ref().map(Version::to_string),
            severity: self.advisory.severity,
            score: self.advisory.score,
            title: self.advisory.title.clone(),
            source: crate::domain::Source::Requirements,
        }
    }
}

/// Every package the targets require (pinned or not), normalised, sorted, each once.
pub fn packages(targets: &[Target]) -> Vec<String> {
    let mut names: Vec<String> = targets
        .iter()
        .flat_map(|t| parse(&t.requirements))
        .filter_map(|e| match e {
            Entry::Pinned { name, .. } | Entry::Range { name, .. } => Some(name.to_string()),
            Entry::Unread { .. } => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The known vulnerabilities of one model's requirements, as the engine takes them.
pub fn vulnerabilities(index: &Index, requirements: &str) -> Vec<Vulnerability> {
    let target = [Target {
        model: String::new(),
        requirements: requirements.to_string(),
    }];
    scan(index, &target)
        .findings
        .iter()
        .map(Finding::vulnerability)
        .collect()
}

/// A finding as JSON: the advisory's fields beside the requirement's, versions as text.
impl serde::Serialize for Finding<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Wire<'b> {
            model: &'b str,
            package: &'b str,
            installed: Option<String>,
            admits: Option<WireAdmits<'b>>,
            line: usize,
            marker: Option<&'b str>,
            advisory: &'b str,
            aliases: &'b [String],
            severity: Severity,
            score: Option<f64>,
            title: &'b str,
            fixed: Option<String>,
            upgrade_to: Option<String>,
        }
        #[derive(serde::Serialize)]
        struct WireAdmits<'b> {
            specifiers: &'b str,
            lowest: String,
            highest: String,
        }
        Wire {
            model: self.model,
            package: &self.package,
            installed: self.installed.as_ref().map(Version::to_string),
            admits: self.admits.as_ref().map(|a| WireAdmits {
                specifiers: &a.specifiers,
                lowest: a.lowest.to_string(),
                highest: a.highest.to_string(),
            }),
            line: self.line,
            marker: self.marker.as_deref(),
            advisory: &self.advisory.id,
            aliases: &self.advisory.aliases,
            severity: self.advisory.severity,
            score: self.advisory.score,
            title: &self.advisory.title,
            fixed: self.fixed.as_ref().map(Version::to_string),
            upgrade_to: self.upgrade_to.as_ref().map(Version::to_string),
        }
        .serialize(s)
    }
}

/// A requirement that could not be read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unread {
    /// The model.
    pub model: String,
    /// The line.
    pub line: usize,
    /// Its text.
    pub text: String,
    /// Why.
    pub reason: String,
}

/// What a scan found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report<'a> {
    /// Findings, most severe first.
    pub findings: Vec<Finding<'a>>,
    /// Requirements not read.
    pub unread: Vec<Unread>,
    /// Requirements read, pinned and not.
    pub pinned: usize,
    /// Ranges read.
    pub ranges: usize,
    /// What trivy-operator found in the models' serving images.
    pub images: Vec<ImageFinding>,
    /// The patch each model would be proposed: what it pins instead, at the policy's severity
    /// (`[security] patch_at`), its requirements' bumps then its images'.
    pub patches: Vec<Patch>,
}

/// The bumps of one model's patch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Patch {
    /// The model.
    pub model: String,
    /// What the patch pins or installs instead.
    pub bumps: Vec<crate::domain::Bump>,
}

/// One finding in a model's serving image.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ImageFinding {
    /// The model.
    pub model: String,
    /// What was found (its source names the container and image).
    #[serde(flatten)]
    pub found: Vulnerability,
}

impl Report<'_> {
    /// True when a finding ranks at or above `threshold`.
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity().ranks_at_least(threshold))
            || self
                .images
                .iter()
                .any(|f| f.found.severity.ranks_at_least(threshold))
    }

    /// Add `bumps` to `model`'s patch (nothing when there are none).
    pub fn add_patch(&mut self, model: &str, bumps: Vec<crate::domain::Bump>) {
        if bumps.is_empty() {
            return;
        }
        match self.patches.iter_mut().find(|p| p.model == model) {
            Some(p) => p.bumps.extend(bumps),
            None => self.patches.push(Patch {
                model: model.to_string(),
                bumps,
            }),
        }
    }

    /// Add the models' image findings, listed most severe first.
    pub fn add_images(&mut self, found: Vec<(String, Vec<Vulnerability>)>) {
        for (model, list) in found {
            self.images
                .extend(list.into_iter().map(|found| ImageFinding {
                    model: model.clone(),
                    found,
                }));
        }
        let order = |s: Severity| Severity::ORDER.iter().position(|&o| o == s);
        self.images.sort_by(|a, b| {
            order(a.found.severity)
                .cmp(&order(b.found.severity))
                .then_with(|| a.model.cmp(&b.model))
                .then_with(|| a.found.package.cmp(&b.found.package))
                .then_with(|| a.found.advisory.cmp(&b.found.advisory))
        });
    }
}

/// The findings of every target against the index.
pub fn scan<'a>(index: &'a Index, targets: &'a [Target]) -> Report<'a> {
    let mut report = Report::default();
    for target in targets {
        let model = target.model.as_str();
        for entry in parse(&target.requirements) {
            match entry {
                Entry::Pinned {
                    name,
                    version,
                    line,
                    marker,
                } => {
                    report.pinned += 1;
                    let hits = index.affecting(&name, &version);
                    if hits.is_empty() {
                        continue;
                    }
                    let package: Arc<str> = name.to_string().into();
                    let marker: Option<Arc<str>> = marker.map(Into::into);
                    let upgrade = index.smallest_safe(&name, &version, Severity::Low);
                    for hit in hits {
                        report.findings.push(Finding {
                            model,
                            package: package.clone(),
                            installed: Some(version.clone()),
                            admits: None,
                            line,
                            marker: marker.clone(),
                            advisory: hit.advisory,
                            fixed: hit.fixed,
                            upgrade_to: upgrade.clone(),
                        });
                    }
                }
                Entry::Range {
                    name,
                    specifiers,
                    line,
                    marker,
                } => {
                    report.ranges += 1;
                    let package: Arc<str> = name.to_string().into();
                    let spec: Arc<str> = specifiers.to_string().into();
                    let marker: Option<Arc<str>> = marker.map(Into::into);
                    // per advisory, the first finding and the admitted versions it affects
                    let mut by_advisory: Vec<(Finding<'a>, &Version, &Version)> = Vec::new();
                    // pre-releases only when a specifier names one, as PEP 440 (and pip) admit
                    let pre = specifiers.iter().any(|s| s.any_prerelease());
                    for v in index
                        .known_versions(&name)
                        .iter()
                        .filter(|v| (pre || !v.any_prerelease()) && specifiers.contains(v))
                    {
                        for hit in index.affecting(&name, v) {
                            match by_advisory
                                .iter_mut()
                                .find(|(f, ..)| std::ptr::eq(f.advisory, hit.advisory))
                            {
                                // the fix that counts is the one above the highest admitted
                                Some((f, _, highest)) => {
                                    *highest = v;
                                    f.fixed = hit.fixed;
                                }
                                None => by_advisory.push((
                                    Finding {
                                        model,
                                        package: package.clone(),
                                        installed: None,
                                        admits: None,
                                        line,
                                        marker: marker.clone(),
                                        advisory: hit.advisory,
                                        fixed: hit.fixed,
                                        upgrade_to: None,
                                    },
                                    v,
                                    v,
                                )),
                            }
                        }
                    }
                    for (mut f, lowest, highest) in by_advisory {
                        f.admits = Some(Admits {
                            specifiers: spec.clone(),
                            lowest: lowest.clone(),
                            highest: highest.clone(),
                        });
                        f.upgrade_to = index.smallest_safe(&name, highest, Severity::Low);
                        report.findings.push(f);
                    }
                }
                Entry::Unread { line, text, reason } => report.unread.push(Unread {
                    model: target.model.clone(),
                    line,
                    text,
                    reason,
                }),
            }
        }
    }
    let order = |s: Severity| Severity::ORDER.iter().position(|&o| o == s);
    report.findings.sort_by(|a, b| {
        order(a.severity())
            .cmp(&order(b.severity()))
            .then_with(|| a.model.cmp(b.model))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.advisory.id.cmp(&b.advisory.id))
    });
    report
}

/// The report as a table for a terminal: one finding a line, most severe first, then the
/// requirements not read.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let mut rows: Vec<[String; 7]> = vec![[
        "SEVERITY".into(),
        "MODEL".into(),
        "PACKAGE".into(),
        "VERSION".into(),
        "ADVISORY".into(),
        "FIXED".into(),
        "UPGRADE TO".into(),
    ]];
    for f in &report.findings {
        let version = match (&f.installed, &f.admits) {
            (Some(v), _) => v.to_string(),
            (None, Some(a)) => {
                let spec = if a.specifiers.is_empty() {
                    "any"
                } else {
                    &a.specifiers
                };
                if a.lowest == a.highest {
                    format!("{spec} admits {}", a.lowest)
                } else {
                    format!("{spec} admits {}..{}", a.lowest, a.highest)
                }
            }
            (None, None) => "?".into(),
        };
        let version = match &f.marker {
            Some(m) => format!("{version} if {m}"),
            None => version,
        };
        let a = f.advisory;
        let id = match a.aliases.first().filter(|x| x.starts_with("CVE-")) {
            Some(cve) => format!("{} {cve}", a.id),
            None => a.id.clone(),
        };
        rows.push([
            f.severity().name().to_string(),
            f.model.to_string(),
            f.package.to_string(),
            version,
            id,
            f.fixed
                .as_ref()
                .map_or_else(|| "no fix".to_string(), Version::to_string),
            f.upgrade_to
                .as_ref()
                .map_or_else(|| "-".to_string(), Version::to_string),
        ]);
    }
    if report.pinned + report.ranges > 0 || report.images.is_empty() {
        columns(&mut out, &rows);
        let _ = writeln!(
            out,
            "{} findings; {} pinned requirements, {} ranges read",
            report.findings.len(),
            report.pinned,
            report.ranges
        );
    }
    for u in &report.unread {
        let _ = writeln!(
            out,
            "not read: {} line {}: {} ({})",
            u.model, u.line, u.text, u.reason
        );
    }
    if !report.images.is_empty() {
        let mut rows: Vec<[String; 7]> = vec![[
            "SEVERITY".into(),
            "MODEL".into(),
            "CONTAINER".into(),
            "PACKAGE".into(),
            "VERSION".into(),
            "ID".into(),
            "FIXED".into(),
        ]];
        for f in &report.images {
            let v = &f.found;
            let container = match &v.source {
                crate::domain::Source::Image { container, .. } => container.clone(),
                crate::domain::Source::Requirements => "-".into(),
            };
            rows.push([
                v.severity.name().to_string(),
                f.model.clone(),
                container,
                v.package.clone(),
                v.installed.clone(),
                v.advisory.clone(),
                v.fixed.clone().unwrap_or_else(|| "no fix".into()),
            ]);
        }
        if !out.is_empty() {
            out.push('\n');
        }
        columns(&mut out, &rows);
        let _ = writeln!(
            out,
            "{} findings in serving images (trivy-operator)",
            report.images.len()
        );
    }
    if !report.patches.is_empty() {
        let mut rows: Vec<[String; 4]> = vec![[
            "MODEL".into(),
            "PATCH".into(),
            "KIND".into(),
            "WHERE".into(),
        ]];
        for p in &report.patches {
            for b in &p.bumps {
                let place = match &b.source {
                    crate::domain::Source::Requirements => "requirements".to_string(),
                    crate::domain::Source::Image { container, image } => {
                        format!("{container}: {image}")
                    }
                };
                rows.push([
                    p.model.clone(),
                    format!("{} {} → {}", b.package, b.from, b.to),
                    b.kind.name().to_string(),
                    place,
                ]);
            }
        }
        if !out.is_empty() {
            out.push('\n');
        }
        columns(&mut out, &rows);
        let _ = writeln!(
            out,
            "{} models to patch (a major bump or an unknown severity waits for a human)",
            report.patches.len()
        );
    }
    out
}

/// Rows as columns, each as wide as its widest cell, the last one as it is.
fn columns<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for r in rows {
        let mut line = String::new();
        for (k, cell) in r.iter().enumerate() {
            if k + 1 == r.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ", w = widths[k]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::osv::parse_record;

    #[test]
    fn a_pin_inside_is_found_a_range_admits_and_the_threshold_decides() {
        let records = [parse_record(
            "id: A\naliases: [CVE-1]\nseverity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - fixed: \"2.0\"\n  versions: [\"1.0\", \"1.5\"]\n",
            false,
        )
        .expect("a valid test input")];
        let index = Index::build(&records, "PyPI");
        let targets = [Target {
            model: "m".into(),
            requirements: "demo==1.5\nDemo>=0.5,!=1.5\nother==1.0\n".into(),
        }];
        let report = scan(&index, &targets);
        assert_eq!(report.findings.len(), 2, "{report:?}");
        let pinned = &report.findings[0];
        let text = |v: &Option<Version>| v.as_ref().map(Version::to_string);
        assert_eq!(text(&pinned.installed).as_deref(), Some("1.5"));
        assert_eq!(text(&pinned.fixed).as_deref(), Some("2.0"));
        assert_eq!(text(&pinned.upgrade_to).as_deref(), Some("2.0"));
        assert_eq!(pinned.severity(), Severity::High);
        // the range leaves 1.5 out: of the affected versions the data names it admits 1.0
        let range = &report.findings[1];
        let admits = range.admits.as_ref().expect("a range");
        assert_eq!(&*admits.specifiers, ">=0.5, !=1.5");
        assert_eq!(
            (admits.lowest.to_string(), admits.highest.to_string()),
            ("1.0".into(), "1.0".into())
        );
        assert_eq!(text(&range.upgrade_to).as_deref(), Some("2.0"));
        assert!(report.fails(Severity::High));
        // a range does not admit pre-releases unless it names one
        let pre = [parse_record(
            "id: P\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  versions: [\"3.0a1\"]\n",
            false,
        )
        .expect("a valid test input")];
        let index = Index::build(&pre, "PyPI");
        let targets = [Target {
            model: "m".into(),
            requirements: "demo>=2.0\ndemo>=3.0a1\n".into(),
        }];
        let lines: Vec<usize> = scan(&index, &targets)
            .findings
            .iter()
            .map(|f| f.line)
            .collect();
        assert_eq!(lines, vec![2]);
        assert!(!report.fails(Severity::Critical));
        assert!(table(&report).contains("A CVE-1"));
    }
}
