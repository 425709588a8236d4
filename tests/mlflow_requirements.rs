//! What each model runs, read from a real MLflow tracking server (issue 19): the
//! `requirements.txt` / `conda.yaml` / `python_env.yaml` that a model version logged, read
//! back through the server's artifact API, and `pitcrew scan --config` matching them against
//! the real advisories in `../shared/data/security`.
//!
//! Needs the `mlflow` executable of `scripts/setup-mlflow.sh` (these tests fail without it;
//! they never skip).

mod common;

use common::mlflow::{Rest, Server, config};
use pitcrew::clients::mlflow::Registry;
use pitcrew::domain::Severity::Low;
use serde_json::json;
use std::path::PathBuf;

/// Where a run's artifacts live (the server's local artifact root).
async fn artifacts_of(rest: &Rest, run: &str) -> PathBuf {
    let url = format!("{}/runs/get?run_id={run}", rest.api);
    let r: serde_json::Value = rest
        .http
        .get(&url)
        .send()
        .await
        .expect("runs/get")
        .json()
        .await
        .expect("runs/get json");
    let uri = r["run"]["info"]["artifact_uri"]
        .as_str()
        .expect("artifact_uri")
        .to_string();
    PathBuf::from(uri.strip_prefix("file://").unwrap_or(&uri))
}

/// A version of `model` whose run logged `files` under `model/` (as `mlflow.log_model` does).
async fn logged_version(rest: &Rest, exp: &str, model: &str, files: &[(&str, &str)]) -> String {
    let run = rest.run(exp, &[]).await;
    let dir = artifacts_of(rest, &run).await.join("model");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    std::fs::write(dir.join("MLmodel"), "flavors: {}\n").expect("MLmodel");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("artifact");
    }
    rest.version(model, &run).await
}

