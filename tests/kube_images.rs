//! The serving images' findings: trivy-operator's `VulnerabilityReport`s (the real sample of
//! `../shared/data/security/trivy-operator`), served by the fake Kubernetes API server
//! (`common::fake_kube`) beside the Deployments and ReplicaSets, followed from the ReplicaSet
//! that owns each report to the model's Deployment; the exact requests asserted; `pitcrew scan
//! --config` through a kubeconfig that points at the fake.
#![allow(clippy::unwrap_used)]

mod common;

use common::fake_kube::*;
use pitcrew::domain::{Severity, Source};
use pitcrew::sources::images::{NotScanned, scan};
use serde_json::{Value, json};

/// The first YAML listing of the sample report in trivy-operator's documentation, as JSON.
fn sample_report() -> Value {
    let doc = std::fs::read_to_string(
        common::shared_data().join("security/trivy-operator/vulnerability-report.md"),
    )
    .unwrap();
    let start = doc.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + doc[start..].find("```").unwrap();
    serde_yaml_ng::from_str(&doc[start..end]).unwrap()
}

/// The sample, owned by the ReplicaSet `rs` and naming the container `container`.
fn report_of(rs: &str, container: &str) -> Value {
    let mut r = sample_report();
    let name = format!("replicaset-{rs}-{container}");
    r["metadata"]["name"] = json!(name);
    r["metadata"]["namespace"] = json!(NS);
    r["metadata"]["labels"]["trivy-operator.container.name"] = json!(container);
    r["metadata"]["labels"]["trivy-operator.resource.name"] = json!(rs);
    r["metadata"]["ownerReferences"][0]["name"] = json!(rs);
    r
}

const REPORTS: &str = "aquasecurity.github.io/vulnerabilityreports";

