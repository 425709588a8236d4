//! The dependency bump a patch proposes for one pinned package: the smallest upgrade — among
//! the versions the advisory data names — that leaves no known advisory at or above the
//! policy's severity, and how big a change it is (patch, minor or major by PEP 440 release
//! segments). The smallest safe version is a patch release whenever one is safe, so patch
//! releases are preferred over minor ones by construction; a major bump is proposed only for
//! a human to approve, whatever the phase.
//!
//! An image's packages (OS packages, or a language's, as trivy-operator reports them) are
//! bumped to the version the report names as fixing them — trivy names package versions, not
//! image tags, so the patch is a rebuild of the image with those versions. Their versions are
//! ordered as dpkg orders them (the `debversion` crate: Debian and Ubuntu, whose backported
//! fixes are a revision such as `+deb10u1`, and Alpine's `-r1` alike), else with
//! `version-compare` (any other scheme); a change in the packaging revision only (`0.9.1-2` →
//! `0.9.1-2+deb10u1`, a distribution's backported fix) is a patch.

use super::index::Index;
use crate::domain::Severity;
use pep440_rs::Version;
use pep508_rs::PackageName;

pub use crate::domain::{Bump, BumpKind};

/// How big a change from `from` to `to` is (missing release segments count as 0, as PEP 440
/// says; another epoch is a major change).
pub fn kind_of(from: &Version, to: &Version) -> BumpKind {
    let seg = |v: &Version, i: usize| v.release().get(i).copied().unwrap_or(0);
    if seg(from, 0) != seg(to, 0) || from.epoch() != to.epoch() {
        BumpKind::Major
    } else if seg(from, 1) != seg(to, 1) {
        BumpKind::Minor
    } else {
        BumpKind::Patch
    }
}

/// The bump of `package` pinned at `installed` that leaves no advisory at or above
/// `threshold` (an unknown severity ranks with high); `None` when the advisory data names no
/// such version (nothing to propose: the finding is shown, never patched).
pub fn bump(
    index: &Index,
    package: &PackageName,
    installed: &Version,
    threshold: Severity,
) -> Option<Bump> {
    let to = index.smallest_safe(package, installed, threshold)?;
    Some(Bump {
        package: package.to_string(),
        from: installed.to_string(),
        kind: kind_of(installed, &to),
        to: to.to_string(),
        source: crate::domain::Source::Requirements,
    })
}

/// The bumps a patch of these requirements pins: one per pinned package with a finding at
/// or above `threshold` in `found` (the scan of the same requirements), each to its
/// [`bump`]; packages whose fix the advisory data does not name are left out (shown, never
/// proposed). In the requirements' order.
pub fn for_findings(
    index: &Index,
    requirements: &str,
    found: &[crate::domain::Vulnerability],
    threshold: Severity,
) -> Vec<Bump> {
    let mut out: Vec<Bump> = Vec::new();
    for entry in super::requirements::parse(requirements) {
        let super::requirements::Entry::Pinned { name, version, .. } = entry else {
            continue;
        };
        let due = found
            .iter()
            .any(|f| f.package == name.to_string() && f.severity.ranks_at_least(threshold));
        if !due || out.iter().any(|b| b.package == name.to_string()) {
            continue;
        }
        out.extend(bump(index, &name, &version, threshold));
    }
    out
}

/// The bumps a rebuild of a model's serving images makes: per container and package with an
/// image finding at or above `threshold` that names a fix, the version that fixes all of that
/// package's findings there (of the versions trivy lists, the smallest above the installed
/// one, for each finding; the greatest of those). Findings whose fix is not named, or names no
/// version above the installed one, are left out (shown, never proposed). Sorted by container
/// and package, so that two scans of the same report give the same bumps.
pub fn for_image(found: &[crate::domain::Vulnerability], threshold: Severity) -> Vec<Bump> {
    use crate::domain::Source;
    let mut out: Vec<Bump> = Vec::new();
    for f in found {
        if !matches!(f.source, Source::Image { .. }) || !f.severity.ranks_at_least(threshold) {
            continue;
        }
        let Some(fix) = f
            .fixed
            .as_deref()
            .and_then(|x| first_fix_above(&f.installed, x))
        else {
            continue;
        };
        match out
            .iter_mut()
            .find(|b| b.package == f.package && b.source == f.source)
        {
            Some(b) => {
                // the fix that fixes every finding, from the oldest installed (one package
                // can be there twice, e.g. in two virtual environments)
                if newer(fix, &b.to) {
                    b.to = fix.to_string();
                }
                if newer(&b.from, &f.installed) {
                    b.from = f.installed.clone();
                }
                b.kind = image_kind(&b.from, &b.to);
            }
            None => out.push(Bump {
                package: f.package.clone(),
                from: f.installed.clone(),
                to: fix.to_string(),
                kind: image_kind(&f.installed, fix),
                source: f.source.clone(),
            }),
        }
    }
    out.sort_by(|a, b| {
        let place = |x: &Bump| match &x.source {
            Source::Image { container, image } => (container.clone(), image.clone()),
            Source::Requirements => (String::new(), String::new()),
        };
        place(a)
            .cmp(&place(b))
            .then_with(|| a.package.cmp(&b.package))
    });
    out
}

