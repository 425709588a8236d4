//! The console's own state (view, selection, sort, filter, dialogs) and how keys change it.
//!
//! Kept apart from drawing and from the terminal so that it can be tested without either:
//! [`Ui::on_action`] (in `keys.rs`) turns an [`Action`] into changes of this state and
//! [`Out`]puts for the engine, the simulator or the event loop.

mod keys;

use super::keymap::Action;
use super::lists::{compute_visible, pick_by_id, step_by_id};
use crate::domain::IncidentKind;
use crate::domain::Signal;
use crate::engine::{Command, FleetRow, Snapshot};
use crate::fleet::Resolution;
use crate::policy::autonomy::Phase;
use ratatui_textarea::TextArea;
use std::sync::Arc;

pub use super::dialog::{Dialog, InputPurpose, MenuKind, parse_seek};
pub use super::lists::{incidents_newest_first, remediation_queue, status_summary};

/// The screens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// Every model.
    Fleet,
    /// One model's charts and events.
    Detail,
    /// The log of what happened.
    Events,
    /// Open and recent incidents with their diagnosis.
    Incidents,
    /// Demand forecast and replica plan of the selected model.
    Forecast,
    /// Proposed, running and recent remediations.
    Remediations,
    /// Who decided what, and outcomes per playbook.
    Audit,
    /// Known vulnerabilities of what the models run.
    Vulns,
}

impl View {
    /// Screens in tab order.
    pub const ALL: [View; 8] = [
        View::Fleet,
        View::Detail,
        View::Events,
        View::Incidents,
        View::Remediations,
        View::Forecast,
        View::Audit,
        View::Vulns,
    ];

    /// Tab title.
    pub fn title(self) -> &'static str {
        match self {
            View::Fleet => "Fleet",
            View::Detail => "Detail",
            View::Events => "Events",
            View::Incidents => "Incidents",
            View::Forecast => "Forecast",
            View::Remediations => "Remedies",
            View::Audit => "Audit",
            View::Vulns => "Vulns",
        }
    }

    /// The action that opens it.
    pub fn action(self) -> Action {
        match self {
            View::Fleet => Action::ViewFleet,
            View::Detail => Action::ViewDetail,
            View::Events => Action::ViewEvents,
            View::Incidents => Action::ViewIncidents,
            View::Forecast => Action::ViewForecast,
            View::Remediations => Action::ViewRemediations,
            View::Audit => Action::ViewAudit,
            View::Vulns => Action::ViewVulns,
        }
    }
}

/// Fleet sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Worst status first.
    Status,
    /// By name.
    Name,
    /// By namespace then name.
    Namespace,
    /// By a signal, highest first.
    Signal(Signal),
}

impl SortKey {
    const CYCLE: [SortKey; 9] = [
        SortKey::Status,
        SortKey::Name,
        SortKey::Namespace,
        SortKey::Signal(Signal::RequestRate),
        SortKey::Signal(Signal::LatencyP95),
        SortKey::Signal(Signal::ErrorRate),
        SortKey::Signal(Signal::Accuracy),
        SortKey::Signal(Signal::Cpu),
        SortKey::Signal(Signal::Replicas),
    ];

    /// Short label.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Status => "status",
            SortKey::Name => "name",
            SortKey::Namespace => "namespace",
            SortKey::Signal(s) => s.title(),
        }
    }

    fn next(self) -> SortKey {
        let i = Self::CYCLE.iter().position(|k| *k == self).unwrap_or(0);
        Self::CYCLE[(i + 1) % Self::CYCLE.len()]
    }
}

/// Chart windows of the detail screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// 15 minutes of raw samples.
    M15,
    /// 1 hour of one-minute means.
    H1,
    /// 6 hours of one-minute means.
    H6,
    /// 24 hours of five-minute means.
    H24,
}

impl Window {
    /// All, shortest first.
    pub const ALL: [Window; 4] = [Window::M15, Window::H1, Window::H6, Window::H24];

    /// Seconds covered.
    pub fn seconds(self) -> f64 {
        match self {
            Window::M15 => 900.0,
            Window::H1 => 3600.0,
            Window::H6 => 6.0 * 3600.0,
            Window::H24 => 86_400.0,
        }
    }

