//! Snapshot tests of every screen at 80×24 and 200×50 on ratatui's `TestBackend`.

use pitcrew::domain::IncidentKind;
use pitcrew::engine::{EngineConfig, Snapshot};
use pitcrew::harness::{drive, start};
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
    // what the models run, scanned as the simulated source does at the start
    for ev in pitcrew::sources::sim::findings(&world) {
        engine.apply(ev);
    }
    // two hours of history, then a latency spike and a bad deploy
    drive(&mut world, &mut engine, 1440);
    world.inject(1, IncidentKind::LatencySpike);
    world.inject(4, IncidentKind::BadDeploy);
    drive(&mut world, &mut engine, 180);
    engine.snapshot(focus, 1000)
}

fn ui() -> Ui {
    Ui::new(false, false, Capabilities::SIMULATED, "tester".into())
}

/// A frame as the console draws it, on ratatui's test backend.
fn frame(ui: &mut Ui, snap: &Snapshot, w: u16, h: u16, ascii: bool) -> Terminal<TestBackend> {
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
    term
}

fn render(ui: &mut Ui, snap: &Snapshot, w: u16, h: u16, ascii: bool) -> String {
    format!("{}", frame(ui, snap, w, h, ascii).backend())
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
fn vulns_80x24_and_ascii() {
    insta::assert_snapshot!(screen(View::Vulns, 80, 24));
    let snap = snapshot(None, false);
    let mut ui = ui();
    ui.view = View::Vulns;
    let text = render(&mut ui, &snap, 80, 24, true);
    assert!(text.is_ascii(), "{text}");
    assert!(
        text.contains("installed -> fix") && text.contains("! high"),
        "{text}"
    );
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
    use pitcrew::engine::{Command, Event};
    use pitcrew::policy::autonomy::Phase;
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
        id: None,
    });
    pitcrew::harness::route(&mut engine, &mut world, fx, &mut log);
    for _ in 0..120 {
        for ev in pitcrew::sources::sim::step_events(&mut world) {
            let fx = engine.apply(ev);
            pitcrew::harness::route(&mut engine, &mut world, fx, &mut log);
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

/// The cells of a frame, row by row.
fn cells(ui: &mut Ui, snap: &Snapshot, w: u16, h: u16, ascii: bool) -> Vec<Vec<String>> {
    let term = frame(ui, snap, w, h, ascii);
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

#[test]
fn every_screen_in_ascii_at_80x24_keeps_arrows_and_ellipses_readable() {
    let plain = snapshot(Some("search/ranker-bert"), false);
    let rem = remediation_snapshot();
    let mut out = String::new();
    let mut arrows = 0;
    for view in View::ALL {
        let snap = match view {
            View::Remediations | View::Audit => &rem,
            _ => &plain,
        };
        let mut ui = ui();
        ui.selected = Some("search/ranker-bert".to_string());
        ui.view = view;
        let uni = cells(&mut ui, snap, 80, 24, false);
        let asc = cells(&mut ui, snap, 80, 24, true);
        for (y, (u, a)) in uni.iter().zip(&asc).enumerate() {
            let line: String = a.concat();
            assert!(line.is_ascii(), "{view:?} row {y} is not ASCII: {line}");
            for (x, uc) in u.iter().enumerate() {
                fn at(row: &[String], i: usize) -> &str {
                    row.get(i).map_or("", String::as_str)
                }
                match uc.as_str() {
                    "→" => {
                        arrows += 1;
                        assert!(
                            (at(a, x.wrapping_sub(1)) == "-" && at(a, x) == ">")
                                || (at(a, x) == "-" && at(a, x + 1) == ">"),
                            "{view:?} row {y}: an arrow became something else: {line}"
                        );
                    }
                    "…" => assert_eq!(at(a, x), ".", "{view:?} row {y}: {line}"),
                    _ => {}
                }
                // a '>' is an arrow's head ("->"), a '>' the screen drew, or the selection
                // marker: never an arrow passing for "greater than"
                if at(a, x) == ">" {
                    assert!(
                        at(a, x.wrapping_sub(1)) == "-" || matches!(uc.as_str(), ">" | "▶"),
                        "{view:?} row {y} col {x}: '>' stands for '{uc}': {line}"
                    );
                }
            }
        }
        out.push_str(&format!("== {view:?}\n"));
        for row in &asc {
            out.push_str(row.concat().trim_end());
            out.push('\n');
        }
    }
    assert!(
        arrows > 0,
        "no screen drew an arrow: the check checked nothing"
    );
    insta::assert_snapshot!("every_screen_ascii_80x24", out);
}

/// A frame as SVG: one background rectangle per run of cells with the same background, one
/// text run per run of cells with the same foreground and weight, in a monospace font.
fn svg_of(buf: &ratatui::buffer::Buffer) -> String {
    use ratatui::style::{Color, Modifier};
    const CW: f64 = 8.4;
    const CH: f64 = 17.0;
    let rgb = |c: Color, default: &str| -> String {
        match c {
            Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
            Color::Reset => default.to_string(),
            other => {
                // the 16 ANSI colours, as xterm draws them
                let table = [
                    (Color::Black, "#000000"),
                    (Color::Red, "#cd0000"),
                    (Color::Green, "#00cd00"),
                    (Color::Yellow, "#cdcd00"),
                    (Color::Blue, "#0000ee"),
                    (Color::Magenta, "#cd00cd"),
                    (Color::Cyan, "#00cdcd"),
                    (Color::Gray, "#e5e5e5"),
                    (Color::DarkGray, "#7f7f7f"),
                    (Color::LightRed, "#ff0000"),
                    (Color::LightGreen, "#00ff00"),
                    (Color::LightYellow, "#ffff00"),
                    (Color::LightBlue, "#5c5cff"),
                    (Color::LightMagenta, "#ff00ff"),
                    (Color::LightCyan, "#00ffff"),
                    (Color::White, "#ffffff"),
                ];
                table
                    .iter()
                    .find(|(k, _)| *k == other)
                    .map_or(default, |(_, v)| v)
                    .to_string()
            }
        }
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let (w, h) = (buf.area.width, buf.area.height);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\" font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\" font-size=\"14\">\n<rect width=\"100%\" height=\"100%\" fill=\"#1a1b26\"/>\n",
        f64::from(w) * CW,
        f64::from(h) * CH
    );
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let bg = rgb(buf[(x, y)].bg, "#1a1b26");
            let start = x;
            while x < w && rgb(buf[(x, y)].bg, "#1a1b26") == bg {
                x += 1;
            }
            if bg != "#1a1b26" {
                out.push_str(&format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{CH}\" fill=\"{bg}\"/>\n",
                    f64::from(start) * CW,
                    f64::from(y) * CH,
                    f64::from(x - start) * CW
                ));
            }
        }
        let mut x = 0;
        while x < w {
            let cell = &buf[(x, y)];
            let fg = rgb(cell.fg, "#c0caf5");
            let bold = cell.modifier.contains(Modifier::BOLD);
            let start = x;
            let mut text = String::new();
            while x < w {
                let c = &buf[(x, y)];
                if rgb(c.fg, "#c0caf5") != fg || c.modifier.contains(Modifier::BOLD) != bold {
                    break;
                }
                text.push_str(c.symbol());
                x += 1;
            }
            if !text.trim().is_empty() {
                out.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{fg}\"{} xml:space=\"preserve\" textLength=\"{:.1}\">{}</text>\n",
                    f64::from(start) * CW,
                    f64::from(y) * CH + 13.0,
                    if bold { " font-weight=\"bold\"" } else { "" },
                    f64::from(x - start) * CW,
                    esc(&text)
                ));
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The README's picture is this screen, drawn by the console's own code on a simulated fleet:
/// a proposal waiting in the Augmentation phase with the answer to "why?". The committed file
/// must equal what the code draws now; `PITCREW_UPDATE_PICTURE=1` rewrites it.
#[test]
fn the_readme_picture_is_a_real_screen() {
    let snap = remediation_snapshot();
    let mut ui = ui();
    ui.view = View::Remediations;
    let term = frame(&mut ui, &snap, 110, 34, false);
    let svg = svg_of(term.backend().buffer());
    assert!(svg.contains("PENDING") && svg.contains("Why"), "{svg}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/console.svg");
    if std::env::var_os("PITCREW_UPDATE_PICTURE").is_some() {
        std::fs::write(&path, &svg).expect("write the picture");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == svg,
        "{} is not the screen the console draws now: run \
         `PITCREW_UPDATE_PICTURE=1 cargo test --release --test screens the_readme_picture` and commit it",
        path.display()
    );
}
