//! A model's Python requirements (`requirements.txt` as pip reads it, the form MLflow logs
//! with every model version), each line parsed as PEP 508 says (`pep508_rs`): a pin
//! (`==1.2.3`, `===1.2.3`) names the version installed; any other specifier (`>=`, `~=`,
//! `!=`, a wildcard) names the versions that may be. Comments, blank lines, continuation
//! lines and hashes are handled as pip does; pip's options (`-r`, `--index-url`, `-e`) name
//! no requirement and are kept aside with that said.

use pep440_rs::{Operator, Version, VersionSpecifiers};
use pep508_rs::{PackageName, Requirement, VersionOrUrl};
use std::str::FromStr;

/// What one requirement line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A pinned version: what is installed.
    Pinned {
        /// The package (normalised).
        name: PackageName,
        /// The version.
        version: Version,
        /// Its line (from 1).
        line: usize,
        /// Its environment marker (`sys_platform == "win32"`), when it has one: the
        /// requirement holds only there, which pitcrew cannot tell from here.
        marker: Option<String>,
    },
    /// Versions that may be installed.
    Range {
        /// The package (normalised).
        name: PackageName,
        /// Its specifiers (empty: any version).
        specifiers: VersionSpecifiers,
        /// Its line.
        line: usize,
        /// Its environment marker, when it has one.
        marker: Option<String>,
    },
    /// Not a requirement pitcrew can read, and why.
    Unread {
        /// Its line.
        line: usize,
        /// The text.
        text: String,
        /// Why.
        reason: String,
    },
}

/// Every requirement of a `requirements.txt`, its lines joined and its comments removed in
/// pip's order: a line ending in a backslash goes on with the next (joined as they are),
/// unless it is a comment line; comments are removed from the joined line.
pub fn parse(text: &str) -> Vec<Entry> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let comment_line = raw.trim_start().starts_with('#');
        match raw.strip_suffix('\\') {
            Some(head) if !comment_line => {
                pending
                    .get_or_insert_with(|| (i + 1, String::new()))
                    .1
                    .push_str(head);
            }
            _ => {
                let (line, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
                joined.push_str(raw);
                out.extend(entry(strip_comment(&joined).trim(), line));
            }
        }
    }
    if let Some((line, joined)) = pending {
        out.extend(entry(strip_comment(&joined).trim(), line));
    }
    out
}

/// A line without its comment (`#` at the start or after whitespace, as pip reads it).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn entry(text: &str, line: usize) -> Option<Entry> {
    if text.is_empty() {
        return None;
    }
    if text.starts_with('-') {
        return Some(Entry::Unread {
            line,
            text: text.to_string(),
            reason: "a pip option, not a requirement".into(),
        });
    }
    // per-requirement options (`--hash=sha256:…`) follow the requirement after whitespace
    let options = text
        .char_indices()
        .find(|&(i, c)| {
            c.is_whitespace() && text[i + c.len_utf8()..].trim_start().starts_with("--")
        })
        .map_or(text.len(), |(i, _)| i);
    let requirement = text[..options].trim();
    if let Some(reason) = unparseable_name(requirement) {
        return Some(Entry::Unread {
            line,
            text: text.to_string(),
            reason,
        });
    }
    let r = match Requirement::<pep508_rs::VerbatimUrl>::from_str(requirement) {
        Ok(r) => r,
        Err(e) => {
            return Some(Entry::Unread {
                line,
                text: text.to_string(),
                reason: first_line_of(&e.to_string()),
            });
        }
    };
    let marker = r.marker.try_to_string();
    Some(match r.version_or_url {
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => match pinned(&specifiers) {
            Some(version) => Entry::Pinned {
                name: r.name,
                version,
                line,
                marker,
            },
            None => Entry::Range {
                name: r.name,
                specifiers,
                line,
                marker,
            },
        },
        None => Entry::Range {
            name: r.name,
            specifiers: VersionSpecifiers::empty(),
            line,
            marker,
        },
        Some(VersionOrUrl::Url(_)) => Entry::Unread {
            line,
            text: text.to_string(),
            reason: "installed from a URL: no version to match".into(),
        },
    })
}

