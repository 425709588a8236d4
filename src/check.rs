//! `pitcrew check`: validate themes, keymaps and the config file, listing every problem as
//! `file:line:col: message`.
//!
//! With no file given, every built-in theme and keymap is checked, and every `*.toml` in the
//! user theme and keymap directories. The main config is checked for TOML syntax and then
//! against its schema ([`crate::config::Config`]); [`check_files_with`] takes another validator.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::tui::keymap::Keymap;
use crate::tui::theme::Theme;

pub use crate::config::diagnostics::{Problem, SourceText};

/// Where user themes and keymaps are looked for (by name) and listed (with no arguments).
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// User theme directories, in order of precedence.
    pub theme_dirs: Vec<PathBuf>,
    /// User keymap directories, in order of precedence.
    pub keymap_dirs: Vec<PathBuf>,
    /// User playbook directory.
    pub playbook_dir: Option<PathBuf>,
}

/// A schema check for the main config file: given its text (for positions, see
/// [`Problem::at_span`]) and its parsed TOML document with spans, return every problem.
/// It is only called when the file is valid TOML.
pub(crate) type ConfigValidator = dyn Fn(&SourceText, &toml::de::DeTable<'_>) -> Vec<Problem>;

/// What `pitcrew check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// What was checked, e.g. `theme default`, `keymap /home/me/.config/pitcrew/keymaps/my.toml`.
    pub checked: Vec<String>,
    /// Every problem found, in the order found, without duplicates.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// True when no problem was found.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    fn add(&mut self, what: String, problems: Vec<Problem>) {
        self.checked.push(what);
        crate::config::diagnostics::extend_unique(&mut self.problems, problems);
    }
}

impl fmt::Display for CheckReport {
    /// One line per problem, then a summary line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        let n = self.checked.len();
        let files = if n == 1 { "file" } else { "files" };
        match self.problems.len() {
            0 => write!(f, "ok: {n} {files} checked, no problem found"),
            1 => write!(f, "1 problem found in {n} {files} checked"),
            k => write!(f, "{k} problems found in {n} {files} checked"),
        }
    }
}

/// Check the given theme (name or path), keymap (name or path) and config file; with none of
/// them, check every built-in and user theme and keymap. Collects all problems.
pub fn check_files(
    theme: Option<&str>,
    keymap: Option<&str>,
    config: Option<&Path>,
    search: &Search,
) -> CheckReport {
    check_files_with(theme, keymap, config, search, Some(&config_schema))
}

/// The main config's schema check ([`crate::config::Config::parse`]).
pub(crate) fn config_schema(src: &SourceText, _doc: &toml::de::DeTable<'_>) -> Vec<Problem> {
    crate::config::Config::parse(src).err().unwrap_or_default()
}

/// [`check_files`] with a schema check for the config file.
pub(crate) fn check_files_with(
    theme: Option<&str>,
    keymap: Option<&str>,
    config: Option<&Path>,
    search: &Search,
    validator: Option<&ConfigValidator>,
) -> CheckReport {
    let mut report = CheckReport::default();
    if theme.is_none() && keymap.is_none() && config.is_none() {
        for name in Theme::builtin_names() {
            report.add(
                format!("theme {name}"),
                Theme::check(name, &search.theme_dirs),
            );
        }
        for path in toml_files(&search.theme_dirs) {
            let spec = path.display().to_string();
            report.add(
                format!("theme {spec}"),
                Theme::check(&spec, &search.theme_dirs),
            );
        }
        for name in Keymap::builtin_names() {
            report.add(
                format!("keymap {name}"),
                Keymap::check(name, &search.keymap_dirs),
            );
        }
        for path in toml_files(&search.keymap_dirs) {
            let spec = path.display().to_string();
            report.add(
                format!("keymap {spec}"),
                Keymap::check(&spec, &search.keymap_dirs),
            );
        }
        let dir = search.playbook_dir.clone().unwrap_or_default();
        for (what, problems) in crate::config::playbooks::check(&dir) {
            report.add(what, problems);
        }
        return report;
    }
    if let Some(spec) = theme {
        report.add(
            format!("theme {spec}"),
            Theme::check(spec, &search.theme_dirs),
        );
    }
    if let Some(spec) = keymap {
        report.add(
            format!("keymap {spec}"),
            Keymap::check(spec, &search.keymap_dirs),
        );
    }
    if let Some(path) = config {
        report.add(
            format!("config {}", path.display()),
            check_config(path, validator),
        );
    }
    report
}

/// Check the main config file: TOML syntax, then the validator if one is given.
pub(crate) fn check_config(path: &Path, validator: Option<&ConfigValidator>) -> Vec<Problem> {
    let text = match crate::files::read_text(path, crate::files::MAX_TEXT_BYTES) {
        Ok(t) => t,
        Err(e) => {
            return vec![Problem::whole_file(
                path.display().to_string(),
                format!("cannot read the config file: {e}; check the path given to --config"),
            )];
        }
    };
    let src = SourceText::new(path.display().to_string(), text.into());
    match src.parse() {
        Ok(doc) => validator.map_or_else(Vec::new, |v| v(&src, doc.get_ref())),
        Err(problems) => problems,
    }
}

