//! Known answers against the real advisories in `../shared/data/security` (the PyPA advisory
//! database, CC BY 4.0): a pin inside a published affected range is flagged with that
//! advisory and its first fixed version, one just outside is not; pre-releases, local
//! versions and `!=`/`~=` ranges as PEP 440 says; `pitcrew scan`'s output and exit codes.

mod common;

use pep440_rs::Version;
use pep508_rs::PackageName;
use pitcrew::security::index::Index;
use pitcrew::security::osv::load_dir;
use pitcrew::security::scan::{Target, scan};
use pitcrew::security::severity::Severity;
use std::str::FromStr;
use std::sync::OnceLock;

fn database() -> std::path::PathBuf {
    common::shared_data().join("security/pypa-advisory-database")
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let (records, unread) = load_dir(&database()).expect("database");
        assert!(unread.is_empty(), "every record reads: {unread:?}");
        assert!(records.len() > 2_600, "{} records", records.len());
        Index::build(&records, "PyPI")
    })
}

/// The ids of the advisories that affect `package==version`, with their first fix.
fn hits(package: &str, version: &str) -> Vec<(String, Option<String>)> {
    let name = PackageName::from_str(package).expect("a valid test input");
    let v = Version::from_str(version).expect("a valid test input");
    index()
        .affecting(&name, &v)
        .into_iter()
        .map(|h| (h.advisory.id.clone(), h.fixed.map(|f| f.to_string())))
        .collect()
}

/// The first fix `id` names for `package==version`, when it affects it (and it is found once:
/// an advisory is one finding however many entries its record has for the package).
fn has(package: &str, version: &str, id: &str) -> Option<Option<String>> {
    let found: Vec<Option<String>> = hits(package, version)
        .into_iter()
        .filter(|(i, _)| i == id)
        .map(|(_, f)| f)
        .collect();
    assert!(found.len() <= 1, "{id} found {} times", found.len());
    found.into_iter().next()
}

#[test]
fn pins_inside_a_published_range_are_flagged_with_the_first_fix_and_just_outside_are_not() {
    // mlflow: fixed in 2.10.1 (CVE-2024-4263)
    assert_eq!(
        has("mlflow", "2.9.2", "PYSEC-2024-51"),
        Some(Some("2.10.1".into()))
    );
    assert_eq!(has("mlflow", "2.10.1", "PYSEC-2024-51"), None);
    // pillow: fixed in 9.0.1 (CVE-2022-24303); the name as PyPI writes it, any case
    assert_eq!(
        has("Pillow", "9.0.0", "PYSEC-2022-168"),
        Some(Some("9.0.1".into()))
    );
    assert_eq!(has("pillow", "9.0.1", "PYSEC-2022-168"), None);
    // urllib3: fixed in 1.24.3 (CVE-2019-11236)
    assert_eq!(
        has("urllib3", "1.24.1", "PYSEC-2019-132"),
        Some(Some("1.24.3".into()))
    );
    assert_eq!(has("urllib3", "1.24.3", "PYSEC-2019-132"), None);
    // `1.24` is `1.24.0`
    assert!(has("urllib3", "1.24.0", "PYSEC-2019-132").is_some());
}

#[test]
fn pre_releases_and_local_versions_are_ordered_as_pep_440_says() {
    // a release candidate of the fix comes before it: still affected
    assert!(has("urllib3", "1.24.3rc1", "PYSEC-2019-132").is_some());
    // a local build of an affected version is that version
    assert!(has("urllib3", "1.24.2+ubuntu1", "PYSEC-2019-132").is_some());
    // a local build of the fix is not affected; a post-release of the fix neither
    assert_eq!(has("urllib3", "1.24.3+ubuntu1", "PYSEC-2019-132"), None);
    assert_eq!(has("urllib3", "1.24.3.post1", "PYSEC-2019-132"), None);
}

#[test]
fn ranges_with_compatible_and_excluding_specifiers_admit_what_pep_440_admits() {
    let targets = [Target {
        model: "m".into(),
        requirements:
            "urllib3~=1.24.0\nurllib3>=1.24,!=1.24.1,!=1.24.2,<1.24.3\nurllib3>=1.24.3,<1.25\n"
                .into(),
    }];
    let report = scan(index(), &targets);
    let of = |line: usize| -> Vec<&pitcrew::security::scan::Finding> {
        report
            .findings
            .iter()
            .filter(|f| f.line == line && f.advisory.id == "PYSEC-2019-132")
            .collect()
    };
    // ~=1.24.0 is >=1.24.0,==1.24.*: it admits 1.24 to 1.24.2 of the affected versions
    let compatible = of(1);
    assert_eq!(compatible.len(), 1);
    let bounds = |f: &pitcrew::security::scan::Finding| {
        let a = f.admits.as_ref().expect("a range");
        (a.lowest.to_string(), a.highest.to_string())
    };
    assert_eq!(bounds(compatible[0]), ("1.24".into(), "1.24.2".into()));
    // excluding 1.24.1 and 1.24.2 leaves 1.24 itself
    assert_eq!(bounds(of(2)[0]), ("1.24".into(), "1.24".into()));
    // from the fix on: not this advisory
    assert!(of(3).is_empty());
    assert_eq!(report.ranges, 3);
    assert_eq!(report.pinned, 0);
}

