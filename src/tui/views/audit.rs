//! The Audit screen: every decision (who, when, what, why) newest first, and what the console
//! has learnt from outcomes: success and failure per playbook, and how each class is handled
//! in the current phase.

use super::{Ctx, clock, fit};
use crate::policy::autonomy::{Trust, decide};
use crate::tui::state::Ui;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row};

/// Draw the Audit screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let books = snap.playbooks.len() as u16;
    let stats_h = (books + 3).min(area.height / 2).max(4);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(stats_h)]).areas(area);
    let page = top.height.saturating_sub(3).max(1) as usize;
    ui.page = page;
    ui.audit.offset = ui.audit.offset.min(snap.audit.len().saturating_sub(1));
    let widths = [
        Constraint::Length(8),
        Constraint::Length(16),
        Constraint::Length(14),
        Constraint::Fill(2),
        Constraint::Fill(4),
    ];
    let w = super::table_columns(top, &widths);
    let rows: Vec<Row> = snap
        .audit
        .iter()
        .rev()
        .skip(ui.audit.offset)
        .take(page)
        .map(|a| {
            Row::new(vec![
                Cell::from(clock(a.t)),
                Cell::from(fit(&a.who, w[1])),
                Cell::from(fit(&a.what, w[2])),
                Cell::from(fit(&a.subject, w[3])),
                Cell::from(fit(a.reason.as_deref().unwrap_or_default(), w[4])),
            ])
            .style(ctx.s("ui.text"))
        })
        .collect();
    let empty = rows.is_empty();
    let title = if empty {
        " Audit · no decision yet this session ".to_string()
    } else {
        format!(
            " Audit · {}, newest first ",
            super::count(snap.audit.len(), "decision")
        )
    };
    let header = Row::new(["time", "who", "what", "about", "reason"]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(ctx.s("ui.border"))
        .title(Span::styled(title, ctx.s("ui.title")));
    let table = ctx.table(rows, widths.to_vec(), header, block);
    f.render_widget(table, top);

    let outcome_widths = [
        Constraint::Fill(3),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Fill(1),
    ];
    let w = super::table_columns(bottom, &outcome_widths);
    let rows: Vec<Row> = snap
        .playbooks
        .iter()
        .map(|p| {
            let c = snap.stats.playbook(&p.name);
            let rate = c
                .rate()
                .map_or_else(|| "—".to_string(), |(r, _)| format!("{:.0} %", r * 100.0));
            let d = decide(
                snap.phase,
                &snap.overrides,
                p.class,
                Trust {
                    well_known: p.well_known,
                    success: c.rate(),
                },
            );
            let mode = if snap.actuator.is_none() {
                "observe (read-only)".to_string()
            } else {
                format!("{:?}", d.mode).to_lowercase()
            };
            Row::new(vec![
                Cell::from(fit(&p.name, w[0])),
                Cell::from(p.class.name()),
                Cell::from(if p.well_known { "yes" } else { "no" }),
                Cell::from(format!("{}", c.success)),
                Cell::from(format!("{}", c.failure)),
                Cell::from(rate),
                Cell::from(fit(&mode, w[6])),
            ])
            .style(ctx.s("ui.text"))
        })
        .collect();
    let header = Row::new([
        "playbook",
        "class",
        "known",
        "ok",
        "fail",
        "rate",
        "in this phase",
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(ctx.s("ui.border"))
        .title(Span::styled(
            format!(" Outcomes · {} phase ", snap.phase),
            ctx.s("ui.title"),
        ));
    f.render_widget(
        ctx.table(rows, outcome_widths.to_vec(), header, block),
        bottom,
    );
}
