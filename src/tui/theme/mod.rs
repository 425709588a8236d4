//! Colour themes: helix-style scoped TOML files, resolved once into ratatui [`Style`]s.
//!
//! A theme file maps scopes to styles:
//!
//! ```toml
//! inherits = "default"          # optional: merged key by key under this file
//! fallback = "ansi16"           # optional: used when the terminal has only 16 colours
//! "ui.text" = "fg"              # shorthand for { fg = "fg" }
//! "status.ok" = { fg = "green", modifiers = ["bold"] }
//! [palette]                     # optional named colours
//! fg = "#c0caf5"
//! ```
//!
//! Colours are palette names, `#rrggbb`, `reset` or the 16 ANSI names (`black red green yellow
//! blue magenta cyan light-gray gray white light-red light-green light-yellow light-blue
//! light-magenta light-cyan`; `dark-gray` is `gray`, `grey` is accepted). Modifiers are `bold dim
//! italic underlined slow_blink rapid_blink reversed hidden crossed_out`.
//!
//! [`Theme::style`] resolves a scope with hierarchical fallback (`status.warn` → `status` →
//! `ui.text`); every scope of [`SCOPES`] is resolved at load time, so a lookup is one hash probe.
//!
//! Colour modes ([`ColorMode`]): in `Ansi16` a theme that uses RGB colours is replaced by its
//! `fallback` (default `ansi16`); in `None` (NO_COLOR) a theme that uses any colour is replaced by
//! `monochrome`, and every colour is stripped, so the console emits no colour codes at all.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use toml::de::{DeTable, DeValue};

use crate::config::diagnostics::{
    Catalog, ConfigError, Origin, Parsed, Pos, Problem, SourceText, did_you_mean, expect_str,
    load_chain, sort_problems,
};

/// The built-in themes, embedded in the binary.
mod file;
use file::*;

