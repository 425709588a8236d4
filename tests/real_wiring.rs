//! The binary wired to real systems: `pitcrew agent --config` reads its models and signals
//! from a Prometheus HTTP API (a scripted server on 127.0.0.1 that speaks the real JSON) and
//! exports them; with no `[kubernetes]` section no actuator exists.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

#[test]
fn agent_on_prometheus_exports_its_models_and_builds_no_actuator() {
    let prom = common::fake_prom::fake_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[prometheus]\nurl = \"http://{prom}\"\nstep_seconds = 5\nbackfill_hours = 1\n\
             [prometheus.queries]\nrequest_rate = \"rate_q\"\nlatency_p95 = \"p95_q\"\n\
             [models.\"shop/alpha\"]\npriority = 1\n"
        ),
    )
    .unwrap();
    let check = common::bin()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let (mut child, addr) = common::spawn_agent(
        common::bin()
            .args([
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--phase",
                "autonomy",
                "--config",
            ])
            .arg(&cfg)
            .env("PITCREW_DATA", dir.path().join("data"))
            .env("PITCREW_CONFIG", dir.path()),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let metrics = loop {
        let (_, body) = common::http_get(&addr, "/metrics");
        if body.contains("mlops_model_latency_p95{namespace=\"shop\",model=\"alpha\"} 120") {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus data never arrived:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(metrics.contains("pitcrew_models 2"), "{metrics}");
    assert!(
        metrics.contains("mlops_model_request_rate{namespace=\"shop\",model=\"beta\"} 7"),
        "{metrics}"
    );
    assert!(metrics.contains("pitcrew_source_up 1"), "{metrics}");
    let (code, body) = common::http_get(&addr, "/healthz");
    assert_eq!(code, 200, "{body}");
    common::terminate(&mut child);
    // the journal says where the data came from and that no actuator existed
    let journal = std::fs::read_dir(dir.path().join("data/journal"))
        .unwrap()
        .filter_map(Result::ok)
        .next()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(journal).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.contains(&format!("prometheus {prom}")), "{header}");
    assert!(
        text.contains("no [kubernetes] section in the config"),
        "the missing actuator is said"
    );
}

#[test]
fn check_probe_says_what_answered() {
    let prom = common::fake_prom::fake_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[prometheus]\nurl = \"http://{prom}\"\n[prometheus.queries]\n\
             request_rate = \"rate_q\"\nlatency_p95 = \"p95_q\"\n"
        ),
    )
    .unwrap();
    let out = common::bin()
        .args(["check", "--probe", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("ok    prometheus  query request_rate: 2 series"),
        "{text}"
    );
    assert!(text.contains("probe: all 2 answered"), "{text}");
    // nothing listens on port 9 of loopback
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[prometheus]\nurl = \"http://127.0.0.1:9\"\ntimeout_seconds = 1\n\
         [prometheus.queries]\nrequest_rate = \"rate_q\"\n\
         [mlflow]\ntracking_uri = \"http://127.0.0.1:9\"\ntimeout_seconds = 1\n",
    )
    .unwrap();
    let out = common::bin()
        .args(["check", "--probe", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  prometheus  query request_rate"),
        "{text}"
    );
    assert!(text.contains("FAIL  mlflow"), "{text}");
    assert!(text.contains("127.0.0.1:9"), "{text}");
}
