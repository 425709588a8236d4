//! The team agent at scale, as it is deployed: the release binary's `pitcrew agent` on a
//! simulated fleet of MODELS models, its journal written as usual, sampled once a second for
//! SECONDS. Prints how long its models took to be listed on `/metrics`, its steady resident
//! memory (the median of the second half of the samples) and its peak (the kernel's high-water
//! mark, `VmHWM`), beside the targets of issue 18 (at 10,000 models: listed within 30 s,
//! 600 MiB steady, 1 GiB peak).
//!
//! `cargo build --release && cargo run --release --example agent_rss -- [MODELS] [SECONDS]`
//! (default 10,000 models, 180 s). Linux only (reads `/proc`).
mod common;
use common::status_kib;
use std::io::{BufRead, BufReader, Read, Write};
use std::time::{Duration, Instant};

/// The models `/metrics` lists (its `mlops_model_status` lines), or `None` when it does not answer.
fn listed(addr: &str) -> Option<usize> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("mlops_model_status{"))
            .count(),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let models: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(180);
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/pitcrew");
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: run `cargo build --release` first",
            bin.display()
        )
        .into());
    }
    let dirs = tempfile::tempdir()?;
    let start = Instant::now();
    let mut child = std::process::Command::new(&bin)
        .args(["agent", "--listen", "127.0.0.1:0", "--models"])
        .arg(models.to_string())
        .env("PITCREW_DATA", dirs.path().join("data"))
        .env("PITCREW_CONFIG", dirs.path().join("config"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let pid = child.id();
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let addr = line
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .ok_or_else(|| format!("no address in {line:?}"))?
        .to_string();
    let mut all_listed: Option<f64> = None;
    let mut samples = Vec::new();
    while start.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(kib) = status_kib(pid, "VmRSS:") {
            samples.push(kib / 1024.0);
        }
        if all_listed.is_none() && listed(&addr).is_some_and(|n| n >= models) {
            all_listed = Some(start.elapsed().as_secs_f64());
        }
    }
    let peak = status_kib(pid, "VmHWM:").map_or(f64::NAN, |k| k / 1024.0);
    let _ = child.kill();
    let _ = child.wait();
    let mut steady: Vec<f64> = samples[samples.len() / 2..].to_vec();
    steady.sort_by(f64::total_cmp);
    let median = steady.get(steady.len() / 2).copied().unwrap_or(f64::NAN);
    println!("pitcrew agent, {models} simulated models, {seconds} s");
    match all_listed {
        Some(t) => {
            println!("  every model on /metrics after {t:.0} s (target at 10,000: within 30 s)")
        }
        None => println!(
            "  not every model on /metrics within {seconds} s (target at 10,000: within 30 s)"
        ),
    }
    println!(
        "  resident memory, steady (median of the second half): {median:.0} MiB (target < 600 MiB)"
    );
    println!("  resident memory, peak (VmHWM): {peak:.0} MiB (target < 1,024 MiB)");
    Ok(())
}
