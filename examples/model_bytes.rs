//! Where a week-old model's state goes: the resident bytes of one model's history (every
//! signal's rings: 15 minutes of samples, 6 hours of minutes, 24 hours of five minutes and
//! seven days of five-minute demand, without the detectors' band) and of one detector
//! ensemble (the engine holds one per watched signal, five a model), each fed a week and an
//! hour of minute samples with a daily cycle and noise.
//!
//! Measured as the growth of the process's resident size over 2,000 of each (so the
//! allocator's own rounding is counted), beside the ensemble's own count of its bytes.
//! `cargo run --release --example model_bytes` (about a minute). Linux only (reads `/proc`).
mod common;
use pitcrew::detect::Ensemble;
use pitcrew::domain::Signal;
use pitcrew::fleet::{History, Sample};

/// The binary's allocator, so that what is measured is what the agent holds.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 2_000;
const MINUTES: usize = 7 * 1440 + 60;
const T0: f64 = 1_764_000_000.0;

fn resident_bytes() -> f64 {
    common::own_mib("VmRSS:") * 1_048_576.0
}

/// A daily cycle of ±30 % with 3 % noise around `base`.
fn value(rng: &mut pitcrew::rng::Rng, t: f64, base: f32) -> f32 {
    let day = (std::f64::consts::TAU * t / 86_400.0).sin();
    base * (1.0 + 0.3 * day + 0.03 * (rng.f64() - 0.5)) as f32
}

fn main() {
    let mut rng = pitcrew::rng::Rng::new(3);
    let before = resident_bytes();
    let mut histories: Vec<History> = (0..N).map(|_| History::new()).collect();
    let base = [100.0f32, 50.0, 0.002, 0.93, 0.4, 4.0];
    for k in 0..MINUTES {
        let t = T0 + 60.0 * k as f64;
        for h in &mut histories {
            let mut values = base;
            for v in values.iter_mut().take(Signal::Replicas.index()) {
                *v = value(&mut rng, t, *v);
            }
            h.push(t, &Sample { values });
        }
    }
    let history = (resident_bytes() - before) / N as f64;
    let before = resident_bytes();
    let mut ensembles: Vec<Ensemble> = (0..N).map(|_| Ensemble::new()).collect();
    for k in 0..MINUTES {
        let t = T0 + 60.0 * k as f64;
        for e in &mut ensembles {
            e.update(t, f64::from(value(&mut rng, t, 100.0)));
        }
    }
    let ensemble = (resident_bytes() - before) / N as f64;
    println!("a model's state after a week and an hour of minute samples:");
    println!(
        "  history, six signals, without the band: {:.1} KiB",
        history / 1024.0
    );
    println!(
        "  one detector ensemble: {:.1} KiB resident ({:.1} KiB by its own count); five a model: {:.1} KiB",
        ensemble / 1024.0,
        ensembles.first().map_or(0, Ensemble::state_bytes) as f64 / 1024.0,
        5.0 * ensemble / 1024.0
    );
    std::hint::black_box((&histories, &ensembles));
}
