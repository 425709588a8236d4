//! Bytes written to the terminal per second at steady state: 1,000 models, 200×50, 1 Hz
//! refresh, the simulated fleet at real time (a sample every 5 s, the clock every second).
//! Target: under 4 KB/s, what a slow SSH link carries. Prints the figure; run with
//! `cargo bench --bench terminal_bytes`.

use pitcrew::engine::{EngineConfig, Event};
use pitcrew::harness::{drive, start};
use pitcrew::sim::SIM_STEP;
use pitcrew::sources::sim::step_events;
use pitcrew::tui::keymap::Keymap;
use pitcrew::tui::state::{Capabilities, Ui, View};
use pitcrew::tui::terminal::TermWriter;
use pitcrew::tui::theme::{ColorMode, Theme};
use pitcrew::tui::views::{Ctx, draw};
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<u64>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        *self.0.lock().expect("lock") += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn measure(view: View, mode: ColorMode, theme_name: &str) -> (f64, u64) {
    let t0 = 1_764_000_000.0;
    let (mut world, mut engine) = start(3, 1000, t0, EngineConfig::default());
    drive(&mut world, &mut engine, 480);
    let theme = Theme::load(theme_name, &[], mode).expect("theme");
    let keymap = Keymap::load("default", &[]).expect("keymap");
    let sink = Sink::default();
    let backend = CrosstermBackend::new(TermWriter::new(sink.clone(), mode == ColorMode::None));
    let mut term = Terminal::with_options(
        backend,
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 200, 50)),
        },
    )
    .expect("terminal");
    let mut ui = Ui::new(false, false, Capabilities::SIMULATED, "bench".into());
    ui.view = view;
    let warmup = 10;
    let seconds = 300;
    let mut at_warm = 0;
    let start_t = world.time();
    for sec in 0..(warmup + seconds) {
        let now = start_t + f64::from(sec);
        while world.time() + SIM_STEP <= now + 1e-9 {
            for ev in step_events(&mut world) {
                engine.apply(ev);
            }
        }
        engine.apply(Event::Clock { t: now });
        let focus = ui.selected.clone();
        let snap = engine.snapshot(focus.as_deref(), 1000);
        let ctx = Ctx {
            snap: &snap,
            theme: &theme,
            keymap: &keymap,
        };
        term.draw(|f| draw(f, &mut ui, &ctx)).expect("draw");
        if sec + 1 == warmup {
            at_warm = *sink.0.lock().expect("lock");
        }
    }
    let total = *sink.0.lock().expect("lock");
    ((total - at_warm) as f64 / f64::from(seconds), at_warm)
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse
    println!("terminal bytes per second, 1,000 models, 200x50, 1 Hz refresh, 300 s steady state");
    println!("target: < 4096 B/s");
    for (view, mode, theme) in [
        (View::Fleet, ColorMode::TrueColor, "default"),
        (View::Fleet, ColorMode::Ansi16, "default"),
        (View::Fleet, ColorMode::None, "default"),
        (View::Detail, ColorMode::TrueColor, "default"),
        (View::Events, ColorMode::TrueColor, "default"),
    ] {
        let (bps, first) = measure(view, mode, theme);
        println!(
            "{:<7} {:<9} {:>8.0} B/s   (first frames: {} B)",
            view.title(),
            mode.name(),
            bps,
            first
        );
    }
}
