//! Criterion benchmarks of the console's hot paths:
//! - a full Fleet frame with 1,000 (and 10,000) models at 200×50 (target < 2 ms);
//! - one engine tick of the simulated fleet with 10,000 models (target < 20 ms), and the
//!   engine's own share of it, without the simulated world's step (the agent's, target < 5 ms
//!   as a median tick: `examples/engine_ticks.rs` gives tick by tick what this gives as a mean).
//!
//! They allocate with the binary's allocator (mimalloc), so that what is timed is what the
//! console and the agent run.

use criterion::{Criterion, criterion_group, criterion_main};
use pitcrew::engine::EngineConfig;
use pitcrew::harness::{drive, start};
use pitcrew::sources::sim::step_events;
use pitcrew::tui::keymap::Keymap;
use pitcrew::tui::state::{Capabilities, Ui};
use pitcrew::tui::theme::{ColorMode, Theme};
use pitcrew::tui::views::{Ctx, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;

const T0: f64 = 1_764_000_000.0;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn fleet_frame(c: &mut Criterion) {
    let theme = Theme::load("default", &[], ColorMode::TrueColor).expect("theme");
    let keymap = Keymap::load("default", &[]).expect("keymap");
    for n in [1_000usize, 10_000] {
        let (mut world, mut engine) = start(1, n, T0, EngineConfig::default());
        // 40 minutes of history so sparklines are full
        drive(&mut world, &mut engine, 480);
        let snap = engine.snapshot(None, 1000);
        let mut ui = Ui::new(false, false, Capabilities::SIMULATED, "bench".into());
        let mut term = Terminal::new(TestBackend::new(200, 50)).expect("terminal");
        let ctx = Ctx {
            snap: &snap,
            theme: &theme,
            keymap: &keymap,
        };
        // a frame as the console draws it for a new snapshot: the sort/filter of every row is
        // recomputed (the snapshot is new), only visible rows are built
        c.bench_function(&format!("fleet_frame_{n}_models_200x50"), |b| {
            b.iter(|| {
                ui.invalidate();
                term.draw(|f| draw(f, &mut ui, &ctx)).expect("draw");
                black_box(term.backend().buffer().area);
            })
        });
    }
}

fn engine_tick(c: &mut Criterion) {
    let n = 10_000;
    let (mut world, mut engine) = start(2, n, T0, EngineConfig::default());
    drive(&mut world, &mut engine, 120);
    c.bench_function("engine_tick_10000_models", |b| {
        b.iter(|| {
            for ev in step_events(&mut world) {
                black_box(engine.apply(ev));
            }
        })
    });
    // the engine's own share of a tick (what an agent's engine task does with the events a
    // source sends): the simulated world's steps made beforehand, applied in turn
    // (in chunks, so that the steps waiting are bounded; only the applying is timed)
    c.bench_function("engine_apply_10000_models", |b| {
        b.iter_custom(|iters| {
            let mut took = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(50);
                let steps: Vec<Vec<_>> = (0..k).map(|_| step_events(&mut world)).collect();
                let t = std::time::Instant::now();
                for step in steps {
                    for ev in step {
                        black_box(engine.apply(ev));
                    }
                }
                took += t.elapsed();
                left -= k;
            }
            took
        })
    });
    c.bench_function("engine_snapshot_10000_models", |b| {
        b.iter(|| black_box(engine.snapshot(Some("search/ranker-bert"), 1000)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = fleet_frame, engine_tick
}
criterion_main!(benches);
