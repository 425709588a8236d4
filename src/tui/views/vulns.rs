//! The Vulns screen: every known vulnerability open in what the models run (a model's Python
//! requirements matched against advisories, and trivy-operator's findings in its serving
//! images), in the queue's order (the deadline, then the model's priority): the severity as a
//! symbol and a word, the package, installed → first fixed version, the advisory and its CVE,
//! and the time left before its deadline (the policy of `[security.deadline_hours]`; by
//! default critical 24 h, high and unknown 7 days, medium 30, low 90). The Fleet screen's
//! `vuln` column flags the models that have one. The panel below says, for the top finding's
//! model, its latest patch and where it is decided.

use super::{Ctx, fit};
use crate::domain::{Severity, Source};
use crate::engine::{Queued, queue, time_left};
use crate::policy::autonomy::ActionClass;
use crate::tui::state::{Ui, View};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

/// A severity as a symbol and a short word (never colour alone), and its theme scope.
pub(crate) fn severity_label(s: Severity, ascii: bool) -> (&'static str, &'static str) {
    match (s, ascii) {
        (Severity::Critical, false) => ("✖ crit", "status.crit"),
        (Severity::Critical, true) => ("X crit", "status.crit"),
        (Severity::High, false) => ("▲ high", "status.warn"),
        (Severity::High, true) => ("! high", "status.warn"),
        (Severity::Unknown, _) => ("? unk", "status.warn"),
        (Severity::Medium, _) => ("- med", "ui.text"),
        (Severity::Low, _) => ("- low", "ui.text.dim"),
        (Severity::None, _) => ("- none", "ui.text.dim"),
    }
}

/// A span of time in whole units, rounded down: minutes, hours (up to two days), days.
fn span(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 3600.0 {
        format!("{:.0}m", (secs / 60.0).floor())
    } else if secs < 2.0 * 86_400.0 {
        format!("{:.0}h", (secs / 3600.0).floor())
    } else {
        format!("{:.0}d", (secs / 86_400.0).floor())
    }
}

/// Every open finding, in the queue's order (deadline, then the model's priority, then
/// severity), those the filter keeps.
fn listed<'a>(ctx: &'a Ctx, filter: &str) -> Vec<Queued<'a>> {
    queue(&ctx.snap.vulns, &ctx.snap.deadlines, ctx.snap.t)
        .into_iter()
        .filter(|(k, _, o)| {
            filter.is_empty()
                || k.contains(filter)
                || o.found.package.contains(filter)
                || o.found.advisory.contains(filter)
        })
        .collect()
}

/// The model's latest patch and where it is decided: its id, state and bumps (the "why?",
/// the approve, veto and automate keys are the Remediations screen's, one place to act).
fn patch_line<'a>(ctx: &Ctx, model: &str, ascii: bool) -> Line<'a> {
    let latest = ctx
        .snap
        .remediations
        .iter()
        .filter(|r| r.key == model && r.class == ActionClass::Patch)
        .max_by_key(|r| r.id);
    let Some(r) = latest else {
        return Line::from(Span::styled(
            "no patch proposed for this model (none fixes it yet, or one is waiting for the model to be quiet)",
            ctx.s("ui.text.dim"),
        ));
    };
    let arrow = if ascii { "->" } else { "→" };
    let bumps: Vec<String> = r
        .bumps
        .iter()
        .map(|b| {
            let place = match &b.source {
                crate::domain::Source::Image { container, .. } => format!(" in {container}"),
                crate::domain::Source::Requirements => String::new(),
            };
            format!(
                "{} {} {arrow} {} ({}){place}",
                b.package,
                b.from,
                b.to,
                b.kind.name()
            )
        })
        .collect();
    let scope = if r.state == crate::policy::RemState::Proposed {
        "status.warn"
    } else {
        "ui.text"
    };
    Line::from(Span::styled(
        format!(
            "patch R{} {}: {} (why? on {})",
            r.id,
            r.state.word(),
            bumps.join(", "),
            View::Remediations.title()
        ),
        ctx.s(scope),
    ))
}