    /// Resolution read.
    pub fn resolution(self) -> Resolution {
        match self {
            Window::M15 => Resolution::Fine,
            Window::H1 | Window::H6 => Resolution::Mid,
            Window::H24 => Resolution::Coarse,
        }
    }

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            Window::M15 => "15m",
            Window::H1 => "1h",
            Window::H6 => "6h",
            Window::H24 => "24h",
        }
    }
}

/// What the UI asks of the rest of the program.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// Leave the console.
    Quit,
    /// Send an operator command to the engine.
    Command(Command),
    /// Change the simulator's speed by a factor.
    Speed(f64),
    /// Pause or resume the simulator.
    TogglePause,
    /// Redraw everything.
    Redraw,
    /// Turn mouse capture on or off.
    SetMouse(bool),
    /// Replay: one step forward (true) or back.
    Step(bool),
    /// Replay: to the next (true) or previous incident or decision.
    Mark(bool),
    /// Replay: to a time.
    Seek(f64),
}

/// What the source allows the UI to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// Time can be paused and sped up.
    pub clock_control: bool,
    /// Incidents can be injected.
    pub inject: bool,
    /// A recording: step, jump to marks, seek.
    pub replay: bool,
}

impl Capabilities {
    /// The simulated fleet: time can be paused and sped up, incidents injected.
    pub const SIMULATED: Capabilities = Capabilities {
        clock_control: true,
        inject: true,
        replay: false,
    };
    /// A recording replayed read-only: its clock can be controlled, nothing injected.
    pub const REPLAY: Capabilities = Capabilities {
        clock_control: true,
        inject: false,
        replay: true,
    };
}

/// The fleet screen's own state: where its list starts, how it is ordered, and the rows it
/// showed last (kept until the data, the order or the filter change).
#[derive(Debug, Clone)]
pub struct FleetView {
    /// First visible row.
    pub offset: usize,
    /// Sort key.
    pub sort: SortKey,
    /// Sort reversed.
    pub reverse: bool,
    visible: Vec<u32>,
    visible_key: Option<(usize, SortKey, bool, String)>,
}

/// The detail screen's own state.
#[derive(Debug, Clone)]
pub struct DetailView {
    /// The time window shown.
    pub window: Window,
    /// Signal shown large on small terminals.
    pub signal: Signal,
}

/// The events screen's own state.
#[derive(Debug, Clone, Default)]
pub struct EventsView {
    /// Scroll (0 = newest).
    pub offset: usize,
}

/// The incidents screen's own state.
#[derive(Debug, Clone, Default)]
pub struct IncidentsView {
    /// Selected incident, by id: the selection stays on it whatever arrives above it.
    pub selected: Option<u64>,
}

/// The remediations screen's own state.
#[derive(Debug, Clone, Default)]
pub struct RemediationsView {
    /// Selected remediation, by id: a proposal arriving above it does not move the selection,
    /// so that approve and veto act on what the operator chose.
    pub selected: Option<u64>,
    /// The explanation of the selected remediation fills the screen.
    pub explain: bool,
    /// Explanation scroll.
    pub scroll: usize,
}

/// The audit screen's own state.
#[derive(Debug, Clone, Default)]
pub struct AuditView {
    /// Scroll (0 = newest).
    pub offset: usize,
}

/// The Vulns screen's own state.
#[derive(Debug, Clone, Default)]
pub struct VulnsView {
    /// Scroll (0 = the most urgent).
    pub offset: usize,
}

