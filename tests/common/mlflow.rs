//! A real MLflow tracking server on 127.0.0.1 for the tests (`mlflow server` with a SQLite
//! store and a local artifact root), populated through its REST API.
//!
//! The `mlflow` executable is `$PITCREW_MLFLOW_BIN`, else
//! `<repo>/target/test-servers/mlflow-venv/bin/mlflow` (made by `scripts/setup-mlflow.sh`), else
//! `mlflow` on PATH. Without one these tests FAIL (they never skip).

use pitcrew::config::MlflowConfig;
use serde_json::{Value, json};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SETUP_HINT: &str = "run scripts/setup-mlflow.sh (it installs mlflow into target/test-servers/mlflow-venv), or point PITCREW_MLFLOW_BIN at an mlflow executable";

pub fn mlflow_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PITCREW_MLFLOW_BIN") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "PITCREW_MLFLOW_BIN={} is not a file; {SETUP_HINT}",
            p.display()
        );
        return p;
    }
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-servers/mlflow-venv/bin/mlflow");
    if venv.is_file() {
        return venv;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("mlflow");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "no mlflow executable (not in $PITCREW_MLFLOW_BIN, {}, nor on PATH); {SETUP_HINT}",
        venv.display()
    );
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// `GET /health` answers 200 (plain HTTP/1.0 over a loopback socket, 2 s at most).
pub fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

/// A running `mlflow server`; killed (its whole process group) on drop.
pub struct Server {
    pub child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Server {
            child: None,
            dir,
            port: free_port(),
        };
        s.launch();
        s
    }

    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("mlflow.log")
    }

    pub fn launch(&mut self) {
        let bin = mlflow_bin();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .expect("server log");
        let db = self.dir.path().join("mlflow.db");
        let art = self.dir.path().join("art");
        let child = Command::new(&bin)
            .arg("server")
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", db.display()))
            .arg("--default-artifact-root")
            .arg(&art)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--workers", "1"])
            // no telemetry or update checks: loopback only
            .env("MLFLOW_DISABLE_TELEMETRY", "true")
            .env("DO_NOT_TRACK", "true")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {SETUP_HINT}", bin.display()));
        self.child = Some(child);
        self.wait_healthy();
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    pub fn wait_healthy(&mut self) {
        let url = format!("{}/health", self.uri());
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "mlflow server exited ({status}) before answering {url}; log:\n{}",
                    self.log_tail()
                );
            }
            if health_ok(self.port) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "mlflow server did not answer {url} within 180 s; log:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        if let Some(c) = &self.child {
            let pgid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::killpg(pgid, sig);
        }
    }

    /// Freeze the server (it accepts connections but never answers).
    pub fn freeze(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    pub fn kill(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Populates the server through the REST API.
pub struct Rest {
    pub http: reqwest::Client,
    pub api: String,
}

impl Rest {
    pub fn new(uri: &str) -> Rest {
        Rest {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http"),
            api: format!("{uri}/api/2.0/mlflow"),
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/{path}", self.api);
        let r = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        let status = r.status();
        let text = r.text().await.expect("body");
        assert!(status.is_success(), "POST {url} {body}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {url}: {e}: {text}"))
    }

    pub async fn run(&self, experiment: &str, metrics: &[(&str, f64)]) -> String {
        let r = self
            .post(
                "runs/create",
                json!({"experiment_id": experiment, "start_time": 1_700_000_000_000_i64}),
            )
            .await;
        let id = r["run"]["info"]["run_id"]
            .as_str()
            .expect("run_id")
            .to_string();
        for (k, v) in metrics {
            self.post(
                "runs/log-metric",
                json!({"run_id": id, "key": k, "value": v, "timestamp": 1_700_000_000_000_i64, "step": 0}),
            )
            .await;
        }
        id
    }

    pub async fn version(&self, model: &str, run: &str) -> String {
        let r = self
            .post(
                "model-versions/create",
                json!({"name": model, "source": format!("runs:/{run}/model"), "run_id": run}),
            )
            .await;
        r["model_version"]["version"]
            .as_str()
            .expect("version")
            .to_string()
    }

    pub async fn alias(&self, model: &str, alias: &str, version: &str) {
        self.post(
            "registered-models/alias",
            json!({"name": model, "alias": alias, "version": version}),
        )
        .await;
    }
}

pub fn config(uri: &str, timeout: f64) -> MlflowConfig {
    MlflowConfig {
        tracking_uri: uri.to_string(),
        token: None,
        model_name_template: "{namespace}-{name}".into(),
        champion_alias: "champion".into(),
        challenger_alias: "challenger".into(),
        timeout_seconds: timeout,
    }
}
