//! A real Prometheus for the tests (Debian's `prometheus` package, installed by
//! `scripts/test` / `scripts/setup-prometheus.sh`) started on a free loopback port. A missing
//! `prometheus` or `promtool` fails the test, always: CI must install them.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary from `$env` or PATH; panics (never skips) when it is missing.
pub fn find_bin(name: &str, env: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env)
        && !p.is_empty()
    {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "${env} = {} is not a file: point it at the binary or unset it and run scripts/setup-prometheus.sh (or scripts/test)",
            p.display()
        );
        return p;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let c = dir.join(name);
        if c.is_file() {
            return c;
        }
    }
    panic!(
        "`{name}` is not on PATH (nor in ${env}): run scripts/setup-prometheus.sh \
         (or scripts/test) to install Debian's prometheus package; \
         this test never skips"
    );
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A Prometheus server of ours on a loopback port, its TSDB and config in `dir`.
pub struct Prom {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub port: u16,
    pub child: Option<Child>,
    pub starts: u32,
    /// `--storage.tsdb.retention.time` (old backfilled data needs a long one).
    pub retention: &'static str,
}

impl Prom {
    pub fn start(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.dir.join(format!("prometheus-{}.log", self.starts)))
            .unwrap();
        let child = Command::new(&self.bin)
            .arg(format!(
                "--config.file={}",
                self.dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .arg(format!("--storage.tsdb.retention.time={}", self.retention))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(&self.dir).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("prometheus-") {
                out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        out
    }

    pub async fn wait_ready(&mut self) {
        let url = format!("http://127.0.0.1:{}/-/ready", self.port);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(60) {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "prometheus exited ({st}) before it was ready:\n{}",
                    self.logs()
                );
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "prometheus not ready at {url} within 60 s:\n{}",
            self.logs()
        );
    }
}

impl Drop for Prom {
    fn drop(&mut self) {
        self.kill();
    }
}
