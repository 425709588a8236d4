//! The Fleet screen: one row per model, virtualised (only visible rows are built).

use super::Ctx;
use crate::domain::Signal;
use crate::engine::FleetRow;
use crate::tui::keymap::Action;
use crate::tui::state::Ui;
use crate::tui::widgets::spark::spark;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

/// Sparkline width that fits the space left by the fixed columns (0 = no sparklines).
pub(crate) fn spark_width(spare: usize) -> usize {
    let w = spare / 3;
    if w < 6 {
        0
    } else {
        w.min(crate::engine::SPARK_LEN)
    }
}

fn signal_cell(
    ctx: &Ctx,
    r: &FleetRow,
    sig: Signal,
    spark_idx: Option<usize>,
    sw: usize,
    ascii: bool,
) -> Cell<'static> {
    let v = f64::from(r.values[sig.index()]);
    let text = sig.format(v);
    let w = value_width(sig);
    match spark_idx {
        Some(k) if sw > 0 => {
            let sp = spark(&r.spark[k], sw, ascii);
            let scope = match sig {
                Signal::RequestRate => "chart.rate",
                Signal::LatencyP95 => "chart.latency",
                _ => "chart.errors",
            };
            Cell::from(Line::from(vec![
                Span::styled(sp, ctx.s(scope)),
                Span::raw(format!(" {text:>w$}")),
            ]))
        }
        _ => Cell::from(Line::from(format!("{text:>w$}"))),
    }
}

fn spark_idx(sig: Signal) -> bool {
    matches!(
        sig,
        Signal::RequestRate | Signal::LatencyP95 | Signal::ErrorRate
    )
}

/// Columns a signal's value takes.
fn value_width(sig: Signal) -> usize {
    match sig {
        Signal::RequestRate | Signal::LatencyP95 => 7,
        Signal::ErrorRate => 6,
        Signal::Accuracy => 5,
        Signal::Cpu | Signal::Replicas => 4,
    }
}

