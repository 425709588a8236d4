//! Key bindings: named [`Action`]s, bound to keys by TOML keymaps merged over the defaults.
//!
//! A keymap file has a `[keys]` table of `"key" = "action"` (an action may have many keys, a key
//! one action) and an optional `inherits = "NAME"`; without it a keymap extends the built-in
//! `default` (`keymaps/default.toml`). A child's binding replaces its parent's for that key, and
//! `"key" = "no_op"` removes it.
//!
//! Keys are written `q`, `G`, `?`, `ctrl-c`, `alt-v`, `shift-tab`, `enter`, `esc`, `space`,
//! `pageup`, `f1`... An upper-case letter is the shifted letter (`G` = `shift-g`).
//!
//! The k9s lesson: a mutating action ([`Action::is_mutating`]) may never be bound to a ctrl-,
//! alt- or super- chord: the UI confirms every mutating action in a dialog, and one stray control
//! key must never start one. Such bindings are rejected when the keymap is loaded.
//!
//! The help screen is generated from [`Keymap::help_entries`], so it cannot drift from the
//! bindings in force.

use std::collections::HashMap;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use toml::de::{DeTable, DeValue};

mod action;
mod chord;

pub use action::{Action, Group};
pub use chord::KeyChord;

use crate::config::diagnostics::{
    Catalog, ConfigError, Origin, Parsed, Pos, Problem, SourceText, expect_str, load_chain,
    sort_problems,
};

/// The built-in keymaps, embedded in the binary. `default` is the base of every other keymap.
const BUILTIN_KEYMAPS: &[(&str, &str)] = &[
    ("default", include_str!("../../../keymaps/default.toml")),
    ("vim", include_str!("../../../keymaps/vim.toml")),
    ("emacs", include_str!("../../../keymaps/emacs.toml")),
];

/// The action name that unbinds a key.
pub(crate) const NO_OP: &str = "no_op";

/// One line of the help screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HelpEntry {
    /// The help group.
    pub group: Group,
    /// The action.
    pub action: Action,
    /// The keys bound to it, printable, most direct first; empty when unbound.
    pub keys: Vec<String>,
    /// One line saying what it does.
    pub description: &'static str,
    /// The action mutates: show it as such, hide or grey it in read-only mode.
    pub mutating: bool,
}

/// A binding with the place it was written, for error messages.
#[derive(Debug, Clone)]
struct Binding {
    action: Option<Action>, // None = no_op
    pos: Pos,
}

/// The bindings in force: a map from key to action, and back.
#[derive(Debug, Clone)]
pub struct Keymap {
    name: String,
    by_key: HashMap<KeyChord, Action>,
    by_action: HashMap<Action, Vec<KeyChord>>,
}

impl Keymap {
    /// Load a keymap by built-in name (`default`, `vim`, `emacs`), user keymap name (`NAME.toml`
    /// in one of `search_dirs`, which take precedence) or path, merged over its parents and the
    /// built-in default. Every problem (bad TOML, unknown action, bad key, a key bound twice,
    /// a mutating action on a ctrl-/alt- chord, a required action left unbound) is reported.
    pub fn load(spec: &str, search_dirs: &[PathBuf]) -> Result<Keymap, ConfigError> {
        let catalog = Catalog {
            kind: "keymap",
            dir: "keymaps",
            builtins: BUILTIN_KEYMAPS,
            search_dirs,
        };
        let mut problems = Vec::new();
        let implicit_parent = |origin: &Origin| match origin {
            Origin::Builtin("default") => None,
            _ => Some("default"),
        };
        let layers = load_chain(&catalog, spec, &parse_file, &implicit_parent, &mut problems)?;
        // A chain cut short (syntax error, missing parent) lacks the defaults: only check that
        // required actions are bound when every file was read.
        let chain_complete = layers
            .first()
            .is_some_and(|l| l.origin == Origin::Builtin("default"));
        let name = layers
            .last()
            .map_or_else(|| spec.to_string(), |l| Catalog::origin_name(&l.origin));
        let mut merged: HashMap<KeyChord, (Action, Pos)> = HashMap::new();
        for layer in layers {
            for (key, binding) in layer.data {
                match binding.action {
                    Some(a) => {
                        merged.insert(key, (a, binding.pos));
                    }
                    None => {
                        merged.remove(&key);
                    }
                }
            }
        }
        let mut by_key = HashMap::with_capacity(merged.len());
        let mut by_action: HashMap<Action, Vec<KeyChord>> = HashMap::new();
        let mut sorted: Vec<(KeyChord, (Action, Pos))> = merged.into_iter().collect();
        sorted.sort_by_key(|(k, _)| key_order(k));
        for (key, (action, pos)) in sorted {
            if action.is_mutating() && key.is_control_chord() {
                problems.push(Problem::at_pos(
                    &pos,
                    format!(
                        "{action:?} changes the fleet and may not be bound to the chord \"{key}\": \
                         a single control key must never start a mutating action; bind it to a \
                         plain key such as a letter (the console always asks for confirmation)",
                        action = action.name()
                    ),
                ));
            }
            by_key.insert(key, action);
            by_action.entry(action).or_default().push(key);
        }
        for action in Action::REQUIRED {
            if chain_complete && !by_action.contains_key(action) {
                problems.push(Problem::whole_file(
                    catalog_display(&name, spec),
                    format!(
                        "no key is bound to {:?}, which every keymap needs; bind one in [keys] \
                         or remove the \"no_op\" that unbinds it",
                        action.name()
                    ),
                ));
            }
        }
        if !problems.is_empty() {
            sort_problems(&mut problems);
            return Err(ConfigError::Invalid(problems));
        }
        Ok(Keymap {
            name,
            by_key,
            by_action,
        })
    }

