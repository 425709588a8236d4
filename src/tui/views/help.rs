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
    // the key column is as wide as the longest key list shown (vim and emacs bind several
    // keys to one action), within a bound that leaves the description room; a list longer
    // than that is cut with an ellipsis, never run into its description
    let shown: Vec<_> = ctx
        .keymap
        .help_entries()
        .into_iter()
        .filter(|e| ui.supported(e.action) && !e.keys.is_empty())
        .collect();
    let key_w = shown
        .iter()
        .map(|e| unicode_width::UnicodeWidthStr::width(e.keys.join(" ").as_str()))
        .max()
        .unwrap_or(0)
        .clamp(8, 26);
    for e in shown {
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
            Span::styled(
                format!("  {:<key_w$} ", super::fit(&e.keys.join(" "), key_w)),
                ctx.s("ui.help.key"),
            ),
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
