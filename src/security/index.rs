//! The advisories of one ecosystem (PyPI) indexed by package, and the questions asked of
//! them: which advisories affect this version of this package, and which is the smallest
//! version, among those the advisory data knows, that none of them affects.
//!
//! Versions are compared as PEP 440 says (`pep440_rs`, the parser uv and ruff use): `1.0` is
//! `1.0.0`, a pre-release comes before its release (`1.24.3rc1` is inside a range fixed in
//! `1.24.3`), and a local version after its public one (`1.24.2+ubuntu1` is `1.24.2`
//! rebuilt: inside the range; a version listed as affected matches its local builds too).
//! A range's events are read as the OSV schema says: in version order, `introduced` opens,
//! `fixed` closes before itself, `last_affected` closes after itself.

use super::osv::{Record, SeverityVector};
use super::severity::Severity;
use pep440_rs::Version;
use pep508_rs::PackageName;
use std::collections::HashMap;
use std::str::FromStr;

/// An advisory as the index keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    /// Its id.
    pub id: String,
    /// Other ids (CVE first when there is one).
    pub aliases: Vec<String>,
    /// One line on it: the summary, else the first line of the details.
    pub title: String,
    /// Its severity, from its CVSS vector when it has one.
    pub severity: Severity,
    /// The CVSS base score, when a vector was given.
    pub score: Option<f64>,
    /// When it was published.
    pub published: Option<String>,
}

/// Which versions of one package one advisory affects.
#[derive(Debug, Clone)]
struct Span {
    advisory: u32,
    /// Each range's events in version order.
    ranges: Vec<Vec<(Version, Edge)>>,
    /// Versions listed one by one.
    versions: Vec<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    /// `introduced: "0"`: from the first version.
    Origin,
    Introduced,
    Fixed,
    LastAffected,
}

impl Span {
    fn affects(&self, v: &Version) -> bool {
        self.listed(v) || self.ranges.iter().any(|events| in_range(events, v))
    }

    /// `v` is listed (`versions` is sorted), or its public version is and the listed one has
    /// no local part of its own.
    fn listed(&self, v: &Version) -> bool {
        if self.versions.binary_search(v).is_ok() {
            return true;
        }
        if !v.is_local() {
            return false;
        }
        let public = v.clone().without_local();
        self.versions
            .binary_search(&public)
            .is_ok_and(|i| !self.versions[i].is_local())
    }

    /// One of its ranges says it is fixed in `v`.
    fn fixes_at(&self, v: &Version) -> bool {
        self.ranges
            .iter()
            .flatten()
            .any(|(at, edge)| *edge == Edge::Fixed && at == v)
    }

    /// Versions this advisory names (where a range starts or ends, and those it lists; not
    /// the schema's `introduced: 0`, which names no version).
    fn known(&self) -> impl Iterator<Item = &Version> {
        self.ranges
            .iter()
            .flatten()
            .filter(|(_, edge)| *edge != Edge::Origin)
            .map(|(v, _)| v)
            .chain(&self.versions)
    }
}

/// The advisories of one package, with the versions they name in order and, for each of
/// those, which advisories affect it (worked out once, when the index is built).
#[derive(Debug, Default)]
struct PackageAdvisories {
    spans: Vec<Span>,
    /// Every version the advisories name, sorted, without repeats.
    known: Vec<Version>,
    /// `affects[s][k]`: span `s` affects `known[k]`.
    affects: Vec<Vec<bool>>,
    /// For each known version, the highest rank of the advisories affecting it (`None`:
    /// none does).
    worst: Vec<Option<Severity>>,
}

impl PackageAdvisories {
    fn finish(&mut self, advisories: &[Advisory]) {
        let mut known: Vec<Version> = self.spans.iter().flat_map(Span::known).cloned().collect();
        known.sort();
        known.dedup();
        self.affects = self
            .spans
            .iter()
            .map(|s| known.iter().map(|k| s.affects(k)).collect())
            .collect();
        self.worst = (0..known.len())
            .map(|k| {
                self.spans
                    .iter()
                    .zip(&self.affects)
                    .filter(|(_, a)| a[k])
                    .map(|(s, _)| advisories[s.advisory as usize].severity)
                    .reduce(|a, b| {
                        if b.ranks_at_least(a) && !a.ranks_at_least(b) {
                            b
                        } else {
                            a
                        }
                    })
            })
            .collect();
        self.known = known;
    }

