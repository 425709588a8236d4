//! Diagnostics for every file a person writes (config, playbooks, themes, keymaps), and the
//! helpers that locate them.
//!
//! Every problem found in a file carries the file, the 1-based line and column of the offending
//! key or value, and a message that says what was wrong and what to do. Loading collects all the
//! problems of a file (and of the files it inherits from) before failing, so `pitcrew check` can
//! list them all at once.
//!
//! The helpers here are shared by the theme and keymap loaders: reading a built-in or
//! user file, parsing its TOML with spans, turning byte spans into line:column, and following an
//! `inherits = "..."` chain with cycle detection.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem found in a configuration file, located at `file:line:col`.
///
/// `line` and `col` are 1-based (columns count characters); both are 0 when the problem concerns
/// the whole file (for example a file that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Problem {
    /// The file, as the user would name it (a path, or `themes/NAME.toml` for a built-in).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column in characters, 0 when unknown.
    pub col: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem about a whole file, without a position.
    pub(crate) fn whole_file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.into(),
            line: 0,
            col: 0,
            message: message.into(),
        }
    }

    /// A problem at byte offset `span.start` of `src`.
    pub(crate) fn at_span(
        src: &SourceText,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        let (line, col) = src.line_col(span.start);
        Self {
            file: src.display.clone(),
            line,
            col,
            message: message.into(),
        }
    }

    /// A problem at a position computed earlier.
    pub(crate) fn at_pos(pos: &Pos, message: impl Into<String>) -> Self {
        Self {
            file: pos.file.clone(),
            line: pos.line,
            col: pos.col,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.col, self.message
            )
        }
    }
}

/// A position in a file (`file:line:col`), kept beside values that are merged across files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pos {
    /// The file, as shown to the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// Why a theme or keymap could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// One or more located problems (TOML syntax or meaning), all of them, one per line.
    #[error("{}", join_problems(.0))]
    Invalid(Vec<Problem>),
    /// The file named on the command line or in the config could not be read.
    #[error("cannot read {}: {source}; check that the file exists and is readable", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No built-in or user file has this name.
    #[error(
        "{kind} {name:?} not found; built-in {kind}s are: {builtins}; {searched}; \
         give one of those names or the path to a .toml file"
    )]
    NotFound {
        /// `theme` or `keymap`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The built-in names, comma separated.
        builtins: String,
        /// Where user files were looked for.
        searched: String,
    },
}

impl ConfigError {
    /// The error as a list of problems (a `Read` or `NotFound` error becomes one whole-file problem).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Invalid(p) => p.clone(),
            ConfigError::Read { path, .. } => {
                vec![Problem::whole_file(
                    path.display().to_string(),
                    self.to_string(),
                )]
            }
            ConfigError::NotFound { name, .. } => {
                vec![Problem::whole_file(name.clone(), self.to_string())]
            }
        }
    }
}

/// Append `more` to `problems`, leaving out any already there (order kept; linear time, so a
/// file with a problem on every line is checked in time proportional to its size).
pub(crate) fn extend_unique(problems: &mut Vec<Problem>, more: impl IntoIterator<Item = Problem>) {
    let mut seen: std::collections::HashSet<Problem> = problems.iter().cloned().collect();
    for p in more {
        if !seen.contains(&p) {
            seen.insert(p.clone());
            problems.push(p);
        }
    }
}

/// Sort problems by position within each file, files kept in the order they first appear.
pub(crate) fn sort_problems(problems: &mut [Problem]) {
    let mut files: Vec<String> = Vec::new();
    for p in problems.iter() {
        if !files.contains(&p.file) {
            files.push(p.file.clone());
        }
    }
    problems.sort_by_key(|p| {
        let file = files
            .iter()
            .position(|f| *f == p.file)
            .unwrap_or(usize::MAX);
        (file, p.line, p.col)
    });
}

/// `text` with the line holding `span` blanked (same length, so every other position holds);
/// `None` when the span is empty, covers several lines or is a table header.
pub(crate) fn blank_line(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    if span.start >= text.len() || !text.is_char_boundary(span.start) {
        return None;
    }
    let end = span.end.clamp(span.start, text.len());
    if text.get(span.start..end)?.contains('\n') {
        return None;
    }
    let line_start = text[..span.start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[span.start..]
        .find('\n')
        .map_or(text.len(), |i| span.start + i);
    let line = &text[line_start..line_end];
    if line.trim_start().starts_with('[') || line.trim().is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..line_start]);
    out.extend(std::iter::repeat_n(' ', line.len()));
    out.push_str(&text[line_end..]);
    Some(out)
}

fn join_problems(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_string());
    }
    out
}

