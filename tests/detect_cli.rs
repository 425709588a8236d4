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

/// `backtest detect --cv category`: each fold is what the reference scorer gives for that
/// category alone at the fold's threshold (`nab_score.py --only CAT --threshold T`), the pooled
/// figure is the folds' raw scores normalised over all 64 windows, and it cannot beat the
/// in-sample optimum.
#[test]
fn category_cross_validation_agrees_with_reference_scorer() {
    let sh = shared();
    let scores = tempfile::tempdir().unwrap();
    let data = sh.join("data/nab-dev");
    let labels = sh.join("data/nab-dev/windows.json");
    let st = bin()
        .args(["backtest", "detect", "--data"])
        .arg(&data)
        .arg("--labels")
        .arg(&labels)
        .arg("--scores-out")
        .arg(scores.path())
        .output()
        .unwrap();
    assert!(st.status.success());
    let out = bin()
        .args([
            "backtest",
            "detect",
            "--cv",
            "category",
            "--profile",
            "standard",
        ])
        .arg("--data")
        .arg(&data)
        .arg("--labels")
        .arg(&labels)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // fold lines: category files windows threshold raw normalized in-sample detected missed
    // false-alarms
    let folds: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect::<Vec<_>>())
        .filter(|w| w.len() == 10 && w[1].parse::<usize>().is_ok())
        .collect();
    let names: Vec<&str> = folds.iter().map(|w| w[0].as_str()).collect();
    assert_eq!(
        names,
        [
            "artificialNoAnomaly",
            "artificialWithAnomaly",
            "realAWSCloudwatch",
            "realAdExchange",
            "realTraffic"
        ],
        "{text}"
    );
    let mut raw_sum = 0.0;
    let mut windows = 0;
    for w in &folds {
        raw_sum += w[4].parse::<f64>().unwrap();
        windows += w[2].parse::<usize>().unwrap();
        let count = |i: usize| w[i].parse::<usize>().unwrap();
        assert_eq!(
            count(7) + count(8),
            count(2),
            "detected + missed = windows: {w:?}"
        );
        if w[2] == "0" {
            assert_eq!(w[5], "—", "no windows, no normalised score: {w:?}");
            continue;
        }
        let py = Command::new("python3")
            .arg(sh.join("tools/nab_score.py"))
            .arg("--labels")
            .arg(&labels)
            .arg("--profiles")
            .arg(sh.join("data/nab-dev/profiles.json"))
            .arg("--scores")
            .arg(scores.path())
            .args(["--only", &w[0], "--threshold", &w[3]])
            .output()
            .expect("python3 runs the reference scorer");
        assert!(
            py.status.success(),
            "{}",
            String::from_utf8_lossy(&py.stderr)
        );
        let reference = normalized(&String::from_utf8_lossy(&py.stdout));
        let r = reference.iter().find(|(n, _)| n == "standard").unwrap().1;
        let ours: f64 = w[5].parse().unwrap();
        assert!(
            (ours - r).abs() <= 0.01,
            "{}: ours {ours} vs reference {r}",
            w[0]
        );
    }
    assert_eq!(windows, 64);
    let pooled: f64 = text
        .split("pooled (cross-validated) ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("pooled figure");
    // standard costs: a window is worth 1, a missed one -1
    let want = 100.0 * (raw_sum + 64.0) / 128.0;
    assert!((pooled - want).abs() <= 0.02, "pooled {pooled} vs {want}");
    let inside: f64 = text
        .split("pooled (cross-validated) ")
        .nth(1)
        .and_then(|t| t.split("in-sample ").nth(1))
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("in-sample figure");
    assert!(
        pooled <= inside + 1e-9,
        "cross-validated {pooled} > in-sample {inside}"
    );
    // The target for what the detectors should score on categories they have not seen
    // (the in-sample target, 72, is not met: README says where it stands).
    assert!(
        pooled >= 70.0,
        "cross-validated NAB standard {pooled} under the 70 target"
    );
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
