//! Drawing: a pure function of the snapshot, the UI state, the theme and the keymap.

pub mod audit;
pub mod detail;
mod dialog;
pub mod events;
pub mod fleet;
pub mod forecast;
pub mod help;
pub mod incidents;
pub mod remediations;
pub mod vulns;

use super::keymap::{Action, Keymap};
use super::state::{Ui, View, status_summary};
use super::theme::Theme;
pub(crate) use crate::domain::time::{clock, datetime};
use crate::engine::{Snapshot, SourceState};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Wrap};

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

    /// A table of `rows` in `block` under its `header`, one column of spacing.
    pub fn table<'a>(
        &self,
        rows: Vec<Row<'a>>,
        widths: Vec<Constraint>,
        header: Row<'a>,
        block: Block<'a>,
    ) -> Table<'a> {
        Table::new(rows, widths)
            .header(header.style(self.s("ui.header")))
            .column_spacing(1)
            .block(block)
    }

    /// A row of a list, highlighted when it is the selected one.
    pub(crate) fn list_row<'a>(&self, row: Row<'a>, selected: bool) -> Row<'a> {
        row.style(self.s(if selected { "ui.selection" } else { "ui.text" }))
    }

    /// A bordered panel titled `title`, cut to fit `area`.
    pub(crate) fn panel(&self, area: Rect, title: String) -> Block<'static> {
        Block::default()
            .borders(Borders::ALL)
            .border_style(self.s("ui.border"))
            .title(Span::styled(fit_title(area, title), self.s("ui.title")))
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

/// `s` in at most `w` display columns: whole when it fits, else cut with `…` as its last
/// column (which `--ascii` draws as `...`), so a cut word never passes for a whole one.
pub fn fit(s: &str, w: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let width: usize = s.chars().map(|c| c.width().unwrap_or(0)).sum();
    if width <= w {
        return s.to_string();
    }
    if w == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if used + cw > w - 1 {
            break;
        }
        out.push(c);
        used += cw;
    }
    // a cut after a blank reads better without it
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('…');
    out
}

/// A block title cut to the width of the block's top border.
pub(crate) fn fit_title(area: Rect, title: String) -> String {
    fit(&title, area.width.saturating_sub(2) as usize)
}

/// The mark in front of a list's selected row (and the blank in front of the others).
pub fn marker(selected: bool, ascii: bool) -> &'static str {
    match (selected, ascii) {
        (true, true) => ">",
        (true, false) => "▶",
        _ => " ",
    }
}

/// A list of `n` rows above the selected one's detail in `area`: the list's area (at most half
/// of it), the detail's, and the first row shown so that row `sel_pos` is on the page. The
/// page size goes to `ui` (for page up and down).
pub(crate) fn list_over_detail(
    area: Rect,
    n: usize,
    sel_pos: usize,
    ui: &mut Ui,
) -> (Rect, Rect, usize) {
    let list_h = (n as u16 + 3).min(area.height / 2).max(4);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(list_h), Constraint::Min(3)]).areas(area);
    let page = top.height.saturating_sub(3).max(1) as usize;
    ui.page = page;
    (top, bottom, sel_pos.saturating_sub(page - 1))
}

/// The column widths a [`Table`](ratatui::widgets::Table) with these constraints and one
/// column of spacing gives inside a bordered `area` (the table's own layout).
pub(crate) fn table_columns(area: Rect, constraints: &[Constraint]) -> Vec<usize> {
    let inner = Rect::new(0, 0, area.width.saturating_sub(2), 1);
    Layout::horizontal(constraints.to_vec())
        .flex(ratatui::layout::Flex::Start)
        .spacing(1)
        .split(inner)
        .iter()
        .map(|r| r.width as usize)
        .collect()
}

