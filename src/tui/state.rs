//! The console's own state (view, selection, sort, filter, dialogs) and how keys change it.
//!
//! Kept apart from drawing and from the terminal so that it can be tested without either:
//! [`Ui::on_action`] turns an [`Action`] into changes of this state and [`Out`]puts for the
//! engine, the simulator or the event loop.

use super::keymap::Action;
use crate::autonomy::Phase;
use crate::engine::{Command, FleetRow, Snapshot, Status};
use crate::fleet::{Resolution, Signal};
use crate::sim::IncidentKind;
use ratatui_textarea::TextArea;
use std::sync::Arc;

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
}

impl View {
    /// Screens in tab order.
    pub const ALL: [View; 7] = [
        View::Fleet,
        View::Detail,
        View::Events,
        View::Incidents,
        View::Remediations,
        View::Forecast,
        View::Audit,
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

/// What a menu chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuKind {
    /// An incident to inject on the selected model.
    Inject,
    /// An autonomy phase.
    Phase,
}

/// A modal dialog.
pub enum Dialog {
    /// Pick one of several items.
    Menu {
        /// Purpose.
        kind: MenuKind,
        /// Title.
        title: String,
        /// Items (label, description).
        items: Vec<(String, String)>,
        /// Highlighted item.
        selected: usize,
    },
    /// Yes or no, for a mutating command.
    Confirm {
        /// Title.
        title: String,
        /// What will happen.
        body: String,
        /// Sent on yes.
        command: Command,
    },
    /// Free text (a note, a veto's reason).
    Input {
        /// What the text is for.
        purpose: InputPurpose,
        /// Title.
        title: String,
        /// The editor.
        area: Box<TextArea<'static>>,
    },
}

/// What a text dialog's text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    /// A note for the journal.
    Note,
    /// The reason for vetoing (or rejecting the outcome of) a remediation.
    Veto(u64),
    /// A time to seek to (replay).
    Seek,
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
    /// First visible fleet row.
    pub offset: usize,
    /// Sort key.
    pub sort: SortKey,
    /// Sort reversed.
    pub reverse: bool,
    /// Filter text (fleet and events).
    pub filter: String,
    /// The filter being edited.
    pub filter_edit: Option<Box<TextArea<'static>>>,
    /// Detail window.
    pub window: Window,
    /// Signal shown large on small terminals.
    pub signal: Signal,
    /// Events scroll (0 = newest).
    pub events_offset: usize,
    /// Selected incident, by id: the selection stays on it whatever arrives above it.
    pub incident_selected: Option<u64>,
    /// Selected remediation, by id: a proposal arriving above it does not move the selection,
    /// so that approve and veto act on what the operator chose.
    pub rem_selected: Option<u64>,
    /// The explanation of the selected remediation fills the screen.
    pub explain: bool,
    /// Explanation scroll.
    pub explain_scroll: usize,
    /// Audit scroll (0 = newest).
    pub audit_offset: usize,
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
    visible: Vec<u32>,
    visible_key: Option<(usize, SortKey, bool, String)>,
}

impl Ui {
    /// A fresh UI.
    pub fn new(ascii: bool, mouse: bool, caps: Capabilities, user: String) -> Self {
        Ui {
            view: View::Fleet,
            help: false,
            help_scroll: 0,
            selected: None,
            offset: 0,
            sort: SortKey::Status,
            reverse: false,
            filter: String::new(),
            filter_edit: None,
            window: Window::H1,
            signal: Signal::LatencyP95,
            events_offset: 0,
            incident_selected: None,
            rem_selected: None,
            explain: false,
            explain_scroll: 0,
            audit_offset: 0,
            dialog: None,
            flash: None,
            ascii,
            mouse,
            page: 20,
            caps,
            user,
            clock: 0.0,
            visible: Vec::new(),
            visible_key: None,
        }
    }

    /// Actions that do something in the current console (help lists only these).
    pub fn supported(&self, a: Action) -> bool {
        use Action::*;
        match a {
            Quit | Help | ViewFleet | ViewDetail | ViewEvents | ViewIncidents | ViewForecast
            | NextView | PrevView | Back | Redraw | ToggleMouse | Up | Down | PageUp | PageDown
            | Top | Bottom | Select | Filter | ClearFilter | SortNext | SortReverse
            | NextWindow | PrevWindow | NextSignal | PrevSignal | SetPhase | AddNote | Left
            | Right | ViewRemediations | ViewAudit | Approve | Veto | Automate => true,
            Pause | SpeedUp | SpeedDown => self.caps.clock_control,
            StepForward | StepBack | NextMark | PrevMark | Seek => self.caps.replay,
            InjectIncident => self.caps.inject,
            _ => false,
        }
    }