/// Draw the Vulns screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let list = listed(ctx, &ui.filter);
    let [top, bottom] = Layout::vertical([Constraint::Min(4), Constraint::Length(6)]).areas(area);
    let page = top.height.saturating_sub(3).max(1) as usize;
    ui.page = page;
    ui.vulns.offset = ui.vulns.offset.min(list.len().saturating_sub(1));
    let widths = [
        Constraint::Length(7),
        Constraint::Fill(1),
        Constraint::Length(10),
        Constraint::Length(17),
        Constraint::Length(16),
        Constraint::Length(9),
    ];
    let w = super::table_columns(top, &widths);
    let now = ctx.snap.t;
    let rows: Vec<Row> = list
        .iter()
        .skip(ui.vulns.offset)
        .take(page)
        .enumerate()
        .map(|(k, (model, _, o))| {
            let v = &o.found;
            let (label, scope) = severity_label(v.severity, ui.ascii);
            let arrow = if ui.ascii { "->" } else { "→" };
            let fix = v.fixed.as_deref().unwrap_or("no fix");
            let due = match time_left(o, &ctx.snap.deadlines, now) {
                Some(l) if l < 0.0 => (format!("LATE {}", span(-l)), "status.crit"),
                Some(l) => (format!("{} left", span(l)), "ui.text"),
                None => ("—".to_string(), "ui.text.dim"),
            };
            ctx.list_row(
                Row::new(vec![
                    Cell::from(Span::styled(label, ctx.s(scope))),
                    // the key when it fits, else the model's name (the panel below names both)
                    Cell::from(fit(
                        if model.chars().count() <= w[1] {
                            model
                        } else {
                            model.split_once('/').map_or(*model, |(_, n)| n)
                        },
                        w[1],
                    )),
                    Cell::from(fit(&v.package, w[2])),
                    Cell::from(fit(&format!("{} {arrow} {fix}", v.installed), w[3])),
                    Cell::from(fit(&v.advisory, w[4])),
                    Cell::from(Span::styled(fit(&due.0, w[5]), ctx.s(due.1))),
                ]),
                k == 0,
            )
        })
        .collect();
    let models = ctx.snap.vulns.len();
    let title = if list.is_empty() && ctx.snap.vulns.is_empty() {
        " Vulns · no known vulnerability in what the models run ".to_string()
    } else {
        format!(
            " Vulns · {} in {}, most urgent first ",
            super::count(list.len(), "finding"),
            super::count(models, "model")
        )
    };
    let installed = if ui.ascii {
        "installed -> fix"
    } else {
        "installed → fix"
    };
    let header = Row::new(["sev", "model", "package", installed, "advisory", "due"]);
    let block = ctx.panel(top, title);
    f.render_widget(ctx.table(rows, widths.to_vec(), header, block), top);

    // the top row in full: what it is, and what can be done about it
    let text: Vec<Line> = match list.get(ui.vulns.offset) {
        Some((model, _, o)) => {
            let v = &o.found;
            let score = v
                .score
                .map(|s| format!(", CVSS {s:.1}"))
                .unwrap_or_default();
            let action = match (&v.fixed, &v.upgrade_to, &v.source) {
                (None, _, _) => "no fixed version is known: shown, never proposed".to_string(),
                (Some(f), _, Source::Image { container, image }) => format!(
                    "in the image of container {container} ({image}): a rebuild with {} {f} fixes it",
                    v.package
                ),
                (Some(_), Some(u), _) => format!(
                    "the smallest upgrade with no known advisory: {} {u}",
                    v.package
                ),
                (Some(f), None, _) => format!(
                    "fixed in {f}; every later version the advisories name has another advisory"
                ),
            };
            let cve = v
                .cve
                .as_deref()
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            vec![
                Line::from(Span::styled(
                    format!(
                        "{model} · {} {} · {}{cve} · {}{score} · first seen {} ago",
                        v.package,
                        v.installed,
                        v.advisory,
                        v.severity,
                        span(now - o.since)
                    ),
                    ctx.s("ui.header"),
                )),
                Line::from(action),
                patch_line(ctx, model, ui.ascii),
                Line::from(Span::styled(v.title.clone(), ctx.s("ui.text.dim"))),
            ]
        }
        None => vec![Line::from(Span::styled(
            "Findings come from each model's logged requirements matched against the advisories, and from trivy-operator's reports of its serving images (pitcrew scan lists the same).",
            ctx.s("ui.text.dim"),
        ))],
    };
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .block(ctx.panel(bottom, " Finding ".to_string())),
        bottom,
    );
}
