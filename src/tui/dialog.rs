//! Modal dialogs (menus, confirmations, text fields) and the keys they take: a text field
//! owns every key until it is closed, a confirmation is re-checked against the snapshot when
//! it is answered, and approve, veto and automate open the dialog for the selected remediation.

use super::keymap::Action;
use super::state::{Out, Ui, View};
use crate::domain::IncidentKind;
use crate::engine::{Command, Snapshot};
use crate::policy::autonomy::Phase;
use ratatui_textarea::TextArea;

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

impl Ui {
    pub(super) fn on_dialog_action(&mut self, a: Action) -> Vec<Out> {
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
                    self.fleet.offset = 0;
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
                            if let Some(why) = crate::policy::reason_problem(&text) {
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
    pub(super) fn remediation_action(&mut self, a: Action, snap: &Snapshot) {
        use crate::policy::RemState;
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
                if snap.overrides.get(snap.phase, class)
                    == Some(crate::policy::autonomy::Mode::Auto)
                {
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
                        mode: Some(crate::policy::autonomy::Mode::Auto),
                    },
                });
            }
            _ => {}
        }
    }
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
