//! A restarted agent resumes from its journal: killed (SIGKILL, no goodbye) with one proposal
//! waiting and one action run, it comes back with the proposal still waiting (and approvable
//! under the same id), the action counted and remembered by the guardrails (the next one is
//! held back as it would have been), the phase as the team left it, and a command it
//! had applied not applied again when a client retries it. The restarted session's journal
//! names the journal it resumed, re-runs identically on its own, and its summary names who
//! decided. `--fresh` starts from nothing.

mod common;

use common::control::{
    agent_command_without_patches, all_text, command, models_on, verified_summary, wait_metric,
};
use pitcrew::control::auth::token_hash;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn agent(dir: &Path, port: u16, fresh: bool) -> (std::process::Child, String) {
    let mut cmd = agent_command_without_patches(port, &dir.join("tokens.toml"), dir);
    cmd.args(["--phase", "augmentation", "--models", "6", "--speed", "20"]);
    if fresh {
        cmd.arg("--fresh");
    }
    common::spawn_agent(&mut cmd)
}

fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("data/journal"))
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    v.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    v
}

#[test]
fn a_killed_agent_resumes_its_proposals_decisions_and_counters_from_its_journal() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let token = format!("resume-test-{}", std::process::id());
    std::fs::write(
        dir.join("tokens.toml"),
        format!(
            "[[tokens]]\nuser = \"ops-lead\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
            token_hash(&token)
        ),
    )
    .expect("tokens");
    let port = common::prom::free_port();
    let (mut first, addr) = agent(dir, port, false);
    let models = models_on(&wait_metric(&addr, "pitcrew_models 6", 30));
    // two degraded pods: a restart proposed for each (R1, R2); R2 approved and run, R1 waits
    for (i, m) in models.iter().take(2).enumerate() {
        let (code, said) = command(
            &addr,
            &token,
            &format!("inject-{i}"),
            &format!(r#"{{"cmd":"inject","model":"{m}","incident":"latency-spike"}}"#),
        );
        assert_eq!(code, 200, "{said}");
    }
    wait_metric(&addr, "pitcrew_pending_approvals 2", 120);
    let (code, said) = command(&addr, &token, "approve-2", r#"{"cmd":"approve","id":2}"#);
    assert_eq!(code, 200, "{said}");
    assert!(said.contains("approved by ops-lead"), "{said}");
    wait_metric(&addr, "pitcrew_actions_executed_total 1", 30);
    let (code, said) = command(
        &addr,
        &token,
        "note-1",
        r#"{"cmd":"note","text":"restarting the agent on purpose"}"#,
    );
    assert_eq!(code, 200, "{said}");
    // the journal is flushed every engine tick: give it two
    std::thread::sleep(Duration::from_secs(2));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let _ = first.wait();

    let (mut second, addr) = agent(dir, port, false);
    // what waited still waits, what ran is still counted
    let metrics = wait_metric(&addr, "pitcrew_pending_approvals 1", 60);
    assert!(
        metrics
            .lines()
            .any(|l| l == "pitcrew_actions_executed_total 1"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("pitcrew_phase{phase=\"augmentation\"} 1")),
        "{metrics}"
    );
    // a client that retries the note (it never heard the answer) does not write it twice
    let (code, said) = command(
        &addr,
        &token,
        "note-1",
        r#"{"cmd":"note","text":"restarting the agent on purpose"}"#,
    );
    assert_eq!(code, 200, "{said}");
    assert!(said.contains("applied before"), "{said}");
    assert!(said.contains("\"repeated\":true"), "{said}");
    // R1 is still R1, and can be decided; and the guardrails remember R2: with 6 models, one
    // may be changed per hour (a fifth of the fleet), so R1 is held back, not run (a fresh
    // agent's empty ledger would have let it through)
    let (code, said) = command(&addr, &token, "approve-1", r#"{"cmd":"approve","id":1}"#);
    assert_eq!(code, 200, "{said}");
    assert!(
        said.contains("R1") && said.contains("approved by ops-lead"),
        "{said}"
    );
    let metrics = wait_metric(&addr, "pitcrew_guardrail_blocks_total 1", 30);
    assert!(
        metrics
            .lines()
            .any(|l| l == "pitcrew_actions_executed_total 1"),
        "{metrics}"
    );
    assert!(common::terminate(&mut second).success());

    let js = journals(dir);
    assert_eq!(js.len(), 2, "{js:?}");
    let resumed = std::fs::read_to_string(&js[1]).expect("journal");
    let first_name = js[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        resumed
            .lines()
            .next()
            .is_some_and(|h| h.contains(&format!("\"resumed\":\"{first_name}\""))),
        "the header names the journal resumed"
    );
    // the retry is journaled as it came (a command event with the same id), and applied once:
    // one note in the log
    let text = all_text(&dir.join("data/journal"));
    // held by the guard that counts the models changed within the hour, which remembered R2
    let held = text
        .lines()
        .find(|l| l.contains("R1 held by guardrails"))
        .expect("R1 held");
    assert!(held.contains("blast radius"), "{held}");
    assert_eq!(
        text.matches(r#""cmd":"note","text":"restarting the agent on purpose"},"id":"note-1""#)
            .count(),
        2
    );
    assert_eq!(
        text.matches("ops-lead: restarting the agent on purpose")
            .count(),
        1,
        "the note is applied once"
    );
    // both re-run identically; the second names who decided
    verified_summary(&js[0]);
    let summary = verified_summary(&js[1]);
    assert!(summary.contains("**ops-lead** approve R1"), "{summary}");

    // --fresh: nothing is resumed
    let (mut third, addr) = agent(dir, port, true);
    let metrics = wait_metric(&addr, "pitcrew_models 6", 30);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("pitcrew_pending_approvals 0")),
        "{metrics}"
    );
    assert!(common::terminate(&mut third).success());
}