const BUILTIN_THEMES: &[(&str, &str)] = &[
    ("default", include_str!("../../../themes/default.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
    ("ansi16", include_str!("../../../themes/ansi16.toml")),
    (
        "monochrome",
        include_str!("../../../themes/monochrome.toml"),
    ),
];

/// Every scope the UI asks for. A theme may set these and any prefix of them (`status`, `ui`).
pub(crate) const SCOPES: &[&str] = &[
    "ui.background",
    "ui.text",
    "ui.text.dim",
    "ui.border",
    "ui.border.focus",
    "ui.title",
    "ui.header",
    "ui.selection",
    "ui.statusbar",
    "ui.statusbar.phase",
    "ui.statusbar.source",
    "ui.statusbar.clock",
    "ui.statusbar.stale",
    "ui.badge.readonly",
    "ui.badge.replay",
    "ui.tab",
    "ui.tab.active",
    "ui.help.key",
    "ui.help.group",
    "ui.dialog",
    "ui.dialog.border",
    "ui.input",
    "ui.filter",
    "status.ok",
    "status.warn",
    "status.crit",
    "status.unknown",
    "chart.axis",
    "chart.rate",
    "chart.latency",
    "chart.errors",
    "chart.accuracy",
    "chart.cpu",
    "chart.replicas",
    "chart.band",
    "chart.baseline",
    "chart.anomaly",
    "chart.forecast",
    "event.detection",
    "event.incident",
    "event.proposal",
    "event.decision",
    "event.action",
    "event.outcome",
    "event.phase",
    "event.note",
];

/// The scope every lookup finally falls back to.
const ROOT_SCOPE: &str = "ui.text";

const MODIFIERS: &[(&str, Modifier)] = &[
    ("bold", Modifier::BOLD),
    ("dim", Modifier::DIM),
    ("italic", Modifier::ITALIC),
    ("underlined", Modifier::UNDERLINED),
    ("slow_blink", Modifier::SLOW_BLINK),
    ("rapid_blink", Modifier::RAPID_BLINK),
    ("reversed", Modifier::REVERSED),
    ("hidden", Modifier::HIDDEN),
    ("crossed_out", Modifier::CROSSED_OUT),
];

const ANSI_NAMES: &[(&str, Color)] = &[
    ("reset", Color::Reset),
    ("black", Color::Black),
    ("red", Color::Red),
    ("green", Color::Green),
    ("yellow", Color::Yellow),
    ("blue", Color::Blue),
    ("magenta", Color::Magenta),
    ("cyan", Color::Cyan),
    ("light-gray", Color::Gray),
    ("light-grey", Color::Gray),
    ("gray", Color::DarkGray),
    ("grey", Color::DarkGray),
    ("dark-gray", Color::DarkGray),
    ("dark-grey", Color::DarkGray),
    ("light-red", Color::LightRed),
    ("light-green", Color::LightGreen),
    ("light-yellow", Color::LightYellow),
    ("light-blue", Color::LightBlue),
    ("light-magenta", Color::LightMagenta),
    ("light-cyan", Color::LightCyan),
    ("white", Color::White),
];

/// How many colours the terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorMode {
    /// No colour at all (NO_COLOR): only modifiers such as bold and reversed.
    None,
    /// The 16 ANSI colours, as the terminal's own palette shows them.
    Ansi16,
    /// 24-bit colour.
    TrueColor,
}

impl ColorMode {
    /// Every mode, for tests and `pitcrew check`.
    pub const ALL: [ColorMode; 3] = [ColorMode::None, ColorMode::Ansi16, ColorMode::TrueColor];

    /// Detect the mode from environment variables read through `get` (pass
    /// `|k| std::env::var(k).ok()`): `NO_COLOR` set and non-empty gives `None` (no-color.org);
    /// `COLORTERM` = `truecolor` or `24bit` gives `TrueColor`; anything else `Ansi16`, which is
    /// safe over SSH and in tmux.
    pub(crate) fn detect_from_env(get: impl Fn(&str) -> Option<String>) -> ColorMode {
        if get("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            return ColorMode::None;
        }
        match get("COLORTERM") {
            Some(v) if v.eq_ignore_ascii_case("truecolor") || v.eq_ignore_ascii_case("24bit") => {
                ColorMode::TrueColor
            }
            _ => ColorMode::Ansi16,
        }
    }

    /// The name accepted by [`FromStr`]: `none`, `16`, `truecolor`.
    pub fn name(self) -> &'static str {
        match self {
            ColorMode::None => "none",
            ColorMode::Ansi16 => "16",
            ColorMode::TrueColor => "truecolor",
        }
    }
}

impl FromStr for ColorMode {
    type Err = String;

    /// Parse a `--color` style value: `none`/`no`/`off`, `16`/`ansi16`/`ansi`,
    /// `truecolor`/`24bit`/`true`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "no" | "off" | "never" => Ok(ColorMode::None),
            "16" | "ansi16" | "ansi" => Ok(ColorMode::Ansi16),
            "truecolor" | "24bit" | "true" | "rgb" => Ok(ColorMode::TrueColor),
            _ => Err(format!(
                "unknown colour mode {s:?}; use one of: none, 16, truecolor"
            )),
        }
    }
}

/// A loaded theme: every scope resolved to a [`Style`] for the current [`ColorMode`].
#[derive(Debug, Clone)]
pub struct Theme {
    name: String,
    requested: String,
    mode: ColorMode,
    styles: HashMap<String, Style>,
    root: Style,
}

impl Default for Theme {
    /// A theme with no styles at all (everything is the terminal's default).
    fn default() -> Self {
        Theme {
            name: "none".into(),
            requested: "none".into(),
            mode: ColorMode::None,
            styles: HashMap::new(),
            root: Style::default(),
        }
    }
}

