//! Helpers shared by the integration tests that drive the real binary.
#![allow(dead_code)]

pub mod control;
pub mod fake_kube;
pub mod fake_osv;
pub mod fake_prom;
pub mod mlflow;
pub mod prom;
pub mod pty;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared/data` beside the repository; the tests fail (not skip) without it.
pub fn shared_data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        p.join("nab-dev/windows.json").exists() && p.join("traces/ETTh1.csv").exists(),
        "../shared/data is required beside the repository"
    );
    p
}

/// `../shared` beside the repository.
pub fn shared() -> PathBuf {
    shared_data().join("..")
}

/// The pitcrew binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pitcrew"))
}

/// A plain HTTP/1.0 GET on loopback: (status code, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (code, body)
}

/// Start `pitcrew agent ARGS` with its stdout piped; returns the child and the address it
/// says it serves on (its first line of output).
pub fn spawn_agent(cmd: &mut Command) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the agent");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read the first line");
    let addr = line
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr)
}

/// SIGTERM the child and wait (at most 10 s) for it to exit.
pub fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("kill");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the process did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