/// Whether version `a` is above `b` (a Go module's leading `v` left out): as dpkg orders them
/// (`debversion`: a distribution's revision such as `+deb10u1` or `-r1` counts up, `~` down)
/// when dpkg reads both — most versions —, else as `version-compare` does (what dpkg refuses,
/// such as RPM's `4.el8_1`); not comparable: no. A semver pre-release (`1.0.0-rc1`) is read
/// as dpkg reads it, a revision above `1.0.0`: a fix named as a pre-release is rare.
fn newer(a: &str, b: &str) -> bool {
    let (a, b) = (unprefixed(a), unprefixed(b));
    match (
        a.parse::<debversion::Version>(),
        b.parse::<debversion::Version>(),
    ) {
        (Ok(x), Ok(y)) => x > y,
        _ => version_compare::compare(a, b) == Ok(version_compare::Cmp::Gt),
    }
}

/// A version without the `v` Go modules write before it (`v0.7.0`).
fn unprefixed(v: &str) -> &str {
    match v.strip_prefix('v') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => rest,
        _ => v,
    }
}

/// Of the fixed versions trivy lists (`"2.4.7, 2.5.1"`: one per release line), the smallest
/// above `installed`.
fn first_fix_above<'a>(installed: &str, fixed: &'a str) -> Option<&'a str> {
    fixed
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty() && newer(f, installed))
        .reduce(|best, f| if newer(best, f) { f } else { best })
}

