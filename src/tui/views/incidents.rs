//! The Incidents screen: open and recent incidents, and the diagnosis of the selected one with
//! its evidence.

use super::{Ctx, clock};
use crate::engine::Status;
use crate::tui::keymap::Action;
use crate::tui::state::{Ui, incidents_newest_first};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Wrap};

fn minutes(secs: f64) -> String {
    if secs < 3600.0 {
        format!("{:.0}m", secs / 60.0)
    } else {
        format!("{:.1}h", secs / 3600.0)
    }
}

/// Draw the Incidents screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let list = incidents_newest_first(snap);
    let open = list.iter().filter(|i| i.is_open()).count();
    let block = ctx.panel(
        area,
        format!(" Incidents · {open} open · {} recent ", list.len() - open),
    );
    if list.is_empty() {
        f.render_widget(
            Paragraph::new(
                "no incidents: a model opens one when a detector flags it or an objective breaks",
            )
            .style(ctx.s("ui.text.dim"))
            .block(block),
            area,
        );
        return;
    }
    let Some(selected) = ui.selected_incident(snap) else {
        return;
    };
    let sel_pos = list.iter().position(|i| i.id == selected.id).unwrap_or(0);
    let (top, bottom, from) = super::list_over_detail(area, list.len(), sel_pos, ui);
    let ascii = ui.ascii;
    let widths = [
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Fill(2),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Fill(2),
    ];
    let w = super::table_columns(top, &widths);
    let rows: Vec<Row> = list
        .iter()
        .enumerate()
        .skip(from)
        .take(ui.page)
        .map(|(i, inc)| {
            let sel = i == sel_pos;
            let state = if inc.is_open() {
                format!("{} {}", inc.severity.symbol(ascii), inc.severity.word())
            } else {
                format!("{} resolved", Status::Ok.symbol(ascii))
            };
            let cause = inc
                .top()
                .map(|h| format!("{} ({:.0} %)", h.cause, h.confidence * 100.0))
                .unwrap_or_else(|| "diagnosing…".into());
            let row = Row::new(vec![
                Cell::from(format!("{}#{}", super::marker(sel, ascii), inc.id)),
                Cell::from(Span::styled(
                    state,
                    ctx.s(if inc.is_open() {
                        inc.severity.scope()
                    } else {
                        "status.ok"
                    }),
                )),
                Cell::from(super::fit(&inc.key, w[2])),
                Cell::from(clock(inc.onset)),
                Cell::from(minutes(inc.duration(snap.t))),
                Cell::from(super::fit(&cause, w[5])),
            ]);
            ctx.list_row(row, sel)
        })
        .collect();
    let header = Row::new(["id", "state", "model", "onset", "for", "probable cause"]);
    f.render_widget(ctx.table(rows, widths.to_vec(), header, block), top);

    let inc = list[sel_pos];
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("#{} {} ", inc.id, inc.key), ctx.s("ui.title")),
        Span::styled(
            format!(
                "onset {} · opened {} · signals: {}",
                clock(inc.onset),
                clock(inc.opened),
                if inc.signals.is_empty() {
                    "objectives".to_string()
                } else {
                    inc.signals
                        .iter()
                        .map(|s| s.title())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            ctx.s("ui.text.dim"),
        ),
    ])];
    if let Some(r) = inc.resolved {
        lines.push(Line::from(Span::styled(
            format!("resolved at {} after {}", clock(r), minutes(r - inc.onset)),
            ctx.s("status.ok"),
        )));
    }
    for (k, h) in inc.hypotheses.iter().enumerate() {
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::styled(
                format!("{}. {} — {:.0} % ", k + 1, h.cause, h.confidence * 100.0),
                if k == 0 {
                    ctx.s("ui.help.key")
                } else {
                    ctx.s("ui.text")
                },
            ),
            Span::styled(
                format!("usual fix: {}", h.cause.remedy()),
                ctx.s("ui.text.dim"),
            ),
        ]));
        for e in &h.evidence {
            lines.push(Line::from(format!("   · {e}")));
        }
    }
    if inc.hypotheses.is_empty() {
        lines.push(Line::from(Span::styled(
            "diagnosis runs within a minute of the incident opening",
            ctx.s("ui.text.dim"),
        )));
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(ctx.s("ui.border"))
                .title(Span::styled(
                    format!(" diagnosis · {} opens the model ", ctx.key(Action::Select)),
                    ctx.s("ui.title"),
                )),
        ),
        bottom,
    );
}
