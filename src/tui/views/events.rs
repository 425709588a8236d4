//! The Events screen: the log of what happened, newest first.

use super::{Ctx, clock};
use crate::tui::state::Ui;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

/// Draw the Events screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let filter = ui.filter.to_lowercase();
    let entries: Vec<_> = snap
        .log
        .iter()
        .rev()
        .filter(|e| {
            filter.is_empty()
                || e.text.to_lowercase().contains(&filter)
                || e.kind.label().contains(&filter)
                || e.model
                    .as_deref()
                    .is_some_and(|m| m.to_lowercase().contains(&filter))
        })
        .collect();
    let page = area.height.saturating_sub(3).max(1) as usize;
    ui.page = page;
    ui.events.offset = ui.events.offset.min(entries.len().saturating_sub(1));
    let from = ui.events.offset;
    let to = (from + page).min(entries.len());
    let title = if filter.is_empty() {
        format!(" Events · {} (newest first) ", entries.len())
    } else {
        format!(" Events · {} match \"{}\" ", entries.len(), ui.filter)
    };
    let block = ctx.panel(area, title).title_bottom(
        Line::from(Span::styled(
            format!(
                " {}–{} of {} ",
                if entries.is_empty() { 0 } else { from + 1 },
                to,
                entries.len()
            ),
            ctx.s("ui.text.dim"),
        ))
        .right_aligned(),
    );
    if entries.is_empty() {
        f.render_widget(
            Paragraph::new(
                "nothing yet: health changes, detections, decisions and actions appear here",
            )
            .style(ctx.s("ui.text.dim"))
            .block(block),
            area,
        );
        return;
    }
    let wide = area.width >= 100;
    let widths: Vec<Constraint> = if wide {
        vec![
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Length(26),
            Constraint::Fill(1),
        ]
    } else {
        vec![
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Fill(1),
        ]
    };
    let w = super::table_columns(area, &widths);
    let last = w.last().copied().unwrap_or(0);
    let rows: Vec<Row> = entries[from..to]
        .iter()
        .map(|e| {
            let mut cells = vec![
                Cell::from(Span::styled(
                    if e.t > 0.0 {
                        clock(e.t)
                    } else {
                        "start".to_string()
                    },
                    ctx.s("ui.text.dim"),
                )),
                Cell::from(Span::styled(
                    format!("{} {}", e.status.symbol(ui.ascii), e.kind.label()),
                    ctx.s(e.kind.scope()),
                )),
            ];
            if wide {
                cells.push(Cell::from(super::fit(
                    e.model.as_deref().unwrap_or("—"),
                    w[2],
                )));
                cells.push(Cell::from(super::fit(&e.text, last)));
            } else {
                let text = match e.model.as_deref().and_then(|m| m.rsplit('/').next()) {
                    Some(short) => format!("{short}: {}", e.text),
                    None => e.text.clone(),
                };
                cells.push(Cell::from(super::fit(&text, last)));
            }
            Row::new(cells).style(ctx.s("ui.text"))
        })
        .collect();
    let header: Vec<&str> = if wide {
        vec!["time", "kind", "model", "what"]
    } else {
        vec!["time", "kind", "what"]
    };
    f.render_widget(ctx.table(rows, widths, Row::new(header), block), area);
}