/// The UI's state.
pub struct Ui {
    /// Current screen.
    pub view: View,
    /// Help overlay shown.
    pub help: bool,
    /// Help scroll.
    pub help_scroll: usize,
    /// Selected model (`namespace/name`).
    pub selected: Option<String>,
    /// The fleet screen's list.
    pub fleet: FleetView,
    /// Filter text (fleet and events).
    pub filter: String,
    /// The filter being edited.
    pub filter_edit: Option<Box<TextArea<'static>>>,
    /// The detail screen's window and signal.
    pub detail: DetailView,
    /// The events screen's scroll.
    pub events: EventsView,
    /// The incidents screen's selection.
    pub incidents: IncidentsView,
    /// The remediations screen's selection and explanation.
    pub remediations: RemediationsView,
    /// The audit screen's scroll.
    pub audit: AuditView,
    /// Vulns screen state.
    pub vulns: VulnsView,
    /// Modal dialog.
    pub dialog: Option<Dialog>,
    /// A message shown in the status line for a few seconds: (text, shown at frame).
    pub flash: Option<String>,
    /// No Unicode.
    pub ascii: bool,
    /// Mouse captured.
    pub mouse: bool,
    /// Fleet rows per page (set by the last draw).
    pub page: usize,
    /// What the source allows.
    pub caps: Capabilities,
    /// The OS user (for confirmations).
    pub user: String,
    /// The clock of the last snapshot (for relative seeks).
    pub clock: f64,
}

impl Ui {
    /// A fresh UI.
    pub fn new(ascii: bool, mouse: bool, caps: Capabilities, user: String) -> Self {
        Ui {
            view: View::Fleet,
            help: false,
            help_scroll: 0,
            selected: None,
            fleet: FleetView {
                offset: 0,
                sort: SortKey::Status,
                reverse: false,
                visible: Vec::new(),
                visible_key: None,
            },
            filter: String::new(),
            filter_edit: None,
            detail: DetailView {
                window: Window::H1,
                signal: Signal::LatencyP95,
            },
            events: EventsView::default(),
            incidents: IncidentsView::default(),
            remediations: RemediationsView::default(),
            audit: AuditView::default(),
            vulns: VulnsView::default(),
            dialog: None,
            flash: None,
            ascii,
            mouse,
            page: 20,
            caps,
            user,
            clock: 0.0,
        }
    }

    /// Actions that do something in the current console (help lists only these).
    pub(crate) fn supported(&self, a: Action) -> bool {
        use Action::*;
        match a {
            Quit | Help | ViewFleet | ViewDetail | ViewEvents | ViewIncidents | ViewForecast
            | NextView | PrevView | Back | Redraw | ToggleMouse | Up | Down | PageUp | PageDown
            | Top | Bottom | Select | Filter | ClearFilter | SortNext | SortReverse
            | NextWindow | PrevWindow | NextSignal | PrevSignal | SetPhase | AddNote | Left
            | Right | ViewRemediations | ViewAudit | ViewVulns | Approve | Veto | Automate => true,
            Pause | SpeedUp | SpeedDown => self.caps.clock_control,
            StepForward | StepBack | NextMark | PrevMark | Seek => self.caps.replay,
            InjectIncident => self.caps.inject,
        }
    }

    /// Fleet rows in display order (indices into `snap.rows`), filtered and sorted. Cached
    /// per snapshot, sort and filter.
    pub fn visible(&mut self, snap: &Snapshot) -> &[u32] {
        let key = (
            Arc::as_ptr(&snap.rows) as usize,
            self.fleet.sort,
            self.fleet.reverse,
            self.filter.clone(),
        );
        if self.fleet.visible_key.as_ref() != Some(&key) {
            self.fleet.visible = compute_visible(
                &snap.rows,
                self.fleet.sort,
                self.fleet.reverse,
                &self.filter,
            );
            self.fleet.visible_key = Some(key);
        }
        &self.fleet.visible
    }

    /// Forget the cached visible list (it is rebuilt on the next frame).
    pub fn invalidate(&mut self) {
        self.fleet.visible_key = None;
    }

    /// Position of the selected model in the visible list (first row when none).
    pub(crate) fn selected_pos(&mut self, snap: &Snapshot) -> Option<usize> {
        let sel = self.selected.clone();
        let vis = self.visible(snap);
        if vis.is_empty() {
            return None;
        }
        let found = sel
            .as_deref()
            .and_then(|k| vis.iter().position(|&i| snap.rows[i as usize].meta.is(k)));
        match found {
            Some(p) => Some(p),
            None => {
                // the selection is filtered out (or there is none): the first visible row is
                // selected, so that what is highlighted is what an action applies to
                let first = vis[0] as usize;
                self.selected = Some(snap.rows[first].meta.key());
                Some(0)
            }
        }
    }

