//! The orders the screens list things in: fleet rows filtered and sorted, the remediation
//! queue, incidents newest first, and a selection held by id moved through a list.

use super::keymap::Action;
use super::state::SortKey;
use crate::engine::{FleetRow, Snapshot, Status};

/// The item of `list` whose id is `selected`; with none selected (or when it is gone), the
/// first item, which then becomes the selection, so that what is highlighted is what an
/// action applies to.
pub(super) fn pick_by_id<'a, T>(
    list: &[&'a T],
    selected: &mut Option<u64>,
    id: impl Fn(&T) -> u64,
) -> Option<&'a T> {
    let found = selected.and_then(|s| list.iter().find(|x| id(x) == s).copied());
    let item = found.or_else(|| list.first().copied())?;
    *selected = Some(id(item));
    Some(item)
}

/// Move a selection held by id through a list of ids in display order: the new selection is
/// the id at the moved position (the first when nothing was selected or the selected id is
/// gone). Nothing moves but what the key asks for.
pub(super) fn step_by_id(
    ids: &[u64],
    selected: Option<u64>,
    a: Action,
    page: isize,
) -> Option<u64> {
    if ids.is_empty() {
        return None;
    }
    let pos = selected
        .and_then(|id| ids.iter().position(|&i| i == id))
        .unwrap_or(0);
    Some(ids[scroll(pos, a, page, ids.len())])
}

/// Remediations in queue order: waiting for a human first, then running, then the rest
/// (newest first).
pub fn remediation_queue(snap: &Snapshot) -> Vec<&crate::policy::Remediation> {
    let rank = |r: &crate::policy::Remediation| {
        if r.state.needs_human() {
            0
        } else if r.state.is_running() {
            1
        } else if r.state == crate::policy::RemState::WouldDo {
            2
        } else {
            3
        }
    };
    let mut v: Vec<_> = snap.remediations.iter().collect();
    // newest first by when it was proposed (ids are each agent's own order, and a console on
    // several agents renumbers them), then by id
    v.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| b.proposed.total_cmp(&a.proposed))
            .then_with(|| b.id.cmp(&a.id))
    });
    v
}

/// Incidents in display order: open ones first (newest first), then resolved (newest first).
pub fn incidents_newest_first(snap: &Snapshot) -> Vec<&crate::engine::incident::Incident> {
    let mut v: Vec<_> = snap.incidents.iter().collect();
    v.sort_by(|a, b| {
        b.is_open()
            .cmp(&a.is_open())
            .then_with(|| b.onset.total_cmp(&a.onset))
            .then_with(|| b.id.cmp(&a.id))
    });
    v
}

fn cmp_f32_desc(a: f32, b: f32) -> std::cmp::Ordering {
    // NaN last
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.total_cmp(&a),
    }
}

/// Filter and sort fleet rows.
pub(crate) fn compute_visible(
    rows: &[FleetRow],
    sort: SortKey,
    reverse: bool,
    filter: &str,
) -> Vec<u32> {
    let f = filter.to_lowercase();
    let mut v: Vec<u32> = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            f.is_empty()
                || r.meta.name.to_lowercase().contains(&f)
                || r.meta.namespace.to_lowercase().contains(&f)
                || (f.contains('/') && r.meta.key().to_lowercase().contains(&f))
                || r.meta.version.to_lowercase().contains(&f)
                || r.status.word().contains(&f)
        })
        .map(|(i, _)| i as u32)
        .collect();
    v.sort_by(|&a, &b| {
        let (ra, rb) = (&rows[a as usize], &rows[b as usize]);
        let ord = match sort {
            SortKey::Status => rb
                .status
                .severity()
                .cmp(&ra.status.severity())
                .then_with(|| ra.meta.namespace.cmp(&rb.meta.namespace))
                .then_with(|| ra.meta.name.cmp(&rb.meta.name)),
            SortKey::Name => ra.meta.name.cmp(&rb.meta.name),
            SortKey::Namespace => ra
                .meta
                .namespace
                .cmp(&rb.meta.namespace)
                .then_with(|| ra.meta.name.cmp(&rb.meta.name)),
            SortKey::Signal(s) => cmp_f32_desc(ra.values[s.index()], rb.values[s.index()]),
        };
        let ord = ord.then_with(|| a.cmp(&b));
        if reverse { ord.reverse() } else { ord }
    });
    v
}

/// A status and the number of models in it, for the status bar.
pub fn status_summary(snap: &Snapshot, ascii: bool, noun: bool) -> String {
    let c = snap.counts;
    // models' health now (an incident stays open after its model is healthy again: the
    // Incidents tab counts those)
    format!(
        "{}{}{} {}{} {}{}{}",
        if noun { "models " } else { "" },
        c.ok,
        Status::Ok.symbol(ascii),
        c.warn,
        Status::Warn.symbol(ascii),
        c.crit,
        Status::Crit.symbol(ascii),
        if c.unknown > 0 {
            format!(" {}{}", c.unknown, Status::Unknown.symbol(ascii))
        } else {
            String::new()
        }
    )
}

/// A list position after a navigation key, within a list of `n` rows.
pub(crate) fn scroll(pos: usize, a: Action, page: isize, n: usize) -> usize {
    use Action::*;
    let max = n.saturating_sub(1);
    let page = page.max(1) as usize;
    match a {
        Up => pos.saturating_sub(1),
        Down => (pos + 1).min(max),
        PageUp => pos.saturating_sub(page),
        PageDown => (pos + page).min(max),
        Top => 0,
        Bottom => max,
        _ => pos,
    }
}