/// Draw the Fleet screen.
pub fn draw(f: &mut Frame, ui: &mut Ui, ctx: &Ctx, area: Rect) {
    let snap = ctx.snap;
    let total = snap.rows.len();
    let sel_pos = ui.selected_pos(snap);
    if ui.selected.is_none()
        && let Some(&i) = ui.visible(snap).first()
    {
        ui.selected = Some(snap.rows[i as usize].meta.key());
    }
    let shown = ui.visible(snap).len();
    let wide = area.width >= 100;
    // rows available: block borders (2) + header (1)
    let page = area.height.saturating_sub(3).max(1) as usize;
    ui.page = page;
    if let Some(p) = sel_pos {
        if p < ui.fleet.offset {
            ui.fleet.offset = p;
        } else if p >= ui.fleet.offset + page {
            ui.fleet.offset = p + 1 - page;
        }
    }
    ui.fleet.offset = ui.fleet.offset.min(shown.saturating_sub(page));
    let from = ui.fleet.offset;
    let to = (from + page).min(shown);
    let ascii = ui.ascii;
    let arrow = if ui.fleet.reverse {
        if ascii { "^" } else { "↑" }
    } else if ascii {
        "v"
    } else {
        "↓"
    };
    let title = if ui.filter.is_empty() {
        format!(
            " Fleet · {} · sort {} {arrow} ({}) ",
            super::count(total, "model"),
            ui.fleet.sort.label(),
            ctx.key(Action::SortNext)
        )
    } else {
        format!(
            " Fleet · {shown} of {total} match \"{}\" · sort {} {arrow} ",
            ui.filter,
            ui.fleet.sort.label()
        )
    };
    let pos = if shown == 0 {
        " 0 of 0 ".to_string()
    } else {
        format!(" {}–{} of {shown} ", from + 1, to)
    };
    let block = ctx
        .panel(area, title)
        .title_bottom(Line::from(Span::styled(pos, ctx.s("ui.text.dim"))).right_aligned());
    if shown == 0 {
        let msg = if total == 0 {
            "waiting for the first models from the source…".to_string()
        } else {
            format!(
                "no model matches \"{}\" — {} clears the filter",
                ui.filter,
                ctx.key(Action::ClearFilter)
            )
        };
        f.render_widget(
            Paragraph::new(msg).style(ctx.s("ui.text.dim")).block(block),
            area,
        );
        return;
    }
    let vis: Vec<u32> = ui.visible(snap)[from..to].to_vec();
    let name_w = vis
        .iter()
        .map(|&i| snap.rows[i as usize].meta.name.chars().count())
        .max()
        .unwrap_or(10)
        .clamp(10, 28);
    let ns_w = if wide {
        vis.iter()
            .map(|&i| snap.rows[i as usize].meta.namespace.chars().count())
            .max()
            .unwrap_or(9)
            .clamp(9, 16)
    } else {
        0
    };
    // status 8, ver 4, vuln 4, values 7+7+6+5+4+4, spacing between columns, borders 2
    let cols = if wide { 11 } else { 10 };
    let fixed = 8 + name_w + ns_w + 4 + 4 + 33 + cols + 2;
    // wide terminals get the next planned scale event; very wide ones say why a model is not ok
    let next_w = if area.width >= 120 { 11 } else { 0 };
    let why_w = if area.width >= 170 { 40 } else { 0 };
    let sw = spark_width((area.width as usize).saturating_sub(fixed + 3 + why_w + next_w));
    let spark_col = |sig: Signal| {
        let v = value_width(sig);
        Constraint::Length((if sw > 0 { sw + 1 + v } else { v }) as u16)
    };
    let mut widths = vec![Constraint::Length(8), Constraint::Length(name_w as u16)];
    if wide {
        widths.push(Constraint::Length(ns_w as u16));
    }
    widths.extend([
        Constraint::Length(4),
        Constraint::Length(4),
        spark_col(Signal::RequestRate),
        spark_col(Signal::LatencyP95),
        spark_col(Signal::ErrorRate),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(4),
    ]);
    if next_w > 0 {
        widths.push(Constraint::Length(next_w as u16));
    }
    if why_w > 0 {
        widths.push(Constraint::Fill(1));
    }
    let why_fit = super::table_columns(area, &widths)
        .last()
        .copied()
        .unwrap_or(0);
    let sel_key = ui.selected.clone();
    let mut rows = Vec::with_capacity(vis.len());
    for &i in &vis {
        let r = &snap.rows[i as usize];
        let selected = sel_key.as_deref().is_some_and(|k| r.meta.is(k));
        let marker = super::marker(selected, ascii);
        let st = r.status;
        let status_cell = Cell::from(Span::styled(
            format!("{marker}{} {}", st.symbol(ascii), st.word()),
            ctx.s(st.scope()),
        ));
        let mut cells = vec![status_cell, Cell::from(super::fit(&r.meta.name, name_w))];
        if wide {
            cells.push(Cell::from(super::fit(&r.meta.namespace, ns_w)));
        }
        cells.push(Cell::from(if r.meta.version.is_empty() {
            "—".to_string()
        } else {
            super::fit(&r.meta.version, 4)
        }));
        // the worst known vulnerability open in what it runs, as a word (the Vulns screen
        // lists them)
        cells.push(match r.vuln {
            Some(s) => {
                let (label, scope) = super::vulns::severity_label(s, ascii);
                let word = label.split_once(' ').map_or(label, |(_, w)| w);
                Cell::from(Span::styled(word, ctx.s(scope)))
            }
            None => Cell::from(""),
        });
        cells.push(signal_cell(ctx, r, Signal::RequestRate, Some(0), sw, ascii));
        cells.push(signal_cell(ctx, r, Signal::LatencyP95, Some(1), sw, ascii));
        cells.push(signal_cell(ctx, r, Signal::ErrorRate, Some(2), sw, ascii));
        cells.push(signal_cell(ctx, r, Signal::Accuracy, None, 0, ascii));
        cells.push(signal_cell(ctx, r, Signal::Cpu, None, 0, ascii));
        cells.push(signal_cell(ctx, r, Signal::Replicas, None, 0, ascii));
        if next_w > 0 {
            cells.push(Cell::from(match r.next_scale {
                Some((t, from, to)) => {
                    let arrow = if to > from {
                        if ascii { "^" } else { "↑" }
                    } else if ascii {
                        "v"
                    } else {
                        "↓"
                    };
                    let mins = ((t - snap.t) / 60.0).max(0.0);
                    if mins < 1.0 {
                        format!("{arrow}{to} now")
                    } else {
                        format!("{arrow}{to} {mins:.0}m")
                    }
                }
                None => String::new(),
            }));
        }
        if why_w > 0 {
            let why = if r.status == crate::engine::Status::Ok {
                String::new()
            } else {
                r.reason.clone()
            };
            cells.push(Cell::from(super::fit(&why, why_fit)));
        }
        rows.push(ctx.list_row(Row::new(cells), selected));
    }
    let mut header: Vec<Cell> = vec![Cell::from("status"), Cell::from("model")];
    if wide {
        header.push(Cell::from("namespace"));
    }
    header.push(Cell::from("ver"));
    header.push(Cell::from("vuln"));
    for (sig, h) in [
        (Signal::RequestRate, "rate"),
        (Signal::LatencyP95, "p95"),
        (Signal::ErrorRate, "errors"),
        (Signal::Accuracy, "acc"),
        (Signal::Cpu, "cpu"),
        (Signal::Replicas, "pods"),
    ] {
        let w = value_width(sig) + if sw > 0 && spark_idx(sig) { sw + 1 } else { 0 };
        header.push(Cell::from(format!("{h:>w$}")));
    }
    if next_w > 0 {
        header.push(Cell::from("next scale"));
    }
    if why_w > 0 {
        header.push(Cell::from("why"));
    }
    f.render_widget(ctx.table(rows, widths, Row::new(header), block), area);
}