    /// The keymap's name (built-in name or file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Names of the built-in keymaps.
    pub(crate) fn builtin_names() -> Vec<&'static str> {
        BUILTIN_KEYMAPS.iter().map(|(n, _)| *n).collect()
    }

    /// The action bound to a key event, if any. Release events never trigger an action.
    pub(crate) fn action_for(&self, ev: &KeyEvent) -> Option<Action> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        self.by_key.get(&KeyChord::from_event(ev)).copied()
    }

    /// The keys bound to an action, printable (most direct first); empty when unbound.
    pub(crate) fn keys_for(&self, a: Action) -> Vec<String> {
        self.by_action
            .get(&a)
            .map(|keys| keys.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The chords bound to an action.
    pub fn chords_for(&self, a: Action) -> &[KeyChord] {
        self.by_action.get(&a).map_or(&[], Vec::as_slice)
    }

    /// Every action (bound or not) with its keys, ordered by group and then a stable order
    /// within the group: the help screen and command bar are generated from this.
    pub(crate) fn help_entries(&self) -> Vec<HelpEntry> {
        let mut entries: Vec<HelpEntry> = Action::ALL
            .iter()
            .map(|&action| HelpEntry {
                group: action.group(),
                action,
                keys: self.keys_for(action),
                description: action.description(),
                mutating: action.is_mutating(),
            })
            .collect();
        entries.sort_by_key(|e| e.group); // stable: keeps declaration order within a group
        entries
    }

    /// Validate a keymap, returning every problem found.
    pub fn check(spec: &str, search_dirs: &[PathBuf]) -> Vec<Problem> {
        match Keymap::load(spec, search_dirs) {
            Ok(_) => Vec::new(),
            Err(e) => e.problems(),
        }
    }
}

fn catalog_display(name: &str, spec: &str) -> String {
    if crate::config::diagnostics::looks_like_path(spec) {
        spec.to_string()
    } else {
        format!("keymap {name}")
    }
}

/// Plain characters first, then named keys, then chords; alphabetical within each.
fn key_order(k: &KeyChord) -> (u8, String) {
    let rank = match (k.code, k.modifiers.is_empty()) {
        (KeyCode::Char(' '), true) => 1,
        (KeyCode::Char(_), true) => 0,
        (_, true) => 1,
        _ => 2,
    };
    (rank, k.to_string())
}

fn parse_file(
    src: &SourceText,
    doc: &DeTable<'_>,
    problems: &mut Vec<Problem>,
) -> Parsed<Vec<(KeyChord, Binding)>> {
    let mut inherits = None;
    let mut bindings: Vec<(KeyChord, Binding)> = Vec::new();
    let mut seen: HashMap<KeyChord, Pos> = HashMap::new();
    for (key, value) in doc {
        match key.get_ref().as_ref() {
            "inherits" => {
                if let Some(s) = expect_str(src, value, "`inherits`", problems) {
                    inherits = Some((s.to_string(), value.span()));
                }
            }
            "keys" => {
                let DeValue::Table(table) = value.get_ref() else {
                    problems.push(Problem::at_span(
                        src,
                        value.span(),
                        "`keys` must be a table: [keys] followed by lines like \"q\" = \"quit\"",
                    ));
                    continue;
                };
                for (k, v) in table {
                    let chord = match k.get_ref().parse::<KeyChord>() {
                        Ok(c) => Some(c),
                        Err(msg) => {
                            problems.push(Problem::at_span(src, k.span(), msg));
                            None
                        }
                    };
                    let what = format!("the action of key {:?}", k.get_ref());
                    let Some(name) = expect_str(src, v, &what, problems) else {
                        continue;
                    };
                    let action = if name == NO_OP {
                        Some(None)
                    } else {
                        match name.parse::<Action>() {
                            Ok(a) => Some(Some(a)),
                            Err(msg) => {
                                problems.push(Problem::at_span(src, v.span(), msg));
                                None
                            }
                        }
                    };
                    let (Some(chord), Some(action)) = (chord, action) else {
                        continue;
                    };
                    let pos = src.pos(k.span().start);
                    if let Some(first) = seen.get(&chord) {
                        problems.push(Problem::at_pos(
                            &pos,
                            format!(
                                "key {:?} is the same key as the one bound at line {}; a key \
                                 has one action: remove one of them",
                                k.get_ref(),
                                first.line
                            ),
                        ));
                        continue;
                    }
                    seen.insert(chord, pos.clone());
                    bindings.push((chord, Binding { action, pos }));
                }
            }
            other => problems.push(Problem::at_span(
                src,
                key.span(),
                format!(
                    "unknown setting {other:?} in a keymap; a keymap has `inherits` and a \
                     [keys] table (quote keys such as \"ctrl-c\" inside [keys])"
                ),
            )),
        }
    }
    Parsed {
        data: bindings,
        inherits,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn fixture(name: &str) -> String {
        crate::config::diagnostics::testing::fixture("keymaps", name)
    }

    fn ev(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    fn key(s: &str) -> KeyChord {
        s.parse().unwrap()
    }

    #[test]
    fn parse_and_print_keys() {
        for (raw, printed) in [
            ("q", "q"),
            ("G", "G"),
            ("shift-g", "G"),
            ("?", "?"),
            ("ctrl-c", "ctrl-c"),
            ("Ctrl-C", "ctrl-C"),
            ("alt-v", "alt-v"),
            ("shift-tab", "shift-tab"),
            ("backtab", "shift-tab"),
            ("enter", "enter"),
            ("esc", "esc"),
            ("pageup", "pageup"),
            ("PgDn", "pagedown"),
            ("f1", "f1"),
            ("F12", "f12"),
            ("space", "space"),
            (" ", "space"),
            ("-", "-"),
            ("ctrl--", "ctrl--"),
            ("alt-<", "alt-<"),
            ("ctrl-shift-up", "ctrl-shift-up"),
        ] {
            let chord = key(raw);
            assert_eq!(chord.to_string(), printed, "{raw}");
            assert_eq!(key(printed), chord, "round trip of {raw}");
        }
        for bad in ["", "ctrl-", "ctrl-ctrl-c", "foo", "f25", "meta-x", "pgupp"] {
            assert!(bad.parse::<KeyChord>().is_err(), "{bad:?} should not parse");
        }
        let msg = "pgupp".parse::<KeyChord>().unwrap_err();
        assert!(msg.contains("did you mean \"pgup\""), "{msg}");
    }

    #[test]
    fn events_match_bindings_whatever_the_shift_flag() {
        let km = Keymap::load("vim", &[]).unwrap();
        let shift = KeyModifiers::SHIFT;
        let none = KeyModifiers::NONE;
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('G'), none)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('G'), shift)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('g'), shift)),
            Some(Action::Bottom)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('g'), none)),
            Some(Action::Top)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('?'), shift)),
            Some(Action::Help)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::BackTab, shift)),
            Some(Action::PrevView)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::Tab, shift)),
            Some(Action::PrevView)
        );
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Action::PageDown)
        );
        let mut release = ev(KeyCode::Char('q'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(km.action_for(&release), None);
        assert_eq!(
            km.action_for(&ev(KeyCode::Char('q'), none)),
            Some(Action::Quit)
        );
    }

    #[test]
    fn every_builtin_keymap_binds_every_action() {
        for name in Keymap::builtin_names() {
            let km = Keymap::load(name, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(km.name(), name);
            for action in Action::ALL {
                assert!(
                    !km.keys_for(*action).is_empty(),
                    "{name} leaves {action} unbound"
                );
            }
            for action in Action::ALL.iter().filter(|a| a.is_mutating()) {
                for chord in km.chords_for(*action) {
                    assert!(!chord.is_control_chord(), "{name}: {action} on {chord}");
                }
            }
        }
    }

    #[test]
    fn vim_and_emacs_bindings() {
        let vim = Keymap::load("vim", &[]).unwrap();
        for (k, a) in [
            ("h", Action::Left),
            ("j", Action::Down),
            ("k", Action::Up),
            ("l", Action::Right),
            ("g", Action::Top),
            ("G", Action::Bottom),
            ("ctrl-d", Action::PageDown),
            ("ctrl-u", Action::PageUp),
            ("/", Action::Filter),
        ] {
            assert_eq!(vim.by_key.get(&key(k)), Some(&a), "vim {k}");
        }
        let emacs = Keymap::load("emacs", &[]).unwrap();
        for (k, a) in [
            ("ctrl-n", Action::Down),
            ("ctrl-p", Action::Up),
            ("ctrl-v", Action::PageDown),
            ("alt-v", Action::PageUp),
            ("ctrl-s", Action::Filter),
            ("ctrl-g", Action::Back),
            ("alt-<", Action::Top),
            ("alt->", Action::Bottom),
        ] {
            assert_eq!(emacs.by_key.get(&key(k)), Some(&a), "emacs {k}");
        }
    }

    #[test]
    fn help_entries_follow_groups_and_bindings() {
        let km = Keymap::load("default", &[]).unwrap();
        let entries = km.help_entries();
        assert_eq!(entries.len(), Action::ALL.len());
        assert!(entries.windows(2).all(|w| w[0].group <= w[1].group));
        assert_eq!(entries[0].action, Action::Quit);
        assert_eq!(entries[0].keys, vec!["q", "ctrl-c"]);
        let approve = entries
            .iter()
            .find(|e| e.action == Action::Approve)
            .unwrap();
        assert!(approve.mutating);
        assert_eq!(approve.group, Group::Remediation);
    }

    #[test]
    fn user_keymap_merges_over_default_and_no_op_unbinds() {
        let km = Keymap::load(&fixture("keymap_valid.toml"), &[]).unwrap();
        assert_eq!(km.name(), "keymap_valid");
        // rebinding
        assert_eq!(km.by_key.get(&key("x")), Some(&Action::Quit));
        // no_op unbinds a default key, the other keys of the action stay
        assert_eq!(km.by_key.get(&key("ctrl-c")), None);
        assert_eq!(km.keys_for(Action::Quit), vec!["q", "x"]);
        // untouched defaults are kept
        let default = Keymap::load("default", &[]).unwrap();
        assert_eq!(
            km.keys_for(Action::Approve),
            default.keys_for(Action::Approve)
        );
        // by name from a search dir
        let km = Keymap::load(
            "keymap_valid",
            &[crate::config::diagnostics::testing::fixture_dir("keymaps")],
        )
        .unwrap();
        assert_eq!(km.by_key.get(&key("x")), Some(&Action::Quit));
    }

    #[test]
    fn user_keymap_may_inherit_another_builtin_and_shadow_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("vim.toml"),
            "inherits = \"vim\"\n[keys]\n\"x\" = \"veto\"\n\"v\" = \"no_op\"\n",
        )
        .unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        let km = Keymap::load("vim", &dirs).unwrap();
        assert_eq!(km.by_key.get(&key("x")), Some(&Action::Veto));
        assert_eq!(km.by_key.get(&key("v")), None);
        assert_eq!(km.keys_for(Action::Veto), vec!["x"]);
        // still vim underneath, and the default under that
        assert_eq!(km.by_key.get(&key("G")), Some(&Action::Bottom));
        assert_eq!(km.by_key.get(&key("f1")), Some(&Action::Help));
        // the built-in emacs is not affected by the user's vim.toml
        let emacs = Keymap::load("emacs", &dirs).unwrap();
        assert_eq!(emacs.by_key.get(&key("v")), Some(&Action::Veto));
    }

    fn problems_of(name: &str) -> Vec<(usize, usize, String)> {
        crate::config::diagnostics::testing::located(name, Keymap::load(&fixture(name), &[]))
    }

    #[test]
    fn mutating_action_on_ctrl_chord_is_rejected() {
        let p = problems_of("keymap_ctrl_mutating.toml");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].0, p[0].1), (4, 1), "{p:?}");
        assert!(p[0].2.contains("\"approve\" changes the fleet"), "{p:?}");
        assert!(p[0].2.contains("\"ctrl-x\""), "{p:?}");
    }

    #[test]
    fn unknown_action_and_bad_key_are_all_reported() {
        let p = problems_of("keymap_bad_values.toml");
        let at: Vec<(usize, usize)> = p.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(at, vec![(4, 7), (5, 1), (6, 1)], "{p:?}");
        assert!(p[0].2.contains("unknown action \"aprove\""), "{p:?}");
        assert!(p[0].2.contains("did you mean \"approve\""), "{p:?}");
        assert!(p[1].2.contains("cannot read key \"ctrl-foo\""), "{p:?}");
        assert!(
            p[2].2.contains("same key as the one bound at line"),
            "{p:?}"
        );
    }

    #[test]
    fn bad_syntax_is_located() {
        let p = problems_of("keymap_bad_syntax.toml");
        assert_eq!((p[0].0, p[0].1), (3, 6), "{p:?}");
        assert!(p[0].2.starts_with("invalid TOML"), "{p:?}");
    }

    #[test]
    fn unbinding_a_required_action_is_an_error() {
        let p = problems_of("keymap_unbinds_quit.toml");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].2.contains("no key is bound to \"quit\""), "{p:?}");
    }
}