/// ranker: v1 (old pins, not serving) and v2 (champion: pillow 9.5.0); scorer: no alias, v1
/// and v2 (the highest: a conda.yaml only, py 1.11.0); blur: its one version logged nothing.
async fn populate(rest: &Rest) {
    let exp = rest
        .post("experiments/create", json!({"name": "pitcrew-scan"}))
        .await["experiment_id"]
        .as_str()
        .expect("experiment id")
        .to_string();
    for m in ["ranker", "scorer", "blur"] {
        rest.post("registered-models/create", json!({"name": m}))
            .await;
    }
    let v1 = logged_version(
        rest,
        &exp,
        "ranker",
        &[("requirements.txt", "urllib3==1.24.1\n")],
    )
    .await;
    let v2 = logged_version(
        rest,
        &exp,
        "ranker",
        &[
            ("requirements.txt", "mlflow==2.16.2\npillow==9.5.0\n"),
            ("conda.yaml", "dependencies:\n- pip:\n  - pillow==1.0\n"),
        ],
    )
    .await;
    assert_eq!((v1.as_str(), v2.as_str()), ("1", "2"));
    rest.alias("ranker", "champion", "2").await;
    logged_version(
        rest,
        &exp,
        "scorer",
        &[("requirements.txt", "aiohttp==3.9.1\n")],
    )
    .await;
    let conda = "name: mlflow-env\nchannels: [conda-forge]\ndependencies:\n- python=3.11.7\n- pip:\n  - py==1.11.0\n  - numpy==1.26.4\n";
    logged_version(rest, &exp, "scorer", &[("conda.yaml", conda)]).await;
    logged_version(rest, &exp, "blur", &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logged_requirements_are_read_back_and_scanned() {
    let server = Server::start();
    let rest = Rest::new(&server.uri());
    populate(&rest).await;
    let registry = Registry::new(&config(&server.uri(), 10.0)).expect("registry");

    // the champion's file, not an older version's; the first of the files it logged
    let ranker = registry
        .logged_requirements("ranker")
        .await
        .expect("read")
        .expect("logged");
    assert_eq!(
        (ranker.version.as_str(), ranker.file, ranker.text.as_str()),
        ("2", "requirements.txt", "mlflow==2.16.2\npillow==9.5.0\n")
    );
    // no champion: the highest version; only a conda environment logged
    let scorer = registry
        .logged_requirements("scorer")
        .await
        .expect("read")
        .expect("logged");
    assert_eq!((scorer.version.as_str(), scorer.file), ("2", "conda.yaml"));
    assert!(scorer.text.contains("py==1.11.0"));
    // nothing logged: none, not an error
    assert_eq!(
        registry.logged_requirements("blur").await.expect("read"),
        None
    );

    // the console's and the agent's scan: each served model's registered name, its findings
    // as events (a model that logged nothing, or is not registered, is left as it was)
    let by_name = Registry::new(&pitcrew::config::MlflowConfig {
        model_name_template: "{name}".into(),
        ..config(&server.uri(), 10.0)
    })
    .expect("registry");
    let meta = |name: &str| pitcrew::fleet::ModelMeta {
        name: name.into(),
        namespace: "ml".into(),
        version: String::new(),
        priority: 2,
        size_gb: 0.0,
        complexity: 0.0,
        min_replicas: 1,
        max_replicas: 4,
    };
    let metas: Vec<_> = ["ranker", "scorer", "blur", "ghost"]
        .into_iter()
        .map(meta)
        .collect();
    let builtin =
        pitcrew::app::Advisories::Index(std::sync::Arc::new(pitcrew::security::builtin::index()));
    let events = pitcrew::app::scan_vulnerabilities(&by_name, &builtin, &metas, Low, 1.7e9).await;
    // each scan carries the bumps a patch would pin: affected pinned packages only, upward
    // (a package whose fix no advisory names has none: shown, never proposed)
    for ev in &events {
        if let pitcrew::engine::Event::Findings {
            model,
            found,
            bumps,
            ..
        } = ev
        {
            for b in bumps {
                assert!(found.iter().any(|v| v.package == b.package), "{b:?}");
                assert_ne!(b.from, b.to, "{b:?}");
            }
            if model == "ml/ranker" {
                assert!(!bumps.is_empty(), "{found:?}");
            }
        }
    }
    let found = ids_of(events);
    assert_eq!(
        found,
        vec![
            (
                "ml/ranker".to_string(),
                vec!["PYSEC-2023-175".to_string(), "PYSEC-2023-227".to_string()]
            ),
            (
                "ml/scorer".to_string(),
                vec!["PYSEC-2022-42969".to_string()]
            ),
        ]
    );
    // from an OSV API (a fake serving the real records of the packages these models require;
    // its first answer a 503): the same findings as the same records read from a directory
    let packages = ["mlflow", "pillow", "py"];
    let api = common::fake_osv::serve(common::fake_osv::db(&packages));
    let client = pitcrew::clients::osv::OsvClient::new(&api, 10.0).expect("client");
    let from_api = pitcrew::app::Advisories::Api(std::sync::Arc::new(client));
    let by_api =
        ids_of(pitcrew::app::scan_vulnerabilities(&by_name, &from_api, &metas, Low, 1.7e9).await);
    let root = common::shared_data().join("security/pypa-advisory-database/vulns");
    let mut records = Vec::new();
    for p in packages {
        records.extend(
            pitcrew::security::osv::load_dir(&root.join(p))
                .expect("records")
                .0,
        );
    }
    let dir = pitcrew::app::Advisories::Index(std::sync::Arc::new(
        pitcrew::security::index::Index::build(&records, "PyPI"),
    ));
    let by_dir =
        ids_of(pitcrew::app::scan_vulnerabilities(&by_name, &dir, &metas, Low, 1.7e9).await);
    assert_eq!(by_api, by_dir);
    assert!(
        by_api[0].1.contains(&"PYSEC-2023-175".to_string()),
        "{by_api:?}"
    );
    // an API that does not answer: no findings at all, never "clean"
    let gone = pitcrew::clients::osv::OsvClient::new("http://127.0.0.1:9", 2.0)
        .expect("client")
        .with_retries(0);
    let none = pitcrew::app::scan_vulnerabilities(
        &by_name,
        &pitcrew::app::Advisories::Api(std::sync::Arc::new(gone)),
        &metas,
        Low,
        1.7e9,
    )
    .await;
    assert!(none.is_empty(), "{none:?}");

    // pitcrew scan --config: every registered model, what its serving version logged
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[mlflow]\ntracking_uri = \"{}\"\n\n[security]\nadvisories = \"{}\"\n",
            server.uri(),
            common::shared_data()
                .join("security/pypa-advisory-database")
                .display()
        ),
    )
    .expect("config");
    let out = tokio::task::spawn_blocking(move || {
        common::bin()
            .env("PITCREW_DATA", dir.path())
            .args([
                "scan",
                "--format",
                "json",
                "--fail-on",
                "critical",
                "--config",
            ])
            .arg(&cfg)
            .output()
            .expect("pitcrew scan")
    })
    .await
    .expect("join");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let findings = v["findings"].as_array().expect("findings");
    let of = |model: &str, id: &str| {
        findings
            .iter()
            .any(|f| f["model"] == model && f["advisory"] == id)
    };
    assert!(of("ranker v2 (requirements.txt)", "PYSEC-2023-227"), "{v}");
    assert!(of("scorer v2 (conda.yaml)", "PYSEC-2022-42969"), "{v}");
    // neither the older version's urllib3 nor the version that is not the highest
    assert!(
        !findings
            .iter()
            .any(|f| f["package"] == "urllib3" || f["package"] == "aiohttp")
    );
    assert!(
        stderr.contains("1 models not scanned") && stderr.contains("blur"),
        "{stderr}"
    );
}

/// Each Findings event's model and advisory ids, sorted.
fn ids_of(events: Vec<pitcrew::engine::Event>) -> Vec<(String, Vec<String>)> {
    events
        .into_iter()
        .map(|e| match e {
            pitcrew::engine::Event::Findings {
                t, model, found, ..
            } => {
                assert_eq!(t, 1.7e9);
                let mut ids: Vec<String> = found.into_iter().map(|v| v.advisory).collect();
                ids.sort();
                (model, ids)
            }
            other => panic!("{other:?}"),
        })
        .collect()
}
