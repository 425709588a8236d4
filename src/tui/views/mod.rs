//! Drawing: a pure function of the snapshot, the UI state, the theme and the keymap.

pub mod audit;
pub mod detail;
pub mod events;
pub mod fleet;
pub mod forecast;
pub mod help;
pub mod incidents;
pub mod remediations;

use super::keymap::{Action, Keymap};
use super::state::{Dialog, Ui, View, status_summary};
use super::theme::Theme;
use crate::engine::{Snapshot, SourceState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// Everything a frame needs that is not the UI's own state.
pub struct Ctx<'a> {
    /// Data.
    pub snap: &'a Snapshot,
    /// Colours.
    pub theme: &'a Theme,
    /// Bindings (for hints and help).
    pub keymap: &'a Keymap,
}

impl Ctx<'_> {
    /// Style of a scope.
    pub fn s(&self, scope: &str) -> Style {
        self.theme.style(scope)
    }

    /// The first key bound to an action, for hints (`?` when unbound).
    pub fn key(&self, a: Action) -> String {
        self.keymap
            .keys_for(a)
            .into_iter()
            .next()
            .unwrap_or_else(|| "—".to_string())
    }
}

/// `YYYY-MM-DD HH:MM:SS` UTC of a unix time.
pub fn datetime(t: f64) -> String {
    match jiff::Timestamp::from_second(t.floor() as i64) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("t={t:.0}"),
    }
}

/// `HH:MM:SS` UTC of a unix time.
pub fn clock(t: f64) -> String {
    let s = t.rem_euclid(86_400.0) as i64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

/// The ASCII stand-in for a character the console draws (box drawing, arrows, symbols,
/// blocks, braille); other non-ASCII characters become `?`.
pub fn ascii_of(c: char) -> char {
    match c {
        c if c.is_ascii() => c,
        '─' | '━' | '═' | '—' | '–' | '╌' => '-',
        '│' | '┃' | '║' | '┆' => '|',
        '┌' | '┐' | '└' | '┘' | '├' | '┤' | '┬' | '┴' | '┼' | '╭' | '╮' | '╯' | '╰' => {
            '+'
        }
        '→' | '▶' | '›' => '>',
        '←' | '◀' | '‹' => '<',
        '↑' | '▲' => '^',
        '↓' | '▼' => 'v',
        '×' => 'x',
        '·' | '•' => '.',
        '…' => '~',
        '✔' => '+',
        '✖' | '◆' => 'X',
        '░' => ':',
        '▁' => '_',
        '▂' => '.',
        '▃' => '-',
        '▄' => '~',
        '▅' => '=',
        '▆' => '+',
        '▇' => '*',
        '█' => '#',
        '\u{2800}' => ' ',
        '\u{2801}'..='\u{28ff}' => '*',
        _ => '?',
    }
}

/// Replace every non-ASCII symbol of a buffer by its ASCII stand-in (`--ascii`). An arrow
/// becomes a two-character arrow (`a → b` reads `a-> b`, never `a > b`, which would say
/// something else), taking the blank beside it.
pub fn asciify(buf: &mut ratatui::buffer::Buffer) {
    let width = buf.area.width as usize;
    if width == 0 {
        return;
    }
    let rows = buf.content.len() / width;
    for y in 0..rows {
        let row = &mut buf.content[y * width..(y + 1) * width];
        for x in 0..width {
            let sym = row[x].symbol();
            if sym.is_ascii() {
                continue;
            }
            let c = sym.chars().next().unwrap_or(' ');
            let arrow = match c {
                '→' | '⟶' => Some(('-', '>')),
                '←' | '⟵' => Some(('<', '-')),
                _ => None,
            };
            match arrow {
                Some((a, b)) if x > 0 && row[x - 1].symbol() == " " => {
                    row[x - 1].set_char(a);
                    row[x].set_char(b);
                }
                Some((a, b)) if x + 1 < width && row[x + 1].symbol() == " " => {
                    row[x].set_char(a);
                    row[x + 1].set_char(b);
                }
                _ => {
                    row[x].set_char(ascii_of(c));
                }
            }
        }
    }
}

/// Draw a whole frame.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx) {
    draw_inner(f, ui, ctx);
    if ui.ascii {
        asciify(f.buffer_mut());
    }
}

