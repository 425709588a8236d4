//! The help overlay, generated from the active keymap so that it never drifts from the bindings.

use super::{Ctx, centered};
use crate::tui::state::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// Lines of the help text: one per action the console supports, grouped.
pub fn lines(ui: &Ui, ctx: &Ctx) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut group = String::new();
    for e in ctx.keymap.help_entries() {
        if !ui.supported(e.action) {
            continue;
        }
        if e.keys.is_empty() {
            continue;
        }
        if e.group.title() != group {
            if !group.is_empty() {
                out.push(Line::from(""));
            }
            group = e.group.title().to_string();
            out.push(Line::from(Span::styled(
                group.clone(),
                ctx.s("ui.help.group"),
            )));
        }
        let mut desc = e.description.to_string();
        if ctx.snap.read_only && e.action.is_mutating() {
            desc.push_str(" (read-only: unavailable)");
        }
        out.push(Line::from(vec![
            Span::styled(format!("  {:<16}", e.keys.join(" ")), ctx.s("ui.help.key")),
            Span::styled(desc, ctx.s("ui.text")),
        ]));
    }
    out.push(Line::from(""));
    out.push(Line::from(Span::styled(
        format!(
            "keymap: {} · theme: {}",
            ctx.keymap.name(),
            ctx.theme.name()
        ),
        ctx.s("ui.text.dim"),
    )));
    out
}

/// Draw the overlay.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let all = lines(ui, ctx);
    let r = centered(area, 76.min(area.width), area.height);
    f.render_widget(Clear, r);
    let inner_h = r.height.saturating_sub(2) as usize;
    let max_scroll = all.len().saturating_sub(inner_h);
    ui.help_scroll = ui.help_scroll.min(max_scroll);
    let more = if max_scroll > 0 {
        " ↑/↓ scroll ·"
    } else {
        ""
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(ctx.s("ui.dialog.border"))
        .style(ctx.s("ui.dialog"))
        .title(Span::styled(
            " Help — keys of this console ",
            ctx.s("ui.title"),
        ))
        .title_bottom(Span::styled(
            format!("{more} ? or esc closes "),
            ctx.s("ui.text.dim"),
        ));
    f.render_widget(
        Paragraph::new(all)
            .block(block)
            .scroll((ui.help_scroll as u16, 0)),
        r,
    );
}