/// The `*.toml` files of some directories, sorted; missing directories are skipped.
fn toml_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
            .collect();
        here.sort();
        files.extend(here);
    }
    files
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn fixtures(sub: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/config")
            .join(sub)
    }

    fn spec(sub: &str, name: &str) -> String {
        fixtures(sub).join(name).display().to_string()
    }

    #[test]
    fn builtins_are_all_valid() {
        let report = check_files(None, None, None, &Search::default());
        assert!(report.ok(), "{report}");
        assert_eq!(
            report.checked.len(),
            Theme::builtin_names().len() + Keymap::builtin_names().len() + 1
        );
        assert_eq!(report.to_string(), "ok: 9 files checked, no problem found");
    }

    #[test]
    fn a_valid_theme_and_keymap_pass() {
        let report = check_files(
            Some(&spec("themes", "theme_valid.toml")),
            Some(&spec("keymaps", "keymap_valid.toml")),
            None,
            &Search::default(),
        );
        assert!(report.ok(), "{report}");
        assert_eq!(report.checked.len(), 2);
    }

    #[test]
    fn collects_every_problem_of_every_file() {
        let report = check_files(
            Some(&spec("themes", "theme_bad_values.toml")),
            Some(&spec("keymaps", "keymap_bad_values.toml")),
            None,
            &Search::default(),
        );
        assert!(!report.ok());
        assert_eq!(report.problems.len(), 4 + 3, "{report}");
        let text = report.to_string();
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.ends_with(
                "theme_bad_values.toml:3:15: scope \"status.ok\": unknown colour \"gren\" \
                 (did you mean \"green\"?); use \"#rrggbb\", a palette name, or one of: reset, \
                 black, red, green, yellow, blue, magenta, cyan, light-gray, gray, dark-gray, \
                 light-red, light-green, light-yellow, light-blue, light-magenta, light-cyan, white"
            ),
            "{first}"
        );
        assert!(
            text.ends_with("7 problems found in 2 files checked"),
            "{text}"
        );
    }

    #[test]
    fn no_arguments_checks_builtins_and_every_user_file() {
        let search = Search {
            theme_dirs: vec![fixtures("themes")],
            keymap_dirs: vec![fixtures("keymaps")],
            playbook_dir: Some(fixtures("playbooks")),
        };
        let report = check_files(None, None, None, &search);
        assert_eq!(
            report.checked.len(),
            8 + 5 + 5 + 1 + 3,
            "{:?}",
            report.checked
        );
        let located: Vec<String> = report
            .problems
            .iter()
            .map(|p| {
                let file = Path::new(&p.file)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                format!("{file}:{}:{}", p.line, p.col)
            })
            .collect();
        assert_eq!(
            located,
            vec![
                "theme_bad_syntax.toml:4:19",
                "theme_bad_values.toml:3:15",
                "theme_bad_values.toml:4:1",
                "theme_bad_values.toml:5:44",
                "theme_bad_values.toml:8:10",
                "theme_cycle_b.toml:1:12",
                "theme_cycle_a.toml:2:12",
                "keymap_bad_syntax.toml:3:6",
                "keymap_bad_values.toml:4:7",
                "keymap_bad_values.toml:5:1",
                "keymap_bad_values.toml:6:1",
                "keymap_ctrl_mutating.toml:4:1",
                "keymap_unbinds_quit.toml:0:0",
                "playbook_bad_field.toml:3:1",
                "playbook_bad_values.toml:0:0",
                "playbook_bad_values.toml:0:0",
            ],
            "{report}"
        );
    }

    #[test]
    fn config_syntax_and_validator_hook() {
        let bad = fixtures("config").join("config_bad_syntax.toml");
        let p = check_config(&bad, None);
        assert_eq!((p[0].line, p[0].col), (3, 9), "{p:?}");
        let good = fixtures("config").join("config_valid.toml");
        assert_eq!(check_config(&good, None), vec![]);
        let validator = |src: &SourceText, doc: &toml::de::DeTable<'_>| -> Vec<Problem> {
            doc.iter()
                .filter(|(k, _)| k.get_ref() == "keymap")
                .map(|(k, _)| Problem::at_span(src, k.span(), "keymap is not allowed"))
                .collect()
        };
        let report = check_files_with(
            None,
            None,
            Some(&good),
            &Search::default(),
            Some(&validator),
        );
        assert_eq!(report.problems.len(), 1, "{report}");
        assert_eq!((report.problems[0].line, report.problems[0].col), (3, 1));
        // the default check knows the config's schema
        let schema = fixtures("config").join("config_bad_schema.toml");
        let report = check_files(None, None, Some(&schema), &Search::default());
        assert!(report.problems.len() >= 3, "{report}");
        assert!(
            report.to_string().contains("config_bad_schema.toml:3:"),
            "{report}"
        );
        let real = fixtures("config").join("config_real.toml");
        let report = check_files(None, None, Some(&real), &Search::default());
        assert!(report.ok(), "{report}");
        let missing = check_config(Path::new("/nonexistent/pitcrew.toml"), None);
        assert_eq!(missing[0].line, 0);
        assert!(missing[0].message.contains("cannot read"));
    }
}
