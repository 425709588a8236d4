//! `pitcrew check` reports every problem of a file in one run, each at `file:line:col`, for
//! the config, a keymap and a theme alike.
#![allow(clippy::unwrap_used)]

mod common;

/// Run `pitcrew check FLAG FILE` on `text`; (exit code, problem lines, summary line).
fn check(flag: &str, text: &str) -> (i32, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("file.toml");
    std::fs::write(&path, text).unwrap();
    let out = common::bin()
        .args(["check", flag])
        .arg(&path)
        .env("PITCREW_CONFIG", dir.path().join("none"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    let summary = lines.pop().unwrap_or_default();
    let problems = lines
        .into_iter()
        .filter(|l| l.contains("file.toml:"))
        .collect();
    (out.status.code().unwrap_or(-1), problems, summary)
}

#[test]
fn a_config_with_three_errors_prints_three() {
    let (code, problems, summary) = check(
        "--config",
        "[prometheus]\nurl = \"http://localhost:9090\"\nstep_seconds = \"fast\"\nbogus_key = 1\n\n\
         [models.\"ns/a\"]\npriority = \"high\"\n\n\
         [prometheus.queries]\nrequest_rate = \"q\"\n",
    );
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!(summary, "3 problems found in 1 file checked");
    // each at its own line, in the file's terms
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":3:") && p.contains("fast")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":4:") && p.contains("bogus_key")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains(":7:") && p.contains("high")),
        "{problems:#?}"
    );
    // in the file's order
    assert!(
        problems[0].contains(":3:") && problems[2].contains(":7:"),
        "{problems:#?}"
    );
}

#[test]
fn a_keymap_and_a_theme_with_three_errors_print_three_each() {
    let (code, problems, summary) = check(
        "--keymap",
        "[keys]\n\"q\" = \"quit\"\n\"ctrl-zz\" = \"help\"\n\"x\" = \"no_such_action\"\n\"y\" = \"also_missing\"\n",
    );
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!(summary, "3 problems found in 1 file checked");

    let (code, problems, summary) = check(
        "--theme",
        "\"ui.text\" = { fg = \"notacolour\" }\n\"ui.title\" = { fg = \"blue\", modifiers = [\"blinky\"] }\n\"nope.scope\" = { fg = \"red\" }\n",
    );
    assert_eq!(code, 1);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert_eq!(summary, "3 problems found in 1 file checked");
}

#[test]
fn a_good_config_has_no_problem() {
    let (code, problems, summary) = check(
        "--config",
        "[prometheus]\nurl = \"http://localhost:9090\"\n[prometheus.queries]\nrequest_rate = \"sum by (model) (rate(x[5m]))\"\n",
    );
    assert_eq!(code, 0, "{problems:#?} {summary}");
    assert!(summary.starts_with("ok:"), "{summary}");
}
