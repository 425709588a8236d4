//! Resident memory of the console at scale, as an operator runs it: the release binary in a
//! pseudo-terminal (120×40) on a simulated fleet of MODELS models, its journal written as
//! usual, sampled once a second for SECONDS. Prints the steady figure (the median of the
//! second half of the samples) and the peak (the kernel's high-water mark, `VmHWM`) beside the
//! targets of issue 14 (800 MiB steady, 1.2 GiB peak at 10,000 models).
//!
//! `cargo build --release && cargo run --release --example console_rss -- [MODELS] [SECONDS] [--trace]`
//! (default 10,000 models, 120 s; `--trace` prints every sample to stderr). Linux only (reads `/proc`).
mod common;
use common::status_kib;
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use std::io::Read;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let models: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(120);
    let trace = args.iter().any(|a| a == "--trace");
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/pitcrew");
    if !bin.is_file() {
        return Err(format!(
            "{} is missing: run `cargo build --release` first",
            bin.display()
        )
        .into());
    }
    let dirs = tempfile::tempdir()?;
    let pair = native_pty_system().openpty(PtySize {
        rows: 40,
        cols: 120,
        pixel_width: 0,
        pixel_height: 0,
    })?;
    let mut cmd = CommandBuilder::new(&bin);
    cmd.args(["--models", &models.to_string(), "--speed", "10"]);
    cmd.env("TERM", "xterm-256color");
    cmd.env("PITCREW_CONFIG", dirs.path().join("config"));
    cmd.env("PITCREW_DATA", dirs.path().join("data"));
    let mut child = pair.slave.spawn_command(cmd)?;
    drop(pair.slave);
    // drain the screen so the console never blocks on a full pty
    let mut reader = pair.master.try_clone_reader()?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let pid = child.process_id().ok_or("no pid")?;
    let t0 = Instant::now();
    let mut samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        if let Some(kib) = status_kib(pid, "VmRSS:") {
            samples.push(kib / 1024.0);
            if trace {
                eprintln!("{:>4} s {:>6.0} MiB", t0.elapsed().as_secs(), kib / 1024.0);
            }
        }
    }
    let peak = status_kib(pid, "VmHWM:").map_or(f64::NAN, |k| k / 1024.0);
    let _ = child.kill();
    let _ = child.wait();
    let mut tail: Vec<f64> = samples[samples.len() / 2..].to_vec();
    tail.sort_by(f64::total_cmp);
    let steady = tail.get(tail.len() / 2).copied().unwrap_or(f64::NAN);
    println!("console at {models} simulated models, {seconds} s in a 120x40 pty:");
    println!("  steady RSS {steady:.0} MiB (target at 10,000 models: <= 800 MiB)");
    println!("  peak RSS   {peak:.0} MiB (target at 10,000 models: <= 1229 MiB)");
    Ok(())
}