/// The text of a configuration file with what is needed to report positions in it.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// How the file is named in messages.
    pub display: String,
    /// The whole text.
    pub text: Cow<'static, str>,
    line_starts: Vec<usize>,
}

impl SourceText {
    /// Wrap a text named `display`.
    pub fn new(display: impl Into<String>, text: Cow<'static, str>) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.char_indices()
                .filter(|&(_, c)| c == '\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            display: display.into(),
            text,
            line_starts,
        }
    }

    /// 1-based (line, column in characters) of a byte offset (clamped to the text).
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line_idx).copied().unwrap_or(0);
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line_idx + 1, col + 1)
    }

    /// The position of a byte offset.
    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let (line, col) = self.line_col(offset);
        Pos {
            file: self.display.clone(),
            line,
            col,
        }
    }

    /// Parse the text as TOML, returning the document or every syntax error as a problem.
    pub fn parse(&self) -> Result<Spanned<DeTable<'_>>, Vec<Problem>> {
        let (table, errors) = DeTable::parse_recoverable(&self.text);
        if errors.is_empty() {
            Ok(table)
        } else {
            Err(errors.iter().map(|e| self.syntax_problem(e)).collect())
        }
    }

    fn syntax_problem(&self, e: &toml::de::Error) -> Problem {
        let message = e.message().trim().replace('\n', "; ");
        let message = format!("invalid TOML: {message}; fix the syntax at this position");
        match e.span() {
            Some(span) => Problem::at_span(self, span, message),
            None => Problem::whole_file(self.display.clone(), message),
        }
    }
}

/// Where a theme or keymap file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Embedded in the binary.
    Builtin(&'static str),
    /// A file on disk.
    File(PathBuf),
}

/// The built-in files and user directories of one kind of file (themes or keymaps).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Catalog<'a> {
    /// `theme` or `keymap`, used in messages.
    pub kind: &'static str,
    /// Directory of the built-ins in the repository (`themes`, `keymaps`), used in messages.
    pub dir: &'static str,
    /// `(name, text)` of the built-ins.
    pub builtins: &'static [(&'static str, &'static str)],
    /// User directories searched for `NAME.toml`, in order.
    pub search_dirs: &'a [PathBuf],
}

/// True when a spec names a file rather than a theme or keymap name.
pub(crate) fn looks_like_path(spec: &str) -> bool {
    spec.contains('/') || spec.contains('\\') || spec.ends_with(".toml")
}

