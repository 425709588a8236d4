//! One fleet out of several agents: an attached console follows one agent per shard of
//! namespaces and draws them as one. Each agent numbers its remediations and incidents from 1,
//! so the merged view renumbers them — agent `k` of `n`, its `R3` becomes `R(3·n + k)` — in the
//! records and in the texts that name them, and a command on a merged id goes back to the agent
//! that owns it with the agent's own id. With one agent nothing is renumbered.

use crate::engine::{LinkView, LogEntry, Snapshot, SourceState, StatusCounts};
use std::sync::Arc;

/// The merged id of the agent `k`'s (of `n`) id `local`.
pub fn merged_id(local: u64, k: usize, n: usize) -> u64 {
    if n <= 1 {
        local
    } else {
        local.saturating_mul(n as u64).saturating_add(k as u64)
    }
}

/// The agent (its index) and the agent's own id of a merged id.
pub fn split_id(id: u64, n: usize) -> (usize, u64) {
    if n <= 1 {
        (0, id)
    } else {
        ((id % n as u64) as usize, id / n as u64)
    }
}

/// `text` with the agent `k`'s remediation (`R12`) and incident (`#12`) numbers renumbered.
pub fn renumber_text(text: &str, k: usize, n: usize) -> String {
    if n <= 1 || !text.contains(['R', '#']) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut prev: Option<char> = None;
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        // an id stands alone: at the start, after a space or an opening bracket (a model
        // named `deepseek-R1` or `yolo_R2` keeps its name)
        let marker = (c == 'R' || c == '#')
            && prev.is_none_or(|p| p.is_whitespace() || p == '(' || p == '[');
        if marker {
            let digits: usize = text[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            let after = text[i + 1 + digits..].chars().next();
            if digits > 0
                && !after.is_some_and(char::is_alphanumeric)
                && let Ok(v) = text[i + 1..i + 1 + digits].parse::<u64>()
            {
                out.push(c);
                out.push_str(&merged_id(v, k, n).to_string());
                for _ in 0..digits {
                    it.next();
                }
                prev = Some('0');
                continue;
            }
        }
        out.push(c);
        prev = Some(c);
    }
    out
}

