//! The dependency bump a patch proposes for one pinned package: the smallest upgrade — among
//! the versions the advisory data names — that leaves no known advisory at or above the
//! policy's severity, and how big a change it is (patch, minor or major by PEP 440 release
//! segments). The smallest safe version is a patch release whenever one is safe, so patch
//! releases are preferred over minor ones by construction; a major bump is proposed only for
//! a human to approve, whatever the phase.

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
