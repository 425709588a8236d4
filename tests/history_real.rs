//! History mode over a real Prometheus holding two years of public hourly demand: the
//! bike-sharing rentals of `../shared/data/traces/bike_sharing/hour.csv` (`cnt` as requests,
//! 2011–2012, gaps kept), backfilled with `promtool` into a Prometheus whose retention keeps
//! them. The config names only `request_rate`, at a step (15 s) far finer than the data (1 h),
//! as a new user's first config would. The real binary, in a real pseudo-terminal, must show a
//! demand forecast, say that the step is finer than the data, and show no `NaN`, `inf` or
//! sentinel integer on any screen. `pitcrew check --probe --from --to` says the same of the
//! window before the console is opened.
//!
//! A missing `prometheus` or `promtool` fails the test, always: CI must install them.
#![allow(clippy::unwrap_used)]

mod common;

use common::prom::{Prom, find_bin, free_port};
use std::fmt::Write as _;
use std::process::Command;

const FROM: &str = "2012-12-03T06:00:00Z";
const TO: &str = "2012-12-04T06:00:00Z";

/// The rentals as one OpenMetrics gauge, one sample per hour of the file.
fn openmetrics() -> (String, usize) {
    let csv = std::fs::read_to_string(common::shared_data().join("traces/bike_sharing/hour.csv"))
        .unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (day, hr, cnt) = (col("dteday"), col("hr"), col("cnt"));
    let mut s = String::from(
        "# HELP pitcrew_bike_rentals Bike rentals in the hour.\n# TYPE pitcrew_bike_rentals gauge\n",
    );
    let mut n = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let date: jiff::civil::Date = f[day].parse().unwrap();
        let hour: i8 = f[hr].parse().unwrap();
        let t = date
            .at(hour, 0, 0, 0)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second();
        writeln!(
            s,
            "pitcrew_bike_rentals{{namespace=\"bikes\",model=\"capital\"}} {} {t}",
            f[cnt]
        )
        .unwrap();
        n += 1;
    }
    s.push_str("# EOF\n");
    (s, n)
}

/// Words a screen must never show: a missing value is shown as missing.
fn invented_values(screen: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for word in screen.split(|c: char| !(c.is_alphanumeric() || c == '-')) {
        let w = word.trim_matches('-').to_lowercase();
        if matches!(w.as_str(), "nan" | "inf" | "infinity") {
            bad.push(word.to_string());
        }
    }
    for n in ["4294967295", "18446744073709551615"] {
        if screen.contains(n) {
            bad.push(n.to_string());
        }
    }
    bad
}

#[test]
fn history_over_two_years_of_hourly_demand_with_only_request_rate() {
    let promtool = find_bin("promtool", "PITCREW_PROMTOOL_BIN");
    let bin = find_bin("prometheus", "PITCREW_PROMETHEUS_BIN");
    let tmp = tempfile::tempdir().unwrap();
    let (om, samples) = openmetrics();
    assert!(samples > 17_000, "{samples} hours read");
    std::fs::write(tmp.path().join("bike.om"), om).unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    let out = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "-q"])
        .arg(tmp.path().join("bike.om"))
        .arg(tmp.path().join("data"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "promtool failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(
        tmp.path().join("prometheus.yml"),
        "global:\n  scrape_interval: 60s\n",
    )
    .unwrap();
    let mut prom = Prom {
        bin,
        dir: tmp.path().to_path_buf(),
        port: free_port(),
        child: None,
        starts: 0,
        // 2011 is fifteen years back: keep it
        retention: "20y",
    };
    prom.start();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(prom.wait_ready());

    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = cfg_dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[prometheus]\nurl = \"http://127.0.0.1:{}\"\nstep_seconds = 15\nbackfill_hours = 168\n\
             [prometheus.queries]\nrequest_rate = \"sum by (namespace, model) (pitcrew_bike_rentals) / 3600\"\n",
            prom.port
        ),
    )
    .unwrap();
    let cfg = cfg.to_string_lossy().to_string();

    // the probe of the window says what history mode will find
    let probe = common::bin()
        .args([
            "check", "--config", &cfg, "--probe", "--from", FROM, "--to", TO,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success(), "{text}");
    assert!(
        text.contains("1 series with data from 2012-12-03")
            && text.contains("finer than the data (a new value every 1 h)")
            && text.contains("set step_seconds = 3600"),
        "{text}"
    );

    let mut s = common::pty::spawn(
        &[
            "--config", &cfg, "--from", FROM, "--to", TO, "--speed", "1000",
        ],
        &[],
        200,
        50,
    );
    s.wait_for("capital", 60);
    s.wait_for("HISTORY", 5);
    // the forecast, from the request rate alone
    s.send("6");
    s.wait_for("forecast: ", 60);
    let forecast = s.screen();
    assert!(
        forecast.contains("demand: last") && !forecast.contains("no forecast"),
        "{forecast}"
    );
    assert!(
        forecast.contains("no replica plan: replicas and CPU not measured"),
        "the plan says why it is not there: {forecast}"
    );
    // space pauses the window and plays it again, - slows it down, like a replay
    s.send(" ");
    s.wait_for("PAUSED", 10);
    s.send(" ");
    s.wait_for(" live │", 10);
    s.send("-");
    s.wait_for("UTC ×500", 10);
    // every screen and the help
    let mut screens = vec![("forecast", forecast)];
    for (key, name, expect) in [
        ("1", "fleet", "Fleet"),
        ("2", "detail", "request rate"),
        ("3", "events", "Events"),
        ("4", "incidents", "Incidents"),
        ("5", "remediations", "Remediations"),
        ("7", "audit", "Audit"),
        ("?", "help", "Pause or resume time"),
    ] {
        s.send(key);
        s.wait_for(expect, 10);
        screens.push((name, s.screen()));
        if key == "?" {
            s.send("?");
        }
    }
    s.send("3");
    s.wait_for("finer than the data", 20);
    screens.push(("events", s.screen()));
    for (name, screen) in &screens {
        let bad = invented_values(screen);
        assert!(bad.is_empty(), "{name} shows {bad:?}:\n{screen}");
    }
    s.send("q");
    assert!(s.wait_exit(15).success());
    s.assert_restored();
}

#[test]
fn the_screen_check_finds_what_it_looks_for() {
    assert_eq!(invented_values("errors NaN % → NaN %"), vec!["NaN", "NaN"]);
    assert_eq!(invented_values("p95 inf ms"), vec!["inf"]);
    assert_eq!(invented_values("bounds 1..=4294967295"), vec!["4294967295"]);
    assert!(invented_values("information: infrastructure, 1.2k/s").is_empty());
}