/// The version a specifier set pins, when it is one `==` (no wildcard) or `===`.
fn pinned(specifiers: &VersionSpecifiers) -> Option<Version> {
    match specifiers.iter().as_slice() {
        [one] if matches!(one.operator(), Operator::Equal | Operator::ExactEqual) => {
            Some(one.version().clone())
        }
        _ => None,
    }
}

fn first_line_of(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Why a requirement's package name or one of its extras is not a PEP 508 name, when it ends
/// in `.`, `-` or `_` and something follows: `pep508_rs` 0.9 scans such a name and then
/// panics on it instead of answering an error (found by the `advisory_input` fuzz target:
/// `1.-,x`, `foo[a-]`), so these are refused before it sees them. A valid name never ends so.
fn unparseable_name(requirement: &str) -> Option<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let ends_badly = |run: &str| run.ends_with(['.', '-', '_']);
    let s = requirement.trim_start();
    let name_len = s.find(|c: char| !is_name(c)).unwrap_or(s.len());
    let (name, rest) = s.split_at(name_len);
    if !rest.is_empty() && ends_badly(name) {
        return Some(format!(
            "the package name {name:?} must end with a letter or a digit (PEP 508)"
        ));
    }
    let rest = rest.trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let extras = extras.split(']').next().unwrap_or_default();
        for extra in extras.split(',') {
            let extra = extra.trim_start();
            let run = &extra[..extra.find(|c: char| !is_name(c)).unwrap_or(extra.len())];
            if ends_badly(run) {
                return Some(format!(
                    "the extra {run:?} must end with a letter or a digit (PEP 508)"
                ));
            }
        }
    }
    None
}