    /// Fleet rows in display order (indices into `snap.rows`), filtered and sorted. Cached
    /// per snapshot, sort and filter.
    pub fn visible(&mut self, snap: &Snapshot) -> &[u32] {
        let key = (
            Arc::as_ptr(&snap.rows) as usize,
            self.sort,
            self.reverse,
            self.filter.clone(),
        );
        if self.visible_key.as_ref() != Some(&key) {
            self.visible = compute_visible(&snap.rows, self.sort, self.reverse, &self.filter);
            self.visible_key = Some(key);
        }
        &self.visible
    }

    /// Forget the cached visible list (it is rebuilt on the next frame).
    pub fn invalidate(&mut self) {
        self.visible_key = None;
    }

    /// Position of the selected model in the visible list (first row when none).
    pub fn selected_pos(&mut self, snap: &Snapshot) -> Option<usize> {
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

    fn select_pos(&mut self, snap: &Snapshot, pos: usize) {
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
    pub fn selected_remediation<'a>(
        &mut self,
        snap: &'a Snapshot,
    ) -> Option<&'a crate::remediate::Remediation> {
        let queue = remediation_queue(snap);
        let found = self
            .rem_selected
            .and_then(|id| queue.iter().find(|r| r.id == id).copied());
        let r = found.or_else(|| queue.first().copied())?;
        self.rem_selected = Some(r.id);
        Some(r)
    }

