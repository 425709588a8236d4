//! The MLflow client and registry logic against a real MLflow tracking server on 127.0.0.1
//! (`mlflow server` with a SQLite store), populated through its REST API.
//!
//! The `mlflow` executable is `$PITCREW_MLFLOW_BIN`, else
//! `<repo>/target/test-servers/mlflow-venv/bin/mlflow` (made by `scripts/setup-mlflow.sh`), else
//! `mlflow` on PATH. Without one these tests FAIL (they never skip): run
//! `scripts/setup-mlflow.sh`.

mod common;

use common::mlflow::{Rest, Server, config};
use pitcrew::actuators::mlflow::RegistryActuator;
use pitcrew::clients::mlflow::{
    MlflowClient, MlflowError, PREVIOUS_CHAMPION_ALIAS, Registry, RetryPolicy, TAG_PROMOTED_AT,
    TAG_ROLLED_BACK_AT,
};
use pitcrew::domain::Action;
use pitcrew::engine::{Change, Event};
use pitcrew::fleet::ModelMeta;
use pitcrew::sources::mlflow::CandidateWatch;
use serde_json::json;
use std::time::{Duration, Instant};

fn meta(namespace: &str, name: &str, version: &str) -> ModelMeta {
    ModelMeta {
        name: name.into(),
        namespace: namespace.into(),
        version: version.into(),
        priority: 2,
        size_gb: 0.0,
        complexity: 0.0,
        min_replicas: 1,
        max_replicas: 10,
    }
}

const MODEL: &str = "risk-fraud";

/// risk-fraud versions 1..=7 with runs: accuracies 0.88, 0.90, 0.91 (champion), 0.93
/// (challenger, with latency and error rate), 0.91 (a tie), none, 0.95 (archived). Version 1
/// has served (tag `pitcrew.promoted_at`). Also a registered model risk-other.
async fn populate(rest: &Rest) {
    let exp = rest
        .post("experiments/create", json!({"name": "pitcrew-test"}))
        .await["experiment_id"]
        .as_str()
        .expect("experiment id")
        .to_string();
    rest.post("registered-models/create", json!({"name": MODEL}))
        .await;
    rest.post("registered-models/create", json!({"name": "risk-other"}))
        .await;
    let metrics: [&[(&str, f64)]; 7] = [
        &[("accuracy", 0.88)],
        &[("accuracy", 0.90)],
        &[("accuracy", 0.91), ("latency_p95_ms", 140.0)],
        &[
            ("accuracy", 0.93),
            ("latency_p95_ms", 120.0),
            ("error_rate", 0.004),
        ],
        &[("accuracy", 0.91)],
        &[],
        &[("accuracy", 0.95)],
    ];
    for (i, m) in metrics.iter().enumerate() {
        let run = rest.run(&exp, m).await;
        let v = rest.version(MODEL, &run).await;
        assert_eq!(v, (i + 1).to_string());
    }
    rest.post(
        "model-versions/set-tag",
        json!({"name": MODEL, "version": "1", "key": TAG_PROMOTED_AT, "value": "1700000000000"}),
    )
    .await;
    rest.post(
        "model-versions/transition-stage",
        json!({"name": MODEL, "version": "7", "stage": "Archived", "archive_existing_versions": false}),
    )
    .await;
    rest.alias(MODEL, "champion", "3").await;
    rest.alias(MODEL, "challenger", "4").await;
}

