//! Snapshot tests of every screen at 80×24 and 200×50 on ratatui's `TestBackend`.

use pitcrew::engine::{EngineConfig, Snapshot};
use pitcrew::sim::IncidentKind;
use pitcrew::sources::sim::{drive, start};
use pitcrew::tui::keymap::{Action, Keymap};
use pitcrew::tui::state::{Capabilities, Ui, View};
use pitcrew::tui::theme::{ColorMode, Theme};
use pitcrew::tui::views::{Ctx, draw};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const T0: f64 = 1_764_000_000.0; // 2025-11-24 16:00:00 UTC

fn snapshot(focus: Option<&str>, read_only: bool) -> Snapshot {
    let (mut world, mut engine) = start(
        7,
        15,
        T0,
        EngineConfig {
            read_only,
            ..EngineConfig::default()
        },
    );
    // two hours of history, then a latency spike and a bad deploy
    drive(&mut world, &mut engine, 1440);
    world.inject(1, IncidentKind::LatencySpike);
    world.inject(4, IncidentKind::BadDeploy);
    drive(&mut world, &mut engine, 180);
    engine.snapshot(focus, 1000)
}

fn ui() -> Ui {
    Ui::new(
        false,
        false,
        Capabilities {
            clock_control: true,
            inject: true,
            replay: false,
        },
        "tester".into(),
    )
}

fn render(ui: &mut Ui, snap: &Snapshot, w: u16, h: u16, ascii: bool) -> String {
    let theme = Theme::load("default", &[], ColorMode::TrueColor).expect("theme");
    let keymap = Keymap::load("default", &[]).expect("keymap");
    ui.ascii = ascii;
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let ctx = Ctx {
        snap,
        theme: &theme,
        keymap: &keymap,
    };
    // twice: the first frame picks the selection and page size, as in the console
    term.draw(|f| draw(f, ui, &ctx)).expect("draw");
    term.draw(|f| draw(f, ui, &ctx)).expect("draw");
    format!("{}", term.backend())
}

fn screen(view: View, w: u16, h: u16) -> String {
    let focus = "search/ranker-bert";
    let snap = snapshot(Some(focus), false);
    let mut ui = ui();
    ui.selected = Some(focus.to_string());
    ui.view = view;
    render(&mut ui, &snap, w, h, false)
}

#[test]
fn fleet_80x24() {
    insta::assert_snapshot!(screen(View::Fleet, 80, 24));
}

#[test]
fn fleet_200x50() {
    insta::assert_snapshot!(screen(View::Fleet, 200, 50));
}

#[test]
fn detail_80x24() {
    insta::assert_snapshot!(screen(View::Detail, 80, 24));
}

#[test]
fn detail_200x50() {
    insta::assert_snapshot!(screen(View::Detail, 200, 50));
}

#[test]
fn events_80x24() {
    insta::assert_snapshot!(screen(View::Events, 80, 24));
}

#[test]
fn events_200x50() {
    insta::assert_snapshot!(screen(View::Events, 200, 50));
}

fn help(w: u16, h: u16) -> String {
    let snap = snapshot(None, false);
    let mut ui = ui();
    ui.on_action(Action::Help, &snap);
    assert!(ui.help);
    render(&mut ui, &snap, w, h, false)
}

#[test]
fn help_80x24() {
    insta::assert_snapshot!(help(80, 24));
}

#[test]
fn help_200x50() {
    insta::assert_snapshot!(help(200, 50));
}

