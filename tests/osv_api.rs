//! `pitcrew scan --osv-api`: the advisories read from an OSV API (`POST /v1/querybatch` for
//! the ids, `GET /v1/vulns/{id}` for each record) give the same findings as the same records
//! read from a directory. The API is a fake on 127.0.0.1 serving the real PyPA records of
//! `../shared/data/security` as JSON, two ids a page, failing its first answer with a 503.

mod common;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The records by id (as JSON), and the ids of each package.
struct Db {
    records: BTreeMap<String, serde_json::Value>,
    by_package: BTreeMap<String, Vec<String>>,
    calls: AtomicUsize,
}

fn normalise(name: &str) -> String {
    name.to_lowercase().replace(['_', '.'], "-")
}

fn db(packages: &[&str]) -> Db {
    let root = common::shared_data().join("security/pypa-advisory-database/vulns");
    let mut records = BTreeMap::new();
    let mut by_package: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in packages {
        let dir = root.join(p);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("a package of the database")
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).expect("a record");
            let v: serde_json::Value = serde_yaml_ng::from_str(&text).expect("YAML");
            let id = v["id"].as_str().expect("id").to_string();
            by_package.entry(normalise(p)).or_default().push(id.clone());
            records.insert(id, v);
        }
    }
    Db {
        records,
        by_package,
        calls: AtomicUsize::new(0),
    }
}

const PAGE: usize = 2;

async fn querybatch(
    State(db): State<Arc<Db>>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if db.calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "warming up").into_response();
    }
    let results: Vec<serde_json::Value> = body["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .map(|q| {
            assert_eq!(q["package"]["ecosystem"], "PyPI");
            assert!(
                q.get("version").is_none(),
                "every version of the package: {q}"
            );
            let ids = db
                .by_package
                .get(&normalise(q["package"]["name"].as_str().expect("name")))
                .cloned()
                .unwrap_or_default();
            let from: usize = q["page_token"]
                .as_str()
                .map_or(0, |t| t.parse().expect("a token this server gave"));
            let page: Vec<serde_json::Value> = ids
                .iter()
                .skip(from)
                .take(PAGE)
                .map(|id| serde_json::json!({"id": id, "modified": "2024-10-10T00:00:00Z"}))
                .collect();
            let mut r = serde_json::json!({});
            if !page.is_empty() {
                r["vulns"] = serde_json::Value::Array(page);
            }
            if from + PAGE < ids.len() {
                r["next_page_token"] = serde_json::Value::String((from + PAGE).to_string());
            }
            r
        })
        .collect();
    axum::Json(serde_json::json!({ "results": results })).into_response()
}

async fn vuln(State(db): State<Arc<Db>>, Path(id): Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match db.records.get(&id) {
        Some(v) => axum::Json(v.clone()).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            "{\"code\":5,\"message\":\"Bug not found.\"}",
        )
            .into_response(),
    }
}

/// Serve `db` on loopback; its base URL.
fn serve(db: Db) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new()
        .route("/v1/querybatch", post(querybatch))
        .route("/v1/vulns/{id}", get(vuln))
        .with_state(Arc::new(db));
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{addr}")
}

fn findings(out: &std::process::Output) -> Vec<(String, String, Option<String>, Option<String>)> {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let mut rows: Vec<_> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["package"].as_str().expect("package").to_string(),
                f["advisory"].as_str().expect("advisory").to_string(),
                f["fixed"].as_str().map(str::to_string),
                f["upgrade_to"].as_str().map(str::to_string),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn advisories_from_an_osv_api_give_what_the_same_records_give_from_a_directory() {
    let packages = ["pillow", "urllib3", "aiohttp", "py"];
    let api = serve(db(&packages));
    let dir = tempfile::tempdir().expect("tempdir");
    // the same records as a directory
    let records = dir.path().join("records");
    for p in packages {
        let from = common::shared_data()
            .join("security/pypa-advisory-database/vulns")
            .join(p);
        let to = records.join(p);
        std::fs::create_dir_all(&to).expect("dir");
        for e in std::fs::read_dir(from).expect("dir").flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
    let req = dir.path().join("requirements.txt");
    std::fs::write(
        &req,
        "Pillow==9.5.0\nurllib3>=1.25,<1.26.5\naiohttp==3.9.1\npy==1.11.0\nnumpy==1.26.4\n",
    )
    .expect("requirements");
    let scan = |source: &[&str]| {
        common::bin()
            .env("PITCREW_CONFIG", dir.path())
            .arg("scan")
            .args(source)
            .arg("--requirements")
            .arg(&req)
            .args(["--format", "json"])
            .output()
            .expect("pitcrew scan")
    };
    let from_api = scan(&["--osv-api", &api]);
    assert_eq!(
        from_api.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&from_api.stderr)
    );
    let from_dir = scan(&["--osv", &records.display().to_string()]);
    let rows = findings(&from_api);
    assert_eq!(rows, findings(&from_dir));
    // pillow, urllib3's range, aiohttp and py each have one at least; numpy is not asked about
    for p in ["pillow", "urllib3", "aiohttp", "py"] {
        assert!(rows.iter().any(|r| r.0 == p), "{p}: {rows:?}");
    }
    assert!(
        rows.iter()
            .any(|r| r.1 == "PYSEC-2024-24" && r.2.as_deref() == Some("3.9.2"))
    );

    // an API that does not answer: a clear error, exit code 2, nothing reported clean
    let down = format!("http://{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    });
    let out = scan(&["--osv-api", &down]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OSV API POST") && err.contains("/v1/querybatch"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