    /// The selected incident, by id (the first of the list when none is selected yet).
    pub fn selected_incident<'a>(
        &mut self,
        snap: &'a Snapshot,
    ) -> Option<&'a crate::engine::incident::Incident> {
        let list = incidents_newest_first(snap);
        let found = self
            .incident_selected
            .and_then(|id| list.iter().find(|i| i.id == id).copied());
        let inc = found.or_else(|| list.first().copied())?;
        self.incident_selected = Some(inc.id);
        Some(inc)
    }

    /// The selected model's row.
    pub fn selected_row<'a>(&mut self, snap: &'a Snapshot) -> Option<&'a FleetRow> {
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

    fn set_flash(&mut self, s: impl Into<String>) {
        self.flash = Some(s.into());
    }

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
                if self.explain {
                    self.explain = false;
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
                self.explain = !self.explain;
                self.explain_scroll = 0;
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
                self.sort = self.sort.next();
                self.set_flash(format!("sorted by {}", self.sort.label()));
            }
            SortReverse => self.reverse = !self.reverse,
            NextWindow | Right if self.view == View::Detail => {
                let i = Window::ALL
                    .iter()
                    .position(|w| *w == self.window)
                    .unwrap_or(0);
                self.window = Window::ALL[(i + 1).min(Window::ALL.len() - 1)];
            }
            PrevWindow | Left if self.view == View::Detail => {
                let i = Window::ALL
                    .iter()
                    .position(|w| *w == self.window)
                    .unwrap_or(0);
                self.window = Window::ALL[i.saturating_sub(1)];
            }
            NextSignal | PrevSignal => {
                let i = self.signal.index();
                let n = Signal::COUNT;
                let j = if a == NextSignal {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.signal = Signal::ALL[j];
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
                self.incident_selected = step_by_id(&ids, self.incident_selected, a, page);
            }
            View::Remediations if self.explain => {
                self.explain_scroll = match a {
                    Up => self.explain_scroll.saturating_sub(1),
                    Down => self.explain_scroll + 1,
                    PageUp => self.explain_scroll.saturating_sub(page as usize),
                    PageDown => self.explain_scroll + page as usize,
                    Top => 0,
                    _ => self.explain_scroll,
                };
            }
            View::Remediations => {
                let ids: Vec<u64> = remediation_queue(snap).iter().map(|r| r.id).collect();
                self.rem_selected = step_by_id(&ids, self.rem_selected, a, page);
            }
            View::Audit => {
                let max = snap.audit.len().saturating_sub(1);
                self.audit_offset = match a {
                    Up => self.audit_offset.saturating_sub(1),
                    Down => (self.audit_offset + 1).min(max),
                    PageUp => self.audit_offset.saturating_sub(page as usize),
                    PageDown => (self.audit_offset + page as usize).min(max),
                    Top => 0,
                    Bottom => max,
                    _ => self.audit_offset,
                };
            }
            View::Events => {
                let max = snap.log.len().saturating_sub(1);
                self.events_offset = match a {
                    Up => self.events_offset.saturating_sub(1),
                    Down => (self.events_offset + 1).min(max),
                    PageUp => self.events_offset.saturating_sub(page as usize),
                    PageDown => (self.events_offset + page as usize).min(max),
                    Top => 0,
                    Bottom => max,
                    _ => self.events_offset,
                };
            }
        }
    }

    fn on_dialog_action(&mut self, a: Action) -> Vec<Out> {
        use Action::*;
        let Some(dialog) = self.dialog.as_mut() else {
            return vec![];
        };
        match dialog {
            Dialog::Menu {
                kind,
                items,
                selected,
                ..
            } => match a {
                Up => *selected = selected.saturating_sub(1),
                Down => *selected = (*selected + 1).min(items.len().saturating_sub(1)),
                Back | Quit => self.dialog = None,
                Select => {
                    let (kind, sel) = (*kind, *selected);
                    self.dialog = None;
                    return self.menu_chosen(kind, sel);
                }
                _ => {}
            },
            Dialog::Confirm { .. } => {
                if matches!(a, Back | Quit) {
                    self.dialog = None;
                }
            }
            Dialog::Input { .. } => {}
        }
        vec![]
    }

    fn menu_chosen(&mut self, kind: MenuKind, sel: usize) -> Vec<Out> {
        match kind {
            MenuKind::Inject => {
                let (Some(model), Some(k)) = (self.selected.clone(), IncidentKind::ALL.get(sel))
                else {
                    return vec![];
                };
                self.set_flash(format!("injected {k} on {model}"));
                vec![Out::Command(Command::Inject {
                    model,
                    incident: *k,
                })]
            }
            MenuKind::Phase => {
                if let Some(p) = Phase::ALL.get(sel) {
                    self.dialog = Some(Dialog::Confirm {
                        title: format!("Change the autonomy phase to {p}?"),
                        body: format!(
                            "{p}: {}.\nThe change is journaled as made by {}.",
                            p.description(),
                            self.user
                        ),
                        command: Command::SetPhase { phase: *p },
                    });
                }
                vec![]
            }
        }
    }

    /// Keys while a text field or a confirmation is open. Returns `None` when the key is not
    /// for a text field or dialog (then the keymap applies).
    ///
    /// A text field owns every key until it is closed (enter or esc): nothing typed into it
    /// reaches the keymap. A confirmation is checked against `snap` when it is answered: a
    /// proposal that is no longer waiting is not approved.
    pub fn on_key_text(
        &mut self,
        key: &crossterm::event::KeyEvent,
        snap: &Snapshot,
    ) -> Option<Vec<Out>> {
        use crossterm::event::{KeyCode, KeyModifiers};
        if let Some(ta) = self.filter_edit.as_mut() {
            match key.code {
                KeyCode::Enter => {
                    self.filter = ta.lines().join("");
                    self.filter_edit = None;
                }
                KeyCode::Esc => {
                    self.filter.clear();
                    self.filter_edit = None;
                }
                _ => {
                    ta.input(*key);
                    self.filter = ta.lines().join("");
                    self.offset = 0;
                }
            }
            return Some(vec![]);
        }
        match self.dialog.as_mut() {
            Some(Dialog::Input { area, purpose, .. }) => {
                match key.code {
                    KeyCode::Esc => {
                        self.dialog = None;
                        self.set_flash("cancelled");
                    }
                    KeyCode::Enter => {
                        let text = area.lines().join(" ").trim().to_string();
                        let purpose = *purpose;
                        if let InputPurpose::Veto(id) = purpose {
                            if let Some(why) = crate::remediate::reason_problem(&text) {
                                self.set_flash(format!("R{id} not vetoed: {why}; esc cancels"));
                                return Some(vec![]);
                            }
                            if let Some(r) = snap.remediations.iter().find(|r| r.id == id)
                                && !r.state.vetoable()
                            {
                                self.dialog = None;
                                self.set_flash(format!(
                                    "R{id} is now {}: too late to veto, nothing sent",
                                    r.state.word()
                                ));
                                return Some(vec![]);
                            }
                        }
                        if text.is_empty() {
                            self.dialog = None;
                            return Some(vec![]);
                        }
                        self.dialog = None;
                        let now = self.clock;
                        return Some(match purpose {
                            InputPurpose::Seek => match parse_seek(&text, now) {
                                Some(t) => vec![Out::Seek(t)],
                                None => {
                                    self.set_flash(format!(
                                        "'{text}' is not a time: use HH:MM, +MIN, -MIN or unix seconds"
                                    ));
                                    vec![]
                                }
                            },
                            InputPurpose::Note => {
                                self.set_flash("note saved to the journal");
                                vec![Out::Command(Command::Note { text })]
                            }
                            InputPurpose::Veto(id) => {
                                self.set_flash(format!("R{id} vetoed; the reason is journaled"));
                                vec![Out::Command(Command::Veto { id, reason: text })]
                            }
                        });
                    }
                    _ => {
                        area.input(*key);
                    }
                }
                Some(vec![])
            }
            Some(Dialog::Confirm { .. }) => {
                let yes = matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y'))
                    && !key.modifiers.contains(KeyModifiers::CONTROL);
                let no = matches!(
                    key.code,
                    KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc
                );
                if yes {
                    if let Some(Dialog::Confirm { command, .. }) = self.dialog.take() {
                        // the proposal may have moved on while the dialog was open
                        if let Command::Approve { id } = &command
                            && let Some(r) = snap.remediations.iter().find(|r| r.id == *id)
                            && !r.state.approvable()
                        {
                            self.set_flash(format!(
                                "R{id} is now {}: nothing approved",
                                r.state.word()
                            ));
                            return Some(vec![]);
                        }
                        self.set_flash("done");
                        return Some(vec![Out::Command(command)]);
                    }
                } else if no {
                    self.dialog = None;
                    self.set_flash("cancelled");
                }
                Some(vec![])
            }
            _ => None,
        }
    }
}