/// The fleets of several agents (`parts[k]` is agent `k`'s snapshot, its link in `links[0]`)
/// as one snapshot; `notices` are the console's own.
pub fn merge(parts: &[Arc<Snapshot>], seq: u64, notices: &[String]) -> Snapshot {
    let n = parts.len();
    if n == 1 {
        let mut s = parts[0].as_ref().clone();
        s.seq = seq;
        if !notices.is_empty() {
            let mut v = s.notices.as_ref().clone();
            v.extend(notices.iter().cloned());
            s.notices = Arc::new(v);
        }
        return s;
    }
    // the phase, overrides and playbooks shown are those of the first agent heard from
    let first = parts
        .iter()
        .find(|p| !p.rows.is_empty())
        .unwrap_or(&parts[0]);
    let mut s = first.as_ref().clone();
    s.seq = seq;
    // the newest clock; the oldest data: a shard that lags makes the whole look as old as it
    s.t = parts.iter().map(|p| p.t).fold(f64::MIN, f64::max);
    let oldest = parts
        .iter()
        .map(|p| p.data_age())
        .try_fold(0.0f64, |acc, a| a.map(|a| acc.max(a)));
    s.last_data = oldest.map(|a| s.t - a);
    s.read_only = parts.iter().any(|p| p.read_only);
    s.actuator = if parts.iter().all(|p| p.actuator.is_some()) {
        first.actuator.clone()
    } else {
        None
    };
    let down: Vec<&LinkView> = parts
        .iter()
        .flat_map(|p| p.links.iter())
        .filter(|l| !l.live)
        .collect();
    s.source.label = format!("{n} agents");
    s.source.state = if let Some(l) = down.first() {
        SourceState::Down {
            error: format!("DISCONNECTED: {}", l.agent),
        }
    } else if let Some(p) = parts
        .iter()
        .find(|p| !matches!(p.source.state, SourceState::Live))
    {
        p.source.state.clone()
    } else {
        SourceState::Live
    };
    let mut rows = Vec::new();
    let mut incidents = Vec::new();
    let mut remediations = Vec::new();
    let mut audit = Vec::new();
    let mut log: Vec<Arc<LogEntry>> = Vec::new();
    let mut counts = StatusCounts::default();
    let mut counters = (0, 0);
    let mut stats = crate::policy::OutcomeStats::default();
    let mut said = Vec::new();
    let mut links = Vec::new();
    let mut vulns = Vec::new();
    let mut offset = 0u32;
    s.detail = None;
    s.budget = None;
    for (k, p) in parts.iter().enumerate() {
        let host = p.links.first().map_or("?", |l| l.agent.as_str());
        for r in p.rows.iter() {
            let mut r = r.clone();
            r.index += offset;
            r.incident = r.incident.map(|i| merged_id(i, k, n));
            rows.push(r);
        }
        if s.detail.is_none()
            && let Some(d) = &p.detail
        {
            let mut d = d.as_ref().clone();
            d.row.index += offset;
            d.row.incident = d.row.incident.map(|i| merged_id(i, k, n));
            s.detail = Some(Arc::new(d));
        }
        for v in p.vulns.iter() {
            let mut v = v.clone();
            v.model += offset;
            vulns.push(v);
        }
        for i in p.incidents.iter() {
            let mut i = i.clone();
            i.id = merged_id(i.id, k, n);
            i.model += offset;
            for h in &mut i.hypotheses {
                for e in &mut h.evidence {
                    *e = renumber_text(e, k, n);
                }
            }
            incidents.push(i);
        }
        for r in p.remediations.iter() {
            let mut r = r.clone();
            r.id = merged_id(r.id, k, n);
            r.incident = r.incident.map(|i| merged_id(i, k, n));
            r.model += offset;
            r.why.trigger = renumber_text(&r.why.trigger, k, n);
            for e in &mut r.why.evidence {
                *e = renumber_text(e, k, n);
            }
            for d in &mut r.decisions {
                d.what = renumber_text(&d.what, k, n);
            }
            for (_, text) in &mut r.timeline {
                *text = renumber_text(text, k, n);
            }
            r.next = r.next.map(|x| renumber_text(&x, k, n));
            r.blocked = r.blocked.map(|x| renumber_text(&x, k, n));
            remediations.push(r);
        }
        for a in p.audit.iter() {
            let mut a = a.clone();
            // a note is the operator's words: left as written
            if a.what != "note" {
                a.subject = renumber_text(&a.subject, k, n);
                a.reason = a.reason.map(|x| renumber_text(&x, k, n));
            }
            audit.push(a);
        }
        for e in p.log.iter() {
            if e.kind != crate::engine::LogKind::Note && e.text.contains(['R', '#']) {
                let mut e = e.as_ref().clone();
                e.text = renumber_text(&e.text, k, n);
                log.push(Arc::new(e));
            } else {
                log.push(e.clone());
            }
        }
        counts.ok += p.counts.ok;
        counts.warn += p.counts.warn;
        counts.crit += p.counts.crit;
        counts.unknown += p.counts.unknown;
        counters.0 += p.counters.0;
        counters.1 += p.counters.1;
        for (name, c) in &p.stats.playbooks {
            let e = stats.playbooks.entry(name.clone()).or_default();
            e.success += c.success;
            e.failure += c.failure;
        }
        for (key, c) in &p.stats.models {
            let e = stats.models.entry(key.clone()).or_default();
            e.success += c.success;
            e.failure += c.failure;
        }
        if let Some(b) = &p.budget {
            let m = s.budget.get_or_insert_with(|| crate::engine::BudgetView {
                budget: 0,
                wanted: 0,
                cuts: Vec::new(),
            });
            m.budget += b.budget;
            m.wanted += b.wanted;
            m.cuts.extend(b.cuts.iter().cloned());
        }
        // (an agent not yet heard from has no fleet and no phase of its own yet)
        if p.phase != first.phase && !p.rows.is_empty() && !first.rows.is_empty() {
            said.push(format!(
                "{host} is in the {} phase, {} in the {}: the console shows the first's",
                p.phase,
                first.links.first().map_or("?", |l| l.agent.as_str()),
                first.phase
            ));
        }
        said.extend(
            p.notices
                .iter()
                .map(|t| format!("{host}: {}", renumber_text(t, k, n))),
        );
        links.extend(p.links.iter().cloned());
        offset += p.rows.len() as u32;
    }
    // every agent's recent log is kept (each is bounded): a busy agent, or one whose clock is
    // ahead, does not push another's out
    log.sort_by(|a, b| a.t.total_cmp(&b.t));
    audit.sort_by(|a, b| a.t.total_cmp(&b.t));
    remediations.sort_by(|a, b| a.proposed.total_cmp(&b.proposed));
    incidents.sort_by(|a, b| a.opened.total_cmp(&b.opened));
    said.extend(notices.iter().cloned());
    s.rows = Arc::new(rows);
    s.incidents = Arc::new(incidents);
    s.remediations = Arc::new(remediations);
    s.vulns = Arc::new(vulns);
    s.audit = Arc::new(audit);
    s.log = Arc::new(log);
    s.counts = counts;
    s.counters = counters;
    s.stats = Arc::new(stats);
    s.notices = Arc::new(said);
    // each agent's executor is on its link; one line could not say them all
    s.executor = None;
    s.links = links;
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_go_back_to_their_agent() {
        for n in 1..5 {
            for k in 0..n {
                for local in [1u64, 2, 7, 999_999, 5_000_000] {
                    assert_eq!(split_id(merged_id(local, k, n), n), (k, local));
                }
            }
        }
        // distinct agents never share a merged id
        assert_ne!(merged_id(3, 0, 2), merged_id(3, 1, 2));
    }

    #[test]
    fn texts_name_the_merged_ids() {
        assert_eq!(
            renumber_text("alice approved R3 (incident #2)", 1, 2),
            "alice approved R7 (incident #5)"
        );
        // words that merely contain the letters are left alone
        assert_eq!(renumber_text("CR3 R3x #a R", 0, 2), "CR3 R3x #a R");
        assert_eq!(renumber_text("R12: done", 0, 3), "R36: done");
        assert_eq!(renumber_text("R3 vetoed", 0, 1), "R3 vetoed");
        assert_eq!(renumber_text("ünï R1 é", 1, 2), "ünï R3 é");
        // model names and versions that end in something like an id keep it
        assert_eq!(
            renumber_text("restart ml/deepseek-R1 (R2) v#3 yolo_R4", 1, 2),
            "restart ml/deepseek-R1 (R5) v#3 yolo_R4"
        );
    }
}
