//! Teams: `pitcrew agent` executes, consoles attach to it — with real processes on loopback
//! and consoles in real terminals. Two agents serve disjoint namespaces of the simulated
//! fleet and two consoles follow both, each showing the merged fleet; a viewer's approve is
//! refused with the reason on screen; a console and another approver approve the same
//! proposal at once and exactly one decision is made, which the other console shows with
//! who made it; an agent killed shows DISCONNECTED, and restarted, the console resyncs; the
//! agent's journal re-runs identically and its summary names who decided. Every control route
//! refuses a caller without a token (401) and a viewer's mutating verbs (403); oversized and
//! malformed requests are refused; no token appears in any log, journal or output.

mod common;

use common::control::{
    agent_command_without_patches, all_text, command, first_model, request, verified_summary,
    wait_metric,
};
use common::pty;
use pitcrew::control::auth::token_hash;
use std::time::{Duration, Instant};

struct Team {
    dir: tempfile::TempDir,
    tokens: Vec<(&'static str, &'static str, String)>,
}

impl Team {
    fn new() -> Team {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut tokens = Vec::new();
        let mut file = String::new();
        for (user, role) in [
            ("alice", "approver"),
            ("bob", "approver"),
            ("vic", "viewer"),
            ("root-admin", "admin"),
        ] {
            let token = format!("test-token-{user}-{}", std::process::id());
            std::fs::write(
                dir.path().join(format!("{user}.token")),
                format!("{token}\n"),
            )
            .expect("token file");
            file.push_str(&format!(
                "[[tokens]]\nuser = \"{user}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
                token_hash(&token)
            ));
            tokens.push((user, role, token));
        }
        std::fs::write(dir.path().join("tokens.toml"), file).expect("tokens file");
        Team { dir, tokens }
    }

    fn token(&self, user: &str) -> &str {
        &self.tokens.iter().find(|t| t.0 == user).expect("user").2
    }

    fn token_file(&self, user: &str) -> String {
        self.dir
            .path()
            .join(format!("{user}.token"))
            .display()
            .to_string()
    }

    fn agent(&self, port: u16) -> (std::process::Child, String) {
        self.agent_in(port, "agent-data", None)
    }

    /// An agent with a directory of its own (its journal and settings), on the simulated models of `namespaces` (of 15) or on 6.
    fn agent_in(
        &self,
        port: u16,
        data: &str,
        namespaces: Option<&str>,
    ) -> (std::process::Child, String) {
        let dir = self.dir.path();
        let mut cmd =
            agent_command_without_patches(port, &dir.join("tokens.toml"), &dir.join(data));
        cmd.args(["--phase", "augmentation", "--speed", "20"])
            .args(match namespaces {
                Some(ns) => ["--models", "15", "--namespaces", ns],
                None => [
                    "--models",
                    "6",
                    "--namespaces",
                    "search,ads,fraud,recs,vision",
                ],
            });
        common::spawn_agent(&mut cmd)
    }

    fn console(&self, urls: &[&str], user: &str) -> pty::Session {
        let file = self.token_file(user);
        let mut args = vec!["attach"];
        args.extend_from_slice(urls);
        args.extend(["--token-file", file.as_str()]);
        pty::spawn(&args, &[], 140, 32)
    }
}