impl Theme {
    /// Load a theme by built-in name, user theme name (`NAME.toml` in one of `search_dirs`, which
    /// take precedence over built-ins) or path to a `.toml` file, for the colour `mode`.
    ///
    /// All problems of the file and of the files it inherits from are reported together.
    pub fn load(
        spec: &str,
        search_dirs: &[PathBuf],
        mode: ColorMode,
    ) -> Result<Theme, ConfigError> {
        let catalog = catalog(search_dirs);
        let resolved = resolve(&catalog, spec)?;
        let mut theme = match mode {
            ColorMode::TrueColor => resolved,
            ColorMode::Ansi16 if resolved.uses_rgb => {
                let fallback = resolved.fallback.clone();
                let fb = resolve(&catalog, &fallback)
                    .map_err(|e| with_context(e, &format!("fallback theme of {spec:?}")))?;
                fb.quantized()
            }
            ColorMode::Ansi16 => resolved,
            ColorMode::None if resolved.uses_color => {
                let mono = resolve(&catalog, "monochrome")?;
                mono.stripped()
            }
            ColorMode::None => resolved.stripped(),
        };
        let root = theme.styles.get(ROOT_SCOPE).copied().unwrap_or_default();
        // Pre-resolve every known scope with its fallback so `style` is one lookup.
        for scope in SCOPES {
            if !theme.styles.contains_key(*scope) {
                let style = lookup(&theme.styles, scope).unwrap_or(root);
                theme.styles.insert((*scope).to_string(), style);
            }
        }
        Ok(Theme {
            name: theme.name,
            requested: spec.to_string(),
            mode,
            styles: std::mem::take(&mut theme.styles),
            root,
        })
    }

    /// The style of a scope: the most specific defined prefix (`status.warn` → `status`), else
    /// `ui.text`, else the terminal default. Cheap enough for the render path.
    pub fn style(&self, scope: &str) -> Style {
        lookup(&self.styles, scope).unwrap_or(self.root)
    }

    /// The name of the theme in use (a fallback's name when one replaced the requested theme).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The theme that was asked for (name or path).
    pub fn requested(&self) -> &str {
        &self.requested
    }

    /// The colour mode it was resolved for.
    pub fn mode(&self) -> ColorMode {
        self.mode
    }

    /// Names of the built-in themes.
    pub(crate) fn builtin_names() -> Vec<&'static str> {
        BUILTIN_THEMES.iter().map(|(n, _)| *n).collect()
    }

    /// Validate a theme in every colour mode, returning all the problems found (deduplicated).
    pub fn check(spec: &str, search_dirs: &[PathBuf]) -> Vec<Problem> {
        let mut problems: Vec<Problem> = Vec::new();
        for mode in [ColorMode::TrueColor, ColorMode::Ansi16, ColorMode::None] {
            if let Err(e) = Theme::load(spec, search_dirs, mode) {
                crate::config::diagnostics::extend_unique(&mut problems, e.problems());
            }
        }
        problems
    }
}

fn lookup(styles: &HashMap<String, Style>, scope: &str) -> Option<Style> {
    let mut s = scope;
    loop {
        if let Some(style) = styles.get(s) {
            return Some(*style);
        }
        match s.rfind('.') {
            Some(i) => s = &s[..i],
            None => return None,
        }
    }
}

fn with_context(e: ConfigError, context: &str) -> ConfigError {
    match e {
        ConfigError::Invalid(problems) => ConfigError::Invalid(
            problems
                .into_iter()
                .map(|mut p| {
                    p.message = format!("{} (in the {context})", p.message);
                    p
                })
                .collect(),
        ),
        other => other,
    }
}

fn catalog(search_dirs: &[PathBuf]) -> Catalog<'_> {
    Catalog {
        kind: "theme",
        dir: "themes",
        builtins: BUILTIN_THEMES,
        search_dirs,
    }
}

/// A theme chain merged and resolved, before the colour mode is applied.
struct Resolved {
    name: String,
    fallback: String,
    styles: HashMap<String, Style>,
    uses_rgb: bool,
    uses_color: bool,
}