#[test]
fn fleet_ascii_read_only_80x24() {
    let snap = snapshot(None, true);
    let mut ui = ui();
    let out = render(&mut ui, &snap, 80, 24, true);
    // pure ASCII apart from the frame of the table, and the badge is there
    assert!(out.contains("READ-ONLY"));
    assert!(out.is_ascii(), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn phase_dialog_and_read_only_refusal() {
    let snap = snapshot(None, false);
    let mut ui = ui();
    ui.on_action(Action::SetPhase, &snap);
    let out = render(&mut ui, &snap, 80, 24, false);
    assert!(out.contains("Autonomy phase"), "{out}");
    insta::assert_snapshot!(out);

    let ro = snapshot(None, true);
    let mut ui = self::ui();
    let outs = ui.on_action(Action::SetPhase, &ro);
    assert!(outs.is_empty());
    assert!(ui.dialog.is_none());
    assert!(ui.flash.as_deref().unwrap_or("").contains("read-only"));
}

#[test]
fn every_size_from_tiny_to_huge_draws_without_panic() {
    let snap = snapshot(Some("search/ranker-bert"), false);
    for view in View::ALL {
        for (w, h) in [
            (1, 1),
            (10, 3),
            (20, 5),
            (40, 10),
            (80, 24),
            (81, 25),
            (120, 30),
            (300, 90),
        ] {
            let mut ui = ui();
            ui.view = view;
            ui.selected = Some("search/ranker-bert".into());
            render(&mut ui, &snap, w, h, false);
            ui.help = true;
            let out = render(&mut ui, &snap, w, h, true);
            assert!(out.is_ascii());
        }
    }
}

#[test]
fn incidents_80x24() {
    let out = screen(View::Incidents, 80, 24);
    assert!(out.contains("ranker-bert"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn incidents_200x50() {
    insta::assert_snapshot!(screen(View::Incidents, 200, 50));
}

fn forecast_screen(w: u16, h: u16) -> String {
    let (mut world, mut engine) = start(
        7,
        15,
        T0,
        EngineConfig {
            replica_budget: Some(150),
            ..EngineConfig::default()
        },
    );
    // two days and a bit: enough for the daily period to be found
    drive(&mut world, &mut engine, 37_000);
    let focus = "search/ranker-bert";
    let snap = engine.snapshot(Some(focus), 1000);
    let mut ui = ui();
    ui.selected = Some(focus.to_string());
    ui.view = View::Forecast;
    render(&mut ui, &snap, w, h, false)
}

#[test]
fn forecast_80x24_and_200x50() {
    let small = forecast_screen(80, 24);
    assert!(small.contains("next planned scale"), "{small}");
    insta::assert_snapshot!("forecast_80x24", small);
    let big = forecast_screen(200, 50);
    assert!(big.contains("fleet budget 150 replicas"), "{big}");
    insta::assert_snapshot!("forecast_200x50", big);
}

/// A fleet in the Augmentation phase with a pending proposal, and one approved, executed and
/// verified earlier.
fn remediation_snapshot() -> Snapshot {
    use pitcrew::autonomy::Phase;
    use pitcrew::engine::{Command, Event};
    let (mut world, mut engine) = start(
        7,
        15,
        T0,
        EngineConfig {
            phase: Phase::Augmentation,
            actuator: Some("simulated fleet".into()),
            ..EngineConfig::default()
        },
    );
    drive(&mut world, &mut engine, 1440);
    world.inject(6, IncidentKind::ErrorBurst);
    drive(&mut world, &mut engine, 60);
    let id = engine
        .remediations()
        .next()
        .expect("a proposal for the error burst")
        .id;
    let mut log = Vec::new();
    let fx = engine.apply(Event::Command {
        t: world.time(),
        user: "tester".into(),
        command: Command::Approve { id },
    });
    pitcrew::remediate::backtest::route(&mut engine, &mut world, fx, &mut log);
    for _ in 0..120 {
        for ev in pitcrew::sources::sim::step_events(&mut world) {
            let fx = engine.apply(ev);
            pitcrew::remediate::backtest::route(&mut engine, &mut world, fx, &mut log);
        }
    }
    world.inject(1, IncidentKind::LatencySpike);
    drive(&mut world, &mut engine, 60);
    engine.snapshot(None, 1000)
}

#[test]
fn remediations_80x24_and_200x50() {
    let snap = remediation_snapshot();
    let mut ui = ui();
    ui.view = View::Remediations;
    let small = render(&mut ui, &snap, 80, 24, false);
    assert!(small.contains("PENDING"), "{small}");
    assert!(small.contains("succeeded"), "{small}");
    insta::assert_snapshot!("remediations_80x24", small);
    insta::assert_snapshot!(
        "remediations_200x50",
        render(&mut ui, &snap, 200, 50, false)
    );
    ui.on_action(Action::Select, &snap);
    let why = render(&mut ui, &snap, 80, 24, false);
    assert!(why.contains("Why R"), "{why}");
    insta::assert_snapshot!("remediation_explanation_80x24", why);
}

#[test]
fn audit_80x24() {
    let snap = remediation_snapshot();
    let mut ui = ui();
    ui.view = View::Audit;
    let out = render(&mut ui, &snap, 80, 24, false);
    assert!(out.contains("tester") && out.contains("approve"), "{out}");
    insta::assert_snapshot!("audit_80x24", out);
}

#[test]
fn approve_veto_and_automate_ask_first() {
    use pitcrew::engine::Command;
    use pitcrew::tui::state::{Dialog, Out};
    let snap = remediation_snapshot();
    let mut ui = ui();
    // elsewhere than the Remediations screen, the keys explain where to go
    ui.on_action(Action::Approve, &snap);
    assert!(ui.flash.as_deref().unwrap_or("").contains("Remediations"));
    ui.view = View::Remediations;
    assert!(ui.on_action(Action::Approve, &snap).is_empty());
    assert!(matches!(
        ui.dialog,
        Some(Dialog::Confirm {
            command: Command::Approve { .. },
            ..
        })
    ));
    ui.dialog = None;
    ui.on_action(Action::Automate, &snap);
    assert!(matches!(
        ui.dialog,
        Some(Dialog::Confirm {
            command: Command::SetClassMode { .. },
            ..
        })
    ));
    ui.dialog = None;
    ui.on_action(Action::Veto, &snap);
    let enter = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter);
    // no reason: refused, the dialog stays
    assert_eq!(ui.on_key_text(&enter, &snap), Some(vec![]));
    assert!(ui.dialog.is_some());
    let type_text = |ui: &mut Ui, text: &str| {
        for c in text.chars() {
            ui.on_key_text(
                &crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(c)),
                &snap,
            );
        }
    };
    // a one-word reason is refused too, and the field keeps what was typed
    type_text(&mut ui, "flaky");
    assert_eq!(ui.on_key_text(&enter, &snap), Some(vec![]));
    assert!(
        ui.dialog.is_some(),
        "the dialog stays open on a short reason"
    );
    assert!(
        ui.flash
            .as_deref()
            .unwrap_or("")
            .contains("at least 3 words")
    );
    type_text(&mut ui, " detector after deploy");
    let out = ui.on_key_text(&enter, &snap).expect("handled");
    assert!(
        matches!(&out[..], [Out::Command(Command::Veto { reason, .. })] if reason == "flaky detector after deploy")
    );
}