/// How big a change an image package's bump is: another epoch, or another first release number,
/// is major; another second, minor; the same upstream version with another packaging revision
/// (`1.1.1n-0+deb11u4` → `1.1.1n-0+deb11u5`), or another third number, a patch. A version with
/// no release number to read counts as major (for a human to judge).
fn image_kind(from: &str, to: &str) -> BumpKind {
    // `epoch:upstream-revision`, as Debian writes it (Alpine's `-r4` and RPM's `-4.el8` alike)
    let split = |v: &str| -> (u64, String) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => {
                (e.parse().unwrap_or(0), rest)
            }
            _ => (0, v),
        };
        let upstream = rest.split_once('-').map_or(rest, |(u, _)| u);
        (epoch, upstream.to_string())
    };
    let numbers = |v: &str| -> Vec<i32> {
        version_compare::Version::from(v)
            .map(|p| {
                p.parts()
                    .iter()
                    .map_while(|part| match part {
                        version_compare::Part::Number(n) => Some(*n),
                        version_compare::Part::Text(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let ((e1, u1), (e2, u2)) = (split(unprefixed(from)), split(unprefixed(to)));
    if e1 != e2 {
        return BumpKind::Major;
    }
    if u1 == u2 {
        return BumpKind::Patch;
    }
    let (n1, n2) = (numbers(&u1), numbers(&u2));
    if n1.is_empty() || n2.is_empty() || n1[0] != n2[0] {
        BumpKind::Major
    } else if n1.get(1) != n2.get(1) {
        BumpKind::Minor
    } else {
        BumpKind::Patch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Source, Vulnerability};
    use crate::security::osv::parse_record;
    use std::str::FromStr;

    fn v(s: &str) -> Version {
        Version::from_str(s).expect("a valid test input")
    }

    #[test]
    fn kinds_follow_the_release_segments() {
        for (from, to, kind) in [
            ("3.9.1", "3.9.2", BumpKind::Patch),
            ("3.9", "3.9.0.post1", BumpKind::Patch),
            ("1.0", "1.0.1", BumpKind::Patch),
            ("3.9.1", "3.10.0", BumpKind::Minor),
            ("0.109.0", "0.110.0", BumpKind::Minor),
            ("9.5.0", "10.0.1", BumpKind::Major),
            ("1.0", "1!1.0", BumpKind::Major),
        ] {
            assert_eq!(kind_of(&v(from), &v(to)), kind, "{from} -> {to}");
        }
    }

    #[test]
    fn the_bump_is_the_smallest_safe_at_the_threshold() {
        // A (high, a CVSS 3 vector): 1.0 up to 1.0.2; B (no vector: unknown) 1.0.2 up to 1.1.0;
        // C (low): 1.1.0 up to 2.0
        let records = [
            "id: A\nseverity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: \"1.0\"\n    - fixed: 1.0.2\n  versions: [\"1.0\", \"1.0.1\"]\n",
            "id: B\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 1.0.2\n    - fixed: 1.1.0\n  versions: [\"1.0.2\", \"1.0.3\"]\n",
            "id: C\nseverity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N\naffected:\n- package: {name: demo, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 1.1.0\n    - fixed: \"2.0\"\n  versions: [\"1.1.0\", \"1.2.0\"]\n",
        ]
        .map(|y| parse_record(y, false).expect("a valid test input"));
        let index = Index::build(&records, "PyPI");
        let demo = PackageName::from_str("demo").expect("a name");
        let at = |installed: &str, threshold| {
            bump(&index, &demo, &v(installed), threshold).map(|b| (b.to, b.kind))
        };
        // only critical counts: 1.0.2 (B is unknown, which ranks with high, not critical)
        assert_eq!(
            at("1.0.1", Severity::Critical),
            Some(("1.0.2".into(), BumpKind::Patch))
        );
        // high: B's unknown counts as high, so past it to 1.1.0 (C is low)
        assert_eq!(
            at("1.0.1", Severity::High),
            Some(("1.1.0".into(), BumpKind::Minor))
        );
        // every severity: past C too, to 2.0
        assert_eq!(
            at("1.0.1", Severity::Low),
            Some(("2.0".into(), BumpKind::Major))
        );
        // nothing named above: no bump
        assert_eq!(at("2.0", Severity::Low), None);
    }

    fn image_finding(
        package: &str,
        installed: &str,
        fixed: &str,
        severity: Severity,
    ) -> Vulnerability {
        Vulnerability {
            advisory: format!("CVE-{package}-{fixed}"),
            cve: None,
            package: package.into(),
            installed: installed.into(),
            fixed: Some(fixed.to_string()).filter(|f| !f.is_empty()),
            upgrade_to: None,
            severity,
            score: None,
            title: String::new(),
            source: Source::Image {
                container: "app".into(),
                image: "registry/model:1".into(),
            },
        }
    }

    #[test]
    fn image_kinds_read_the_upstream_version() {
        for (from, to, kind) in [
            ("0.9.1-2", "0.9.1-2+deb10u1", BumpKind::Patch),
            ("1.1.1n-0+deb11u4", "1.1.1n-0+deb11u5", BumpKind::Patch),
            ("1.8.2", "1.8.2.2", BumpKind::Patch),
            ("3.0.2-r1", "3.0.8-r0", BumpKind::Patch),
            ("2.4.3", "2.5.1", BumpKind::Minor),
            ("2.4.3", "3.0.0", BumpKind::Major),
            ("1:2.3-4", "2:2.3-4", BumpKind::Major),
            ("1:2.3-4", "1:2.3-5", BumpKind::Patch),
            ("abc", "abd", BumpKind::Major),
            ("v0.7.0", "v0.17.0", BumpKind::Minor),
        ] {
            assert_eq!(image_kind(from, to), kind, "{from} -> {to}");
        }
    }

    #[test]
    fn an_image_bump_fixes_every_finding_of_its_package() {
        let found = [
            // apt's two advisories of the sample report: the greater fix fixes both
            image_finding("apt", "1.8.2", "1.8.2.2", Severity::Medium),
            image_finding("apt", "1.8.2", "1.8.2.1", Severity::Medium),
            image_finding("libbsd0", "0.9.1-2", "0.9.1-2+deb10u1", Severity::Critical),
            // no fix: shown, never proposed
            image_finding("libwebp6", "0.6.1-2", "", Severity::Critical),
            // one fix per release line: the installed one's
            image_finding("lib", "2.4.3", "2.5.1, 2.4.7", Severity::High),
            // a fix named below what is installed is no fix
            image_finding("old", "5.0", "4.9", Severity::High),
            image_finding("minor-only", "1.0", "1.0.1", Severity::Low),
            // a Go module's versions, written with a `v`; an RPM release dpkg cannot read
            image_finding("golang.org/x/net", "v0.7.0", "0.17.0", Severity::High),
            image_finding(
                "openssl-libs",
                "1.1.1k-4.el8",
                "1.1.1k-4.el8_1",
                Severity::High,
            ),
        ];
        let got: Vec<(String, String, BumpKind)> = for_image(&found, Severity::Medium)
            .into_iter()
            .map(|b| (b.package, b.to, b.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                ("apt".into(), "1.8.2.2".into(), BumpKind::Patch),
                ("golang.org/x/net".into(), "0.17.0".into(), BumpKind::Minor),
                ("lib".into(), "2.4.7".into(), BumpKind::Patch),
                ("libbsd0".into(), "0.9.1-2+deb10u1".into(), BumpKind::Patch),
                (
                    "openssl-libs".into(),
                    "1.1.1k-4.el8_1".into(),
                    BumpKind::Patch
                ),
            ]
        );
        // requirement findings are not an image's
        let mut req = image_finding("x", "1.0", "1.0.1", Severity::High);
        req.source = Source::Requirements;
        assert!(for_image(&[req], Severity::Low).is_empty());
    }
}