impl Catalog<'_> {
    /// Names of the built-ins.
    pub(crate) fn builtin_names(&self) -> Vec<&'static str> {
        self.builtins.iter().map(|(n, _)| *n).collect()
    }

    /// Find `spec`: a path, a user file `NAME.toml` in a search dir (user files shadow
    /// built-ins), or a built-in. `from` is the file whose `inherits` names it: a built-in only
    /// ever inherits built-ins (so it stays what was tested), and a user file never inherits from
    /// itself, so a user `default.toml` with `inherits = "default"` extends the built-in one.
    /// Relative paths are taken relative to the inheriting file.
    pub(crate) fn locate(&self, spec: &str, from: Option<&Origin>) -> Result<Origin, String> {
        if matches!(from, Some(Origin::Builtin(_))) {
            return self
                .builtins
                .iter()
                .find(|(n, _)| *n == spec)
                .map(|(n, _)| Origin::Builtin(n))
                .ok_or_else(|| self.not_found_message(spec));
        }
        if looks_like_path(spec) {
            let mut path = PathBuf::from(spec);
            if path.is_relative()
                && let Some(Origin::File(parent)) = from
                && let Some(dir) = parent.parent()
            {
                path = dir.join(path);
            }
            return Ok(Origin::File(path));
        }
        for dir in self.search_dirs {
            let candidate = dir.join(format!("{spec}.toml"));
            let is_self = matches!(from, Some(Origin::File(p)) if same_file(p, &candidate));
            if !is_self && candidate.is_file() {
                return Ok(Origin::File(candidate));
            }
        }
        if let Some((name, _)) = self.builtins.iter().find(|(n, _)| *n == spec) {
            return Ok(Origin::Builtin(name));
        }
        Err(self.not_found_message(spec))
    }

    fn searched(&self) -> String {
        if self.search_dirs.is_empty() {
            "no user directory was searched".to_string()
        } else {
            let dirs: Vec<String> = self
                .search_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            format!("searched {}", dirs.join(", "))
        }
    }

    fn not_found_message(&self, spec: &str) -> String {
        ConfigError::NotFound {
            kind: self.kind,
            name: spec.to_string(),
            builtins: self.builtin_names().join(", "),
            searched: self.searched(),
        }
        .to_string()
    }

    /// The error for a top-level spec that was not found.
    pub fn not_found(&self, spec: &str) -> ConfigError {
        ConfigError::NotFound {
            kind: self.kind,
            name: spec.to_string(),
            builtins: self.builtin_names().join(", "),
            searched: self.searched(),
        }
    }

    /// Read the text of an origin.
    pub fn read(&self, origin: &Origin) -> Result<SourceText, std::io::Error> {
        match origin {
            Origin::Builtin(name) => {
                let text = self
                    .builtins
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("", |(_, t)| *t);
                Ok(SourceText::new(
                    format!("{}/{name}.toml", self.dir),
                    Cow::Borrowed(text),
                ))
            }
            Origin::File(path) => {
                let text = crate::files::read_text(path, crate::files::MAX_TEXT_BYTES)?;
                Ok(SourceText::new(
                    path.display().to_string(),
                    Cow::Owned(text),
                ))
            }
        }
    }

    /// The name a file is known by: the built-in name or the file stem.
    pub(crate) fn origin_name(origin: &Origin) -> String {
        match origin {
            Origin::Builtin(n) => (*n).to_string(),
            Origin::File(p) => p.file_stem().map_or_else(
                || p.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            ),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Parses one file's document into its content, pushing the problems it finds.
pub(crate) type ParseFn<'f, T> =
    dyn Fn(&SourceText, &DeTable<'_>, &mut Vec<Problem>) -> Parsed<T> + 'f;

/// What a file parser returns for one file of an inheritance chain.
#[derive(Debug)]
pub(crate) struct Parsed<T> {
    /// The file's own content.
    pub data: T,
    /// `inherits = "..."` and the span of its value, if any.
    pub inherits: Option<(String, Range<usize>)>,
}

/// One file of an inheritance chain, with its own parsed content.
#[derive(Debug)]
pub struct Layer<T> {
    /// Where it comes from.
    pub origin: Origin,
    /// Its text, for positions.
    pub src: SourceText,
    /// Its content.
    pub data: T,
}

/// Load `spec` and every file it inherits from, root first.
///
/// `parse` reads one file's document, pushing problems it finds; `implicit_parent` gives the
/// parent of a file that has no `inherits` key (keymaps all extend the built-in default).
/// Problems in any file are collected; the chain stops at a file that cannot be read or parsed.
/// Only a top-level spec that cannot be found or read is an immediate error.
pub(crate) fn load_chain<T>(
    catalog: &Catalog<'_>,
    spec: &str,
    parse: &ParseFn<'_, T>,
    implicit_parent: &dyn Fn(&Origin) -> Option<&'static str>,
    problems: &mut Vec<Problem>,
) -> Result<Vec<Layer<T>>, ConfigError> {
    let origin = catalog
        .locate(spec, None)
        .map_err(|_| catalog.not_found(spec))?;
    let src = catalog.read(&origin).map_err(|source| ConfigError::Read {
        path: match &origin {
            Origin::File(p) => p.clone(),
            Origin::Builtin(n) => PathBuf::from(format!("{}/{n}.toml", catalog.dir)),
        },
        source,
    })?;
    let mut layers: Vec<Layer<T>> = Vec::new();
    let mut next = Some((origin, src));
    while let Some((origin, src)) = next.take() {
        let parsed = match src.parse() {
            Ok(doc) => parse(&src, doc.get_ref(), problems),
            Err(mut syntax) => {
                problems.append(&mut syntax);
                break;
            }
        };
        let parent = match parsed.inherits {
            Some((name, span)) => Some((name, Some(span))),
            None => implicit_parent(&origin).map(|n| (n.to_string(), None)),
        };
        if let Some((name, span)) = parent {
            let located = catalog.locate(&name, Some(&origin));
            match located {
                Ok(parent_origin) => {
                    let cycle =
                        parent_origin == origin || layers.iter().any(|l| l.origin == parent_origin);
                    if cycle {
                        let mut names: Vec<String> = layers
                            .iter()
                            .map(|l| Catalog::origin_name(&l.origin))
                            .collect();
                        names.push(Catalog::origin_name(&origin));
                        names.push(Catalog::origin_name(&parent_origin));
                        let msg = format!(
                            "inherits cycle: {}; remove or change one of these `inherits`",
                            names.join(" -> ")
                        );
                        problems.push(span_problem(&src, span, msg));
                    } else {
                        match catalog.read(&parent_origin) {
                            Ok(parent_src) => next = Some((parent_origin, parent_src)),
                            Err(e) => {
                                let msg = format!(
                                    "cannot read inherited {} {name:?}: {e}; check the name or path",
                                    catalog.kind
                                );
                                problems.push(span_problem(&src, span, msg));
                            }
                        }
                    }
                }
                Err(msg) => problems.push(span_problem(&src, span, msg)),
            }
        }
        layers.push(Layer {
            origin,
            src,
            data: parsed.data,
        });
    }
    layers.reverse();
    Ok(layers)
}

fn span_problem(src: &SourceText, span: Option<Range<usize>>, msg: String) -> Problem {
    match span {
        Some(span) => Problem::at_span(src, span, msg),
        None => Problem::whole_file(src.display.clone(), msg),
    }
}

/// The string inside a TOML value, or a problem saying a string was expected.
pub(crate) fn expect_str<'a>(
    src: &SourceText,
    value: &'a Spanned<DeValue<'_>>,
    what: &str,
    problems: &mut Vec<Problem>,
) -> Option<&'a str> {
    match value.get_ref() {
        DeValue::String(s) => Some(s.as_ref()),
        other => {
            problems.push(Problem::at_span(
                src,
                value.span(),
                format!("{what} must be a string, found {}", other.type_str()),
            ));
            None
        }
    }
}

/// The suggestion "did you mean X?" for a misspelt name, if one is close enough.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    let n = word.chars().count();
    let best = candidates
        .into_iter()
        // the difference in length bounds the distance from below: most words need no table
        .filter(|c| c.chars().count().abs_diff(n) <= 2.max(c.len() / 4))
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, c)) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Test support for the loaders that report [`Problem`]s (themes, keymaps, configs).
#[cfg(test)]
pub(crate) mod testing {
    use super::ConfigError;