    pub(super) fn select_pos(&mut self, snap: &Snapshot, pos: usize) {
        let vis = self.visible(snap);
        if vis.is_empty() {
            return;
        }
        let p = pos.min(vis.len() - 1);
        let idx = vis[p] as usize;
        self.selected = Some(snap.rows[idx].meta.key());
    }

    /// The selected remediation, by id. With none selected yet (or when the selected one is
    /// no longer kept), the first of the queue becomes the selection, so that what is
    /// highlighted is what approve and veto act on.
    pub(crate) fn selected_remediation<'a>(
        &mut self,
        snap: &'a Snapshot,
    ) -> Option<&'a crate::policy::Remediation> {
        pick_by_id(
            &remediation_queue(snap),
            &mut self.remediations.selected,
            |r| r.id,
        )
    }

    /// The selected incident, by id (the first of the list when none is selected yet).
    pub(crate) fn selected_incident<'a>(
        &mut self,
        snap: &'a Snapshot,
    ) -> Option<&'a crate::engine::incident::Incident> {
        pick_by_id(
            &incidents_newest_first(snap),
            &mut self.incidents.selected,
            |i| i.id,
        )
    }

    /// The selected model's row.
    pub(crate) fn selected_row<'a>(&mut self, snap: &'a Snapshot) -> Option<&'a FleetRow> {
        let pos = self.selected_pos(snap)?;
        let idx = *self.visible(snap).get(pos)? as usize;
        snap.rows.get(idx)
    }

    fn move_selection(&mut self, snap: &Snapshot, delta: isize) {
        let Some(pos) = self.selected_pos(snap) else {
            return;
        };
        let np = (pos as isize + delta).max(0) as usize;
        self.select_pos(snap, np);
    }

    pub(super) fn set_flash(&mut self, s: impl Into<String>) {
        self.flash = Some(s.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::harness::{drive, start};

    fn snap() -> Snapshot {
        let (mut w, mut e) = start(1, 15, 1.7e9, EngineConfig::default());
        drive(&mut w, &mut e, 30);
        e.snapshot(None, 10)
    }

    fn ui() -> Ui {
        Ui::new(false, false, Capabilities::SIMULATED, "t".into())
    }

    #[test]
    fn actions_apply_to_the_visible_selection() {
        let s = snap();
        let mut ui = ui();
        ui.selected = Some("ads/bid-shading".into());
        ui.filter = "ranker".into();
        ui.on_action(Action::InjectIncident, &s);
        let outs = ui.on_action(Action::Select, &s);
        assert_eq!(
            outs,
            vec![Out::Command(Command::Inject {
                model: "search/ranker-bert".into(),
                incident: IncidentKind::LatencySpike,
            })]
        );
    }

    #[test]
    fn read_only_refuses_mutating_actions_and_says_why() {
        let mut s = snap();
        s.read_only = true;
        let mut ui = ui();
        for a in [Action::SetPhase, Action::AddNote] {
            assert!(ui.on_action(a, &s).is_empty());
            assert!(ui.dialog.is_none());
            assert!(ui.flash.as_deref().unwrap_or("").contains("read-only"));
        }
    }

    #[test]
    fn phase_change_needs_confirmation() {
        let s = snap();
        let mut ui = ui();
        ui.on_action(Action::SetPhase, &s);
        ui.on_action(Action::Down, &s);
        assert!(
            ui.on_action(Action::Select, &s).is_empty(),
            "a menu choice alone changes nothing"
        );
        assert!(matches!(ui.dialog, Some(Dialog::Confirm { .. })));
        let no = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('n'));
        assert_eq!(ui.on_key_text(&no, &s), Some(vec![]));
        assert!(ui.dialog.is_none());
        ui.on_action(Action::SetPhase, &s);
        ui.on_action(Action::Down, &s);
        ui.on_action(Action::Select, &s);
        let yes = crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('y'));
        assert_eq!(
            ui.on_key_text(&yes, &s),
            Some(vec![Out::Command(Command::SetPhase {
                phase: Phase::Augmentation
            })])
        );
    }
}
