//! Resident memory of the engine's state when every history is full, which the console's own
//! measurement (`console_rss`, two minutes after start) cannot show: a model's histories, its
//! detectors' seasonal profiles and its demand record grow for seven days before they are
//! full. This feeds an engine of MODELS simulated models a sample a minute for seven days and
//! an hour (every ring, profile and demand record then holds all it can), without a terminal,
//! and prints:
//! - the resident memory of the process holding that engine (its state at its largest);
//! - the process's high-water mark over the whole run, which ends with a checkpoint encoded
//!   as the console does (a clone handed to the encoder while the engine goes on taking
//!   samples: ten minutes of them, faster than a console would, so more chunks are copied
//!   than in a console), and the size of that checkpoint's text.
//!
//! `cargo run --release --example state_rss -- [MODELS]` (default 10,000; about two and a
//! half minutes at 1,000 models and sixteen at 10,000 on this project's machine). Linux only
//! (reads `/proc`).
mod common;
use pitcrew::domain::Signal;
use pitcrew::engine::{Event, SourceKind, SourceState, SourceStatus};
use pitcrew::fleet::Sample;
use pitcrew::harness::start;
use std::time::Instant;

/// The binary's allocator, so that what is measured is what the console would hold.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let models: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let t0 = 1_764_000_000.0;
    let (mut world, mut engine) = start(7, models, t0, pitcrew::engine::EngineConfig::default());
    // one sample a minute: the source says so, so nothing is judged stale
    engine.apply(Event::Source {
        t: t0,
        status: SourceStatus {
            kind: SourceKind::Simulated,
            label: "state_rss".into(),
            state: SourceState::Live,
            speed: 1.0,
            step: 60.0,
        },
    });
    let base = world.step();
    let mut rng = pitcrew::rng::Rng::new(11);
    let minutes = 7 * 1440 + 60;
    let started = Instant::now();
    let mut feed = |engine: &mut pitcrew::engine::Engine, m: usize| {
        let t = t0 + 60.0 * m as f64;
        let day = (std::f64::consts::TAU * m as f64 / 1440.0).sin();
        let samples = base
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut v = s.values;
                for sig in [Signal::RequestRate, Signal::LatencyP95, Signal::Cpu] {
                    let k = sig.index();
                    v[k] *= (1.0 + 0.3 * day + 0.03 * (rng.f64() - 0.5)) as f32;
                }
                v[Signal::ErrorRate.index()] *= (1.0 + 0.2 * (rng.f64() - 0.5)) as f32;
                v[Signal::Accuracy.index()] += (0.004 * (rng.f64() - 0.5)) as f32;
                (i as u32, Sample { values: v })
            })
            .collect();
        engine.apply(Event::Observations { t, samples });
    };
    for m in 1..=minutes {
        feed(&mut engine, m);
    }
    let full = common::own_mib("VmRSS:");
    let fed = started.elapsed().as_secs_f64();
    // a checkpoint as the console takes one: a clone goes to another thread to be encoded
    // while the engine takes the next samples
    let copy = engine.clone();
    let encoder = std::thread::spawn(move || {
        // spooled in the working directory, on disk (a tmpfs would hold it in memory that
        // the process's own high-water mark does not show)
        pitcrew::journal::encode_state(&copy, std::path::Path::new("."))
            .map(|s| (s.len, s.text.len() as usize))
    });
    for m in minutes + 1..=minutes + 10 {
        feed(&mut engine, m);
    }
    let len = encoder.join().ok().and_then(Result::ok);
    let peak = common::own_mib("VmHWM:");
    println!(
        "engine state at {models} models with every history full (7 days + 1 h of minute \
         samples, fed in {fed:.0} s):"
    );
    println!(
        "  resident {full:.0} MiB ({:.1} KiB a model)",
        full * 1024.0 / models as f64
    );
    let mib =
        |b: Option<usize>| b.map_or("?".to_string(), |b| format!("{:.0}", b as f64 / 1048576.0));
    println!(
        "  peak over the run, a checkpoint encoded at its end: {peak:.0} MiB (state {} MiB \
         before compression; the encoded record's text, spooled to a file until written, {} MiB)",
        mib(len.map(|l| l.0 as usize)),
        mib(len.map(|l| l.1)),
    );
}