    /// `fixtures/config/{dir}` in the checkout.
    pub(crate) fn fixture_dir(dir: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/config")
            .join(dir)
    }

    /// The path of `fixtures/config/{dir}/{name}` in the checkout.
    pub(crate) fn fixture(dir: &str, name: &str) -> String {
        fixture_dir(dir).join(name).display().to_string()
    }

    /// Where and what each problem of a load that had to fail is: `(line, col, message)`.
    pub(crate) fn located<T>(name: &str, r: Result<T, ConfigError>) -> Vec<(usize, usize, String)> {
        match r {
            Ok(_) => panic!("{name} should not load"),
            Err(e) => e
                .problems()
                .into_iter()
                .map(|p| (p.line, p.col, p.message))
                .collect(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn blanking_a_problem_line_keeps_every_other_position() {
        let text = "[a]\nx = \"é\"\ny = 2\n";
        let at = text.find('x').unwrap_or(0);
        let out = blank_line(text, at..at + 1).unwrap_or_default();
        assert_eq!(out.len(), text.len());
        assert_eq!(out.find('y'), text.find('y'));
        assert!(!out.contains('x') && out.starts_with("[a]\n"));
        // a table header, a span over lines or an empty file line: not blanked
        assert_eq!(blank_line(text, 0..1), None);
        assert_eq!(blank_line(text, at..text.len()), None);
        assert_eq!(blank_line(text, text.len()..text.len()), None);
    }

    #[test]
    fn line_col_counts_lines_and_characters() {
        let src = SourceText::new("f", Cow::Borrowed("ab\nçd = 1\n\nx"));
        assert_eq!(src.line_col(0), (1, 1));
        assert_eq!(src.line_col(1), (1, 2));
        assert_eq!(src.line_col(3), (2, 1));
        // 'ç' is two bytes: the 'd' after it is column 2
        assert_eq!(src.line_col(5), (2, 2));
        assert_eq!(src.line_col(11), (3, 1));
        assert_eq!(src.line_col(12), (4, 1));
        assert_eq!(src.line_col(999), (4, 2));
    }

    #[test]
    fn syntax_errors_are_located() {
        let src = SourceText::new("t.toml", Cow::Borrowed("a = 1\nb = \n"));
        let problems = src.parse().err().unwrap_or_default();
        assert!(!problems.is_empty());
        assert_eq!(problems[0].file, "t.toml");
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.starts_with("invalid TOML"));
    }

    #[test]
    fn problem_display() {
        let p = Problem {
            file: "x.toml".into(),
            line: 3,
            col: 7,
            message: "bad".into(),
        };
        assert_eq!(p.to_string(), "x.toml:3:7: bad");
        assert_eq!(Problem::whole_file("y", "gone").to_string(), "y: gone");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("aprove", ["approve", "veto"]),
            " (did you mean \"approve\"?)"
        );
        assert_eq!(did_you_mean("zzzzzz", ["approve", "veto"]), "");
    }
}