impl Ui {
    fn remediation_action(&mut self, a: Action, snap: &Snapshot) {
        use crate::remediate::RemState;
        if self.view != View::Remediations {
            self.set_flash(format!(
                "choose a proposal on the Remediations screen first ({})",
                View::Remediations.title()
            ));
            return;
        }
        let Some(r) = self.selected_remediation(snap) else {
            self.set_flash("no remediation selected");
            return;
        };
        let title = r.title();
        match a {
            Action::Approve => match r.state {
                RemState::Proposed => {
                    let checks = if r.checks.iter().all(|c| c.passed) {
                        "every guardrail passes now".to_string()
                    } else {
                        let failing: Vec<&str> = r
                            .checks
                            .iter()
                            .filter(|c| !c.passed)
                            .map(|c| c.name)
                            .collect();
                        format!("held until these guardrails pass: {}", failing.join(", "))
                    };
                    self.dialog = Some(Dialog::Confirm {
                        title: format!("Approve R{}?", r.id),
                        body: format!(
                            "{title} (playbook {}).\n{checks}.\nJournaled as approved by {}.",
                            r.playbook, self.user
                        ),
                        command: Command::Approve { id: r.id },
                    });
                }
                RemState::Inconclusive => {
                    self.dialog = Some(Dialog::Confirm {
                        title: format!("Accept the outcome of R{}?", r.id),
                        body: format!(
                            "{title}: verification could not decide.\nAccepting records a success for playbook {}, journaled as decided by {}.",
                            r.playbook, self.user
                        ),
                        command: Command::Approve { id: r.id },
                    });
                }
                RemState::WouldDo => self.set_flash(format!(
                    "R{} is would-do only: {} — change the phase or the class mode to act",
                    r.id, r.policy
                )),
                s => self.set_flash(format!("R{} is {}: nothing to approve", r.id, s.word())),
            },
            Action::Veto => match r.state {
                RemState::Proposed
                | RemState::Approved
                | RemState::WouldDo
                | RemState::Inconclusive => {
                    let mut ta = TextArea::default();
                    ta.set_placeholder_text(
                        "why (required, journaled) — enter vetoes, esc cancels",
                    );
                    self.dialog = Some(Dialog::Input {
                        purpose: InputPurpose::Veto(r.id),
                        title: if r.state == RemState::Inconclusive {
                            format!("Reject the outcome of R{}: {title}", r.id)
                        } else {
                            format!("Veto R{}: {title}", r.id)
                        },
                        area: Box::new(ta),
                    });
                }
                s => self.set_flash(format!("R{} is {}: too late to veto", r.id, s.word())),
            },
            Action::Automate => {
                if snap.phase == Phase::Foundation {
                    self.set_flash("Foundation observes only: change the phase first");
                    return;
                }
                let class = r.class;
                if snap.overrides.get(snap.phase, class) == Some(crate::autonomy::Mode::Auto) {
                    self.set_flash(format!(
                        "{} already runs by itself in {}",
                        class.name(),
                        snap.phase
                    ));
                    return;
                }
                self.dialog = Some(Dialog::Confirm {
                    title: format!("Automate {} in the {} phase?", class.name(), snap.phase),
                    body: format!(
                        "Every {} proposal will run by itself in {}, within guardrails, without approval (playbooks whose success rate falls below 70 % still ask).\nJournaled as set by {}.",
                        class.name(),
                        snap.phase,
                        self.user
                    ),
                    command: Command::SetClassMode {
                        phase: snap.phase,
                        class,
                        mode: Some(crate::autonomy::Mode::Auto),
                    },
                });
            }
            _ => {}
        }
    }
}