    /// Position of the first known version above `v`.
    fn above(&self, v: &Version) -> usize {
        self.known.partition_point(|k| k <= v)
    }
}

/// `v` is affected by a range whose events are in version order (the origin first): an
/// introduction at or below `v` opens it, a fix at or below `v` closes it, a last affected
/// version below `v`'s public version closes it (a local build of the last affected version
/// is that version).
fn in_range(events: &[(Version, Edge)], v: &Version) -> bool {
    let mut affected = false;
    let mut public = None;
    for (at, edge) in events {
        match edge {
            Edge::Origin => affected = true,
            Edge::Introduced if at <= v => affected = true,
            Edge::Fixed if at <= v => affected = false,
            Edge::LastAffected if at < public.get_or_insert_with(|| v.clone().without_local()) => {
                affected = false
            }
            _ if at > v => break,
            _ => {}
        }
    }
    affected
}

/// A range's events in version order, the origin (`introduced: "0"`, "from the first
/// version", below every version including `0.dev0`) first; or the first text that is not
/// a PEP 440 version.
fn read_range(events: &[super::osv::Event]) -> Result<Vec<(Version, Edge)>, String> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let (text, edge) = match (&e.introduced, &e.fixed, &e.last_affected) {
            (Some(t), ..) if t == "0" => {
                out.push((Version::new([0]), Edge::Origin));
                continue;
            }
            (Some(t), ..) => (t, Edge::Introduced),
            (_, Some(t), _) => (t, Edge::Fixed),
            (.., Some(t)) => (t, Edge::LastAffected),
            _ => continue,
        };
        let v = Version::from_str(text).map_err(|_| text.clone())?;
        out.push((v, edge));
    }
    out.sort_by(|a, b| {
        (b.1 == Edge::Origin)
            .cmp(&(a.1 == Edge::Origin))
            .then_with(|| a.0.cmp(&b.0))
    });
    Ok(out)
}

/// The advisories of one ecosystem, by package.
#[derive(Debug, Default)]
pub struct Index {
    advisories: Vec<Advisory>,
    by_package: HashMap<PackageName, PackageAdvisories>,
    /// What PEP 440 could not read, as `(advisory, text)`: a range with a version that does
    /// not parse is left out whole (a listed version alone), and said.
    pub unread_ranges: Vec<(String, String)>,
}

/// One advisory that affects a version.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    /// The advisory.
    pub advisory: &'a Advisory,
    /// The smallest version after the one asked about where one of this advisory's ranges
    /// says it is fixed, and that it does not affect; `None` when it names no fix (a last
    /// affected version, or versions listed one by one, say none).
    pub fixed: Option<Version>,
}