fn keys(k: &[&str]) -> Vec<String> {
    k.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn a_report_counts_for_the_model_whose_current_replica_set_owns_it() {
    let f = Fake::start().await;
    // fraud's current ReplicaSet (revision 4) and an old one (revision 2): only the current
    // one's report counts; the old one's names another vulnerability
    f.store(
        REPORTS,
        "replicaset-fraud-4444-server",
        &report_of("fraud-4444", "server"),
    );
    let mut old = report_of("fraud-2222", "server");
    old["report"]["vulnerabilities"][0]["vulnerabilityID"] = json!("CVE-OLD-IMAGE");
    f.store(REPORTS, "replicaset-fraud-2222-server", &old);
    // the stray ReplicaSet with fraud's labels, owned by another Deployment
    let mut stray = report_of("fraud-3333", "server");
    stray["report"]["vulnerabilities"][0]["vulnerabilityID"] = json!("CVE-STRAY");
    f.store(REPORTS, "replicaset-fraud-3333-server", &stray);
    f.clear_requests();

    let s = scan(
        &f.client,
        &kube_cfg(),
        &keys(&["ml/fraud", "ml/solo", "ml/ghost"]),
    )
    .await;
    assert!(s.unread.is_empty(), "{:?}", s.unread);
    assert_eq!(
        shorts(&f.requests()),
        vec![
            "GET /apis/apps/v1/namespaces/ml/deployments",
            "GET /apis/apps/v1/namespaces/ml/replicasets",
            "GET /apis/aquasecurity.github.io/v1alpha1/namespaces/ml/vulnerabilityreports",
        ],
        "one list of each, for the whole namespace"
    );
    let (key, fraud) = &s.models[0];
    assert_eq!(key, "ml/fraud");
    let fraud = fraud.as_ref().unwrap();
    assert_eq!(fraud.deployment, "fraud");
    assert_eq!(
        fraud.images,
        vec![("server".to_string(), "fraud:3".to_string())]
    );
    let found = fraud.found.as_ref().unwrap();
    let ids: Vec<(&str, &str, Option<&str>, Severity)> = found
        .iter()
        .map(|v| {
            (
                v.advisory.as_str(),
                v.package.as_str(),
                v.fixed.as_deref(),
                v.severity,
            )
        })
        .collect();
    // the sample's two findings: one fixed in a Debian revision, one with no fix
    assert_eq!(
        ids,
        vec![
            (
                "CVE-2019-20367",
                "libbsd0",
                Some("0.9.1-2+deb10u1"),
                Severity::Critical
            ),
            ("CVE-2018-25009", "libwebp6", None, Severity::Critical),
        ]
    );
    assert_eq!(
        found[0].source,
        Source::Image {
            container: "server".into(),
            image: "index.docker.io/library/nginx:1.16".into()
        }
    );
    // solo's ReplicaSet has no report yet: not scanned, not clean
    let solo = s.models[1].1.as_ref().unwrap();
    assert_eq!(solo.found, None);
    // ghost has no Deployment
    match &s.models[2].1 {
        Err(NotScanned::NoDeployment { name }) => assert_eq!(name, "ghost"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_cluster_without_trivy_operator_or_the_right_is_named() {
    let f = Fake::start().await;
    f.fault(
        "GET",
        "/apis/aquasecurity.github.io/v1alpha1/namespaces/ml/vulnerabilityreports",
        404,
        1,
    );
    let s = scan(&f.client, &kube_cfg(), &keys(&["ml/fraud", "ml/solo"])).await;
    for (_, r) in &s.models {
        let e = r.as_ref().unwrap_err().to_string();
        assert!(e.contains("trivy-operator"), "{e}");
        assert!(e.contains("not installed"), "{e}");
    }
    f.forbid("list", "vulnerabilityreports");
    let s = scan(&f.client, &kube_cfg(), &keys(&["ml/fraud"])).await;
    let e = s.models[0].1.as_ref().unwrap_err().to_string();
    assert!(e.contains("403 Forbidden"), "{e}");
    assert!(e.contains("'vulnerabilityreports'"), "{e}");
    assert!(e.contains("pitcrew rbac --namespace ml"), "{e}");
}

#[tokio::test]
async fn a_report_that_cannot_be_read_is_named_and_the_others_count() {
    let f = Fake::start().await;
    f.store(
        REPORTS,
        "replicaset-fraud-4444-server",
        &report_of("fraud-4444", "server"),
    );
    let mut sidecar = report_of("fraud-4444", "proxy");
    sidecar["report"]["vulnerabilities"] = json!("not a list");
    f.store(REPORTS, "replicaset-fraud-4444-proxy", &sidecar);
    let s = scan(&f.client, &kube_cfg(), &keys(&["ml/fraud"])).await;
    assert_eq!(s.unread.len(), 1, "{:?}", s.unread);
    assert!(
        s.unread[0].contains("replicaset-fraud-4444-proxy"),
        "{:?}",
        s.unread
    );
    let found = s.models[0].1.as_ref().unwrap().found.clone().unwrap();
    assert_eq!(found.len(), 2);
}

#[test]
fn pitcrew_scan_config_lists_the_images_findings_and_fails_on_critical() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(Fake::start());
    f.store(
        REPORTS,
        "replicaset-fraud-4444-server",
        &report_of("fraud-4444", "server"),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &f.url);
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "[kubernetes]\nnamespace = \"ml\"\n[models.\"ml/fraud\"]\npriority = 1\n[models.\"ml/solo\"]\npriority = 2\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let out = common::bin()
            .args(["scan", "--config"])
            .arg(&cfg)
            .args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["--fail-on", "critical"]);
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(out.contains("CONTAINER"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("CVE-2019-20367"))
        .unwrap_or_else(|| panic!("{out}"));
    for want in [
        "critical",
        "ml/fraud",
        "server",
        "libbsd0",
        "0.9.1-2+deb10u1",
    ] {
        assert!(line.contains(want), "{want} in {line}");
    }
    assert!(
        out.contains("2 findings in serving images (trivy-operator)"),
        "{out}"
    );
    assert!(
        err.contains("the images of ml/solo not scanned: trivy-operator has no report"),
        "{err}"
    );
    let (code, out, _) = run(&["--format", "json"]);
    assert_eq!(code, Some(0));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["images"][0]["model"], "ml/fraud");
    assert_eq!(v["images"][0]["source"]["image"]["container"], "server");
    // the rebuild that fixes it: libbsd0 at trivy's fixed version, a patch (a Debian
    // revision); libwebp6 has no fix, so nothing to pin
    let patches = v["patches"].as_array().unwrap();
    assert_eq!(patches.len(), 1, "{out}");
    assert_eq!(patches[0]["model"], "ml/fraud");
    let bumps = patches[0]["bumps"].as_array().unwrap();
    assert_eq!(bumps.len(), 1, "{out}");
    assert_eq!(bumps[0]["package"], "libbsd0");
    assert_eq!(bumps[0]["from"], "0.9.1-2");
    assert_eq!(bumps[0]["to"], "0.9.1-2+deb10u1");
    assert_eq!(bumps[0]["kind"], "patch");
    assert_eq!(bumps[0]["source"]["image"]["container"], "server");
    drop(f);
}

/// A kubeconfig whose current context is the fake's.
fn kubeconfig(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: me\n\
             current-context: fake\nusers:\n- name: me\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn an_agent_on_a_real_fleet_exports_what_trivy_found_in_its_serving_images() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(Fake::start());
    // shop/alpha, served by the Deployment alpha (revision 1, one ReplicaSet), scanned
    {
        let mut w = f.w();
        let mut put = |gr: &str, name: &str, v: Value| {
            w.put((gr.to_string(), "shop".to_string(), name.to_string()), v)
        };
        put(
            "apps/deployments",
            "alpha",
            serde_json::to_value(deployment("alpha", 2, "1", "alpha:7", 7)).unwrap(),
        );
        put(
            "apps/replicasets",
            "alpha-1111",
            serde_json::to_value(replica_set("alpha-1111", "alpha", "1", "alpha:7", 7)).unwrap(),
        );
        put(
            REPORTS,
            "replicaset-alpha-1111-server",
            report_of("alpha-1111", "server"),
        );
    }
    let prom = common::fake_prom::fake_prometheus();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        common::fake_prom::config(&prom, "[kubernetes]\nnamespace = \"shop\"\n"),
    )
    .unwrap();
    let (mut child, addr) = common::spawn_agent(
        common::bin()
            .args(["agent", "--listen", "127.0.0.1:0", "--config"])
            .arg(&cfg)
            .env("KUBECONFIG", kubeconfig(dir.path(), &f.url))
            .env("PITCREW_DATA", dir.path().join("data"))
            .env("PITCREW_CONFIG", dir.path()),
    );
    let want =
        "pitcrew_vulnerabilities{namespace=\"shop\",model=\"alpha\",severity=\"critical\"} 2";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let metrics = loop {
        let (_, body) = common::http_get(&addr, "/metrics");
        if body.contains(want) {
            break body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the image findings never arrived:\n{body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    // beta has no Deployment: not scanned, nothing exported for it
    assert!(
        !metrics.contains("pitcrew_vulnerabilities{namespace=\"shop\",model=\"beta\""),
        "{metrics}"
    );
    common::terminate(&mut child);
    // the reads were lists of the namespace, and the journal says beta was not followed
    let lists: Vec<String> = f
        .requests()
        .iter()
        .filter(|r| r.path.contains("vulnerabilityreports"))
        .map(|r| r.short())
        .collect();
    assert_eq!(
        lists.first().map(String::as_str),
        Some("GET /apis/aquasecurity.github.io/v1alpha1/namespaces/shop/vulnerabilityreports")
    );
    let journal = std::fs::read_dir(dir.path().join("data/journal"))
        .unwrap()
        .filter_map(Result::ok)
        .next()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(journal).unwrap();
    assert!(
        text.contains("image scan: 1 models have no Deployment"),
        "the model without a Deployment is said"
    );
    assert!(
        text.contains("\"scanner\":\"images\""),
        "findings journaled"
    );
    assert!(
        text.contains("\"to\":\"0.9.1-2+deb10u1\""),
        "the rebuild's bump journaled with the findings"
    );
}
