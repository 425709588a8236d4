//! False alarms on a quiet simulated fleet: incidents opened per model-day after a day of
//! warm-up, with no incident injected. `cargo run --release --example quiet_fleet`.
use pitcrew::engine::EngineConfig;
use pitcrew::harness::{drive, start};

fn main() {
    let models = 15;
    let days = 3;
    let mut total = 0usize;
    for seed in [1u64, 2, 3] {
        let (mut world, mut engine) = start(seed, models, 1_764_000_000.0, EngineConfig::default());
        drive(&mut world, &mut engine, 17_280);
        let warm = world.time();
        drive(&mut world, &mut engine, 17_280 * days);
        let snap = engine.snapshot(None, 0);
        let fp: Vec<_> = snap.incidents.iter().filter(|i| i.opened >= warm).collect();
        for i in &fp {
            println!(
                "seed {seed}: #{} {} at +{:.1} h for {:.0} min: {}",
                i.id,
                i.key,
                (i.onset - warm) / 3600.0,
                i.duration(snap.t) / 60.0,
                i.top()
                    .map(|h| format!("{} {:?}", h.cause.name(), h.evidence))
                    .unwrap_or_default()
            );
        }
        total += fp.len();
    }
    let model_days = (3 * models * days) as f64;
    println!(
        "{total} incidents in {model_days} quiet model-days: {:.3} per model-day",
        total as f64 / model_days
    );
}
