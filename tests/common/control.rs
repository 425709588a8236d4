//! The control API as a client sees it: plain HTTP/1.0 requests with a bearer token, and what
//! an agent's `/metrics` says.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `pitcrew agent` on the loopback `port` with the tokens file `tokens`, its journal and
/// settings under `dir` (`dir/data`, `dir/config`): the caller adds the fleet it runs.
/// A config that turns patches off (no patch at once): for the tests that follow an
/// incident's remediation on the simulated fleet, whose real findings would otherwise get
/// patch proposals too.
pub const NO_PATCHES: &str = "[guardrails]\nmax_patches_at_once = 0\n";

/// [`agent_command`] with [`NO_PATCHES`] as its `config.toml`.
pub fn agent_command_without_patches(port: u16, tokens: &Path, dir: &Path) -> Command {
    std::fs::create_dir_all(dir.join("config")).expect("config dir");
    std::fs::write(dir.join("config/config.toml"), NO_PATCHES).expect("config");
    agent_command(port, tokens, dir)
}

pub fn agent_command(port: u16, tokens: &Path, dir: &Path) -> Command {
    let mut cmd = super::bin();
    cmd.args([
        "agent",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--tokens",
    ])
    .arg(tokens)
    .env("PITCREW_DATA", dir.join("data"))
    .env("PITCREW_CONFIG", dir.join("config"));
    cmd
}

/// A plain HTTP/1.0 request on loopback with an optional bearer token: (status, body).
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        code,
        text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string(),
    )
}

pub fn command(addr: &str, token: &str, id: &str, cmd: &str) -> (u16, String) {
    let body = format!(r#"{{"id":"{id}","command":{cmd}}}"#);
    request(addr, "POST", "/v1/commands", Some(token), body.as_bytes())
}

/// Everything under `dir`, as text (for looking for a token).
pub fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push_str(&all_text(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&b));
            }
        }
    }
    out
}

/// Wait until `/metrics` says `line`.
pub fn wait_metric(addr: &str, line: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, body) = super::http_get(addr, "/metrics");
        if body.lines().any(|l| l.starts_with(line)) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no '{line}' within {secs} s:\n{body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The models `/metrics` lists, as `namespace/name`, in its order.
pub fn models_on(body: &str) -> Vec<String> {
    body.lines()
        // (the status is on /metrics for every model from the start; accuracy waits for labels)
        .filter_map(|l| l.strip_prefix("mlops_model_status{namespace=\""))
        .filter_map(|r| {
            let (ns, rest) = r.split_once("\",model=\"")?;
            Some(format!("{ns}/{}", rest.split('"').next()?))
        })
        .collect()
}

/// The first model `/metrics` lists, as `namespace/name`.
pub fn first_model(body: &str) -> String {
    models_on(body)
        .into_iter()
        .next()
        .expect("a model on /metrics")
}

/// `replay --verify JOURNAL` says it re-runs identically; what `replay --summary` says of it.
pub fn verified_summary(journal: &Path) -> String {
    let verify = super::bin()
        .args(["replay", "--verify"])
        .arg(journal)
        .output()
        .expect("verify");
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && out.contains("identical"),
        "{}: {out}",
        journal.display()
    );
    let summary = super::bin()
        .args(["replay", "--summary"])
        .arg(journal)
        .output()
        .expect("summary");
    String::from_utf8_lossy(&summary.stdout).into_owned()
}
