//! `pitcrew detect` and `pitcrew backtest detect` through the real binary, on the shared NAB
//! development data; the backtest's scores must agree with the reference scorer
//! `../shared/tools/nab_score.py` to 0.01.

mod common;

use common::{bin, shared};
use std::process::Command;

/// `name -> normalized` from lines like `standard  files=41 … normalized=57.119`.
fn normalized(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|l| {
            let name = l.split_whitespace().next()?.to_string();
            let v = l.split("normalized=").nth(1)?.split_whitespace().next()?;
            Some((name, v.parse().ok()?))
        })
        .collect()
}

#[test]
fn backtest_agrees_with_reference_scorer() {
    let sh = shared();
    let scores = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["backtest", "detect", "--data"])
        .arg(sh.join("data/nab-dev"))
        .arg("--labels")
        .arg(sh.join("data/nab-dev/windows.json"))
        .arg("--scores-out")
        .arg(scores.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ours = normalized(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(ours.len(), 3, "three profiles reported");

    let py = Command::new("python3")
        .arg(sh.join("tools/nab_score.py"))
        .arg("--labels")
        .arg(sh.join("data/nab-dev/windows.json"))
        .arg("--profiles")
        .arg(sh.join("data/nab-dev/profiles.json"))
        .arg("--scores")
        .arg(scores.path())
        .output()
        .expect("python3 runs the reference scorer");
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let reference = normalized(&String::from_utf8_lossy(&py.stdout));
    assert_eq!(reference.len(), 3);
    for (name, v) in &ours {
        let r = reference
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("reference has no {name}"))
            .1;
        assert!((v - r).abs() <= 0.01, "{name}: ours {v} vs reference {r}");
    }
}

#[test]
fn detect_writes_nab_format_and_rejects_malformed_input() {
    let sh = shared();
    let out_dir = tempfile::tempdir().unwrap();
    let input = sh.join("data/nab-dev/data/realTraffic/speed_7578.csv");
    let st = bin()
        .arg("detect")
        .arg(&input)
        .arg("--out")
        .arg(out_dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let written = std::fs::read_to_string(out_dir.path().join("speed_7578.csv")).unwrap();
    let original = std::fs::read_to_string(&input).unwrap();
    assert_eq!(written.lines().count(), original.lines().count());
    assert!(written.starts_with("timestamp,value,anomaly_score"));
    for l in written.lines().skip(1) {
        let s: f64 = l.rsplit(',').next().unwrap().parse().unwrap();
        assert!((0.0..=1.0).contains(&s));
    }

    let bad = out_dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,abc\n",
    )
    .unwrap();
    let o = bin()
        .arg("detect")
        .arg(&bad)
        .arg("--out")
        .arg(out_dir.path().join("o"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.csv:3"), "{err}");
}
