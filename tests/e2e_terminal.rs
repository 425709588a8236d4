//! End-to-end: the real binary in a real pseudo-terminal. Start, open help with `?`, quit with
//! `q`, and check that the terminal was restored; the same after SIGTERM and SIGHUP (a dropped
//! SSH session); and that `NO_COLOR` means no colour escape sequences at all.

mod common;

use common::pty::{Session, spawn, spawn_with_config};
use std::time::Duration;

/// A latency spike in the Augmentation phase at ×40: a proposal waits for a human within
/// seconds.
const LATENCY_SPIKE_AUGMENTATION: &[&str] = &[
    "--scenario",
    "latency-spike",
    "--phase",
    "augmentation",
    "--speed",
    "40",
];

/// The config of the sessions above: these tests follow an incident's remediation, so the
/// patches the simulated fleet's real findings would get are turned off (no patch at once).
const NO_PATCHES: &str = "[guardrails]\nmax_patches_at_once = 0\n";

#[test]
fn start_help_quit_restores_terminal() {
    let mut s = spawn(&[], &[], 80, 24);
    s.wait_for("models", 30);
    s.wait_for("FOUNDATION", 10);
    // while running, the terminal is raw
    let tio = s.master.get_termios().expect("termios");
    assert!(
        !tio.local_flags
            .contains(nix::sys::termios::LocalFlags::ICANON)
    );
    s.send("?");
    s.wait_for("Help — keys of this console", 10);
    assert!(s.screen().contains("Quit pitcrew"));
    s.send("q"); // closes help
    s.send("q"); // quits
    let st = s.wait_exit(10);
    assert!(st.success(), "exit status {st:?}");
    s.assert_restored();
}

fn killed_by(sig: nix::sys::signal::Signal) {
    let mut s = spawn(&[], &[], 80, 24);
    s.wait_for("FOUNDATION", 30);
    let pid = s.child.process_id().expect("pid") as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig).expect("kill");
    s.wait_exit(10);
    s.assert_restored();
}