#[test]
fn two_agents_two_consoles_one_decision_a_refused_viewer_and_a_resync_after_an_agent_restarts() {
    let team = Team::new();
    // two shards of one fleet: 6 models in search and ads, 9 in fraud, recs and vision
    let (mut agent_a, addr_a) =
        team.agent_in(common::prom::free_port(), "agent-a", Some("search,ads"));
    let port = common::prom::free_port();
    let (mut agent, addr) = team.agent_in(port, "agent-b", Some("fraud,recs,vision"));
    let url_a = format!("http://{addr_a}");
    let url = format!("http://{addr}");
    let model_a = first_model(&wait_metric(&addr_a, "pitcrew_models 6", 30));
    let model = first_model(&wait_metric(&addr, "pitcrew_models 9", 30));
    assert!(model_a.starts_with("search/") || model_a.starts_with("ads/"));
    assert!(!model.starts_with("search/") && !model.starts_with("ads/"));

    let mut alice = team.console(&[&url_a, &url], "alice");
    let mut vic = team.console(&[&url_a, &url], "vic");
    // each console shows the merged fleet: the models of both agents, 15 in all
    for c in [&alice, &vic] {
        for m in [&model_a, &model] {
            c.wait_for(m.split('/').nth(1).expect("name"), 30);
        }
        c.wait_for("2 agents live", 30);
        c.wait_for("models 15", 30);
    }

    // the admin injects a degraded pod on the second agent; in Augmentation a restart is
    // proposed there, as its R1, and waits. The consoles number it R3: the second (of two)
    // agent's R1
    let (code, said) = command(
        &addr,
        team.token("root-admin"),
        "inject-1",
        &format!(r#"{{"cmd":"inject","model":"{model}","incident":"latency-spike"}}"#),
    );
    assert_eq!(code, 200, "{said}");
    wait_metric(&addr, "pitcrew_pending_approvals 1", 90);
    alice.send("5");
    vic.send("5");
    alice.wait_for("PENDING", 15);
    vic.wait_for("PENDING", 15);

    // the viewer's approve is refused, with the reason on the viewer's screen
    vic.send("a");
    vic.wait_for("Approve R3?", 10);
    vic.send("y");
    vic.wait_for("may not approve", 10);

    // alice (in her console) and bob (from his own client, to the agent) approve it at once
    alice.send("a");
    alice.wait_for("Approve R3?", 10);
    let bob_token = team.token("bob").to_string();
    let bob_addr = addr.clone();
    let bob = std::thread::spawn(move || {
        command(
            &bob_addr,
            &bob_token,
            "bob-1",
            r#"{"cmd":"approve","id":1}"#,
        )
    });
    alice.send("y");
    let (code, bob_said) = bob.join().expect("bob");
    assert_eq!(code, 200, "{bob_said}");
    let winner = if bob_said.contains("approved by bob") {
        "bob"
    } else {
        assert!(
            bob_said.contains("(approved by alice)"),
            "bob is told who decided first: {bob_said}"
        );
        "alice"
    };
    // the other console shows it approved by that user, within 10 s, under its merged id
    vic.send("3");
    vic.wait_for(&format!("R3 approved: approved by {winner}"), 10);
    // a retry of bob's command (a reconnect) is answered, not applied again
    let (code, again) = command(
        &addr,
        team.token("bob"),
        "bob-1",
        r#"{"cmd":"approve","id":1}"#,
    );
    assert_eq!(code, 200);
    assert!(again.contains("\"repeated\":true"), "{again}");

    // the agent dies: the console says so at once and sends nothing
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(agent.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let _ = agent.wait();
    alice.wait_for("DISCONNECTED", 10);
    // a note is for the whole fleet: while a shard is away it goes to no agent, and says so
    alice.send("w");
    alice.wait_for("Note for the journal", 10);
    alice.send("written during the outage\r");
    alice.wait_for("not sent to any agent", 10);
    // restarted, the console resyncs and follows it again
    let (mut agent2, _) = team.agent_in(port, "agent-b", Some("fraud,recs,vision"));
    alice.wait_for_without("2 agents live", "DISCONNECTED", 40);
    // now it reaches both agents, once each
    alice.send("w");
    alice.wait_for("Note for the journal", 10);
    alice.send("after the restart\r");
    alice.wait_for("after the restart", 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(all_text(&team.dir.path().join("agent-a")).contains("after the restart")
        && all_text(&team.dir.path().join("agent-b")).contains("after the restart"))
    {
        assert!(Instant::now() < deadline, "the note reached both agents");
        std::thread::sleep(Duration::from_millis(200));
    }

    alice.send("q");
    vic.send("q");
    alice.wait_exit(10);
    vic.wait_exit(10);
    assert!(common::terminate(&mut agent2).success());
    assert!(common::terminate(&mut agent_a).success());

    // the second agent's first journal: one decision on its R1, re-run identically, who
    // decided named
    let jdir = team.dir.path().join("agent-b/data/journal");
    let mut journals: Vec<_> = std::fs::read_dir(&jdir)
        .expect("journal dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    journals.sort();
    let first = &journals[0];
    let text = std::fs::read_to_string(first).expect("journal");
    let decisions = text
        .lines()
        .filter(|l| l.contains("R1 approved: approved by"))
        .count();
    assert_eq!(decisions, 1, "exactly one decision on R1");
    let summary = verified_summary(first);
    assert!(
        summary.contains(&format!("**{winner}** approve R1")),
        "{summary}"
    );
    // no token anywhere: the agent's data dir, the consoles' screens and output
    // the note refused during the outage is nowhere; the one after it, once on each agent
    let (a, b) = (
        all_text(&team.dir.path().join("agent-a")),
        all_text(&team.dir.path().join("agent-b")),
    );
    assert!(!a.contains("written during the outage") && !b.contains("written during the outage"));
    for j in [&a, &b] {
        assert_eq!(
            j.matches(r#""cmd":"note","text":"after the restart""#)
                .count(),
            1,
            "the note is journaled once on each agent"
        );
    }
    let everything = all_text(&team.dir.path().join("agent-a"))
        + &all_text(&team.dir.path().join("agent-b"))
        + &alice.text()
        + &vic.text()
        + &all_text(alice.dirs.path())
        + &all_text(vic.dirs.path());
    for (user, _, token) in &team.tokens {
        assert!(
            !everything.contains(token.as_str()),
            "{user}'s token leaked"
        );
    }
}

#[test]
fn every_control_route_refuses_the_unauthenticated_and_the_viewer_and_bad_requests() {
    let team = Team::new();
    let port = common::prom::free_port();
    let (mut agent, addr) = team.agent(port);
    wait_metric(&addr, "pitcrew_models 6", 30);
    // no token, a wrong one, another scheme: 401, before anything is read
    for token in [None, Some("not-a-token")] {
        let (code, _) = request(&addr, "GET", "/v1/stream", token, b"");
        assert_eq!(code, 401, "stream with {token:?}");
        let (code, _) = request(
            &addr,
            "POST",
            "/v1/commands",
            token,
            br#"{"id":"x","command":{"cmd":"note","text":"hi"}}"#,
        );
        assert_eq!(code, 401, "commands with {token:?}");
    }
    // the viewer: 403 naming the verb, for each mutating verb
    let vic = team.token("vic");
    for (verb, cmd) in [
        ("approve", r#"{"cmd":"approve","id":1}"#),
        ("veto", r#"{"cmd":"veto","id":1,"reason":"not now please"}"#),
        (
            "automate",
            r#"{"cmd":"set_class_mode","phase":"autonomy","class":"restart","mode":"auto"}"#,
        ),
        ("phase", r#"{"cmd":"set_phase","phase":"autonomy"}"#),
        ("note", r#"{"cmd":"note","text":"hello"}"#),
        (
            "inject",
            r#"{"cmd":"inject","model":"a/b","incident":"latency-spike"}"#,
        ),
    ] {
        let (code, body) = command(&addr, vic, &format!("v-{verb}"), cmd);
        assert_eq!(code, 403, "{verb}: {body}");
        assert!(body.contains(&format!("\"{verb}\"")), "{verb}: {body}");
    }
    // an approver may not change the phase
    let (code, body) = command(
        &addr,
        team.token("alice"),
        "a-1",
        r#"{"cmd":"set_phase","phase":"autonomy"}"#,
    );
    assert_eq!(code, 403, "{body}");
    // oversized and malformed: refused, and the agent goes on
    let alice = team.token("alice");
    let huge = format!(
        r#"{{"id":"h","command":{{"cmd":"note","text":"{}"}}}}"#,
        "x".repeat(64 << 10)
    );
    let (code, _) = request(&addr, "POST", "/v1/commands", Some(alice), huge.as_bytes());
    assert_eq!(code, 413);
    for bad in [
        &b"{"[..],
        b"null",
        br#"{"id":"","command":{"cmd":"note","text":"x"}}"#,
        b"\xff\xfe",
    ] {
        let (code, body) = request(&addr, "POST", "/v1/commands", Some(alice), bad);
        assert_eq!(code, 400, "{}: {body}", String::from_utf8_lossy(bad));
    }
    // a note from alice is journaled in her name
    let (code, body) = command(
        &addr,
        alice,
        "n-1",
        r#"{"cmd":"note","text":"looking at it"}"#,
    );
    assert_eq!(code, 200, "{body}");
    // repeated failures from one address are held back (429); a known token still passes
    for _ in 0..12 {
        request(&addr, "GET", "/v1/stream", Some("wrong"), b"");
    }
    let (code, _) = request(&addr, "GET", "/v1/stream", Some("wrong-again"), b"");
    assert_eq!(code, 429);
    let (code, _) = command(&addr, vic, "v-after", r#"{"cmd":"note","text":"still me"}"#);
    assert_eq!(
        code, 403,
        "a known token is authenticated, then refused the verb"
    );
    assert_eq!(common::http_get(&addr, "/healthz").0, 200);
    assert!(common::terminate(&mut agent).success());
    let data = all_text(&team.dir.path().join("agent-data"));
    assert!(
        data.contains("\"user\":\"alice\""),
        "the note is journaled as alice's"
    );
    for (user, _, token) in &team.tokens {
        assert!(!data.contains(token.as_str()), "{user}'s token leaked");
    }
}