fn draw_inner(f: &mut Frame, ui: &mut Ui, ctx: &Ctx) {
    let area = f.area();
    f.buffer_mut().set_style(area, ctx.s("ui.background"));
    if area.width < 20 || area.height < 5 {
        f.render_widget(
            Paragraph::new("pitcrew: terminal too small").wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(f, ui, ctx, tabs);
    match ui.view {
        View::Fleet => fleet::draw(f, ui, ctx, body),
        View::Detail => detail::draw(f, ui, ctx, body),
        View::Events => events::draw(f, ui, ctx, body),
        View::Incidents => incidents::draw(f, ui, ctx, body),
        View::Forecast => forecast::draw(f, ui, ctx, body),
        View::Remediations => remediations::draw(f, ui, ctx, body),
        View::Audit => audit::draw(f, ui, ctx, body),
    }
    draw_status(f, ui, ctx, status);
    if let Some(ta) = ui.filter_edit.as_ref() {
        let r = Rect {
            x: status.x,
            y: status.y,
            width: status.width,
            height: 1,
        };
        f.render_widget(Clear, r);
        let label = " filter: ";
        f.render_widget(Span::styled(label, ctx.s("ui.filter")), r);
        let inner = Rect {
            x: r.x + label.len() as u16,
            width: r.width.saturating_sub(label.len() as u16),
            ..r
        };
        f.render_widget(&**ta, inner);
    }
    if ui.help {
        help::draw(f, ui, ctx, body);
    }
    if ui.dialog.is_some() {
        draw_dialog(f, ui, ctx, body);
    }
}

fn draw_tabs(f: &mut Frame, ui: &Ui, ctx: &Ctx, area: Rect) {
    // on a narrow terminal the tabs and the READ-ONLY badge come before the name
    let mut spans = if area.width >= 100 {
        vec![Span::styled(" pitcrew ", ctx.s("ui.title"))]
    } else {
        Vec::new()
    };
    for v in View::ALL {
        let style = if v == ui.view {
            ctx.s("ui.tab.active")
        } else {
            ctx.s("ui.tab")
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            format!("{} {}", ctx.key(v.action()), v.title()),
            style,
        ));
    }
    if ctx.snap.source.kind == crate::engine::SourceKind::Replay {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" REPLAY ", ctx.s("ui.badge.readonly")));
    }
    if ctx.snap.read_only {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" READ-ONLY ", ctx.s("ui.badge.readonly")));
    }
    let hint = format!(
        "{} help  {} quit ",
        ctx.key(Action::Help),
        ctx.key(Action::Quit)
    );
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let pad = (area.width as usize).saturating_sub(used + hint.len());
    if pad > 0 {
        spans.push(Span::raw(" ".repeat(pad)));
        spans.push(Span::styled(hint, ctx.s("ui.text.dim")));
    }
    f.render_widget(Line::from(spans).style(ctx.s("ui.statusbar")), area);
}

fn speed_label(x: f64) -> String {
    if x >= 10.0 || (x - x.round()).abs() < 1e-9 {
        format!("×{x:.0}")
    } else {
        format!("×{x:.1}")
    }
}

fn draw_status(f: &mut Frame, ui: &Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let src = &snap.source;
    let state = match &src.state {
        SourceState::Backfilling { progress } => format!("loading {:.0}%", progress * 100.0),
        SourceState::Live => "live".to_string(),
        SourceState::Paused => "PAUSED".to_string(),
        SourceState::Down { .. } => "DOWN".to_string(),
        SourceState::Finished => "ended".to_string(),
    };
    let age = snap.data_age();
    let stale = (snap.t > 0.0 && age.is_none_or(|a| a > src.step.max(1.0) * 3.0))
        || matches!(src.state, SourceState::Down { .. });
    let age_txt = match age {
        Some(a) if a < 100.0 => format!("data {a:.0}s"),
        Some(a) if a < 6000.0 => format!("data {:.0}m", a / 60.0),
        Some(a) => format!("data {:.0}h", a / 3600.0),
        None if snap.t <= 0.0 => "waiting".to_string(),
        None => "no data".to_string(),
    };
    let narrow = area.width < 100;
    let time = if snap.t <= 0.0 {
        "starting…".to_string()
    } else if narrow {
        clock(snap.t)
    } else {
        format!("{} UTC", datetime(snap.t))
    };
    let sep = if ui.ascii { " | " } else { " │ " };
    let mut spans = vec![
        Span::styled(
            format!(" {} ", snap.phase.name().to_uppercase()),
            ctx.s("ui.statusbar.phase"),
        ),
        Span::raw(sep),
        Span::styled(
            if narrow {
                format!(
                    "{} {state}",
                    src.label.split_whitespace().next().unwrap_or("")
                )
            } else {
                format!("{} {state}", src.label)
            },
            ctx.s("ui.statusbar.source"),
        ),
        Span::raw(sep),
        Span::styled(
            format!("{time} {}", speed_label(src.speed)),
            ctx.s("ui.statusbar.clock"),
        ),
        Span::raw(sep),
        Span::styled(
            if stale {
                format!("{age_txt} STALE")
            } else {
                age_txt
            },
            if stale {
                ctx.s("ui.statusbar.stale")
            } else {
                ctx.s("ui.statusbar")
            },
        ),
        Span::raw(sep),
        Span::raw(status_summary(snap, ui.ascii)),
    ];
    if snap.read_only {
        spans.push(Span::raw(sep));
        spans.push(Span::styled("READ-ONLY", ctx.s("ui.badge.readonly")));
    }
    if let Some(who) = &snap.executor {
        spans.push(Span::raw(sep));
        let style = if who.ends_with("this pitcrew") {
            ctx.s("ui.statusbar")
        } else {
            ctx.s("ui.badge.readonly")
        };
        spans.push(Span::styled(who.clone(), style));
    }
    if let Some(reg) = &snap.registry {
        spans.push(Span::raw(sep));
        let style = if reg.starts_with("registry ok") {
            ctx.s("ui.statusbar")
        } else {
            ctx.s("ui.badge.readonly")
        };
        spans.push(Span::styled(reg.clone(), style));
    }
    if let Some(msg) = &ui.flash {
        // what the operator just did comes first: it must not be cut off on a narrow terminal
        spans.insert(1, Span::raw(sep));
        spans.insert(2, Span::styled(msg.clone(), ctx.s("ui.text")));
    }
    f.render_widget(
        Paragraph::new(Line::from(spans)).style(ctx.s("ui.statusbar")),
        area,
    );
}

