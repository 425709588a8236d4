//! The playbook files a person writes: `<config dir>/playbooks/*.toml` read from disk, over
//! the built-ins, and what is wrong with them said as file:line:col problems. The playbooks
//! themselves, and the parsing of their text, are the policy's (`policy::playbook`).

use crate::config::diagnostics::{Problem, SourceText};
use crate::policy::playbook::{BUILTIN, Playbook, builtins};
use std::path::{Path, PathBuf};

/// Parse playbooks from TOML text; `display` names the file in problems.
pub fn parse(display: &str, text: &str) -> Result<Vec<Playbook>, Vec<Problem>> {
    crate::policy::playbook::parse(text).map_err(|flaws| {
        let src = SourceText::new(display.to_string(), text.to_string().into());
        flaws
            .into_iter()
            .map(|f| match f.span {
                Some(span) => Problem::at_span(&src, span, f.message),
                None => Problem::whole_file(display, f.message),
            })
            .collect()
    })
}

/// The `*.toml` files of a playbook directory, sorted (none when it does not exist).
pub(crate) fn user_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Built-ins, overridden and extended by the user's files. Problems are returned alongside:
/// a broken user file is skipped (and reported), the rest load.
pub fn load(dir: &Path) -> (Vec<Playbook>, Vec<Problem>) {
    let mut books = builtins();
    let mut problems = Vec::new();
    for path in user_files(dir) {
        let display = path.display().to_string();
        let text = match crate::files::read_text(&path, crate::files::MAX_TEXT_BYTES) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::whole_file(&display, format!("cannot read: {e}")));
                continue;
            }
        };
        match parse(&display, &text) {
            Ok(list) => {
                for p in list {
                    match books.iter_mut().find(|b| b.name == p.name) {
                        Some(b) => *b = p,
                        None => books.push(p),
                    }
                }
            }
            Err(mut ps) => problems.append(&mut ps),
        }
    }
    (books, problems)
}

/// `pitcrew check` of the playbooks: the built-ins and every user file.
pub fn check(dir: &Path) -> Vec<(String, Vec<Problem>)> {
    let mut out = vec![(
        "playbooks (built-in)".to_string(),
        parse("playbooks (built-in)", BUILTIN)
            .err()
            .unwrap_or_default(),
    )];
    for path in user_files(dir) {
        let display = path.display().to_string();
        let problems = match crate::files::read_text(&path, crate::files::MAX_TEXT_BYTES) {
            Ok(text) => parse(&display, &text).err().unwrap_or_default(),
            Err(e) => vec![Problem::whole_file(&display, format!("cannot read: {e}"))],
        };
        out.push((format!("playbooks {display}"), problems));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_say_where_and_what() {
        let e = parse("x.toml", "[[playbook]]\nname = 3\n").unwrap_err();
        assert_eq!(e[0].line, 2, "{e:?}");
        let text = BUILTIN.replace("class = \"rollback\"", "class = \"scale\"");
        let e = parse("x.toml", &text).unwrap_err();
        assert!(e[0].message.contains("does not match"), "{e:?}");
        let text = BUILTIN.replace("stages = [0.1, 0.5, 1.0]", "stages = [0.5, 0.1]");
        let e = parse("x.toml", &text).unwrap_err();
        assert!(e[0].message.contains("stages"), "{e:?}");
        let e = parse("x.toml", "[[playbook]]\nnmae = \"a\"\n").unwrap_err();
        assert!(e[0].message.contains("unknown field"), "{e:?}");
    }

    #[test]
    fn user_files_override_and_extend_and_bad_ones_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mine = BUILTIN
            .split("[[playbook]]")
            .nth(1)
            .unwrap()
            .replace("well_known = true", "well_known = false");
        std::fs::write(dir.path().join("a.toml"), format!("[[playbook]]{mine}")).unwrap();
        std::fs::write(dir.path().join("b.toml"), "[[playbook]]\nname = \n").unwrap();
        let (books, problems) = load(dir.path());
        assert_eq!(books.len(), builtins().len());
        assert!(!books[0].well_known);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].file.ends_with("b.toml"));
    }
}
