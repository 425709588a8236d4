//! Replay at scale: record a long session of a large simulated fleet, then time opening it
//! (the index), seeking to its end cold (from the journal's checkpoints, and by re-running
//! every event), seeking back and forth, and report the peak resident memory. `cargo run --release --example replay_bench -- [HOURS] [MODELS]`
//! (default 24 h of 100 models). The recording goes to a temporary directory.
use pitcrew::domain::IncidentKind;
use pitcrew::policy::autonomy::Phase;
use pitcrew::record::{Act, Session, record};
use pitcrew::replay::{Player, Recording};
use std::sync::Arc;
use std::time::Instant;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<f64>().ok())
            })
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let hours: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(24.0);
    let models: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let path = match std::env::var("KEEP") {
        Ok(p) => std::path::PathBuf::from(p),
        Err(_) => dir.path().join("long.jsonl"),
    };
    let t = Instant::now();
    let script = (0..(hours as usize))
        .map(|h| {
            (
                h as f64 * 3600.0 + 600.0,
                Act::Inject((h * 7) % models, IncidentKind::ALL[h % 6]),
            )
        })
        .collect();
    record(
        &path,
        &Session {
            seed: 3,
            models,
            backfill: 0.0,
            duration: hours * 3600.0,
            phase: Phase::Autonomy,
            user: "bench".into(),
            script,
        },
    )?;
    let size = std::fs::metadata(&path)?.len() as f64 / 1e6;
    println!(
        "recorded {hours} h of {models} models: {size:.0} MB in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let rss0 = peak_rss_mib();
    let t = Instant::now();
    let rec = Arc::new(Recording::open(&path).map_err(std::io::Error::other)?);
    let open = t.elapsed().as_secs_f64();
    println!(
        "open (index of {} events, {} marks, {} checkpoints of the engine in {:.0} MB): {open:.2} s",
        rec.events.len(),
        rec.marks.len(),
        rec.checkpoints.len(),
        rec.checkpoints.iter().map(|c| c.bytes).sum::<u64>() as f64 / 1e6
    );
    let t = Instant::now();
    let mut cold = Player::new(rec.clone()).map_err(std::io::Error::other)?;
    cold.seek_events(usize::MAX);
    let seek = t.elapsed().as_secs_f64();
    println!(
        "cold seek to the end (from the journal's last checkpoint, {} events re-run): {seek:.3} s; open + seek {:.2} s",
        cold.applied(),
        open + seek
    );
    drop(cold);
    let t = Instant::now();
    let mut all = Player::new(rec.clone()).map_err(std::io::Error::other)?;
    all.ignore_journal_checkpoints();
    all.seek_events(usize::MAX);
    println!(
        "for comparison, the same seek re-running every event: {:.2} s",
        t.elapsed().as_secs_f64()
    );
    drop(all);
    let t = Instant::now();
    let cps = Player::scan_checkpoints(rec.clone()).map_err(std::io::Error::other)?;
    println!(
        "background pass taking {} checkpoints (the console does it while you watch): {:.2} s",
        cps.len(),
        t.elapsed().as_secs_f64()
    );
    let mut p = Player::new(rec.clone()).map_err(std::io::Error::other)?;
    p.adopt_checkpoints(cps, f64::INFINITY);
    let t = Instant::now();
    p.seek_events(usize::MAX);
    println!(
        "seek from the start to the end: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    p.seek_events(rec.events.len() / 2);
    println!(
        "seek back to the middle: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    p.seek_events(0);
    println!("to the start: {:.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    p.seek_events(usize::MAX);
    println!(
        "then to the end again: {:.3} s ({} checkpoints)",
        t.elapsed().as_secs_f64(),
        p.checkpoint_count()
    );
    println!(
        "peak RSS: {:.0} MiB after replay (recording alone: {rss0:.0} MiB); journal {size:.0} MB",
        peak_rss_mib()
    );
    Ok(())
}