async fn alias_of(c: &MlflowClient, alias: &str) -> Option<String> {
    c.get_model_version_by_alias(MODEL, alias)
        .await
        .expect("alias lookup")
        .map(|v| v.version)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_on_a_real_mlflow_server() {
    let server = tokio::task::spawn_blocking(Server::start)
        .await
        .expect("server start");
    let uri = server.uri();
    populate(&Rest::new(&uri)).await;
    let cfg = config(&uri, 10.0);
    let registry = Registry::new(&cfg).expect("registry");
    let c = registry.client();

    // registered models: search (all, filtered, paged by hand) and get
    let all = c.search_registered_models(None).await.expect("search");
    let mut names: Vec<&str> = all.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, vec!["risk-fraud", "risk-other"]);
    let risk = c
        .search_registered_models(Some("name LIKE 'risk-f%'"))
        .await
        .expect("filtered");
    assert_eq!(risk.len(), 1);
    let p1 = c
        .search_registered_models_page(None, 1, None)
        .await
        .expect("page 1");
    assert_eq!(p1.items.len(), 1);
    let token = p1.next_page_token.clone().expect("a second page");
    let p2 = c
        .search_registered_models_page(None, 1, Some(&token))
        .await
        .expect("page 2");
    assert_eq!(p2.items.len(), 1);
    assert_ne!(p1.items[0].name, p2.items[0].name);

    let rm = c.get_registered_model(MODEL).await.expect("get model");
    assert_eq!(rm.alias("champion"), Some(3));
    assert_eq!(rm.alias("challenger"), Some(4));
    assert!(!rm.latest_versions.is_empty());

    // versions: search across pages of 2, get, by alias
    let vs = c
        .search_model_versions_paged(MODEL, 2)
        .await
        .expect("versions");
    let mut nums: Vec<u64> = vs.iter().filter_map(|v| v.number()).collect();
    nums.sort_unstable();
    assert_eq!(nums, vec![1, 2, 3, 4, 5, 6, 7], "every page read");
    assert_eq!(c.search_model_versions(MODEL).await.expect("all").len(), 7);
    let v4 = c.get_model_version(MODEL, "4").await.expect("version 4");
    assert!(v4.is_ready() && !v4.run_id.is_empty());
    assert!(
        c.get_model_version(MODEL, "7")
            .await
            .expect("v7")
            .is_archived()
    );
    let champ = c
        .get_model_version_by_alias(MODEL, "champion")
        .await
        .expect("by alias")
        .expect("champion set");
    assert_eq!(champ.version, "3");
    assert!(champ.aliases.contains(&"champion".to_string()));
    assert_eq!(alias_of(c, "no-such-alias").await, None);
    let e = c
        .get_model_version_by_alias("risk-nope", "champion")
        .await
        .expect_err("no such model");
    assert!(e.is_not_found(), "{e}");
    let e = c
        .get_model_version(MODEL, "99")
        .await
        .expect_err("no version 99");
    assert!(e.is_not_found());
    let s = e.to_string();
    assert!(
        s.contains(&format!(
            "{uri}/api/2.0/mlflow/model-versions/get?name=risk-fraud&version=99"
        )) && s.contains("model 'risk-fraud' version 99")
            && s.contains("RESOURCE_DOES_NOT_EXIST"),
        "{s}"
    );

    // runs: logged metrics
    let run = c.get_run(&v4.run_id).await.expect("run");
    assert_eq!(run.metric("accuracy"), Some(0.93));
    assert_eq!(run.metric("error_rate"), Some(0.004));
    assert!(
        c.get_run("0123456789abcdef")
            .await
            .expect_err("no run")
            .is_not_found()
    );

    // tags and aliases, set and deleted for real
    c.set_model_version_tag(MODEL, "5", "owner", "risk-team")
        .await
        .expect("tag");
    assert_eq!(
        c.get_model_version(MODEL, "5")
            .await
            .expect("v5")
            .tag("owner"),
        Some("risk-team")
    );
    c.set_alias(MODEL, "shadow", "5").await.expect("set alias");
    assert_eq!(alias_of(c, "shadow").await.as_deref(), Some("5"));
    c.delete_alias(MODEL, "shadow").await.expect("delete alias");
    assert_eq!(alias_of(c, "shadow").await, None);
    c.delete_alias(MODEL, "shadow")
        .await
        .expect("deleting an unset alias is fine");
    let e = c
        .set_alias(MODEL, "latest", "5")
        .await
        .expect_err("reserved alias");
    assert_eq!(e.error_code(), Some("INVALID_PARAMETER_VALUE"), "{e}");

    // registry state: champion, candidates with metrics, rollback target
    assert_eq!(registry.registered_name("risk", "fraud"), MODEL);
    let st = registry.state(MODEL).await.expect("state");
    assert_eq!(st.champion, Some(3));
    assert_eq!(st.champion_metrics.accuracy, Some(0.91));
    assert_eq!(st.champion_metrics.latency_p95_ms, Some(140.0));
    assert_eq!(st.challenger, Some(4));
    assert_eq!(st.previous_champion, None);
    assert_eq!(
        st.rollback_to,
        Some(1),
        "no alias: the highest below that served"
    );
    let cands: Vec<(u64, Option<f64>, bool, bool)> = st
        .candidates
        .iter()
        .map(|c| (c.version, c.metrics.accuracy, c.challenger, c.better))
        .collect();
    assert_eq!(
        cands,
        vec![
            (6, None, false, false),
            (5, Some(0.91), false, false), // a tie is not better
            (4, Some(0.93), true, true),
        ],
        "version 7 is archived"
    );
    let best = st.best_candidate().expect("a better candidate");
    assert_eq!(best.version, 4);
    assert_eq!(best.metrics.latency_p95_ms, Some(120.0));
    assert_eq!(best.metrics.error_rate, Some(0.004));

    // engine events: the champion's version and each candidate once
    let models = vec![meta("risk", "fraud", "v2"), meta("risk", "missing", "v1")];
    let mut watch = CandidateWatch::new();
    let poll = watch.poll(&registry, &models, 100.0).await;
    assert_eq!(poll.errors.len(), 1);
    assert_eq!(poll.errors[0].0, "risk/missing");
    assert!(poll.errors[0].1.is_not_found(), "{}", poll.errors[0].1);
    let mut updated = models[0].clone();
    updated.version = "v3".into();
    assert_eq!(
        poll.events,
        vec![
            Event::Models {
                t: 100.0,
                models: vec![updated.clone()]
            },
            Event::Change {
                t: 100.0,
                model: 0,
                change: Change::CandidateRegistered {
                    version: "v5".into(),
                    accuracy: 0.91
                }
            },
            Event::Change {
                t: 100.0,
                model: 0,
                change: Change::CandidateRegistered {
                    version: "v4".into(),
                    accuracy: 0.93
                }
            },
        ]
    );
    let again = watch.poll(&registry, &[updated.clone()], 160.0).await;
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert!(again.errors.is_empty());

    // promote: champion moves, previous-champion records the old one
    let m = registry.promote(MODEL, 4).await.expect("promote");
    assert_eq!((m.from, m.to, m.changed), (Some(3), 4, true));
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("4"));
    assert_eq!(
        alias_of(c, PREVIOUS_CHAMPION_ALIAS).await.as_deref(),
        Some("3")
    );
    assert!(
        c.get_model_version(MODEL, "4")
            .await
            .expect("v4")
            .tag(TAG_PROMOTED_AT)
            .is_some()
    );
    let same = registry.promote(MODEL, 4).await.expect("promote again");
    assert!(!same.changed);
    assert_eq!(
        alias_of(c, PREVIOUS_CHAMPION_ALIAS).await.as_deref(),
        Some("3"),
        "a no-op promotion keeps the record"
    );
    let e = registry
        .promote(MODEL, 99)
        .await
        .expect_err("no version 99");
    assert!(
        e.is_not_found() && e.to_string().contains("version 99"),
        "{e}"
    );
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("4"));

    // rollback: exactly to the recorded previous champion
    let r = registry.rollback(MODEL).await.expect("rollback");
    assert_eq!((r.from, r.to), (Some(4), 3));
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("3"));
    assert_eq!(alias_of(c, PREVIOUS_CHAMPION_ALIAS).await, None);
    assert!(
        c.get_model_version(MODEL, "4")
            .await
            .expect("v4")
            .tag(TAG_ROLLED_BACK_AT)
            .is_some()
    );
    let st = registry.state(MODEL).await.expect("state after rollback");
    assert_eq!(
        st.candidates.iter().map(|c| c.version).collect::<Vec<_>>(),
        vec![6, 5],
        "a rolled-back version is no candidate, even as challenger"
    );
    // a second rollback has no record: the highest below that served
    let r = registry.rollback(MODEL).await.expect("second rollback");
    assert_eq!((r.from, r.to), (Some(3), 1));

    // the actuator moves the same aliases
    let act = RegistryActuator::new(registry.clone());
    let msg = act
        .apply(
            "risk/fraud",
            &Action::Canary {
                version: 5,
                share: 0.1,
            },
        )
        .await
        .expect("canary stage");
    assert!(msg.contains("challenger"), "{msg}");
    assert_eq!(alias_of(c, "challenger").await.as_deref(), Some("5"));
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("1"));
    act.apply(
        "risk/fraud",
        &Action::Canary {
            version: 5,
            share: 1.0,
        },
    )
    .await
    .expect("promotion");
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("5"));
    act.apply("risk/fraud", &Action::Rollback)
        .await
        .expect("rollback");
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("1"));
    assert!(
        c.get_model_version(MODEL, "5")
            .await
            .expect("v5")
            .is_rolled_back()
    );
    // the undo of a rollback promotes it on purpose: it may serve again
    let m = registry.promote(MODEL, 5).await.expect("promote again");
    assert_eq!((m.from, m.to), (Some(1), 5));
    let v5 = c.get_model_version(MODEL, "5").await.expect("v5");
    assert!(!v5.is_rolled_back() && v5.has_served(), "{:?}", v5.tags);
    assert!(
        act.apply("risk/fraud", &Action::Scale { replicas: 3 })
            .await
            .is_err()
    );
    // no champion at all: rollback says so
    c.delete_alias(MODEL, "champion").await.expect("delete");
    let e = registry.rollback(MODEL).await.expect_err("no champion");
    assert!(matches!(e, MlflowError::NoChampion { .. }), "{e}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mlflow_down_while_a_rollout_waits() {
    let mut server = tokio::task::spawn_blocking(Server::start)
        .await
        .expect("server start");
    let uri = server.uri();
    let rest = Rest::new(&uri);
    let exp = rest
        .post("experiments/create", json!({"name": "faults"}))
        .await["experiment_id"]
        .as_str()
        .expect("experiment")
        .to_string();
    rest.post("registered-models/create", json!({"name": MODEL}))
        .await;
    for acc in [0.9, 0.95] {
        let run = rest.run(&exp, &[("accuracy", acc)]).await;
        rest.version(MODEL, &run).await;
    }
    rest.alias(MODEL, "champion", "1").await;

    let retry = RetryPolicy {
        retries: 2,
        min_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(200),
    };
    let client = MlflowClient::with_token(&uri, None, 1.0)
        .expect("client")
        .with_retry(retry);
    let registry = Registry::with_client(client, &config(&uri, 1.0));
    let bound = registry.client().worst_case() + Duration::from_secs(1);
    assert!(registry.state(MODEL).await.expect("up").champion == Some(1));

    // the server hangs while a promotion is in flight: every attempt times out
    server.freeze();
    let start = Instant::now();
    let e = registry
        .promote(MODEL, 2)
        .await
        .expect_err("a frozen server cannot promote");
    let took = start.elapsed();
    assert!(took <= bound, "{took:?} > {bound:?}: {e}");
    assert!(
        took >= Duration::from_secs(3),
        "3 attempts of 1 s: {took:?}"
    );
    assert!(
        matches!(&e, MlflowError::GaveUp { attempts: 3, last } if matches!(**last, MlflowError::Timeout { .. })),
        "{e:?}"
    );
    let s = e.to_string();
    assert!(
        s.contains(&uri) && s.contains("risk-fraud") && s.contains("no answer within 1 s"),
        "{s}"
    );

    // the server is gone: a poll fails fast and clearly
    server.kill();
    let start = Instant::now();
    let e = registry.state(MODEL).await.expect_err("server down");
    assert!(start.elapsed() <= bound);
    assert!(e.is_unavailable(), "{e:?}");
    assert!(
        matches!(&e, MlflowError::GaveUp { attempts: 3, last } if matches!(**last, MlflowError::Transport { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("model 'risk-fraud'"), "{e}");

    // back up on the same port and store: the promotion succeeds, and nothing half-done before
    let server = tokio::task::spawn_blocking(move || {
        server.launch();
        server
    })
    .await
    .expect("restart");
    let c = registry.client();
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("1"));
    assert_eq!(alias_of(c, PREVIOUS_CHAMPION_ALIAS).await, None);
    let m = registry
        .promote(MODEL, 2)
        .await
        .expect("promote after restart");
    assert_eq!((m.from, m.to, m.changed), (Some(1), 2, true));
    assert_eq!(alias_of(c, "champion").await.as_deref(), Some("2"));
    assert_eq!(
        alias_of(c, PREVIOUS_CHAMPION_ALIAS).await.as_deref(),
        Some("1")
    );
    drop(server);
}
