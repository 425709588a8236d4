//! A fake OSV API on 127.0.0.1 (`POST /v1/querybatch`, `GET /v1/vulns/{id}`) serving the real
//! PyPA records of `../shared/data/security` as JSON, two ids a page, failing its first answer
//! with a 503.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The records by id (as JSON), and the ids of each package.
pub struct Db {
    pub records: BTreeMap<String, serde_json::Value>,
    pub by_package: BTreeMap<String, Vec<String>>,
    pub calls: AtomicUsize,
}

pub fn normalise(name: &str) -> String {
    name.to_lowercase().replace(['_', '.'], "-")
}

pub fn db(packages: &[&str]) -> Db {
    let root = super::shared_data().join("security/pypa-advisory-database/vulns");
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

pub const PAGE: usize = 2;

pub async fn querybatch(
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

pub async fn vuln(State(db): State<Arc<Db>>, Path(id): Path<String>) -> axum::response::Response {
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
pub fn serve(db: Db) -> String {
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
