//! The engine's share of each tick at 10,000 simulated models (what an agent's engine task
//! does with one step of the source's events), tick by tick: the distribution the agent's
//! target is stated on (median < 5 ms), with the mean and the slow tail, where the work done
//! once a minute (the detectors, which judge one-minute means; the creep check) lands.
//!
//! `cargo run --release --example engine_ticks -- [MODELS] [TICKS]` (defaults 10,000 and
//! 720: an hour of 5-second steps after ten minutes of warm-up). The simulated world's step
//! is made before each tick and not timed.
use pitcrew::engine::EngineConfig;
use pitcrew::harness::{drive, start};
use pitcrew::sources::sim::step_events;
use std::time::Instant;

/// The binary's allocator, so that what is measured is what the agent runs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let models: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let ticks: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(720);
    let (mut world, mut engine) = start(2, models, 1_764_000_000.0, EngineConfig::default());
    drive(&mut world, &mut engine, 120);
    let mut took: Vec<f64> = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let step = step_events(&mut world);
        let t = Instant::now();
        for ev in step {
            std::hint::black_box(engine.apply(ev));
        }
        took.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mean = took.iter().sum::<f64>() / took.len().max(1) as f64;
    took.sort_by(f64::total_cmp);
    let q = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize];
    println!(
        "engine share of a tick at {models} models over {ticks} ticks: median {:.2} ms \
         (target < 5 ms), p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {mean:.2} ms",
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
}