fn resolve(catalog: &Catalog<'_>, spec: &str) -> Result<Resolved, ConfigError> {
    let mut problems = Vec::new();
    let layers = load_chain(
        catalog,
        spec,
        &parse_file,
        &|_origin: &Origin| None,
        &mut problems,
    )?;
    let name = layers
        .last()
        .map_or_else(|| spec.to_string(), |l| Catalog::origin_name(&l.origin));
    // Merge root first: a child's palette entry or scope replaces its parent's.
    let mut palette: HashMap<String, RawColor> = HashMap::new();
    let mut raw: HashMap<String, RawStyle> = HashMap::new();
    let mut fallback = None;
    for layer in layers {
        if layer.data.fallback.is_some() {
            fallback = layer.data.fallback;
        }
        palette.extend(layer.data.palette);
        raw.extend(layer.data.styles);
    }
    let mut uses_rgb = false;
    let mut uses_color = false;
    let mut styles = HashMap::with_capacity(raw.len() + SCOPES.len());
    let mut scopes: Vec<&String> = raw.keys().collect();
    scopes.sort();
    for scope in scopes {
        let Some(r) = raw.get(scope) else { continue };
        let mut style = Style::default().add_modifier(r.modifiers);
        for (slot, is_fg) in [(&r.fg, true), (&r.bg, false)] {
            let Some(c) = slot else { continue };
            let color = palette
                .get(&c.name)
                .and_then(|p| parse_color(&p.name))
                .or_else(|| parse_color(&c.name));
            match color {
                Some(color) => {
                    uses_rgb |= matches!(color, Color::Rgb(..));
                    uses_color |= color != Color::Reset;
                    style = if is_fg {
                        style.fg(color)
                    } else {
                        style.bg(color)
                    };
                }
                None if palette.contains_key(&c.name) => {} // reported at the palette entry
                None => problems.push(Problem::at_pos(
                    &c.pos,
                    format!("scope {scope:?}: {}", bad_color_text(&c.name)),
                )),
            }
        }
        styles.insert(scope.clone(), style);
    }
    if !problems.is_empty() {
        sort_problems(&mut problems);
        return Err(ConfigError::Invalid(problems));
    }
    Ok(Resolved {
        name,
        fallback: fallback.unwrap_or_else(|| "ansi16".to_string()),
        styles,
        uses_rgb,
        uses_color,
    })
}

impl Resolved {
    /// Every colour removed, modifiers kept.
    fn stripped(mut self) -> Resolved {
        for style in self.styles.values_mut() {
            style.fg = None;
            style.bg = None;
        }
        self.uses_rgb = false;
        self.uses_color = false;
        self
    }

    /// Any RGB colour left (a fallback that itself uses RGB) mapped to the nearest ANSI colour.
    fn quantized(mut self) -> Resolved {
        for style in self.styles.values_mut() {
            style.fg = style.fg.map(nearest_ansi);
            style.bg = style.bg.map(nearest_ansi);
        }
        self.uses_rgb = false;
        self
    }
}