/// "1 model", "2 models": a count and its noun, singular for one.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The ASCII stand-in for a character the console draws (box drawing, arrows, symbols,
/// blocks, braille); other non-ASCII characters become `?`.
pub(crate) fn ascii_of(c: char) -> char {
    match c {
        c if c.is_ascii() => c,
        '─' | '━' | '═' | '—' | '–' | '╌' | '−' => '-',
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
        '…' => '.',
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
pub(crate) fn asciify(buf: &mut ratatui::buffer::Buffer) {
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
            if c == '…' {
                // three dots: into the blanks after it when there are two, else over the two
                // characters before it (the cut text loses two more of its letters)
                let after =
                    x + 2 < width && row[x + 1].symbol() == " " && row[x + 2].symbol() == " ";
                let span = if after {
                    x..x + 3
                } else {
                    x.saturating_sub(2)..x + 1
                };
                for cell in &mut row[span] {
                    cell.set_char('.');
                }
                continue;
            }
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
    // what the operator just did (or was refused) has a line of its own above the status
    // bar, the whole width: it is never cut to make room for the clock, nor the clock for it
    let flash_h = u16::from(ui.flash.is_some());
    let [tabs, body, flash, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(flash_h),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Some(msg) = &ui.flash {
        f.render_widget(
            Paragraph::new(Line::from(Span::styled(
                fit(&format!(" {msg}"), flash.width as usize),
                ctx.s("ui.text"),
            )))
            .style(ctx.s("ui.statusbar")),
            flash,
        );
    }
    draw_tabs(f, ui, ctx, tabs);
    match ui.view {
        View::Fleet => fleet::draw(f, ui, ctx, body),
        View::Detail => detail::draw(f, ui, ctx, body),
        View::Events => events::draw(f, ui, ctx, body),
        View::Incidents => incidents::draw(f, ui, ctx, body),
        View::Forecast => forecast::draw(f, ui, ctx, body),
        View::Remediations => remediations::draw(f, ui, ctx, body),
        View::Audit => audit::draw(f, ui, ctx, body),
        View::Vulns => vulns::draw(f, ui, ctx, body),
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
        dialog::draw_dialog(f, ui, ctx, body);
    }
}

fn draw_tabs(f: &mut Frame, ui: &Ui, ctx: &Ctx, area: Rect) {
    // on a narrow terminal the tabs and the READ-ONLY badge come before the name
    let mut spans = if area.width >= 100 {
        vec![Span::styled(" pitcrew ", ctx.s("ui.title"))]
    } else {
        Vec::new()
    };
    // each tab in full, and short (its key and what waits behind it)
    let tabs: Vec<(View, String, String)> = View::ALL
        .into_iter()
        .map(|v| {
            // what waits behind a tab: open incidents, proposals waiting for a decision
            let waiting = match v {
                View::Incidents => ctx.snap.incidents.iter().filter(|i| i.is_open()).count(),
                View::Remediations => ctx
                    .snap
                    .remediations
                    .iter()
                    .filter(|r| r.state.approvable())
                    .count(),
                _ => 0,
            };
            let key = ctx.key(v.action());
            if waiting > 0 {
                (
                    v,
                    format!("{key} {} ({waiting})", v.title()),
                    format!("{key}({waiting})"),
                )
            } else {
                (v, format!("{key} {}", v.title()), key)
            }
        })
        .collect();
    // the badges drawn after the tabs, each with its space
    let badges = match ctx.snap.source.kind {
        crate::engine::SourceKind::Replay => 9,
        crate::engine::SourceKind::History => 10,
        _ => 0,
    } + if ctx.snap.read_only { 12 } else { 0 };
    let full: usize = tabs.iter().map(|t| 1 + t.1.chars().count()).sum();
    let room = (area.width as usize).saturating_sub(badges + spans.len() * 9);
    for (v, long, short) in tabs {
        let style = if v == ui.view {
            ctx.s("ui.tab.active")
        } else {
            ctx.s("ui.tab")
        };
        // too narrow for every title: only the current screen's is written out
        let label = if full <= room || v == ui.view {
            long
        } else {
            short
        };
        spans.push(Span::raw(" "));
        spans.push(Span::styled(label, style));
    }
    if ctx.snap.source.kind == crate::engine::SourceKind::Replay {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" REPLAY ", ctx.s("ui.badge.readonly")));
    } else if ctx.snap.source.kind == crate::engine::SourceKind::History {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" HISTORY ", ctx.s("ui.badge.readonly")));
    }
    if ctx.snap.read_only {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" READ-ONLY ", ctx.s("ui.badge.readonly")));
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
    let plain = ctx.s("ui.statusbar");
    let seg = |text: String, style: Style, min: usize| StatusSeg {
        text,
        tail: String::new(),
        style,
        min,
    };
    // what must stay whole comes with `min` = its width; the rest shrinks (with an ellipsis)
    // or goes, the least telling first, so phase, clock, data age, counts and the help hint
    // are on screen at any width
    let mut segs = vec![seg(
        format!(" {} ", snap.phase.name().to_uppercase()),
        ctx.s("ui.statusbar.phase"),
        usize::MAX,
    )];
    let label = if narrow {
        src.label
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string()
    } else {
        src.label.clone()
    };
    // the label gives way, the state (live, PAUSED, DOWN) stays
    segs.push(StatusSeg {
        text: label,
        tail: format!(" {state}"),
        style: ctx.s("ui.statusbar.source"),
        min: 1,
    });
    segs.push(seg(
        format!("{time} {}", speed_label(src.speed)),
        ctx.s("ui.statusbar.clock"),
        usize::MAX,
    ));
    segs.push(if stale {
        seg(
            format!("{age_txt} STALE"),
            ctx.s("ui.statusbar.stale"),
            usize::MAX,
        )
    } else {
        seg(age_txt, plain, usize::MAX)
    });
    segs.push(seg(
        status_summary(snap, ui.ascii, !narrow),
        plain,
        usize::MAX,
    ));
    if snap.read_only {
        segs.push(seg(
            "READ-ONLY".into(),
            ctx.s("ui.badge.readonly"),
            usize::MAX,
        ));
    }
    // who executes and the registry's state: plain when all is well, a badge when not
    let badge = |ok: bool| {
        if ok {
            plain
        } else {
            ctx.s("ui.badge.readonly")
        }
    };
    if let Some(who) = &snap.executor {
        segs.push(seg(who.clone(), badge(executes_here(who)), 0));
    }
    if let Some(reg) = &snap.registry {
        segs.push(seg(reg.clone(), badge(reg.starts_with("registry ok")), 0));
    }
    // an attached console: at once when a link to an agent is down (a live one is named in
    // the source's label)
    let several = snap.links.len() > 1;
    for l in &snap.links {
        if l.live && several {
            // several agents: each with its data age, and who executes for it when not itself
            let age = l.age.map_or("no data".to_string(), |a| format!("{a:.0}s"));
            let mut text = format!("{} {age}", l.agent);
            let mut ok = true;
            if let Some(who) = l.executor.as_deref().filter(|w| !executes_here(w)) {
                text.push_str(&format!(" {who}"));
                ok = false;
            }
            segs.push(seg(text, badge(ok), 0));
        } else if !l.live {
            segs.push(seg(
                "DISCONNECTED".into(),
                ctx.s("ui.statusbar.stale"),
                usize::MAX,
            ));
            let why = l.why.as_deref().unwrap_or("");
            segs.push(seg(
                format!("{} {:.0}s: {why}", l.agent, l.quiet),
                ctx.s("ui.badge.readonly"),
                0,
            ));
        }
    }
    let hint = format!("{} help ", ctx.key(Action::Help));
    let width = (area.width as usize).saturating_sub(hint.chars().count() + 1);
    fit_segments(&mut segs, width, sep.chars().count());
    let mut spans = Vec::new();
    for (i, s) in segs.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(sep));
        }
        spans.push(Span::styled(s.text + &s.tail, s.style));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    spans.push(Span::raw(" ".repeat(
        (area.width as usize).saturating_sub(used + hint.chars().count()),
    )));
    spans.push(Span::styled(hint, ctx.s("ui.text.dim")));
    f.render_widget(Paragraph::new(Line::from(spans)).style(plain), area);
}