#[test]
fn the_smallest_safe_upgrade_leaves_no_known_advisory() {
    let i = index();
    let name = PackageName::from_str("urllib3").expect("a valid test input");
    let from = Version::from_str("1.24.1").expect("a valid test input");
    let to = i
        .smallest_safe(&name, &from, Severity::Low)
        .expect("a safe version");
    assert!(i.affecting(&name, &to).is_empty(), "{to} is affected");
    // and no smaller version the data names is safe
    for v in i.known_versions(&name) {
        if *v > from && *v < to && !v.any_prerelease() {
            assert!(
                !i.affecting(&name, v).is_empty(),
                "{v} was safe and smaller"
            );
        }
    }
}

#[test]
fn a_patch_bumps_to_the_smallest_version_safe_at_the_threshold_and_says_how_big_a_change() {
    use pitcrew::security::bump::{BumpKind, bump};
    let i = index();
    let mut bumps = Vec::new();
    for (package, pinned) in [
        ("urllib3", "1.24.1"),
        ("pillow", "9.5.0"),
        ("mlflow", "2.16.2"),
        ("aiohttp", "3.9.1"),
        ("requests", "2.19.0"),
    ] {
        let name = PackageName::from_str(package).expect("a valid test input");
        let from = Version::from_str(pinned).expect("a valid test input");
        for threshold in [Severity::Critical, Severity::High, Severity::Low] {
            let Some(b) = bump(i, &name, &from, threshold) else {
                continue;
            };
            let to = Version::from_str(&b.to).expect("a version");
            let blocking = |v: &Version| {
                i.affecting(&name, v)
                    .iter()
                    .any(|h| h.advisory.severity.ranks_at_least(threshold))
            };
            assert!(to > from && !blocking(&to), "{package} {pinned} -> {to}");
            // no smaller release the data names is safe at this threshold
            for v in i.known_versions(&name) {
                if *v > from && *v < to && !v.any_prerelease() {
                    assert!(blocking(v), "{package}: {v} was safe and smaller than {to}");
                }
            }
            let major = from.release()[0] != to.release()[0];
            assert_eq!(
                b.kind == BumpKind::Major,
                major,
                "{package} {pinned} -> {to}"
            );
            bumps.push(format!("{package} {pinned} -> {to} ({})", b.kind.name()));
        }
    }
    // every pin is inside some published range: each has a bump at the lowest threshold
    assert!(bumps.len() >= 5, "{bumps:?}");
    // a known answer, from the real records the simulated fleet ships with: aiohttp 3.9.1
    // (PYSEC-2024-24, fixed in 3.9.2) is a patch release away from no known advisory
    let shipped = pitcrew::security::builtin::index();
    let aiohttp = PackageName::from_str("aiohttp").expect("a name");
    let b = bump(
        &shipped,
        &aiohttp,
        &Version::from_str("3.9.1").expect("a version"),
        Severity::Low,
    )
    .expect("a bump");
    assert_eq!((b.to.as_str(), b.kind), ("3.9.2", BumpKind::Patch));
}

