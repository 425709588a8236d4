//! The Remediations screen: the queue (waiting for a human, running, recent) and the answer to
//! "why?" for the selected one — evidence, diagnosis, playbook, expected effect, risk,
//! guardrails checked, decisions and timeline.

use super::{Ctx, clock};
use crate::policy::{RemState, Remediation};
use crate::tui::keymap::Action;
use crate::tui::state::{Ui, remediation_queue};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Wrap};

/// Theme scope of a state (never the only cue: the word is always shown).
fn scope(s: RemState) -> &'static str {
    match s {
        RemState::Proposed | RemState::Inconclusive => "status.warn",
        RemState::Failed => "status.crit",
        RemState::Succeeded | RemState::Executing | RemState::Verifying | RemState::Approved => {
            "status.ok"
        }
        _ => "ui.text.dim",
    }
}

fn age(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.0}s")
    } else if secs < 3600.0 {
        format!("{:.0}m", secs / 60.0)
    } else {
        format!("{:.1}h", secs / 3600.0)
    }
}

/// The full explanation of a remediation, as lines.
pub(crate) fn explanation<'a>(r: &Remediation, ctx: &Ctx, ascii: bool) -> Vec<Line<'a>> {
    let (ok, bad) = if ascii { ("+", "X") } else { ("✔", "✖") };
    let h = |t: &str| Line::from(Span::styled(t.to_string(), ctx.s("ui.header")));
    let mut l = vec![Line::from(vec![
        Span::styled(format!("R{} {} ", r.id, r.title()), ctx.s("ui.title")),
        Span::styled(format!("[{}]", r.state.word()), ctx.s(scope(r.state))),
    ])];
    l.push(Line::from(format!(
        "class {} · playbook {} · policy: {}",
        r.class.name(),
        r.playbook,
        r.policy
    )));
    if let Some(next) = &r.next {
        l.push(h("After the veto"));
        l.push(Line::from(Span::styled(
            format!("  {next}"),
            ctx.s("status.warn"),
        )));
    }
    l.push(h("Why"));
    l.push(Line::from(format!("  {}", r.why.trigger)));
    for e in &r.why.evidence {
        l.push(Line::from(format!("  · {e}")));
    }
    l.push(h("Playbook"));
    l.push(Line::from(format!("  {}", r.why.playbook)));
    l.push(h("Expected effect"));
    l.push(Line::from(format!("  {}", r.why.expected)));
    l.push(h("Risk"));
    l.push(Line::from(format!("  {}", r.why.risk)));
    l.push(h("Verification and undo"));
    l.push(Line::from(format!("  {}", r.why.verify)));
    l.push(h("Guardrails (checked again before it runs)"));
    for c in &r.checks {
        l.push(Line::from(vec![
            Span::styled(
                format!("  {} ", if c.passed { ok } else { bad }),
                ctx.s(if c.passed { "status.ok" } else { "status.crit" }),
            ),
            Span::raw(format!(
                "{} {}: {}",
                c.name,
                if c.passed { "passes" } else { "BLOCKS" },
                c.detail
            )),
        ]));
    }
    if !r.decisions.is_empty() {
        l.push(h("Decisions"));
        for d in &r.decisions {
            l.push(Line::from(format!(
                "  {} {} by {}{}",
                clock(d.t),
                d.what,
                d.who,
                d.reason
                    .as_ref()
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            )));
        }
    }
    l.push(h("Timeline"));
    for (t, text) in &r.timeline {
        l.push(Line::from(format!("  {} {text}", clock(*t))));
    }
    l
}

/// Draw the Remediations screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let queue = remediation_queue(snap);
    let waiting = queue.iter().filter(|r| r.state.needs_human()).count();
    let running = queue.iter().filter(|r| r.state.is_running()).count();
    let actuator = match &snap.actuator {
        Some(a) => format!("actuator: {a}"),
        None => "read-only: no actuator".to_string(),
    };
    let block = ctx.panel(
        area,
        format!(
            " Remediations · {waiting} waiting · {running} running · {} phase · {actuator} ",
            snap.phase
        ),
    );
    if queue.is_empty() {
        f.render_widget(
            Paragraph::new(format!(
                "no proposals: playbooks answer diagnosed incidents and capacity forecasts.\nIn the {} phase: {}.",
                snap.phase,
                snap.phase.description()
            ))
            .wrap(Wrap { trim: true })
            .style(ctx.s("ui.text.dim"))
            .block(block),
            area,
        );
        return;
    }
    let Some(r) = ui.selected_remediation(snap) else {
        return;
    };
    let sel_pos = queue.iter().position(|q| q.id == r.id).unwrap_or(0);
    let hint = format!(
        " {} approve · {} veto · {} automate {} · {} {} ",
        ctx.key(Action::Approve),
        ctx.key(Action::Veto),
        ctx.key(Action::Automate),
        r.class.name(),
        ctx.key(Action::Select),
        if ui.remediations.explain {
            "back to the queue"
        } else {
            "why?"
        }
    );
    if ui.remediations.explain {
        let lines = explanation(r, ctx, ui.ascii);
        let page = area.height.saturating_sub(2) as usize;
        ui.page = page.max(1);
        ui.remediations.scroll = ui.remediations.scroll.min(lines.len().saturating_sub(1));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((ui.remediations.scroll as u16, 0))
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .border_style(ctx.s("ui.border"))
                        .title(Span::styled(format!(" Why R{}? ", r.id), ctx.s("ui.title")))
                        .title_bottom(Span::styled(hint, ctx.s("ui.text.dim"))),
                ),
            area,
        );
        return;
    }
    let (top, bottom, from) = super::list_over_detail(area, queue.len(), sel_pos, ui);
    let widths = [
        Constraint::Length(6),
        Constraint::Length(12),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Length(5),
        Constraint::Fill(3),
    ];
    let w = super::table_columns(top, &widths);
    let rows: Vec<Row> = queue
        .iter()
        .enumerate()
        .skip(from)
        .take(ui.page)
        .map(|(i, q)| {
            let sel = i == sel_pos;
            let row = Row::new(vec![
                Cell::from(format!("{}R{}", super::marker(sel, ui.ascii), q.id)),
                Cell::from(Span::styled(q.state.word(), ctx.s(scope(q.state)))),
                Cell::from(super::fit(&q.key, w[2])),
                Cell::from(super::fit(&q.action.describe(), w[3])),
                Cell::from(age(snap.t - q.proposed)),
                Cell::from(super::fit(
                    &q.blocked
                        .clone()
                        .map_or_else(|| q.why.trigger.clone(), |b| format!("held: {b}")),
                    w[5],
                )),
            ]);
            ctx.list_row(row, sel)
        })
        .collect();
    let header = Row::new(["id", "state", "model", "action", "age", "why / held by"]);
    f.render_widget(ctx.table(rows, widths.to_vec(), header, block), top);
    let lines = explanation(r, ctx, ui.ascii);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(ctx.panel(bottom, hint)),
        bottom,
    );
}
