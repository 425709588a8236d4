//! The modal dialogs drawn over any screen: a menu to choose from, a confirmation, a line of
//! text to enter (a note, a time to seek to, a veto's reason).

use super::{Ctx, centered};
use crate::tui::keymap::Action;
use crate::tui::state::{Dialog, Ui};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

pub(super) fn draw_dialog(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let Some(dialog) = ui.dialog.as_ref() else {
        return;
    };
    // A dialog's box: at most `max_w` wide and `h` high, centred, cleared, framed and titled;
    // returns the area inside the frame.
    let frame = |f: &mut Frame, title: &str, max_w: u16, h: u16| {
        let r = centered(area, area.width.saturating_sub(4).min(max_w), h);
        f.render_widget(Clear, r);
        let b = Block::default()
            .borders(Borders::ALL)
            .title(format!(" {title} "))
            .border_style(ctx.s("ui.dialog.border"))
            .style(ctx.s("ui.dialog"));
        let inner = b.inner(r);
        f.render_widget(b, r);
        inner
    };
    match dialog {
        Dialog::Menu {
            title,
            items,
            selected,
            ..
        } => {
            let inner = frame(f, title, 90, items.len() as u16 + 4);
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
            let inner = frame(f, title, 80, 8);
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
            let inner = frame(f, title, 90, 5);
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
