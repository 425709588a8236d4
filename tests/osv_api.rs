//! `pitcrew scan --osv-api`: the advisories read from an OSV API (`POST /v1/querybatch` for
//! the ids, `GET /v1/vulns/{id}` for each record) give the same findings as the same records
//! read from a directory. The API is a fake on 127.0.0.1 serving the real PyPA records of
//! `../shared/data/security` as JSON, two ids a page, failing its first answer with a 503.

mod common;

use common::fake_osv::{db, serve};

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