/// The nearest of the 16 ANSI colours (xterm's default palette) to an RGB colour.
fn nearest_ansi(c: Color) -> Color {
    const TABLE: &[(Color, (i32, i32, i32))] = &[
        (Color::Black, (0, 0, 0)),
        (Color::Red, (205, 0, 0)),
        (Color::Green, (0, 205, 0)),
        (Color::Yellow, (205, 205, 0)),
        (Color::Blue, (0, 0, 238)),
        (Color::Magenta, (205, 0, 205)),
        (Color::Cyan, (0, 205, 205)),
        (Color::Gray, (229, 229, 229)),
        (Color::DarkGray, (127, 127, 127)),
        (Color::LightRed, (255, 0, 0)),
        (Color::LightGreen, (0, 255, 0)),
        (Color::LightYellow, (255, 255, 0)),
        (Color::LightBlue, (92, 92, 255)),
        (Color::LightMagenta, (255, 0, 255)),
        (Color::LightCyan, (0, 255, 255)),
        (Color::White, (255, 255, 255)),
    ];
    let Color::Rgb(r, g, b) = c else { return c };
    let (r, g, b) = (i32::from(r), i32::from(g), i32::from(b));
    TABLE
        .iter()
        .min_by_key(|(_, (tr, tg, tb))| (r - tr).pow(2) + (g - tg).pow(2) + (b - tb).pow(2))
        .map_or(c, |(color, _)| *color)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        crate::config::diagnostics::testing::fixture("themes", name)
    }

    fn is_ansi16(c: Color) -> bool {
        !matches!(c, Color::Rgb(..) | Color::Indexed(_))
    }

    #[test]
    fn every_builtin_loads_in_every_mode() {
        for name in Theme::builtin_names() {
            for mode in ColorMode::ALL {
                let theme = Theme::load(name, &[], mode)
                    .unwrap_or_else(|e| panic!("theme {name} in {mode:?}: {e}"));
                for scope in SCOPES {
                    let style = theme.style(scope);
                    match mode {
                        ColorMode::None => {
                            assert_eq!(style.fg, None, "{name} {scope}");
                            assert_eq!(style.bg, None, "{name} {scope}");
                        }
                        ColorMode::Ansi16 => {
                            assert!(style.fg.is_none_or(is_ansi16), "{name} {scope}");
                            assert!(style.bg.is_none_or(is_ansi16), "{name} {scope}");
                        }
                        ColorMode::TrueColor => {}
                    }
                }
            }
        }
    }

    #[test]
    fn builtins_define_every_scope_with_no_problem() {
        for name in Theme::builtin_names() {
            assert_eq!(Theme::check(name, &[]), vec![], "{name}");
        }
    }

    #[test]
    fn monochrome_has_no_colour_but_shows_selection_and_status() {
        let theme = Theme::load("monochrome", &[], ColorMode::TrueColor).unwrap();
        for scope in SCOPES {
            let s = theme.style(scope);
            assert_eq!((s.fg, s.bg), (None, None), "{scope}");
        }
        assert!(
            theme
                .style("ui.selection")
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert!(
            theme
                .style("status.crit")
                .add_modifier
                .contains(Modifier::BOLD)
        );
    }

    #[test]
    fn ansi16_and_high_contrast_use_only_ansi_colours() {
        for name in ["ansi16", "high-contrast"] {
            let theme = Theme::load(name, &[], ColorMode::TrueColor).unwrap();
            for scope in SCOPES {
                let s = theme.style(scope);
                assert!(s.fg.is_none_or(is_ansi16) && s.bg.is_none_or(is_ansi16));
            }
        }
    }

    #[test]
    fn truecolor_theme_falls_back_in_16_colour_mode() {
        let t = Theme::load("default", &[], ColorMode::TrueColor).unwrap();
        assert_eq!(t.name(), "default");
        assert!(matches!(t.style("ui.text").fg, Some(Color::Rgb(..))));
        let t = Theme::load("default", &[], ColorMode::Ansi16).unwrap();
        assert_eq!(t.name(), "ansi16");
        assert_eq!(t.requested(), "default");
        let t = Theme::load("default", &[], ColorMode::None).unwrap();
        assert_eq!(t.name(), "monochrome");
    }

    #[test]
    fn hierarchical_fallback() {
        let t = Theme::load("default", &[], ColorMode::TrueColor).unwrap();
        assert_eq!(t.style("status.warn.extra"), t.style("status.warn"));
        assert_eq!(t.style("nothing.at.all"), t.style("ui.text"));
        assert_eq!(t.style("status.somethingnew"), t.style("status"));
    }

    #[test]
    fn detect_mode_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            ColorMode::detect_from_env(env(&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")])),
            ColorMode::None
        );
        assert_eq!(
            ColorMode::detect_from_env(env(&[("NO_COLOR", ""), ("COLORTERM", "24bit")])),
            ColorMode::TrueColor
        );
        assert_eq!(ColorMode::detect_from_env(env(&[])), ColorMode::Ansi16);
        assert_eq!("none".parse::<ColorMode>(), Ok(ColorMode::None));
        assert!("rainbow".parse::<ColorMode>().is_err());
    }

    #[test]
    fn valid_user_theme_inherits_a_builtin_and_uses_its_palette() {
        let t = Theme::load(&fixture("theme_valid.toml"), &[], ColorMode::TrueColor).unwrap();
        assert_eq!(t.name(), "theme_valid");
        assert_eq!(t.style("status.ok").fg, Some(Color::Rgb(0x12, 0x34, 0x56)));
        assert!(t.style("status.ok").add_modifier.contains(Modifier::ITALIC));
        // inherited unchanged from the built-in default
        let d = Theme::load("default", &[], ColorMode::TrueColor).unwrap();
        assert_eq!(t.style("chart.rate"), d.style("chart.rate"));
        // found by name in a search dir too
        let t = Theme::load(
            "theme_valid",
            &[crate::config::diagnostics::testing::fixture_dir("themes")],
            ColorMode::TrueColor,
        )
        .unwrap();
        assert_eq!(t.name(), "theme_valid");
    }

    #[test]
    fn user_theme_may_shadow_and_extend_the_builtin_of_the_same_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            "inherits = \"default\"\n\"status.ok\" = \"#010203\"\n",
        )
        .unwrap();
        let dirs = vec![dir.path().to_path_buf()];
        let t = Theme::load("default", &dirs, ColorMode::TrueColor).unwrap();
        assert_eq!(t.style("status.ok").fg, Some(Color::Rgb(1, 2, 3)));
        let builtin = Theme::load("default", &[], ColorMode::TrueColor).unwrap();
        assert_eq!(t.style("chart.cpu"), builtin.style("chart.cpu"));
        // the built-in light theme inherits the built-in default, never a user file
        let light = Theme::load("light", &dirs, ColorMode::TrueColor).unwrap();
        assert_ne!(light.style("status.ok").fg, Some(Color::Rgb(1, 2, 3)));
    }

    fn problems_of(name: &str) -> Vec<(usize, usize, String)> {
        crate::config::diagnostics::testing::located(
            name,
            Theme::load(&fixture(name), &[], ColorMode::TrueColor),
        )
    }

    #[test]
    fn bad_syntax_is_located() {
        let p = problems_of("theme_bad_syntax.toml");
        // an unclosed string is reported where the line ends
        assert_eq!((p[0].0, p[0].1), (4, 19), "{p:?}");
        assert!(p[0].2.starts_with("invalid TOML"), "{p:?}");
    }

    #[test]
    fn unknown_colour_modifier_and_scope_are_all_reported() {
        let p = problems_of("theme_bad_values.toml");
        let at: Vec<(usize, usize)> = p.iter().map(|(l, c, _)| (*l, *c)).collect();
        assert_eq!(at, vec![(3, 15), (4, 1), (5, 44), (8, 10)], "{p:?}");
        assert!(p[0].2.contains("unknown colour \"gren\""), "{p:?}");
        assert!(p[0].2.contains("did you mean \"green\""), "{p:?}");
        assert!(p[1].2.contains("unknown scope \"status.wran\""), "{p:?}");
        assert!(p[1].2.contains("did you mean \"status.warn\""), "{p:?}");
        assert!(p[2].2.contains("unknown modifier \"blod\""), "{p:?}");
        assert!(p[3].2.contains("bad colour \"#12345\""), "{p:?}");
    }

    #[test]
    fn inherits_cycle_is_an_error() {
        let e = Theme::load(&fixture("theme_cycle_a.toml"), &[], ColorMode::TrueColor);
        let problems = e.map(|_| ()).unwrap_err().problems();
        // reported at the `inherits` that closes the cycle
        assert!(
            problems[0].file.ends_with("theme_cycle_b.toml"),
            "{problems:?}"
        );
        let p = problems_of("theme_cycle_a.toml");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].0, p[0].1), (1, 12), "{p:?}");
        assert!(
            p[0].2
                .contains("inherits cycle: theme_cycle_a -> theme_cycle_b -> theme_cycle_a"),
            "{p:?}"
        );
    }

    #[test]
    fn missing_theme_names_the_builtins() {
        let e = Theme::load("nope", &[], ColorMode::TrueColor).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("theme \"nope\" not found"), "{msg}");
        assert!(msg.contains("monochrome"), "{msg}");
    }

    #[test]
    fn nearest_ansi_colour() {
        assert_eq!(nearest_ansi(Color::Rgb(250, 10, 10)), Color::LightRed);
        assert_eq!(nearest_ansi(Color::Rgb(10, 10, 10)), Color::Black);
        assert_eq!(nearest_ansi(Color::Green), Color::Green);
    }
}