impl Index {
    /// The index of the records' affected packages of `ecosystem` (`PyPI`). Withdrawn records
    /// are left out.
    pub fn build(records: &[Record], ecosystem: &str) -> Index {
        let mut index = Index::default();
        for r in records.iter().filter(|r| r.withdrawn.is_none()) {
            let mut spans: Vec<(PackageName, Span)> = Vec::new();
            let mut vectors: Vec<&SeverityVector> = r.severity.iter().collect();
            for a in &r.affected {
                if !a.package.ecosystem.eq_ignore_ascii_case(ecosystem) {
                    continue;
                }
                let Ok(name) = PackageName::from_str(&a.package.name) else {
                    index
                        .unread_ranges
                        .push((r.id.clone(), format!("package {}", a.package.name)));
                    continue;
                };
                vectors.extend(&a.severity);
                let mut ranges = Vec::new();
                for range in a.ranges.iter().filter(|g| g.kind == "ECOSYSTEM") {
                    match read_range(&range.events) {
                        Ok(events) => ranges.push(events),
                        // what is left of a range is not the range: the whole of it is set
                        // aside, and said
                        Err(text) => index.unread_ranges.push((r.id.clone(), text)),
                    }
                }
                let mut versions = Vec::new();
                for text in &a.versions {
                    match Version::from_str(text) {
                        Ok(v) => versions.push(v),
                        Err(_) => index.unread_ranges.push((r.id.clone(), text.clone())),
                    }
                }
                // several entries of one record for one package are one span
                match spans.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, span)) => {
                        span.ranges.extend(ranges);
                        span.versions.extend(versions);
                    }
                    None => spans.push((
                        name,
                        Span {
                            advisory: index.advisories.len() as u32,
                            ranges,
                            versions,
                        },
                    )),
                }
            }
            for (_, span) in &mut spans {
                span.versions.sort();
                span.versions.dedup();
            }
            if spans.is_empty() {
                continue;
            }
            let (severity, score) = Severity::of_vectors(&vectors);
            let title = r
                .summary
                .clone()
                .or_else(|| {
                    r.details
                        .as_deref()
                        .and_then(|d| d.lines().next())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let mut aliases = r.aliases.clone();
            aliases.sort_by_key(|a| !a.starts_with("CVE-"));
            index.advisories.push(Advisory {
                id: r.id.clone(),
                aliases,
                title,
                severity,
                score,
                published: r.published.clone(),
            });
            for (name, span) in spans {
                index.by_package.entry(name).or_default().spans.push(span);
            }
        }
        for p in index.by_package.values_mut() {
            p.finish(&index.advisories);
        }
        index
    }

    /// Number of advisories kept.
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// True when no advisory was kept.
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Number of packages some advisory affects.
    pub fn packages(&self) -> usize {
        self.by_package.len()
    }

    /// The advisories that affect `version` of `package`, each with the smallest later
    /// version it names and does not affect.
    pub fn affecting(&self, package: &PackageName, version: &Version) -> Vec<Hit<'_>> {
        let Some(p) = self.by_package.get(package) else {
            return Vec::new();
        };
        let from = p.above(version);
        // a version the data names was matched when the index was built
        let named =
            (from > 0 && !version.is_local() && p.known[from - 1] == *version).then(|| from - 1);
        p.spans
            .iter()
            .zip(&p.affects)
            .filter(|(s, affects)| named.map_or_else(|| s.affects(version), |k| affects[k]))
            .map(|(s, affects)| Hit {
                advisory: &self.advisories[s.advisory as usize],
                fixed: (from..p.known.len())
                    .find(|&k| !affects[k] && s.fixes_at(&p.known[k]))
                    .map(|k| p.known[k].clone()),
            })
            .collect()
    }

    /// The packages some advisory affects, in no particular order.
    pub fn package_names(&self) -> impl Iterator<Item = &PackageName> {
        self.by_package.keys()
    }

    /// Every version of `package` the advisory data names, in order.
    pub fn known_versions(&self, package: &PackageName) -> &[Version] {
        self.by_package.get(package).map_or(&[], |p| &p.known)
    }

    /// The smallest version after `version` (a release, or a pre-release only when `version`
    /// is one) that the advisory data names and that no advisory of `package` at or above
    /// `at_least` affects: the smallest upgrade that leaves no known advisory of that
    /// severity. `None` when the data names none.
    pub fn smallest_safe(
        &self,
        package: &PackageName,
        version: &Version,
        at_least: Severity,
    ) -> Option<Version> {
        let p = self.by_package.get(package)?;
        let pre = version.any_prerelease();
        (p.above(version)..p.known.len())
            .find(|&k| {
                (pre || !p.known[k].any_prerelease())
                    && p.worst[k].is_none_or(|w| !w.ranks_at_least(at_least))
            })
            .map(|k| p.known[k].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::osv::parse_record;

    fn index(yaml: &[&str]) -> Index {
        let records: Vec<Record> = yaml
            .iter()
            .map(|y| parse_record(y, false).expect("a valid test input"))
            .collect();
        Index::build(&records, "PyPI")
    }

    fn v(s: &str) -> Version {
        Version::from_str(s).expect("a valid test input")
    }

    fn pkg(s: &str) -> PackageName {
        PackageName::from_str(s).expect("a valid test input")
    }

    const RANGE: &str = "id: A\naffected:\n- package: {name: Demo_Pkg, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.2\"\n    - fixed: 1.4.1\n    - introduced: \"2.0\"\n    - last_affected: 2.1.0\n";

    #[test]
    fn ranges_open_at_introduced_and_close_at_fixed_or_after_last_affected() {
        let i = index(&[RANGE]);
        let p = pkg("demo-pkg");
        for (version, affected) in [
            ("1.1.9", false),
            ("1.2", true),
            ("1.2.0", true),
            ("1.4.1rc1", true),
            ("1.4.0+local.1", true),
            ("1.4.1", false),
            ("1.4.1+local", false),
            ("1.9", false),
            ("2.0a1", false),
            ("2.0", true),
            ("2.1.0", true),
            ("2.1.0.post1", false),
        ] {
            assert_eq!(
                !i.affecting(&p, &v(version)).is_empty(),
                affected,
                "{version}"
            );
        }
        let hit = &i.affecting(&p, &v("1.3"))[0];
        assert_eq!(hit.fixed, Some(v("1.4.1")));
        // past the last affected version the record names no fix
        assert_eq!(i.affecting(&p, &v("2.0.5"))[0].fixed, None);
    }

    #[test]
    fn listed_versions_match_their_local_builds_and_a_withdrawn_record_nothing() {
        let i = index(&[
            "id: B\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  versions: [\"1.0\"]\n",
            "id: C\nwithdrawn: \"2024-01-01T00:00:00Z\"\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  versions: [\"3.0\"]\n",
        ]);
        let p = pkg("demo");
        assert_eq!(i.affecting(&p, &v("1.0.0")).len(), 1);
        assert_eq!(i.affecting(&p, &v("1.0+build7")).len(), 1);
        assert!(i.affecting(&p, &v("1.0.1")).is_empty());
        assert!(i.affecting(&p, &v("3.0")).is_empty());
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn the_origin_precedes_every_version_and_a_local_build_of_the_last_affected_is_affected() {
        let i = index(&[
            "id: E\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"0\"\n    - last_affected: 2.1.0\n",
        ]);
        let p = pkg("demo");
        for (version, affected) in [
            ("0.dev0", true),
            ("0a1", true),
            ("2.1.0", true),
            ("2.1.0+ubuntu1", true),
            ("2.1.0.post1", false),
        ] {
            assert_eq!(
                !i.affecting(&p, &v(version)).is_empty(),
                affected,
                "{version}"
            );
        }
        // a last affected version names no fix
        assert_eq!(i.affecting(&p, &v("1.0"))[0].fixed, None);
    }

    #[test]
    fn entries_of_one_record_for_one_package_are_one_advisory_with_its_own_fix() {
        let i = index(&[
            "id: F\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.0\"\n    - fixed: \"2.0\"\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.5\"\n    - fixed: \"3.0\"\n",
            // another advisory names 2.5: not this one's fix
            "id: G\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  versions: [\"2.5\"]\n",
        ]);
        let hits = i.affecting(&pkg("demo"), &v("1.6"));
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert_eq!(hits[0].fixed, Some(v("3.0")));
        // a range with a version PEP 440 cannot read is left out whole, and said
        let j = index(&[
            "id: H\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.0\"\n    - fixed: not-a-version\n",
        ]);
        assert!(j.affecting(&pkg("demo"), &v("5.0")).is_empty());
        assert_eq!(
            j.unread_ranges,
            vec![("H".to_string(), "not-a-version".to_string())]
        );
    }

    #[test]
    fn the_smallest_safe_version_skips_what_another_advisory_affects() {
        let i = index(&[
            RANGE,
            "id: D\naffected:\n- package: {name: demo-pkg, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.4\"\n    - fixed: \"1.5\"\n",
        ]);
        let p = pkg("demo-pkg");
        assert_eq!(
            i.smallest_safe(&p, &v("1.3"), Severity::Low),
            Some(v("1.5"))
        );
        assert_eq!(
            i.smallest_safe(&pkg("other"), &v("1.3"), Severity::Low),
            None
        );
    }
}
