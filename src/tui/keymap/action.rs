//! The named actions a key can be bound to, each with its help group and text, and which of them
//! change the world (those are confirmed in a dialog and never bound to a modifier chord).

use std::fmt;

use crate::config::diagnostics::did_you_mean;
use std::str::FromStr;

/// The groups of the help screen, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// Views, help, quitting.
    Global,
    /// Moving the cursor and selecting.
    Navigation,
    /// Filtering and sorting lists such as the fleet.
    Lists,
    /// The model detail view.
    Detail,
    /// Simulation and replay time.
    Time,
    /// Acting on proposals: every action here mutates and is confirmed in a dialog.
    Remediation,
}

impl Group {
    /// Every group, in help order.
    pub const ALL: [Group; 6] = [
        Group::Global,
        Group::Navigation,
        Group::Lists,
        Group::Detail,
        Group::Time,
        Group::Remediation,
    ];

    /// The heading shown on the help screen.
    pub fn title(self) -> &'static str {
        match self {
            Group::Global => "Global",
            Group::Navigation => "Navigation",
            Group::Lists => "Fleet and lists",
            Group::Detail => "Model detail",
            Group::Time => "Simulation and time",
            Group::Remediation => "Remediation",
        }
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

macro_rules! actions {
    ($( $variant:ident = $name:literal, $group:ident, $mutating:literal, $desc:literal; )*) => {
        /// Something a key can do. Local UI actions and engine commands alike.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Action {
            $( #[doc = $desc] $variant, )*
        }

        impl Action {
            /// Every action, grouped, in help order within each group.
            pub const ALL: &'static [Action] = &[ $( Action::$variant, )* ];

            /// The snake_case name used in keymap files.
            pub fn name(self) -> &'static str {
                match self { $( Action::$variant => $name, )* }
            }

            /// One line for the help screen.
            pub fn description(self) -> &'static str {
                match self { $( Action::$variant => $desc, )* }
            }

            /// The help group.
            pub fn group(self) -> Group {
                match self { $( Action::$variant => Group::$group, )* }
            }

            /// True for actions that change the fleet or the engine's decisions: they are
            /// confirmed in a dialog, disabled in read-only and replay, and never bound to a
            /// ctrl-/alt- chord.
            pub(crate) fn is_mutating(self) -> bool {
                match self { $( Action::$variant => $mutating, )* }
            }
        }
    };
}

actions! {
    Quit = "quit", Global, false, "Quit pitcrew";
    Help = "help", Global, false, "Show or hide this help";
    ViewFleet = "view_fleet", Global, false, "Fleet overview";
    ViewDetail = "view_detail", Global, false, "Detail of the selected model";
    ViewEvents = "view_events", Global, false, "Event log";
    ViewIncidents = "view_incidents", Global, false, "Incidents";
    ViewRemediations = "view_remediations", Global, false, "Remediation proposals";
    ViewForecast = "view_forecast", Global, false, "Forecasts and capacity";
    ViewAudit = "view_audit", Global, false, "Audit trail of decisions and actions";
    ViewVulns = "view_vulns", Global, false, "Known vulnerabilities of what the models run";
    NextView = "next_view", Global, false, "Next view";
    PrevView = "prev_view", Global, false, "Previous view";
    Back = "back", Global, false, "Back, close dialog or cancel";
    Redraw = "redraw", Global, false, "Redraw the screen";
    ToggleMouse = "toggle_mouse", Global, false, "Turn mouse capture on or off";
    Up = "up", Navigation, false, "Move up";
    Down = "down", Navigation, false, "Move down";
    PageUp = "page_up", Navigation, false, "Page up";
    PageDown = "page_down", Navigation, false, "Page down";
    Top = "top", Navigation, false, "Go to the top";
    Bottom = "bottom", Navigation, false, "Go to the bottom";
    Left = "left", Navigation, false, "Move left or scroll back";
    Right = "right", Navigation, false, "Move right or scroll forward";
    Select = "select", Navigation, false, "Open or select the item under the cursor";
    Filter = "filter", Lists, false, "Filter the list";
    SortNext = "sort_next", Lists, false, "Sort by the next column";
    SortReverse = "sort_reverse", Lists, false, "Reverse the sort order";
    ClearFilter = "clear_filter", Lists, false, "Clear the filter";
    NextWindow = "next_window", Detail, false, "Longer time window";
    PrevWindow = "prev_window", Detail, false, "Shorter time window";
    NextSignal = "next_signal", Detail, false, "Next signal";
    PrevSignal = "prev_signal", Detail, false, "Previous signal";
    Pause = "pause", Time, false, "Pause or resume time";
    SpeedUp = "speed_up", Time, false, "Faster simulation or replay";
    SpeedDown = "speed_down", Time, false, "Slower simulation or replay";
    StepForward = "step_forward", Time, false, "Step forward one tick (paused)";
    StepBack = "step_back", Time, false, "Step back one tick (replay)";
    NextMark = "next_mark", Time, false, "Jump to the next incident or decision";
    PrevMark = "prev_mark", Time, false, "Jump to the previous incident or decision";
    Seek = "seek", Time, false, "Seek to a time";
    InjectIncident = "inject_incident", Time, false, "Inject an incident (simulation only)";
    Approve = "approve", Remediation, true, "Approve the selected proposal";
    Veto = "veto", Remediation, true, "Veto the selected proposal";
    Automate = "automate", Remediation, true, "Let this action class run automatically";
    SetPhase = "set_phase", Remediation, true, "Change the autonomy phase";
    AddNote = "add_note", Remediation, true, "Add a note to the audit trail";
}

impl Action {
    /// Actions every keymap must bind: without them the console cannot be left, navigated or
    /// used to answer a proposal.
    pub(crate) const REQUIRED: &'static [Action] = &[
        Action::Quit,
        Action::Help,
        Action::Back,
        Action::Up,
        Action::Down,
        Action::Select,
        Action::Approve,
        Action::Veto,
        Action::Automate,
    ];
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown action {s:?}{}; see `pitcrew check` or the help screen for the \
                     action names, or use \"no_op\" to unbind the key",
                    did_you_mean(s, Action::ALL.iter().map(|a| a.name()))
                )
            })
    }
}
