//! `pitcrew replay --summary`: a recording told as an incident report (incidents, what was
//! decided, by whom and how it ended), as data and as Markdown.

use super::ReplayError;
use super::player::Player;
use super::recording::Recording;
use crate::engine::{Event, LogKind};
use serde::Serialize;
use std::path::Path;

/// One incident in the report.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    /// Id.
    pub id: u64,
    /// Model.
    pub model: String,
    /// What was injected on the model before it (simulated fleets), with when.
    pub injected: Option<(String, f64)>,
    /// First symptom.
    pub onset: f64,
    /// Opened.
    pub opened: f64,
    /// Injection (or onset) to opening, seconds.
    pub detection_delay_secs: f64,
    /// Resolved.
    pub resolved: Option<f64>,
    /// Injection (or onset) to the signals being back for good, seconds.
    pub mttr_secs: Option<f64>,
    /// Top diagnosis.
    pub diagnosis: Option<String>,
}

/// The incident report of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// File.
    pub file: String,
    /// Source.
    pub source: String,
    /// Recorded by.
    pub user: String,
    /// First and last event time.
    pub from: f64,
    /// Last event time.
    pub to: f64,
    /// Incidents.
    pub incidents: Vec<IncidentSummary>,
    /// Decisions (who, when, what, why).
    pub decisions: Vec<crate::engine::remedy::AuditEntry>,
    /// Remediations: (id, model, playbook, final state, action).
    pub remediations: Vec<(u64, String, String, String, String)>,
    /// Timeline: the log entries that matter (incidents, proposals, decisions, actions,
    /// outcomes, phase changes, notes).
    pub timeline: Vec<(f64, String, String)>,
    /// Lines skipped while reading.
    pub problems: Vec<String>,
}

/// Build the incident report by re-running the recording.
pub fn summary(path: &Path) -> Result<Summary, ReplayError> {
    let rec = std::sync::Arc::new(Recording::open(path)?);
    let mut p = Player::new(rec.clone())?;
    let mut injected: Vec<(u32, String, f64)> = Vec::new();
    let mut timeline = Vec::new();
    let mut logged = 0;
    while p.next < rec.events.len() {
        let idx = rec.events[p.next];
        let ev = p.reader.event(&idx);
        if let Some(Event::Change {
            t,
            model,
            change: crate::engine::Change::Injected { incident },
        }) = &ev
        {
            injected.push((*model, incident.name().to_string(), *t));
        }
        // the event read once, applied as `step` would
        p.apply_read(idx, ev);
        for e in p.engine.log_since(logged) {
            if matches!(
                e.kind,
                LogKind::Incident
                    | LogKind::Proposal
                    | LogKind::Decision
                    | LogKind::Action
                    | LogKind::Outcome
                    | LogKind::Phase
                    | LogKind::Note
                    | LogKind::Injection
            ) {
                timeline.push((
                    e.t,
                    e.model.clone().unwrap_or_default(),
                    format!("{}: {}", e.kind.label(), e.text),
                ));
            }
        }
        logged = p.engine.log_seq();
    }
    let e = p.engine();
    let incidents = e
        .incidents()
        .map(|i| {
            let inj = injected
                .iter()
                .filter(|(m, _, t)| *m == i.model && *t <= i.opened)
                .max_by(|a, b| a.2.total_cmp(&b.2))
                .map(|(_, k, t)| (k.clone(), *t));
            let start = inj.as_ref().map_or(i.onset, |x| x.1.min(i.onset));
            IncidentSummary {
                id: i.id,
                model: i.key.clone(),
                injected: inj,
                onset: i.onset,
                opened: i.opened,
                detection_delay_secs: i.opened - start,
                resolved: i.resolved,
                mttr_secs: i
                    .resolved
                    .map(|r| (r - crate::engine::incident::RESOLVE_AFTER - start).max(0.0)),
                diagnosis: i
                    .top()
                    .map(|h| format!("{} ({:.0} %)", h.cause, h.confidence * 100.0)),
            }
        })
        .collect();
    let snap = e.snapshot(None, 0);
    let (from, to) = rec.span();
    Ok(Summary {
        file: path.display().to_string(),
        source: rec.source.clone(),
        user: rec.user.clone(),
        from,
        to,
        incidents,
        decisions: snap.audit.as_ref().clone(),
        remediations: snap
            .remediations
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.key.clone(),
                    r.playbook.clone(),
                    r.state.word().to_string(),
                    r.action.describe(),
                )
            })
            .collect(),
        timeline,
        problems: rec.problems.clone(),
    })
}

fn mins(s: Option<f64>) -> String {
    s.map_or_else(|| "—".to_string(), |v| format!("{:.1} min", v / 60.0))
}

/// The report as Markdown.
pub fn summary_markdown(s: &Summary) -> String {
    use crate::domain::time::datetime;
    let mut o = format!(
        "# Incident report: {}\n\nSource: {} · recorded by {} · {} → {} UTC\n\n## Incidents\n\n",
        s.file,
        s.source,
        s.user,
        datetime(s.from),
        datetime(s.to)
    );
    if s.incidents.is_empty() {
        o.push_str("None.\n");
    } else {
        o.push_str("| # | model | injected | opened | detection delay | diagnosis | resolved | MTTR |\n|---|---|---|---|---|---|---|---|\n");
        for i in &s.incidents {
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
                i.id,
                i.model,
                i.injected.as_ref().map_or("—".into(), |x| x.0.clone()),
                datetime(i.opened),
                mins(Some(i.detection_delay_secs)),
                i.diagnosis.clone().unwrap_or_else(|| "—".into()),
                i.resolved.map_or("open".into(), datetime),
                mins(i.mttr_secs)
            ));
        }
    }
    o.push_str("\n## Decisions\n\n");
    if s.decisions.is_empty() {
        o.push_str("None.\n");
    }
    for d in &s.decisions {
        o.push_str(&format!(
            "- {} **{}** {} {}{}\n",
            datetime(d.t),
            d.who,
            d.what,
            d.subject,
            d.reason
                .as_ref()
                .map(|r| format!(" — “{r}”"))
                .unwrap_or_default()
        ));
    }
    o.push_str("\n## Remediations\n\n");
    if s.remediations.is_empty() {
        o.push_str("None.\n");
    }
    for (id, model, pb, state, action) in &s.remediations {
        o.push_str(&format!("- R{id} {action} on {model} ({pb}): {state}\n"));
    }
    o.push_str("\n## Timeline\n\n");
    for (t, model, text) in &s.timeline {
        o.push_str(&format!("- {} {model} {text}\n", datetime(*t)));
    }
    if !s.problems.is_empty() {
        o.push_str("\n## Lines skipped\n\n");
        for p in &s.problems {
            o.push_str(&format!("- {p}\n"));
        }
    }
    o
}
