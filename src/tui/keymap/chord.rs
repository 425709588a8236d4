//! A key with its modifiers: parsed from and written to a keymap file (`ctrl-c`, `G`,
//! `shift-tab`), and compared with a terminal event.

use std::fmt;

use crate::config::diagnostics::did_you_mean;
use std::str::FromStr;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key with its modifiers, normalised so that a binding and a terminal event compare equal.
///
/// Characters carry their case and never the SHIFT flag (`G`, `?`); `shift-tab` is `BackTab`;
/// other keys keep SHIFT (`shift-up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    /// The key.
    pub code: KeyCode,
    /// CONTROL, ALT, SUPER and (for non-character keys) SHIFT.
    pub modifiers: KeyModifiers,
}

impl KeyChord {
    /// A normalised chord.
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> KeyChord {
        let mut modifiers = modifiers
            & (KeyModifiers::CONTROL
                | KeyModifiers::ALT
                | KeyModifiers::SHIFT
                | KeyModifiers::SUPER);
        let code = match code {
            KeyCode::Char(c) => {
                let c = if modifiers.contains(KeyModifiers::SHIFT) {
                    c.to_ascii_uppercase()
                } else {
                    c
                };
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::Tab if modifiers.contains(KeyModifiers::SHIFT) => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            KeyCode::BackTab => {
                modifiers.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        KeyChord { code, modifiers }
    }

    /// The chord of a terminal key event.
    pub(crate) fn from_event(ev: &KeyEvent) -> KeyChord {
        KeyChord::new(ev.code, ev.modifiers)
    }

    /// True for ctrl-, alt- and super- chords, which may not start a mutating action.
    pub(crate) fn is_control_chord(&self) -> bool {
        self.modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SUPER)
    }
}

const NAMED_KEYS: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("space", KeyCode::Char(' ')),
    ("backspace", KeyCode::Backspace),
    ("delete", KeyCode::Delete),
    ("insert", KeyCode::Insert),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pageup", KeyCode::PageUp),
    ("pagedown", KeyCode::PageDown),
    ("minus", KeyCode::Char('-')),
    // aliases, parsed but never printed
    ("return", KeyCode::Enter),
    ("ret", KeyCode::Enter),
    ("escape", KeyCode::Esc),
    ("del", KeyCode::Delete),
    ("ins", KeyCode::Insert),
    ("pgup", KeyCode::PageUp),
    ("pgdown", KeyCode::PageDown),
    ("pgdn", KeyCode::PageDown),
    ("hyphen", KeyCode::Char('-')),
];

impl FromStr for KeyChord {
    type Err = String;

    /// Parse `q`, `G`, `?`, `ctrl-c`, `alt-v`, `shift-tab`, `ctrl-shift-up`, `f5`, `space`...
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!(
                "cannot read key {raw:?}: {why}; write keys like \"q\", \"G\", \"?\", \"ctrl-c\", \
                 \"alt-v\", \"shift-tab\", \"enter\", \"esc\", \"space\", \"pageup\", \"f1\""
            )
        };
        let mut rest = raw;
        let mut modifiers = KeyModifiers::NONE;
        loop {
            if rest.chars().count() <= 1 {
                break;
            }
            let lower = rest.to_ascii_lowercase();
            let (flag, len) = if lower.starts_with("ctrl-") {
                (KeyModifiers::CONTROL, 5)
            } else if lower.starts_with("alt-") {
                (KeyModifiers::ALT, 4)
            } else if lower.starts_with("shift-") {
                (KeyModifiers::SHIFT, 6)
            } else if lower.starts_with("super-") {
                (KeyModifiers::SUPER, 6)
            } else {
                break;
            };
            if modifiers.contains(flag) {
                return Err(bad("a modifier is repeated"));
            }
            modifiers |= flag;
            rest = &rest[len..];
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (None, _) => return Err(bad("no key after the modifiers")),
            (Some(c), None) if c.is_control() => {
                return Err(bad("control characters are not keys"));
            }
            (Some(c), None) => KeyCode::Char(c),
            _ => {
                let lower = rest.to_ascii_lowercase();
                if let Some(n) = lower.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                    if !(1..=24).contains(&n) {
                        return Err(bad("function keys go from f1 to f24"));
                    }
                    KeyCode::F(n)
                } else if let Some((_, code)) = NAMED_KEYS.iter().find(|(n, _)| *n == lower) {
                    *code
                } else {
                    let names: Vec<&str> = NAMED_KEYS.iter().map(|(n, _)| *n).collect();
                    return Err(bad(&format!(
                        "unknown key name {rest:?}{}",
                        did_you_mean(&lower, names)
                    )));
                }
            }
        };
        Ok(KeyChord::new(code, modifiers))
    }
}

impl fmt::Display for KeyChord {
    /// Print in the syntax keymap files use, so a printed key can be pasted into a keymap.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (flag, name) in [
            (KeyModifiers::CONTROL, "ctrl-"),
            (KeyModifiers::ALT, "alt-"),
            (KeyModifiers::SUPER, "super-"),
            (KeyModifiers::SHIFT, "shift-"),
        ] {
            if self.modifiers.contains(flag) {
                f.write_str(name)?;
            }
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::F(n) => write!(f, "f{n}"),
            code => match NAMED_KEYS.iter().find(|(_, c)| *c == code) {
                Some((name, _)) => f.write_str(name),
                None => write!(f, "{code:?}"),
            },
        }
    }
}