/// A centred rectangle of at most `w`×`h` inside `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn draw_dialog(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let Some(dialog) = ui.dialog.as_ref() else {
        return;
    };
    let block = |title: &str| {
        Block::default()
            .borders(Borders::ALL)
            .title(format!(" {title} "))
            .border_style(ctx.s("ui.dialog.border"))
            .style(ctx.s("ui.dialog"))
    };
    match dialog {
        Dialog::Menu {
            title,
            items,
            selected,
            ..
        } => {
            let w = (area.width.saturating_sub(4)).min(90);
            let r = centered(area, w, items.len() as u16 + 4);
            f.render_widget(Clear, r);
            let b = block(title);
            let inner = b.inner(r);
            f.render_widget(b, r);
            let mut lines = Vec::new();
            for (i, (name, desc)) in items.iter().enumerate() {
                let mark = if i == *selected {
                    if ui.ascii { "> " } else { "▶ " }
                } else {
                    "  "
                };
                let style = if i == *selected {
                    ctx.s("ui.selection")
                } else {
                    ctx.s("ui.dialog")
                };
                lines.push(Line::from(vec![
                    Span::styled(format!("{mark}{name:<16}"), style),
                    Span::styled(format!(" {desc}"), ctx.s("ui.text.dim")),
                ]));
            }
            lines.push(Line::from(Span::styled(
                format!(
                    "{}/{} choose · {} confirm · {} cancel",
                    ctx.key(Action::Up),
                    ctx.key(Action::Down),
                    ctx.key(Action::Select),
                    ctx.key(Action::Back)
                ),
                ctx.s("ui.text.dim"),
            )));
            f.render_widget(Paragraph::new(lines), inner);
        }
        Dialog::Confirm { title, body, .. } => {
            let w = (area.width.saturating_sub(4)).min(80);
            let r = centered(area, w, 8);
            f.render_widget(Clear, r);
            let b = block(title);
            let inner = b.inner(r);
            f.render_widget(b, r);
            let mut lines: Vec<Line> = body.lines().map(|l| Line::from(l.to_string())).collect();
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                "y confirm · n or esc cancel",
                ctx.s("ui.help.key"),
            )));
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        }
        Dialog::Input {
            title,
            area: ta,
            purpose,
        } => {
            let w = (area.width.saturating_sub(4)).min(90);
            let r = centered(area, w, 5);
            f.render_widget(Clear, r);
            let b = block(title);
            let inner = b.inner(r);
            f.render_widget(b, r);
            let [edit, hint] =
                Layout::vertical([Constraint::Length(2), Constraint::Length(1)]).areas(inner);
            f.render_widget(&**ta, edit);
            let hint_text = match purpose {
                crate::tui::state::InputPurpose::Note => "enter save · esc cancel",
                crate::tui::state::InputPurpose::Seek => "enter seek · esc cancel",
                crate::tui::state::InputPurpose::Veto(_) => {
                    "a reason is required · enter veto · esc cancel"
                }
            };
            f.render_widget(Span::styled(hint_text, ctx.s("ui.text.dim")), hint);
        }
    }
}
