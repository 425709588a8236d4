//! The agent's control API over TLS (rustls, from certificate files): a console that trusts
//! the agent's CA attaches; one that trusts another CA, or only the system's, fails the
//! handshake and says so; and the agent refuses to take tokens over plain HTTP on an address
//! other than loopback unless told to.

mod common;

use pitcrew::clients::agent::{AgentClient, AgentError};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls")
        .join(name)
}

fn tokens(dir: &Path, token: &str) -> PathBuf {
    let p = dir.join("tokens.toml");
    std::fs::write(
        &p,
        format!(
            "[[tokens]]\nuser = \"tess\"\nrole = \"viewer\"\nsha256 = \"{}\"\n",
            pitcrew::control::auth::token_hash(token)
        ),
    )
    .expect("tokens");
    p
}

#[test]
fn a_console_attaches_over_tls_with_the_agents_ca_and_fails_with_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = "tls-test-token";
    let mut cmd = common::bin();
    cmd.args([
        "agent",
        "--listen",
        "127.0.0.1:0",
        "--models",
        "3",
        "--tokens",
    ])
    .arg(tokens(dir.path(), token))
    .arg("--tls-cert")
    .arg(fixture("agent.pem"))
    .arg("--tls-key")
    .arg(fixture("agent.key"))
    .env("PITCREW_DATA", dir.path().join("data"))
    .env("PITCREW_CONFIG", dir.path().join("config"));
    let (mut agent, addr) = common::spawn_agent(&mut cmd);
    let port = addr.rsplit(':').next().expect("port");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ca = std::fs::read(fixture("ca.pem")).expect("ca");
    let other = std::fs::read(fixture("other-ca.pem")).expect("other ca");
    rt.block_on(async {
        // the right CA: the stream opens and its first frame (the hello) arrives
        let url = format!("https://localhost:{port}");
        let good = AgentClient::new(&url, Some(token.into()), Some(&ca)).expect("client");
        let mut deadline = 60;
        let mut r = loop {
            match good.stream().await {
                Ok(r) => break r,
                // the agent answers 503 until its engine has made the first base
                Err(e) if e.transient() && deadline > 0 => {
                    deadline -= 1;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
                Err(e) => panic!("with the agent's CA: {e}"),
            }
        };
        let first = r.chunk().await.expect("a chunk").expect("bytes");
        assert!(first.len() > 5, "the hello frame");
        // another CA: the handshake fails, and the console says it is the certificate
        for (what, client) in [
            (
                "another CA",
                AgentClient::new(&url, Some(token.into()), Some(&other)).expect("client"),
            ),
            (
                "the system's roots",
                AgentClient::new(&url, Some(token.into()), None).expect("client"),
            ),
        ] {
            match client.stream().await {
                Err(AgentError::Unreachable { why, .. }) => {
                    assert!(why.to_lowercase().contains("certificate"), "{what}: {why}");
                    assert!(!why.contains(token), "{what}: the token in {why}");
                }
                Ok(_) => panic!("{what}: the handshake succeeded"),
                Err(e) => panic!("{what}: {e}"),
            }
        }
        // plain HTTP to the TLS port is not answered as HTTP
        let plain = AgentClient::new(
            &format!("http://127.0.0.1:{port}"),
            Some(token.into()),
            None,
        )
        .expect("client");
        assert!(plain.stream().await.is_err());
    });
    assert!(common::terminate(&mut agent).success());
}

#[test]
fn the_agent_refuses_tokens_over_plain_http_off_loopback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::bin()
        .args(["agent", "--listen", "0.0.0.0:0", "--tokens"])
        .arg(tokens(dir.path(), "x"))
        .env("PITCREW_DATA", dir.path().join("data"))
        .env("PITCREW_CONFIG", dir.path().join("config"))
        .output()
        .expect("agent");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain HTTP") && err.contains("--tls-cert"),
        "{err}"
    );
}