/// Move a selection held by id through a list of ids in display order: the new selection is
/// the id at the moved position (the first when nothing was selected or the selected id is
/// gone). Nothing moves but what the key asks for.
fn step_by_id(ids: &[u64], selected: Option<u64>, a: Action, page: isize) -> Option<u64> {
    use Action::*;
    if ids.is_empty() {
        return None;
    }
    let max = ids.len() - 1;
    let pos = selected
        .and_then(|id| ids.iter().position(|&i| i == id))
        .unwrap_or(0);
    let page = page.max(1) as usize;
    let np = match a {
        Up => pos.saturating_sub(1),
        Down => (pos + 1).min(max),
        PageUp => pos.saturating_sub(page),
        PageDown => (pos + page).min(max),
        Top => 0,
        Bottom => max,
        _ => pos,
    };
    Some(ids[np])
}

/// A seek target: `HH:MM` (UTC, the day of `now`), `+MIN` / `-MIN` from `now`, or unix seconds.
pub fn parse_seek(s: &str, now: f64) -> Option<f64> {
    let s = s.trim();
    if let Some(m) = s.strip_prefix('+') {
        return m
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|v| now + v * 60.0);
    }
    if let Some(m) = s.strip_prefix('-') {
        return m
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|v| now - v * 60.0);
    }
    if let Some((h, m)) = s.split_once(':') {
        let (h, m) = (h.trim().parse::<u32>().ok()?, m.trim().parse::<u32>().ok()?);
        if h > 23 || m > 59 {
            return None;
        }
        let day = (now / 86_400.0).floor() * 86_400.0;
        return Some(day + f64::from(h * 3600 + m * 60));
    }
    s.parse::<f64>().ok().filter(|v| v.is_finite() && *v > 0.0)
}

/// Remediations in queue order: waiting for a human first, then running, then the rest
/// (newest first).
pub fn remediation_queue(snap: &Snapshot) -> Vec<&crate::remediate::Remediation> {
    let rank = |r: &crate::remediate::Remediation| {
        if r.state.needs_human() {
            0
        } else if r.state.is_running() {
            1
        } else if r.state == crate::remediate::RemState::WouldDo {
            2
        } else {
            3
        }
    };
    let mut v: Vec<_> = snap.remediations.iter().collect();
    v.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| b.id.cmp(&a.id)));
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
pub fn compute_visible(rows: &[FleetRow], sort: SortKey, reverse: bool, filter: &str) -> Vec<u32> {
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
pub fn status_summary(snap: &Snapshot, ascii: bool) -> String {
    let c = snap.counts;
    format!(
        "{}{} {}{} {}{}{}",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::sources::sim::{drive, start};

    fn snap() -> Snapshot {
        let (mut w, mut e) = start(1, 15, 1.7e9, EngineConfig::default());
        drive(&mut w, &mut e, 30);
        e.snapshot(None, 10)
    }

    fn ui() -> Ui {
        Ui::new(
            false,
            false,
            Capabilities {
                clock_control: true,
                inject: true,
                replay: false,
            },
            "t".into(),
        )
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