#[test]
fn scan_prints_findings_and_fails_at_the_threshold() {
    let dir = tempfile::tempdir().expect("a valid test input");
    let req = dir.path().join("requirements.txt");
    std::fs::write(
        &req,
        "urllib3==1.24.1  # old pin\npillow==9.0.0\n-r other.txt\n",
    )
    .expect("a valid test input");
    let run = |extra: &[&str]| {
        common::bin()
            .args(["scan", "--osv"])
            .arg(database())
            .arg("--requirements")
            .arg(&req)
            .args(extra)
            .output()
            .expect("pitcrew scan")
    };
    let out = run(&["--fail-on", "high"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("PYSEC-2019-132 CVE-2019-11236"), "{text}");
    assert!(text.contains("not read: "), "{text}");
    // PYSEC-2023-192 (urllib3, CVSS 8.1) is the only high one: nothing is critical
    assert_eq!(run(&["--fail-on", "critical"]).status.code(), Some(0));
    let json = run(&["--format", "json"]);
    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    let findings = v["findings"].as_array().expect("findings");
    assert!(findings.iter().any(|f| f["advisory"] == "PYSEC-2023-192"
        && f["severity"] == "high"
        && f["fixed"] == "1.26.17"));
    // bad input: a clear error and exit code 2
    let missing = common::bin()
        .args(["scan", "--osv", "/nonexistent", "--requirements"])
        .arg(&req)
        .output()
        .expect("a valid test input");
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /nonexistent"));
}

/// (model, package, installed, advisory, first fix) of each finding.
type Row = (String, String, Option<String>, String, Option<String>);

fn rows(index: &Index, targets: &[Target]) -> Vec<Row> {
    let mut v: Vec<Row> = scan(index, targets)
        .findings
        .iter()
        .map(|f| {
            (
                f.model.to_string(),
                f.package.to_string(),
                f.installed.as_ref().map(ToString::to_string),
                f.advisory.id.clone(),
                f.fixed.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn the_advisories_shipped_with_the_simulated_fleet_are_those_of_the_database_that_affect_its_pins()
{
    let targets = pitcrew::sources::sim::targets(&pitcrew::sim::SimWorld::new(42, 15, 0.0));
    let whole = rows(index(), &targets);
    let shipped = rows(&pitcrew::security::builtin::index(), &targets);
    assert_eq!(whole, shipped, "the same findings from the shipped records");
    let mut ids: Vec<String> = whole.iter().map(|r| r.3.clone()).collect();
    ids.sort();
    ids.dedup();
    let mut records: Vec<String> = pitcrew::security::builtin::records()
        .into_iter()
        .map(|r| r.id)
        .collect();
    records.sort();
    assert_eq!(
        ids, records,
        "every shipped record affects a pin, and no other does"
    );
    // a few models have findings, most have none: a fleet that is mostly kept up to date
    let mut models: Vec<&str> = whole.iter().map(|r| r.0.as_str()).collect();
    models.dedup();
    assert!((3..=6).contains(&models.len()), "{models:?}");
    assert!(
        whole.iter().any(|r| r.4.is_none()),
        "one finding has no fix"
    );
}

#[test]
fn scan_with_no_configuration_scans_the_simulated_fleet() {
    let dir = tempfile::tempdir().expect("a valid test input");
    let run = |extra: &[&str]| {
        common::bin()
            .env("PITCREW_CONFIG", dir.path())
            .env("PITCREW_DATA", dir.path())
            .arg("scan")
            .args(extra)
            .output()
            .expect("pitcrew scan")
    };
    let out = run(&["--format", "json", "--fail-on", "high"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown severity counts as high"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let findings = v["findings"].as_array().expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["model"] == "vision/thumbnail-crop"
                && f["package"] == "pillow"
                && f["advisory"] == "PYSEC-2023-227"
                && f["fixed"] == "10.0.0")
    );
    assert!(
        findings.iter().any(|f| f["model"] == "ads/budget-pacer"
            && f["package"] == "py"
            && f["fixed"].is_null())
    );
    // the patches proposed: ranker-bert's fastapi a patch release; thumbnail-crop's pillow
    // a major bump (for a human)
    let patches = v["patches"].as_array().expect("patches");
    let bump_of = |model: &str| {
        patches
            .iter()
            .find(|p| p["model"] == model)
            .map(|p| p["bumps"][0].clone())
    };
    let fastapi = bump_of("search/ranker-bert").expect("ranker-bert's patch");
    assert_eq!(
        (&fastapi["package"], &fastapi["to"], &fastapi["kind"]),
        (&"fastapi".into(), &"0.109.1".into(), &"patch".into())
    );
    let pillow = bump_of("vision/thumbnail-crop").expect("thumbnail-crop's patch");
    assert_eq!(
        (&pillow["to"], &pillow["kind"]),
        (&"10.0.1".into(), &"major".into())
    );
    assert!(bump_of("ads/budget-pacer").is_none(), "py has no fix");
    // the numbered models share the pins of the one they are numbered after
    let out = run(&["--models", "30", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        v["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["model"] == "vision/thumbnail-crop-1")
    );
    // requirements of a real model with no advisory source: refused, not called clean
    let req = dir.path().join("requirements.txt");
    std::fs::write(&req, "pillow==9.5.0\n").expect("a valid test input");
    let out = common::bin()
        .env("PITCREW_CONFIG", dir.path())
        .args(["scan", "--requirements"])
        .arg(&req)
        .output()
        .expect("pitcrew scan");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no advisories to match"));
}
