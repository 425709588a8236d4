//! The Forecast screen: the selected model's demand history and forecast with its 80 % band,
//! planned against current replicas, the next planned scale event and the fleet budget.

use super::{Ctx, clock};
use crate::domain::Signal;
use crate::engine::plan::PlanState;
use crate::fleet::Resolution;
use crate::tui::state::Ui;
use crate::tui::widgets::chart::{ChartStyles, LineChart};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Hours of history shown before now.
const PAST_HOURS: f64 = 18.0;

/// `↑12 at 16:40 (in 25m)` for a scale event.
pub(crate) fn scale_event(now: f64, ev: (f64, u32, u32), ascii: bool) -> String {
    let (t, from, to) = ev;
    // in ASCII a `v` would read as a version: say "->" instead
    let arrow = match (to > from, ascii) {
        (true, false) => "↑",
        (false, false) => "↓",
        (_, true) => "->",
    };
    let mins = ((t - now) / 60.0).max(0.0);
    if mins < 1.0 {
        format!("{arrow}{to} now (from {from})")
    } else {
        format!(
            "{arrow}{to} at {} (in {:.0}m, from {from})",
            &clock(t)[..5],
            mins
        )
    }
}

/// Draw the Forecast screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let Some(row) = ui.selected_row(snap).cloned() else {
        f.render_widget(
            Paragraph::new("no model selected — pick one on the Fleet screen")
                .style(ctx.s("ui.text.dim")),
            area,
        );
        return;
    };
    let key = row.meta.key();
    let detail = snap.detail.as_ref().filter(|d| d.row.meta.is(&key));
    let block = |title: String| ctx.panel(area, title);
    let Some(detail) = detail else {
        f.render_widget(
            Paragraph::new("loading this model's history…")
                .style(ctx.s("ui.text.dim"))
                .block(block(format!(" Forecast · {key} "))),
            area,
        );
        return;
    };
    let now = snap.t;
    let info_h: u16 = if area.height >= 30 { 9 } else { 5 };
    let [info, demand_area, replicas_area] = Layout::vertical([
        Constraint::Length(info_h),
        Constraint::Min(5),
        Constraint::Percentage(35),
    ])
    .areas(area);
    let ascii = ui.ascii;
    let mut lines: Vec<Line> = Vec::new();
    let plan = match &detail.plan {
        PlanState::Ready(p) => Some(p.clone()),
        PlanState::Pending => {
            lines.push(Line::from(Span::styled(
                "forecast pending: models are forecast every 5 minutes",
                ctx.s("ui.text.dim"),
            )));
            None
        }
        PlanState::Failed(t, why) => {
            lines.push(Line::from(Span::styled(
                format!("no forecast at {}: {why}", clock(*t)),
                ctx.s("status.warn"),
            )));
            None
        }
    };
    let sizing = plan.as_ref().and_then(|p| p.sizing());
    if let Some(p) = &plan
        && let Err(why) = &p.sizing
    {
        lines.push(Line::from(Span::styled(why.clone(), ctx.s("ui.text.dim"))));
    }
    if let Some(z) = sizing {
        let next = match z.plan.next_scale_event {
            Some(ev) => scale_event(now, ev, ascii),
            None => "none within the horizon".to_string(),
        };
        lines.push(Line::from(vec![
            Span::styled("next planned scale: ", ctx.s("ui.text.dim")),
            Span::styled(next, ctx.s("ui.help.key")),
            Span::styled(
                format!(
                    " · plan now {} (reactive floor {}) · current {}",
                    z.plan.desired_now,
                    z.plan.reactive_floor,
                    Signal::Replicas.format(f64::from(row.values[Signal::Replicas.index()]))
                ),
                ctx.s("ui.text"),
            ),
        ]));
        if let Some(b) = &snap.budget {
            let cuts = if b.cuts.is_empty() {
                "nobody cut".to_string()
            } else {
                b.cuts
                    .iter()
                    .take(4)
                    .map(|(m, w, g)| format!("{m} {w} → {g}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            lines.push(Line::from(Span::styled(
                format!(
                    "fleet budget {} replicas, plans want {}: {cuts}",
                    b.budget, b.wanted
                ),
                ctx.s("ui.text"),
            )));
        }
    }
    if let Some(p) = &plan {
        if let Some((w, g)) = p.cut {
            lines.push(Line::from(Span::styled(
                format!("fleet budget cut this model: wants {w} replicas, granted {g}"),
                ctx.s("status.warn"),
            )));
        }
        let method = p.forecast.method.split(" — ").next().unwrap_or("");
        let periods: Vec<String> = p
            .forecast
            .periods
            .iter()
            .map(|k| {
                let secs = *k as f64 * p.forecast.step_secs;
                if (secs - 86_400.0).abs() < 600.0 {
                    "daily".to_string()
                } else if (secs - 604_800.0).abs() < 3600.0 {
                    "weekly".to_string()
                } else {
                    format!("{:.1} h", secs / 3600.0)
                }
            })
            .collect();
        let serves = sizing.map_or(String::new(), |z| {
            format!(
                " · one replica serves {} at 70 % CPU",
                Signal::RequestRate.format(z.capacity)
            )
        });
        lines.push(Line::from(vec![
            Span::styled("forecast: ", ctx.s("ui.text.dim")),
            Span::raw(format!(
                "{method} · seasonality {} · made {}{serves}",
                if periods.is_empty() {
                    "none".to_string()
                } else {
                    periods.join(" + ")
                },
                clock(p.made_at),
            )),
        ]));
        if let Some(z) = sizing {
            lines.push(Line::from(Span::styled(
                format!("forecast-only: shown, not acted on · {}", z.plan.reason),
                ctx.s("ui.text.dim"),
            )));
        }
    }
    if let Some(d) = &detail.deploy {
        let mut spans = vec![
            Span::styled("next deploy: ", ctx.s("ui.text.dim")),
            Span::raw(format!("{} at {}", d.version, &clock(d.at)[..5])),
        ];
        match &d.advice {
            None => spans.push(Span::styled(
                format!(
                    " · the duration predictor has too few varied past deploys yet ({} seen)",
                    d.trained_on
                ),
                ctx.s("ui.text.dim"),
            )),
            Some((a, rmse)) => {
                spans.push(Span::raw(format!(
                    " · predicted {:.1} min (±{:.0} s, from {} past deploys)",
                    a.predicted_secs / 60.0,
                    rmse,
                    d.trained_on
                )));
                let mut recs = Vec::new();
                if a.more_resources {
                    recs.push("more resources".to_string());
                }
                if let Some(t) = a.later_slot {
                    recs.push(format!("later slot {}", &clock(t)[..5]));
                }
                if a.canary {
                    recs.push("canary rollout".to_string());
                }
                if recs.is_empty() {
                    recs.push("go as planned".to_string());
                }
                spans.push(Span::styled(
                    format!(" → {}", recs.join(", ")),
                    ctx.s("ui.help.key"),
                ));
            }
        }
        lines.push(Line::from(spans));
        if let Some((a, _)) = &d.advice {
            for r in &a.reasons {
                lines.push(Line::from(Span::styled(
                    format!("  · {r}"),
                    ctx.s("ui.text.dim"),
                )));
            }
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(block(format!(" Forecast · {key} "))),
        info,
    );

    let t0 = now - PAST_HOURS * 3600.0;
    let t1 = plan
        .as_ref()
        .and_then(|p| p.forecast.points.last().map(|q| q.t))
        .unwrap_or(now + 6.0 * 3600.0);
    // demand: history (one-minute means for 6 h, five-minute before) then the forecast mean
    let mut pts = detail
        .history
        .series(Signal::RequestRate, Resolution::Coarse, t0);
    if let Some(p) = &plan {
        pts.extend(p.forecast.points.iter().map(|q| (q.t, q.mean)));
    }
    let band: Vec<(f64, f64, f64)> = plan
        .as_ref()
        .map(|p| {
            p.forecast
                .points
                .iter()
                .map(|q| (q.t, q.lo80, q.hi80))
                .collect()
        })
        .unwrap_or_default();
    let fmt_rate = |v: f64| Signal::RequestRate.format(v);
    let inner_block = |title: &str| block(format!(" {title} "));
    let b = inner_block(&format!(
        "demand: last {PAST_HOURS:.0} h and forecast (80 % band) · now {}",
        clock(now)
    ));
    let inner = b.inner(demand_area);
    f.render_widget(b, demand_area);
    f.render_widget(
        LineChart {
            points: &pts,
            band: &band,
            marks: &[now],
            x_range: (t0, t1),
            fmt_y: &fmt_rate,
            ascii,
            styles: ChartStyles {
                line: ctx.s("chart.rate"),
                band: ctx.s("chart.forecast"),
                axis: ctx.s("chart.axis"),
                anomaly: ctx.s("chart.baseline"),
            },
        },
        inner,
    );
    // replicas: ready history, then the plan
    let mut reps = detail
        .history
        .series(Signal::Replicas, Resolution::Coarse, t0);
    if let Some(z) = plan.as_ref().and_then(|p| p.sizing()) {
        reps.extend(z.plan.steps.iter().map(|s| (s.t, f64::from(s.replicas))));
    }
    let fmt_reps = |v: f64| format!("{v:.0}");
    let b = inner_block("replicas: ready, then planned");
    let inner = b.inner(replicas_area);
    f.render_widget(b, replicas_area);
    f.render_widget(
        LineChart {
            points: &reps,
            band: &[],
            marks: &[now],
            x_range: (t0, t1),
            fmt_y: &fmt_reps,
            ascii,
            styles: ChartStyles {
                line: ctx.s("chart.replicas"),
                band: ctx.s("chart.band"),
                axis: ctx.s("chart.axis"),
                anomaly: ctx.s("chart.baseline"),
            },
        },
        inner,
    );
}
