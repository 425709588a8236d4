//! The theme file format: a file's scopes, styles, colours and modifiers parsed with every
//! problem located, before the chain of files is merged and resolved.

use super::*;

/// True when `scope` is a known scope or a prefix of one.
pub(super) fn is_known_scope(scope: &str) -> bool {
    SCOPES.iter().any(|s| {
        *s == scope
            || (s.len() > scope.len() && s.starts_with(scope) && s.as_bytes()[scope.len()] == b'.')
    })
}

/// A colour written in a file, before palette lookup.
#[derive(Debug, Clone)]
pub(super) struct RawColor {
    pub(super) name: String,
    pub(super) pos: Pos,
}

#[derive(Debug, Clone, Default)]
pub(super) struct RawStyle {
    pub(super) fg: Option<RawColor>,
    pub(super) bg: Option<RawColor>,
    pub(super) modifiers: Modifier,
}

#[derive(Debug, Default)]
pub(super) struct ThemeFile {
    pub(super) fallback: Option<String>,
    pub(super) palette: Vec<(String, RawColor)>,
    pub(super) styles: Vec<(String, RawStyle)>,
}

pub(super) fn parse_file(
    src: &SourceText,
    doc: &DeTable<'_>,
    problems: &mut Vec<Problem>,
) -> Parsed<ThemeFile> {
    let mut file = ThemeFile::default();
    let mut inherits = None;
    for (key, value) in doc {
        let k: &str = key.get_ref();
        match k {
            "inherits" => {
                if let Some(s) = expect_str(src, value, "`inherits`", problems) {
                    inherits = Some((s.to_string(), value.span()));
                }
            }
            "fallback" => {
                if let Some(s) = expect_str(src, value, "`fallback`", problems) {
                    file.fallback = Some(s.to_string());
                }
            }
            "palette" => match value.get_ref() {
                DeValue::Table(t) => {
                    for (name, v) in t {
                        let what = format!("palette colour {:?}", name.get_ref());
                        if let Some(s) = expect_str(src, v, &what, problems) {
                            let color = RawColor {
                                name: s.to_string(),
                                pos: src.pos(v.span().start),
                            };
                            if parse_color(s).is_none() {
                                problems.push(Problem::at_span(
                                    src,
                                    v.span(),
                                    format!(
                                        "palette colour {:?}: {}",
                                        name.get_ref(),
                                        bad_color_text(s)
                                    ),
                                ));
                            }
                            file.palette.push((name.get_ref().to_string(), color));
                        }
                    }
                }
                other => problems.push(Problem::at_span(
                    src,
                    value.span(),
                    format!(
                        "`palette` must be a table of colours, found {}",
                        other.type_str()
                    ),
                )),
            },
            scope => {
                if !is_known_scope(scope) {
                    problems.push(Problem::at_span(
                        src,
                        key.span(),
                        format!(
                            "unknown scope {scope:?}{}; known scopes are listed in the theme \
                             documentation (`pitcrew check` accepts them and their prefixes)",
                            did_you_mean(scope, SCOPES.iter().copied())
                        ),
                    ));
                    continue;
                }
                if let Some(style) = parse_style(src, scope, value, problems) {
                    file.styles.push((scope.to_string(), style));
                }
            }
        }
    }
    Parsed {
        data: file,
        inherits,
    }
}

pub(super) fn parse_style(
    src: &SourceText,
    scope: &str,
    value: &toml::Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> Option<RawStyle> {
    let color_at = |s: &str, v: &toml::Spanned<DeValue<'_>>| RawColor {
        name: s.to_string(),
        pos: src.pos(v.span().start),
    };
    match value.get_ref() {
        DeValue::String(s) => Some(RawStyle {
            fg: Some(color_at(s, value)),
            ..RawStyle::default()
        }),
        DeValue::Table(t) => {
            let mut style = RawStyle::default();
            for (k, v) in t {
                match k.get_ref().as_ref() {
                    "fg" => {
                        style.fg = expect_str(src, v, "`fg`", problems).map(|s| color_at(s, v));
                    }
                    "bg" => {
                        style.bg = expect_str(src, v, "`bg`", problems).map(|s| color_at(s, v));
                    }
                    "modifiers" => match v.get_ref() {
                        DeValue::Array(items) => {
                            for item in items.iter() {
                                let Some(m) = expect_str(src, item, "a modifier", problems) else {
                                    continue;
                                };
                                match MODIFIERS.iter().find(|(n, _)| *n == m) {
                                    Some((_, flag)) => style.modifiers |= *flag,
                                    None => problems.push(Problem::at_span(
                                        src,
                                        item.span(),
                                        format!(
                                            "unknown modifier {m:?} in scope {scope:?}{}; \
                                             use one of: {}",
                                            did_you_mean(m, MODIFIERS.iter().map(|(n, _)| *n)),
                                            MODIFIERS
                                                .iter()
                                                .map(|(n, _)| *n)
                                                .collect::<Vec<_>>()
                                                .join(", ")
                                        ),
                                    )),
                                }
                            }
                        }
                        other => problems.push(Problem::at_span(
                            src,
                            v.span(),
                            format!(
                                "`modifiers` must be a list such as [\"bold\"], found {}",
                                other.type_str()
                            ),
                        )),
                    },
                    other => problems.push(Problem::at_span(
                        src,
                        k.span(),
                        format!(
                            "unknown style field {other:?} in scope {scope:?}; a style has \
                             `fg`, `bg` and `modifiers`"
                        ),
                    )),
                }
            }
            Some(style)
        }
        other => {
            problems.push(Problem::at_span(
                src,
                value.span(),
                format!(
                    "scope {scope:?} must be a colour string or a table like \
                     {{ fg = \"green\", modifiers = [\"bold\"] }}, found {}",
                    other.type_str()
                ),
            ));
            None
        }
    }
}

/// Parse a colour literal: an ANSI name, `reset` or `#rrggbb`.
pub(super) fn parse_color(s: &str) -> Option<Color> {
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        let [_, r, g, b] = v.to_be_bytes();
        return Some(Color::Rgb(r, g, b));
    }
    ANSI_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, c)| *c)
}

pub(super) fn bad_color_text(s: &str) -> String {
    if s.starts_with('#') {
        format!("bad colour {s:?}; write RGB colours as \"#rrggbb\" with six hex digits")
    } else {
        format!(
            "unknown colour {s:?}{}; use \"#rrggbb\", a palette name, or one of: {}",
            did_you_mean(s, ANSI_NAMES.iter().map(|(n, _)| *n)),
            ANSI_NAMES
                .iter()
                .map(|(n, _)| *n)
                .filter(|n| !n.contains("grey"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
