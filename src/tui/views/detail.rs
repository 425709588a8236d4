//! The Model detail screen: charts of every signal over a chosen window and the model's events.

use super::{Ctx, clock};
use crate::domain::Signal;
use crate::engine::Status;
use crate::tui::keymap::Action;
use crate::tui::state::{Ui, Window};
use crate::tui::widgets::chart::{ChartStyles, LineChart};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

fn chart_scope(s: Signal) -> &'static str {
    match s {
        Signal::RequestRate => "chart.rate",
        Signal::LatencyP95 => "chart.latency",
        Signal::ErrorRate => "chart.errors",
        Signal::Accuracy => "chart.accuracy",
        Signal::Cpu => "chart.cpu",
        Signal::Replicas => "chart.replicas",
    }
}

/// Draw the detail screen for the selected model.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let Some(row) = ui.selected_row(snap).cloned() else {
        f.render_widget(
            Paragraph::new("no model selected — pick one on the Fleet screen")
                .style(ctx.s("ui.text.dim"))
                .block(Block::default().borders(Borders::ALL)),
            area,
        );
        return;
    };
    let key = row.meta.key();
    let detail = snap.detail.as_ref().filter(|d| d.row.meta.key() == key);
    let ascii = ui.ascii;
    let windows: Vec<Span> = Window::ALL
        .iter()
        .map(|w| {
            if *w == ui.detail.window {
                Span::styled(format!("[{}]", w.label()), ctx.s("ui.tab.active"))
            } else {
                Span::styled(format!(" {} ", w.label()), ctx.s("ui.tab"))
            }
        })
        .collect();
    let mut head = vec![
        Span::styled(
            format!("{} {} ", row.status.symbol(ascii), row.status.word()),
            ctx.s(row.status.scope()),
        ),
        Span::styled(key.clone(), ctx.s("ui.title")),
        Span::raw(format!(
            " {} · priority {} ",
            if row.meta.version.is_empty() {
                "version unknown"
            } else {
                &row.meta.version
            },
            row.meta.priority
        )),
    ];
    if !row.reason.is_empty() && row.status != Status::Ok {
        head.push(Span::styled(
            format!("· {} ", row.reason),
            ctx.s(row.status.scope()),
        ));
    }
    let mut line2 = vec![Span::styled(
        format!(
            "window ({}/{}): ",
            ctx.key(Action::PrevWindow),
            ctx.key(Action::NextWindow)
        ),
        ctx.s("ui.text.dim"),
    )];
    line2.extend(windows);
    let events_h: u16 = if area.height >= 30 {
        8
    } else if area.height >= 18 {
        4
    } else {
        0
    };
    let [h1, h2, charts, evs] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(events_h),
    ])
    .areas(area);
    f.render_widget(Line::from(head), h1);
    f.render_widget(Line::from(line2), h2);

    let Some(detail) = detail else {
        f.render_widget(
            Paragraph::new("loading this model's history…").style(ctx.s("ui.text.dim")),
            charts,
        );
        return;
    };
    let t1 = snap.t;
    let t0 = t1 - ui.detail.window.seconds();
    let styles = |sig: Signal| ChartStyles {
        line: ctx.s(chart_scope(sig)),
        band: ctx.s("chart.band"),
        axis: ctx.s("chart.axis"),
        anomaly: ctx.s("chart.anomaly"),
    };
    // grid of all six charts when each gets ≥ 6 rows, else the chosen signal large + values
    let grid = charts.height >= 18 && charts.width >= 60;
    let draw_chart = |f: &mut Frame, sig: Signal, r: Rect, focused: bool| {
        let pts = detail
            .history
            .series(sig, ui.detail.window.resolution(), t0);
        let band = detail.history.band(sig, t0);
        let marks: Vec<f64> = detail
            .anomalies
            .iter()
            .filter(|a| a.signal == sig && a.t >= t0)
            .map(|a| a.t)
            .collect();
        let cur = sig.format(f64::from(row.values[sig.index()]));
        let title = format!(" {} {} ", sig.title(), cur);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(if focused {
                ctx.s("ui.border.focus")
            } else {
                ctx.s("ui.border")
            })
            .title(Span::styled(title, ctx.s("ui.title")));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let fmt = move |v: f64| sig.format(v);
        f.render_widget(
            LineChart {
                points: &pts,
                band: &band,
                marks: &marks,
                x_range: (t0, t1),
                fmt_y: &fmt,
                ascii,
                styles: styles(sig),
            },
            inner,
        );
    };
    if grid {
        let rows = Layout::vertical([Constraint::Ratio(1, 3); 3]).split(charts);
        for (ri, r) in rows.iter().enumerate() {
            let cols = Layout::horizontal([Constraint::Ratio(1, 2); 2]).split(*r);
            for (ci, c) in cols.iter().enumerate() {
                let sig = Signal::ALL[ri * 2 + ci];
                draw_chart(f, sig, *c, sig == ui.detail.signal);
            }
        }
    } else {
        let [big, side] =
            Layout::horizontal([Constraint::Min(30), Constraint::Length(24)]).areas(charts);
        draw_chart(f, ui.detail.signal, big, true);
        let mut lines = vec![Line::from(Span::styled(
            format!(
                "{}/{} signal",
                ctx.key(Action::PrevSignal),
                ctx.key(Action::NextSignal)
            ),
            ctx.s("ui.text.dim"),
        ))];
        for sig in Signal::ALL {
            let mark = super::marker(sig == ui.detail.signal, ascii);
            lines.push(Line::from(format!(
                "{mark}{:<12}{:>8}",
                sig.title(),
                sig.format(f64::from(row.values[sig.index()]))
            )));
        }
        f.render_widget(
            Paragraph::new(lines).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(ctx.s("ui.border")),
            ),
            side,
        );
    }
    if events_h > 0 {
        let mine: Vec<Line> = snap
            .log
            .iter()
            .rev()
            .filter(|e| e.model.as_deref() == Some(key.as_str()))
            .take(events_h.saturating_sub(2) as usize)
            .map(|e| {
                Line::from(vec![
                    Span::styled(format!("{} ", clock(e.t)), ctx.s("ui.text.dim")),
                    Span::styled(format!("{:<8} ", e.kind.label()), ctx.s(e.kind.scope())),
                    Span::raw(e.text.clone()),
                ])
            })
            .collect();
        let body = if mine.is_empty() {
            vec![Line::from(Span::styled(
                "nothing has happened to this model yet",
                ctx.s("ui.text.dim"),
            ))]
        } else {
            mine
        };
        f.render_widget(
            Paragraph::new(body).block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(ctx.s("ui.border"))
                    .title(Span::styled(" recent events ", ctx.s("ui.title"))),
            ),
            evs,
        );
    }
}
