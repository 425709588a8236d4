//! What each action does to the console's state: [`Ui::on_action`] (refused in a replay or a
//! read-only session, with the reason said; dialogs, the filter, phase and class changes,
//! decisions on the selected proposal) and the navigation of every screen.

use super::*;
use crate::tui::lists::scroll;

impl Ui {
    /// Handle an action. Text input (filter, dialogs) is handled by [`Ui::on_key_text`] first.
    pub fn on_action(&mut self, a: Action, snap: &Snapshot) -> Vec<Out> {
        use Action::*;
        if a.is_mutating() && snap.source.kind == crate::engine::SourceKind::Replay {
            self.set_flash(format!(
                "replay is read-only: '{}' cannot change a recording (nothing was changed)",
                a.name()
            ));
            return vec![];
        }
        if !self.supported(a) {
            if snap.read_only && a.is_mutating() {
                self.set_flash(format!(
                    "read-only: no actuator exists in this session, so '{}' is not available",
                    a.name()
                ));
            } else {
                self.set_flash(format!("'{}' is not available here", a.name()));
            }
            return vec![];
        }
        if snap.read_only && a.is_mutating() {
            self.set_flash(format!(
                "read-only: no actuator exists in this session, so '{}' is not available",
                a.name()
            ));
            return vec![];
        }
        if self.help {
            match a {
                Help | Back | Quit => self.help = false,
                Down => self.help_scroll += 1,
                Up => self.help_scroll = self.help_scroll.saturating_sub(1),
                PageDown => self.help_scroll += 10,
                PageUp => self.help_scroll = self.help_scroll.saturating_sub(10),
                Top => self.help_scroll = 0,
                _ => {}
            }
            return vec![];
        }
        if self.dialog.is_some() {
            return self.on_dialog_action(a);
        }
        let mut out = Vec::new();
        match a {
            Quit => out.push(Out::Quit),
            Help => {
                self.help = true;
                self.help_scroll = 0;
            }
            ViewFleet => self.view = View::Fleet,
            ViewDetail => self.view = View::Detail,
            ViewEvents => self.view = View::Events,
            ViewIncidents => self.view = View::Incidents,
            ViewForecast => self.view = View::Forecast,
            ViewRemediations => self.view = View::Remediations,
            ViewAudit => self.view = View::Audit,
            ViewVulns => self.view = View::Vulns,
            NextView | PrevView => {
                let i = View::ALL.iter().position(|v| *v == self.view).unwrap_or(0);
                let n = View::ALL.len();
                let j = if a == NextView {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.view = View::ALL[j];
            }
            Back => {
                if self.remediations.explain {
                    self.remediations.explain = false;
                } else if !self.filter.is_empty() {
                    self.filter.clear();
                } else if self.view != View::Fleet {
                    self.view = View::Fleet;
                }
            }
            Redraw => out.push(Out::Redraw),
            ToggleMouse => {
                self.mouse = !self.mouse;
                self.set_flash(if self.mouse { "mouse on" } else { "mouse off" });
                out.push(Out::SetMouse(self.mouse));
            }
            Up | Down | PageUp | PageDown | Top | Bottom => self.navigate(a, snap),
            Select if self.view == View::Incidents => {
                if let Some(inc) = self.selected_incident(snap) {
                    // the model must be visible to be selected
                    self.filter.clear();
                    self.selected = Some(inc.key.clone());
                    self.view = View::Detail;
                }
            }
            Select
                if self.view == View::Remediations && self.selected_remediation(snap).is_some() =>
            {
                self.remediations.explain = !self.remediations.explain;
                self.remediations.scroll = 0;
            }
            Approve | Veto | Automate => self.remediation_action(a, snap),
            Select if self.view == View::Fleet && self.selected_pos(snap).is_some() => {
                if self.selected.is_none() {
                    self.select_pos(snap, 0);
                }
                self.view = View::Detail;
            }
            Filter => {
                let mut ta = TextArea::new(vec![self.filter.clone()]);
                ta.move_cursor(ratatui_textarea::CursorMove::End);
                self.filter_edit = Some(Box::new(ta));
            }
            ClearFilter => self.filter.clear(),
            SortNext => {
                self.fleet.sort = self.fleet.sort.next();
                self.set_flash(format!("sorted by {}", self.fleet.sort.label()));
            }
            SortReverse => self.fleet.reverse = !self.fleet.reverse,
            NextWindow | Right if self.view == View::Detail => {
                let i = Window::ALL
                    .iter()
                    .position(|w| *w == self.detail.window)
                    .unwrap_or(0);
                self.detail.window = Window::ALL[(i + 1).min(Window::ALL.len() - 1)];
            }
            PrevWindow | Left if self.view == View::Detail => {
                let i = Window::ALL
                    .iter()
                    .position(|w| *w == self.detail.window)
                    .unwrap_or(0);
                self.detail.window = Window::ALL[i.saturating_sub(1)];
            }
            NextSignal | PrevSignal => {
                let i = self.detail.signal.index();
                let n = Signal::COUNT;
                let j = if a == NextSignal {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.detail.signal = Signal::ALL[j];
            }
            Pause => out.push(Out::TogglePause),
            StepForward => out.push(Out::Step(true)),
            StepBack => out.push(Out::Step(false)),
            NextMark => out.push(Out::Mark(true)),
            PrevMark => out.push(Out::Mark(false)),
            Seek => {
                let mut ta = TextArea::default();
                ta.set_placeholder_text("HH:MM (UTC, same day), +MIN / -MIN, or unix seconds");
                self.dialog = Some(Dialog::Input {
                    purpose: InputPurpose::Seek,
                    title: "Seek to a time".into(),
                    area: Box::new(ta),
                });
            }
            SpeedUp => out.push(Out::Speed(2.0)),
            SpeedDown => out.push(Out::Speed(0.5)),
            InjectIncident => {
                if let Some(row) = self.selected_row(snap) {
                    let title = format!("Inject an incident on {} (simulation)", row.meta.key());
                    self.dialog = Some(Dialog::Menu {
                        kind: MenuKind::Inject,
                        title,
                        items: IncidentKind::ALL
                            .iter()
                            .map(|k| (k.name().to_string(), k.description().to_string()))
                            .collect(),
                        selected: 0,
                    });
                } else {
                    self.set_flash("select a model first");
                }
            }
            SetPhase => {
                let selected = Phase::ALL
                    .iter()
                    .position(|p| *p == snap.phase)
                    .unwrap_or(0);
                self.dialog = Some(Dialog::Menu {
                    kind: MenuKind::Phase,
                    title: format!("Autonomy phase (now {})", snap.phase),
                    items: Phase::ALL
                        .iter()
                        .map(|p| (p.to_string(), p.description().to_string()))
                        .collect(),
                    selected,
                });
            }
            AddNote => {
                let mut ta = TextArea::default();
                ta.set_placeholder_text("what you saw, did or decided — enter saves, esc cancels");
                self.dialog = Some(Dialog::Input {
                    purpose: InputPurpose::Note,
                    title: "Note for the journal".into(),
                    area: Box::new(ta),
                });
            }
            _ => {}
        }
        out
    }

    fn navigate(&mut self, a: Action, snap: &Snapshot) {
        use Action::*;
        let page = self.page.max(1) as isize;
        match self.view {
            View::Fleet | View::Detail | View::Forecast => match a {
                Up => self.move_selection(snap, -1),
                Down => self.move_selection(snap, 1),
                PageUp => self.move_selection(snap, -page),
                PageDown => self.move_selection(snap, page),
                Top => self.select_pos(snap, 0),
                Bottom => self.select_pos(snap, usize::MAX),
                _ => {}
            },
            View::Incidents => {
                let list = incidents_newest_first(snap);
                let ids: Vec<u64> = list.iter().map(|i| i.id).collect();
                self.incidents.selected = step_by_id(&ids, self.incidents.selected, a, page);
            }
            View::Remediations if self.remediations.explain => {
                self.remediations.scroll = match a {
                    Up => self.remediations.scroll.saturating_sub(1),
                    Down => self.remediations.scroll + 1,
                    PageUp => self.remediations.scroll.saturating_sub(page as usize),
                    PageDown => self.remediations.scroll + page as usize,
                    Top => 0,
                    _ => self.remediations.scroll,
                };
            }
            View::Remediations => {
                let ids: Vec<u64> = remediation_queue(snap).iter().map(|r| r.id).collect();
                self.remediations.selected = step_by_id(&ids, self.remediations.selected, a, page);
            }
            View::Audit => {
                self.audit.offset = scroll(self.audit.offset, a, page, snap.audit.len());
            }
            View::Vulns => {
                let n = snap.vulns.iter().map(|m| m.open.len()).sum();
                self.vulns.offset = scroll(self.vulns.offset, a, page, n);
            }
            View::Events => {
                self.events.offset = scroll(self.events.offset, a, page, snap.log.len());
            }
        }
    }
}