#[test]
fn sigterm_restores_terminal() {
    killed_by(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn sighup_restores_terminal() {
    killed_by(nix::sys::signal::Signal::SIGHUP);
}

#[test]
fn sigquit_restores_terminal() {
    killed_by(nix::sys::signal::Signal::SIGQUIT);
}

#[test]
fn sigusr1_restores_terminal() {
    killed_by(nix::sys::signal::Signal::SIGUSR1);
}

/// The process's state letter in /proc (`T` when stopped).
fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S …": the state follows the last ')'
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn ctrl_z_and_sigtstp_suspend_cleanly_and_continue_redraws() {
    use nix::sys::signal::{Signal, kill};
    let mut s = spawn(&[], &[], 80, 24);
    s.wait_for("FOUNDATION", 30);
    let pid = s.child.process_id().expect("pid") as i32;
    let p = nix::unistd::Pid::from_raw(pid);
    for how in ["SIGTSTP", "ctrl-z"] {
        if how == "SIGTSTP" {
            kill(p, Signal::SIGTSTP).expect("kill");
        } else {
            s.send("\x1a");
        }
        s.wait_until(&format!("{how}: terminal restored"), 10, |s| {
            s.looks_restored()
        });
        s.wait_until(&format!("{how}: stopped"), 10, |_| {
            proc_state(pid) == Some('T')
        });
        // it really is stopped: nothing is drawn while it is
        let before = s.text().len();
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(s.text().len(), before, "{how}: output while stopped");
        kill(p, Signal::SIGCONT).expect("kill");
        s.wait_until(&format!("{how}: terminal taken back"), 10, |s| {
            s.looks_taken()
        });
        // drawn again in full after the continue: the screen is in what came after the
        // alternate screen was entered again, not left over from before
        s.wait_until(&format!("{how}: redrawn"), 10, |s| {
            let out = s.text();
            out.rfind("\x1b[?1049h")
                .is_some_and(|i| out[i..].contains("FOUNDATION"))
        });
    }
    s.send("q");
    let st = s.wait_exit(10);
    assert!(st.success(), "exit status {st:?}");
    s.assert_restored();
}

/// Parameters of every SGR sequence (`ESC [ … m`) in the output.
fn sgr_params(out: &str) -> Vec<String> {
    let b = out.as_bytes();
    let mut v = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == 0x1b && b[i + 1] == b'[' {
            let mut j = i + 2;
            while j < b.len() && !(0x40..=0x7e).contains(&b[j]) {
                j += 1;
            }
            if j < b.len() && b[j] == b'm' {
                v.push(out[i + 2..j].to_string());
            }
            i = j;
        }
        i += 1;
    }
    v
}

fn is_colour_param(p: &str) -> bool {
    for x in p.split(';') {
        if let Ok(n) = x.parse::<u32>()
            && matches!(n, 30..=39 | 40..=49 | 58 | 59 | 90..=97 | 100..=107)
        {
            return true;
        }
    }
    false
}

#[test]
fn no_color_means_no_colour_sequences() {
    let mut s = spawn(
        &["--scenario", "latency-spike", "--speed", "50"],
        &[("NO_COLOR", "1")],
        120,
        40,
    );
    s.wait_for("FOUNDATION", 30);
    s.send("2");
    s.wait_for("window", 10);
    s.send("3");
    std::thread::sleep(Duration::from_secs(2));
    s.send("?");
    s.wait_for("Help", 10);
    s.send("?");
    s.send("q");
    s.wait_exit(10);
    let out = s.text();
    let colours: Vec<String> = sgr_params(&out)
        .into_iter()
        .filter(|p| is_colour_param(p))
        .collect();
    assert!(
        colours.is_empty(),
        "colour sequences with NO_COLOR: {colours:?}"
    );
    // attributes (bold, reverse) are still used: the screen is not flat
    assert!(!sgr_params(&out).is_empty());

    // and without NO_COLOR the same screens do use colour: the check above can fail
    let mut s = spawn(&[], &[], 120, 40);
    s.wait_for("FOUNDATION", 30);
    s.send("q");
    s.wait_exit(10);
    assert!(sgr_params(&s.text()).iter().any(|p| is_colour_param(p)));
}

#[test]
fn bad_theme_is_a_clear_error_before_the_terminal_is_taken() {
    let mut s = spawn(&["--theme", "/nonexistent/theme.toml"], &[], 80, 24);
    let st = s.wait_exit(20);
    assert!(!st.success());
    let out = s.text();
    assert!(out.contains("theme"), "{out}");
    assert!(
        !out.contains("\x1b[?1049h"),
        "never entered the alternate screen"
    );
}

#[test]
fn unwritable_data_dir_still_runs_and_says_so() {
    let mut s = spawn(
        &[],
        &[("PITCREW_DATA", "/proc/pitcrew-cannot-write-here")],
        120,
        30,
    );
    s.wait_for("FOUNDATION", 30);
    s.send("3");
    s.wait_for("running without log file", 10);
    s.send("q");
    let st = s.wait_exit(10);
    assert!(st.success());
    s.assert_restored();
}

/// The journal files of a session's data dir.
fn journal_text(s: &Session) -> String {
    let dir = s.dirs.path().join("data/journal");
    let mut out = String::new();
    for e in std::fs::read_dir(&dir).expect("journal dir exists") {
        let p = e.expect("entry").path();
        out.push_str(&std::fs::read_to_string(&p).expect("read journal"));
    }
    out
}

/// The issue's walk-through: a latency spike in the Augmentation phase; the proposal appears,
/// is approved with `a`, executes and verifies; another one (an injected error burst) is
/// vetoed with a reason, and the reason is in the journal, after the approval and the intent.
#[test]
fn augmentation_approve_then_veto_with_reason_in_journal() {
    let mut s = spawn_with_config(
        LATENCY_SPIKE_AUGMENTATION,
        &[("USER", "somebody-else")],
        120,
        40,
        // the name decisions are journaled under comes from the config, not from $USER
        Some(&format!("[operator]\nname = \"oncall-ann\"\n{NO_PATCHES}")),
    );
    s.wait_for("AUGMENTATION", 30);
    s.send("5");
    s.wait_for("PENDING", 90);
    s.wait_for("rolling restart", 5);
    s.send("a");
    s.wait_for("Approve R1?", 5);
    s.send("y");
    s.wait_for("verifying", 30);
    s.wait_for("succeeded", 120);
    // a second incident on another model, vetoed with a reason
    s.send("1");
    s.send("/txn-scorer\r");
    s.send("i");
    s.wait_for("Inject an incident", 5);
    s.send("j\r"); // error-burst
    s.send("5");
    s.wait_for("PENDING", 120);
    // the selection stayed on R1 (by identity): move up to the new proposal
    s.send("k");
    s.wait_for("\u{25b6}R2", 5);
    s.send("v");
    s.wait_for("Veto R2", 5);
    s.send("\r");
    s.wait_for("at least 3 words", 5);
    assert!(
        s.screen().contains("Veto R"),
        "the dialog stays open without a reason"
    );
    s.send("false alarm: load test in progress, see CHG-1234\r");
    s.wait_for("vetoed", 10);
    s.send("7");
    s.wait_for("false alarm: load test", 10);
    s.send("q");
    let st = s.wait_exit(10);
    assert!(st.success());
    s.assert_restored();
    let j = journal_text(&s);
    let approve = j
        .find(r#""cmd":"approve","id":1"#)
        .expect("the approval is journaled");
    let intent = j
        .find(r#""record":"intent""#)
        .expect("the intent is journaled");
    let veto = j
        .find("false alarm: load test in progress, see CHG-1234")
        .expect("the veto's reason is journaled");
    assert!(approve < intent && intent < veto, "journal order");
    assert!(j.contains(r#""user":"oncall-ann""#), "who decided");
    assert!(j.contains(r#""cmd":"veto""#));
}

/// The account the tests run as, as `id -un` says (what the journal must name when `$USER`
/// is not set).
fn os_account() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("id -un runs");
    assert!(out.status.success(), "id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The selection is a proposal, not a row: a proposal arriving above the selected one does not
/// move it, and `a` approves the one selected. With `$USER` unset (root over SSH), the journal
/// names the OS account, never "unknown".
#[test]
fn a_new_proposal_above_does_not_move_the_selection_and_approve_acts_on_the_selected_one() {
    let mut s = spawn_with_config(
        LATENCY_SPIKE_AUGMENTATION,
        &[("USER", ""), ("LOGNAME", ""), ("USERNAME", "")],
        120,
        40,
        Some(NO_PATCHES),
    );
    s.wait_for("AUGMENTATION", 30);
    s.send("5");
    s.wait_for("PENDING", 90);
    s.wait_for("\u{25b6}R1", 5);
    // a second incident elsewhere: its proposal R2 sorts above R1 (newest first)
    s.send("1");
    s.send("/txn-scorer\r");
    s.send("i");
    s.wait_for("Inject an incident", 5);
    s.send("j\r"); // error-burst
    s.send("5");
    s.wait_for(" R2 ", 120);
    let screen = s.screen();
    let r2 = screen.find(" R2 ").expect("R2 listed");
    let r1 = screen.find("\u{25b6}R1").expect("R1 still selected");
    assert!(r2 < r1, "R2 arrived above R1:\n{screen}");
    s.send("a");
    s.wait_for("Approve R1?", 5);
    assert!(!s.screen().contains("Approve R2?"));
    s.send("y");
    // the timeline says it, once the dialog (which says "Journaled as approved by") is gone
    s.wait_for_without("approved by", "Journaled as", 10);
    s.send("q");
    assert!(s.wait_exit(10).success());
    s.assert_restored();
    let j = journal_text(&s);
    assert!(j.contains(r#""cmd":"approve","id":1"#), "R1 approved");
    assert!(!j.contains(r#""cmd":"approve","id":2"#), "R2 untouched");
    let me = os_account();
    assert!(
        j.contains(&format!(r#""user":"{me}"#)),
        "the journal names the OS account {me}"
    );
    assert!(!j.contains(r#""user":"unknown""#));
}

/// A veto's text field owns every key until it is closed: keys bound to other actions (`j`,
/// `v`, `y`, `q`, `1`) land in the reason; a reason under three words is refused and the field
/// stays open; after the veto the console says what comes next.
#[test]
fn veto_reason_takes_every_key_and_needs_three_words() {
    let mut s = spawn_with_config(LATENCY_SPIKE_AUGMENTATION, &[], 120, 40, Some(NO_PATCHES));
    s.wait_for("AUGMENTATION", 30);
    s.send("5");
    s.wait_for("PENDING", 90);
    s.send("v");
    s.wait_for("Veto R1", 5);
    s.send("y\r");
    s.wait_for("at least 3 words", 5);
    assert!(s.screen().contains("Veto R1"), "the field stays open");
    s.send(" jq v1: q is 1 noisy pod\r");
    s.wait_for("After the veto", 10);
    assert!(
        !s.screen().contains("Autonomy phase"),
        "no key reached the phase picker"
    );
    s.send("q");
    assert!(s.wait_exit(10).success());
    s.assert_restored();
    let j = journal_text(&s);
    assert!(
        j.contains(r#""reason":"y jq v1: q is 1 noisy pod""#),
        "every character landed in the reason"
    );
    assert!(j.contains("act by hand") || j.contains("next: R"));
}

#[test]
fn read_only_says_so_on_approve() {
    let mut s = spawn(&["--read-only", "--phase", "augmentation"], &[], 100, 30);
    s.wait_for("READ-ONLY", 30);
    s.send("5");
    s.wait_for("read-only: no actuator", 10);
    s.send("a");
    s.wait_for("no actuator exists in this session", 5);
    s.send("q");
    assert!(s.wait_exit(10).success());
    s.assert_restored();
}

fn checksum(p: &std::path::Path) -> u64 {
    let bytes = std::fs::read(p).expect("read");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Replay a fixture, jump to its first decision, press approve: nothing changes (the file's
/// checksum is the same, no journal is written) and the screen says replay is read-only.
#[test]
fn replay_jumps_to_a_decision_and_refuses_to_change_anything() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/incidents/surge-vetoed-false-alarm.jsonl");
    let before = checksum(&fixture);
    let path = fixture.to_str().expect("utf-8 path");
    let mut s = spawn(&["replay", path, "--speed", "1"], &[], 120, 30);
    s.wait_for("REPLAY", 20);
    s.wait_for("READ-ONLY", 5);
    s.send(" "); // pause
    s.send("n");
    s.wait_for("at search/query-intent incident", 10);
    s.send("n");
    s.wait_for("at veto R1", 10);
    s.send("5");
    s.wait_for("vetoed", 10);
    s.send("a");
    s.wait_for("replay is read-only", 5);
    s.send("v");
    s.wait_for("replay is read-only: 'veto'", 5);
    s.send("q");
    assert!(s.wait_exit(10).success());
    s.assert_restored();
    assert_eq!(checksum(&fixture), before, "the recording is unchanged");
    assert!(
        !s.dirs.path().join("data/journal").exists(),
        "a replay writes no journal"
    );
}

/// A session killed with SIGKILL leaves a journal that replays up to its last record.
#[test]
fn sigkilled_session_journal_replays() {
    let mut s = spawn(
        &[
            "--scenario",
            "latency-spike",
            "--phase",
            "autonomy",
            "--speed",
            "40",
        ],
        &[],
        100,
        30,
    );
    s.wait_for("AUTONOMY", 30);
    s.send("5");
    s.wait_for("succeeded", 120);
    let pid = s.child.process_id().expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let _ = s.wait_exit(10);
    let dir = s.dirs.path().join("data/journal");
    let journal = std::fs::read_dir(&dir)
        .expect("journal dir")
        .next()
        .expect("a journal")
        .expect("entry")
        .path();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitcrew"))
        .args(["replay", "--verify"])
        .arg(&journal)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("identical"), "{stdout}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pitcrew"))
        .args(["replay", "--summary"])
        .arg(&journal)
        .output()
        .expect("run");
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        md.contains("restart-degraded-pod") && md.contains("succeeded"),
        "{md}"
    );
}

#[test]
fn history_mode_replays_past_prometheus_data_read_only() {
    let prom = common::fake_prom::fake_prometheus();
    let cfg_dir = tempfile::tempdir().expect("tempdir");
    let cfg = cfg_dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        format!(
            "[prometheus]\nurl = \"http://{prom}\"\nstep_seconds = 60\nbackfill_hours = 1\n\
             [prometheus.queries]\nrequest_rate = \"rate_q\"\nlatency_p95 = \"p95_q\"\n"
        ),
    )
    .expect("write config");
    let cfg = cfg.to_string_lossy().to_string();
    let mut s = spawn(
        &[
            "--config",
            &cfg,
            "--from",
            "2026-11-24T08:00:00Z",
            "--to",
            "2026-11-24T09:00:00Z",
            "--speed",
            "1000",
            "--phase",
            "autonomy",
        ],
        &[],
        120,
        30,
    );
    s.wait_for("alpha", 30);
    s.wait_for("READ-ONLY", 5);
    s.wait_for("HISTORY", 5);
    // a mutating key explains that nothing can act
    s.send("5");
    s.send("a");
    s.wait_for("no actuator", 10);
    s.send("q");
    assert!(s.wait_exit(10).success());
    s.assert_restored();
    let journal = journal_text(&s);
    let header = journal.lines().next().unwrap_or("");
    assert!(header.contains("(history)"), "{header}");
    assert!(
        journal.contains("\"observations\""),
        "the window was recorded"
    );
}