/// True when the executor named is pitcrew itself (this console, or the agent it attaches to).
fn executes_here(who: &str) -> bool {
    who.ends_with("this pitcrew") || who.ends_with("the agent")
}

/// One part of the status bar: its text, style and the narrowest it may become (0: it may go;
/// its whole width or more: it stays whole).
struct StatusSeg {
    text: String,
    /// Kept whole after the text, however much the text shrinks.
    tail: String,
    style: Style,
    min: usize,
}

/// Shrink (with `…`) or drop status-bar parts, the last ones first, until they fit in `width` with `sep` columns between two.
fn fit_segments(segs: &mut Vec<StatusSeg>, width: usize, sep: usize) {
    let total = |segs: &[StatusSeg]| -> usize {
        segs.iter()
            .map(|s| {
                unicode_width::UnicodeWidthStr::width(s.text.as_str())
                    + unicode_width::UnicodeWidthStr::width(s.tail.as_str())
            })
            .sum::<usize>()
            + sep * segs.len().saturating_sub(1)
    };
    // the parts give way from the end
    for i in (1..segs.len()).rev() {
        let over = total(segs).saturating_sub(width);
        if over == 0 {
            return;
        }
        let Some(s) = segs.get_mut(i) else { continue };
        let w = unicode_width::UnicodeWidthStr::width(s.text.as_str());
        if s.min >= w {
            continue;
        }
        let keep = w.saturating_sub(over).max(s.min);
        if keep < 4 && !s.tail.is_empty() {
            // "… live" says less than "live"
            s.text.clear();
            s.tail = s.tail.trim_start().to_string();
        } else if keep == 0 {
            segs.remove(i);
        } else {
            s.text = fit(&s.text, keep);
        }
    }
}

/// A centred rectangle of at most `w`×`h` inside `area`.
pub(crate) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