/// The pip requirements a file MLflow logs with a model version names, as the text of a
/// `requirements.txt`: `requirements.txt` itself; the `pip:` list of a `conda.yaml`'s
/// `dependencies` (its conda packages are not PyPI's); the `dependencies` of a
/// `python_env.yaml`. An error says why a YAML file cannot be read.
pub fn from_logged(file: &str, text: &str) -> Result<String, String> {
    if !file.ends_with(".yaml") && !file.ends_with(".yml") {
        return Ok(text.to_string());
    }
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let deps = match doc.get("dependencies") {
        None | Some(serde_yaml_ng::Value::Null) => return Ok(String::new()),
        Some(serde_yaml_ng::Value::Sequence(s)) => s,
        Some(_) => return Err(format!("{file}: `dependencies` is not a list")),
    };
    let conda = file.starts_with("conda");
    let mut lines = Vec::new();
    for d in deps {
        match d {
            serde_yaml_ng::Value::String(s) if !conda => lines.push(s.clone()),
            serde_yaml_ng::Value::Mapping(m) if conda => {
                if let Some(serde_yaml_ng::Value::Sequence(pip)) = m.get("pip") {
                    lines.extend(pip.iter().filter_map(|p| p.as_str().map(str::to_string)));
                }
            }
            _ => {}
        }
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_ranges_comments_continuations_hashes_and_options() {
        let text = "# model deps\nmlflow==2.9.2  # pinned at launch\nPillow ~= 9.0\nurllib3>=1.25,!=1.26.5\n-r base.txt\nscikit-learn==1.0.2 \\\n    --hash=sha256:abc\nnumpy\nbroken ==\nwheel @ https://example.com/w.whl\n";
        let e = parse(text);
        let pin = |n: &str, v: &str, l: usize| Entry::Pinned {
            name: PackageName::from_str(n).expect("a valid test input"),
            version: Version::from_str(v).expect("a valid test input"),
            line: l,
            marker: None,
        };
        assert_eq!(e[0], pin("mlflow", "2.9.2", 2));
        assert!(
            matches!(&e[1], Entry::Range { name, specifiers, .. } if name.as_ref() == "pillow" && specifiers.to_string() == "~=9.0")
        );
        assert!(matches!(&e[2], Entry::Range { specifiers, .. } if specifiers.len() == 2));
        assert!(matches!(&e[3], Entry::Unread { line: 5, .. }));
        assert_eq!(e[4], pin("scikit-learn", "1.0.2", 6));
        assert!(matches!(&e[5], Entry::Range { specifiers, .. } if specifiers.is_empty()));
        assert!(matches!(&e[6], Entry::Unread { line: 9, .. }));
        assert!(matches!(&e[7], Entry::Unread { line: 10, .. }));
        assert_eq!(e.len(), 8);
    }

    #[test]
    fn lines_are_joined_before_comments_go_and_markers_are_kept() {
        let pin = |n: &str, v: &str, l: usize, m: Option<&str>| Entry::Pinned {
            name: PackageName::from_str(n).expect("a valid test input"),
            version: Version::from_str(v).expect("a valid test input"),
            line: l,
            marker: m.map(str::to_string),
        };
        // a comment ending in a backslash takes the next line with it, as pip reads it;
        // a continuation joins without a space; a tab before an option; a BOM
        let e = parse(
            "\u{feff}foo==1.0 # old \\\nbar==2.0\nbaz==1.\\\n0\nqux==3.0\t--hash=sha256:00\n# note \\\nwin==227; sys_platform == \"win32\"\n",
        );
        assert_eq!(
            e,
            vec![
                pin("foo", "1.0", 1, None),
                pin("baz", "1.0", 3, None),
                pin("qux", "3.0", 5, None),
                pin("win", "227", 7, Some("sys_platform == 'win32'")),
            ]
        );
    }

    #[test]
    fn logged_environments_give_their_pip_requirements() {
        let conda = "name: mlflow-env\nchannels: [conda-forge]\ndependencies:\n- python=3.11.7\n- pip<=23.3\n- pip:\n  - mlflow==2.16.2\n  - pillow==9.5.0\n";
        assert_eq!(
            from_logged("conda.yaml", conda).expect("a conda file"),
            "mlflow==2.16.2\npillow==9.5.0\n"
        );
        let venv = "python: 3.11.7\nbuild_dependencies:\n- pip==23.3\ndependencies:\n- -r requirements.txt\n- py==1.11.0\n";
        let text = from_logged("python_env.yaml", venv).expect("a python_env file");
        assert_eq!(text, "-r requirements.txt\npy==1.11.0\n");
        assert!(matches!(
            parse(&text)[..],
            [Entry::Unread { .. }, Entry::Pinned { .. }]
        ));
        assert_eq!(
            from_logged("requirements.txt", "a==1\n").expect("text"),
            "a==1\n"
        );
        assert!(from_logged("conda.yaml", "dependencies: 3\n").is_err());
        assert!(from_logged("conda.yaml", "dependencies: [\n").is_err());
        assert_eq!(from_logged("conda.yaml", "name: x\n").expect("empty"), "");
    }

    #[test]
    fn names_the_parser_would_panic_on_are_refused_as_unread() {
        // the fuzz target's find, and the same in an extra: errors, not panics
        let e = parse(
            "url3lb=i=.124.1  # pinned\npillow~=0.0pinned\npillow*=8.0,!=9.0\n1.-,aol2lw0\nfoo[a-]==1\nfoo[ok, b_ ]==1\nfoo[x]==1.0\nok-name==1.0\n",
        );
        let unread: Vec<usize> = e
            .iter()
            .filter_map(|x| match x {
                Entry::Unread { line, .. } => Some(*line),
                _ => None,
            })
            .collect();
        assert!(
            unread.contains(&4) && unread.contains(&5) && unread.contains(&6),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| matches!(x, Entry::Pinned { line: 7, .. })),
            "{e:?}"
        );
        assert!(
            e.iter().any(|x| matches!(x, Entry::Pinned { line: 8, .. })),
            "{e:?}"
        );
        assert_eq!(
            unparseable_name("a-"),
            None,
            "the parser itself answers an error"
        );
    }
}
