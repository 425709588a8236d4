//! The console's edge: the engine task and the one interpreter of the engine's effects —
//! the journal written before any action, the actuator, the simulator's controls, outcome
//! statistics and checkpoints.

use super::*;
use crate::domain::IncidentKind;
use crate::engine::{EdgeKind, Execution};
use crate::harness::{self, Verdict};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};

/// What the engine task talks to besides the UI: the simulator, the actuator, the journal
/// and the outcome statistics file.
pub struct Edge {
    /// Simulator control (injections), when the source is the simulator.
    pub sim: Option<mpsc::Sender<SimControl>>,
    /// The actuator; `None` in a read-only session.
    pub actuator: Option<Arc<dyn Actuator>>,
    /// The journal; without one, no action is carried out.
    pub journal: Option<Journal>,
    /// Where actuator results go back to the engine.
    pub results: mpsc::Sender<Event>,
    /// Where outcome statistics are saved.
    pub stats_path: Option<std::path::PathBuf>,
    /// The Kubernetes Lease per namespace, when the actuator competes for one.
    pub lease: Option<watch::Receiver<BTreeMap<String, LeaseStatus>>>,
    /// The model registry's poll, when there is one.
    pub registry: Option<RegistryLink>,
    /// The serving images' scan, when the cluster is known.
    pub images: Option<PollLink>,
    /// What the console has to say of itself from the start (a skipped playbook file, no
    /// journal): said once the source's first event has set the engine's clock, so that the
    /// notices carry the session's time, not 1970.
    pub said: Vec<String>,
    /// The control API's link, in an agent that serves one.
    pub control: Option<ControlLink>,
}

/// The engine task's link to the control API: every event applied goes to the feed of the
/// attached consoles, and their commands come in with where the answer goes.
pub struct ControlLink {
    /// The stream's source.
    pub feed: Arc<crate::control::feed::Feed>,
    /// Commands from attached consoles.
    pub asks: mpsc::Receiver<crate::control::server::Ask>,
}

/// The engine task's link to a task that reads an outside system for the engine's models
/// (the registry poll, the image scan): it asks with the engine's models and time every
/// `every`.
pub struct PollLink {
    /// Where the asks go.
    pub ask: mpsc::Sender<super::registry::Ask>,
    /// Set by the task while it reads: a read still running is not asked again (a slow
    /// system gets fresh models when it is done, not a backlog of old ones).
    pub busy: Arc<AtomicBool>,
    /// When it was last asked.
    pub asked: Option<tokio::time::Instant>,
    /// How often it is asked.
    pub every: Duration,
}

impl PollLink {
    /// A link asked every `every`, and the task's ends: where the asks come and its flag.
    pub fn new(every: Duration) -> (PollLink, mpsc::Receiver<super::registry::Ask>) {
        let (ask, asks) = mpsc::channel(1);
        let link = PollLink {
            ask,
            busy: Arc::new(AtomicBool::new(false)),
            asked: None,
            every,
        };
        (link, asks)
    }

    /// Ask for a read of the engine's models when one is due.
    fn ask_if_due(&mut self, engine: &Engine) {
        let due = self.asked.is_none_or(|at| at.elapsed() >= self.every)
            && !self.busy.load(Ordering::Acquire);
        let metas = if due { engine.metas() } else { Vec::new() };
        if !metas.is_empty() && self.ask.try_send((metas, engine.time())).is_ok() {
            self.asked = Some(tokio::time::Instant::now());
        }
    }
}

/// The engine task's link to the registry poll (asked every
/// [`super::registry::REGISTRY_POLL_SECS`]), and how the poll went.
pub struct RegistryLink {
    /// The asks.
    pub poll: PollLink,
    /// The poll's state in a few words.
    pub status: watch::Receiver<Option<String>>,
}

/// Run the engine task: journal and apply events, route effects, publish snapshots at most
/// `hz` per second.
pub async fn engine_task(
    mut engine: Engine,
    mut rx: mpsc::Receiver<Event>,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    mut focus: watch::Receiver<Option<String>>,
    mut edge: Edge,
    cancel: CancellationToken,
    hz: f64,
) -> Engine {
    let period = Duration::from_secs_f64(1.0 / hz.clamp(0.5, 60.0));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut clock_set = false;
    // checkpoints of the engine's state are encoded off this task (a clone goes to a blocking
    // thread) and come back here to be journaled
    let (cp_tx, mut cp_rx) = mpsc::unbounded_channel::<(u64, Result<EncodedState, String>)>();
    let mut asks = edge.control.as_mut().map(|c| {
        let (_, empty) = mpsc::channel(1);
        std::mem::replace(&mut c.asks, empty)
    });
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(ask) = async {
                match asks.as_mut() {
                    Some(a) => a.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                answer(&mut engine, &mut edge, ask);
                dirty = true;
            }
            Some((after, r)) = cp_rx.recv() => {
                journal_checkpoint(&mut engine, &mut edge, after, r);
            }
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                let mut batch = vec![ev];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(e) => batch.push(e),
                        Err(_) => break,
                    }
                }
                clock_set = true;
                for ev in batch {
                    let Ok(()) = harness::step(&mut engine, &mut edge, ev);
                    start_checkpoint(&engine, &mut edge, &cp_tx);
                }
                dirty = true;
            }
            r = focus.changed() => {
                if r.is_err() { break; }
                dirty = true;
            }
            _ = tick.tick() => {
                // the edges' states are said once the source has set the engine's clock
                if clock_set && say_edges(&mut engine, &mut edge) {
                    dirty = true;
                }
                if clock_set {
                    if let Some(r) = edge.registry.as_mut() {
                        r.poll.ask_if_due(&engine);
                    }
                    if let Some(i) = edge.images.as_mut() {
                        i.ask_if_due(&engine);
                    }
                }
                make_base(&engine, &edge);
                if let Some(j) = edge.journal.as_mut()
                    && let Err(e) = j.flush()
                {
                    edge.lose(e);
                    // said now once the source has set the clock, else with its first event
                    if clock_set {
                        tell(&mut engine, &mut edge);
                    }
                }
                if dirty {
                    let f = focus.borrow().clone();
                    let snap = engine.snapshot(f.as_deref(), 1000);
                    if snap_tx.send(Arc::new(snap)).is_err() {
                        break;
                    }
                    dirty = false;
                }
            }
        }
    }
    // a checkpoint still being encoded when the session ends is journaled (a bounded wait,
    // inside the engine's own stop bound so that the journal is still finished after it)
    if edge
        .journal
        .as_ref()
        .is_some_and(Journal::checkpoint_pending)
        && let Ok(Some((after, r))) = tokio::time::timeout(
            super::STOP_ENGINE.saturating_sub(Duration::from_millis(500)),
            cp_rx.recv(),
        )
        .await
    {
        journal_checkpoint(&mut engine, &mut edge, after, r);
    }
    if let Some(j) = edge.journal.as_mut() {
        let _ = j.finish();
    }
    engine
}

/// Apply an attached console's command, in its caller's name, and answer with what the
/// engine said of it (its log lines: "approved by alice", or who had decided before).
fn answer(engine: &mut Engine, edge: &mut Edge, ask: crate::control::server::Ask) {
    let before = engine.log_seq();
    let repeated = engine.command_applied(&ask.user, &ask.id);
    let ev = Event::Command {
        t: engine.time(),
        user: ask.user,
        command: ask.command,
        id: Some(ask.id),
    };
    let Ok(()) = harness::step(engine, edge, ev);
    let said = engine.log_since(before).map(|e| e.text.clone()).collect();
    let _ = ask.reply.send((said, repeated));
}

/// When an attached console waits for a base, take the engine's state now (a clone) and
/// encode it off this task.
fn make_base(engine: &Engine, edge: &Edge) {
    let Some(feed) = edge.control.as_ref().map(|c| c.feed.clone()) else {
        return;
    };
    if !feed.wants_base() {
        return;
    }
    feed.mark();
    let copy = engine.clone();
    tokio::task::spawn_blocking(move || {
        // whatever happens in the encoding, the feed hears of it (a base stuck half-made
        // would keep every console out)
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut bytes = Vec::new();
            copy.write_checkpoint(&mut bytes).map(|()| bytes)
        }))
        .unwrap_or_else(|_| Err("the engine's state could not be encoded".into()));
        feed.set_base(r);
    });
}

/// Say, as [`Event::EdgeStatus`] events, what the Lease and the registry's poll now say of
/// themselves where it differs from what the engine last heard; `true` when anything was said.
fn say_edges(engine: &mut Engine, edge: &mut Edge) -> bool {
    let mut now = Vec::new();
    if let Some(l) = edge.lease.as_mut() {
        now.push((
            EdgeKind::Executor,
            crate::actuators::lease::executor_summary(&l.borrow_and_update()),
        ));
    }
    if let Some(r) = edge.registry.as_mut() {
        now.push((EdgeKind::Registry, r.status.borrow_and_update().clone()));
    }
    let mut said = false;
    for (kind, text) in now {
        if engine.edge_status(kind) != text.as_deref() {
            let t = engine.time();
            let ev = Event::EdgeStatus {
                t,
                edge: kind,
                text,
            };
            let Ok(()) = harness::step(engine, edge, ev);
            said = true;
        }
    }
    said
}

/// Start encoding a checkpoint of the engine's state when the journal says one is due.
fn start_checkpoint(
    engine: &Engine,
    edge: &mut Edge,
    done: &mpsc::UnboundedSender<(u64, Result<EncodedState, String>)>,
) {
    let Some(j) = edge.journal.as_mut() else {
        return;
    };
    if !j.checkpoint_due(engine.time()) {
        return;
    }
    j.checkpoint_started();
    let after = j.last_event();
    let dir = j.dir().to_path_buf();
    let copy = engine.clone();
    let done = done.clone();
    tokio::task::spawn_blocking(move || {
        let _ = done.send((after, crate::journal::encode_state(&copy, &dir)));
    });
}

/// Journal an encoded checkpoint (or say why there is none).
fn journal_checkpoint(
    engine: &mut Engine,
    edge: &mut Edge,
    after: u64,
    r: Result<EncodedState, String>,
) {
    let Some(j) = edge.journal.as_mut() else {
        return;
    };
    match r {
        Ok(s) => {
            if let Err(e) = j.checkpoint(after, s) {
                edge.lose(e);
            }
        }
        Err(e) => {
            j.checkpoint_failed();
            edge.said
                .push(format!("no checkpoint in the journal this time: {e}"));
        }
    }
    tell(engine, edge);
}

/// Tell the operator what the edge has to say of itself: each an [`Event::Notice`], journaled
/// (while there is a journal) and applied like every event, so that a replay shows it where
/// it was.
fn tell(engine: &mut Engine, edge: &mut Edge) {
    let t = engine.time();
    for text in std::mem::take(&mut edge.said) {
        let Ok(()) = harness::step(engine, edge, Event::Notice { t, text });
    }
}

/// Why an action is refused in a session without an actuator.
const NO_ACTUATOR: &str = "not executed: this session has no actuator (read-only)";

impl Edge {
    /// A journal write failed: journaling stops, and with it every action (none runs without
    /// its intent on disk); the operator is told.
    fn lose(&mut self, e: impl std::fmt::Display) {
        self.journal = None;
        self.said.push(format!(
            "journal write failed, journaling stopped and actions disabled: {e}"
        ));
    }
}

/// The console's and the agent's hands in the one effect loop: every event journaled before
/// the engine applies it, every intent journaled (flushed and synced) before the actuator is
/// called, the actuator's answer coming back later on the engine task's channel.
impl harness::Hands for Edge {
    type Error = Infallible;

    fn event(&mut self, ev: &Event) -> Result<(), Infallible> {
        if let Some(c) = &self.control {
            c.feed.push(ev);
        }
        if let Some(j) = self.journal.as_mut()
            && let Err(e) = j.event(ev)
        {
            self.lose(e);
        }
        Ok(())
    }

    fn applied(&mut self, engine: &Engine) -> Result<(), Infallible> {
        if let Some(j) = self.journal.as_mut()
            && let Err(e) = j.log_new(engine)
        {
            self.lose(e);
        }
        Ok(())
    }

    fn intent(&mut self, x: &Execution) -> Result<Verdict, Infallible> {
        let Some(actuator) = &self.actuator else {
            return Ok(Verdict::Refuse(NO_ACTUATOR.into()));
        };
        let Some(journal) = self.journal.as_mut() else {
            return Ok(Verdict::Refuse(
                "not executed: there is no journal to record the intent in".into(),
            ));
        };
        if let Err(e) = journal.intent(x, actuator.name()) {
            let why = format!("not executed: the intent could not be journaled ({e})");
            self.lose(e);
            return Ok(Verdict::Refuse(why));
        }
        Ok(Verdict::Go)
    }

    fn act(&mut self, x: Execution) -> Option<Event> {
        let (t, id) = (x.t, x.id);
        let Some(actuator) = self.actuator.clone() else {
            return Some(Event::ActionResult {
                t,
                id,
                ok: false,
                dry_run: false,
                message: NO_ACTUATOR.into(),
            });
        };
        let tx = self.results.clone();
        tokio::spawn(async move {
            let (ok, message) = match actuator.execute(x.model, &x.key, &x.action).await {
                Ok(m) => (true, m),
                Err(e) => (false, e),
            };
            let dry_run = actuator.dry_run();
            let _ = tx
                .send(Event::ActionResult {
                    t,
                    id,
                    ok,
                    dry_run,
                    message,
                })
                .await;
        });
        None
    }

    fn inject(&mut self, model: u32, incident: IncidentKind) {
        if let Some(sim) = &self.sim {
            let _ = sim.try_send(SimControl::Inject {
                model: model as usize,
                kind: incident,
            });
        }
    }

    fn outcome(&mut self, engine: &Engine) {
        if let Some(path) = &self.stats_path
            && let Err(e) = super::outcomes::save(engine.stats(), path)
        {
            self.said.push(format!("outcome statistics not saved: {e}"));
        }
    }

    fn said(&mut self) -> Vec<String> {
        std::mem::take(&mut self.said)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::journal::{JournalConfig, Record};
    use jiff::Timestamp;

    /// A journal in `dir` whose header carries the default engine settings.
    fn journal_in(dir: &std::path::Path) -> Journal {
        use crate::journal::FORMAT;
        Journal::create(
            JournalConfig {
                dir: dir.to_path_buf(),
                stem: "s".into(),
                max_part_bytes: 1 << 30,
                max_parts: 1,
                retention: None,
            },
            Record::Header {
                format: FORMAT,
                pitcrew: "test".into(),
                source: "sim".into(),
                config_digest: "x".into(),
                start: 0.0,
                user: "t".into(),
                part: 0,
                settings: Some(Box::new(crate::journal::Settings::of(
                    &EngineConfig::default(),
                ))),
                resumed: None,
            },
        )
        .unwrap()
    }

    /// An edge with `journal`, answering on `results`, and nothing else.
    fn bare(journal: Option<Journal>, results: mpsc::Sender<Event>) -> Edge {
        Edge {
            sim: None,
            actuator: None,
            journal,
            results,
            stats_path: None,
            lease: None,
            registry: None,
            images: None,
            said: Vec::new(),
            control: None,
        }
    }

    /// A single-threaded runtime for the engine task's tests.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_consoles_first_words_are_said_at_the_sources_time_and_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_in(dir.path());
        let path = journal.path().to_path_buf();
        let rt = runtime();
        rt.block_on(async {
            let (tx, rx) = mpsc::channel(16);
            let engine = Engine::new(EngineConfig::default());
            let (snap_tx, mut snap_rx) = watch::channel(Arc::new(engine.snapshot(None, 0)));
            let (_focus_tx, focus_rx) = watch::channel(None);
            let cancel = CancellationToken::new();
            let mut edge = bare(Some(journal), tx.clone());
            edge.said.push("playbook file skipped: x.toml".into());
            let task = tokio::spawn(engine_task(
                engine,
                rx,
                snap_tx,
                focus_rx,
                edge,
                cancel.clone(),
                10.0,
            ));
            let world = crate::sim::SimWorld::new(1, 2, 1.7e9);
            let models = Event::Models {
                t: world.time(),
                models: world.metas(),
            };
            tx.send(models).await.unwrap();
            // the engine task publishes what it has said
            let said = tokio::time::timeout(
                Duration::from_secs(30),
                snap_rx.wait_for(|s| !s.notices.is_empty()),
            )
            .await;
            assert!(said.is_ok(), "no notice was said");
            cancel.cancel();
            let e = task.await.unwrap();
            assert_eq!(
                e.snapshot(None, 10).notices.as_slice(),
                ["playbook file skipped: x.toml"]
            );
        });
        let rec = crate::replay::Recording::open(&path).unwrap();
        assert_eq!(rec.events.len(), 2, "the models, then the notice");
        assert_eq!(rec.span(), (1.7e9, 1.7e9), "no event at 1970");
    }

    #[test]
    fn a_notice_is_journaled_as_an_event_and_a_replay_shows_it() {
        use crate::replay::{Player, Recording};
        let dir = tempfile::tempdir().unwrap();
        let j = journal_in(dir.path());
        let path = j.path().to_path_buf();
        let (results, _rx) = mpsc::channel(1);
        let mut edge = bare(Some(j), results);
        edge.said.push("playbook file skipped: x.toml".into());
        let mut engine = Engine::new(EngineConfig::default());
        tell(&mut engine, &mut edge);
        let mut journal = edge.journal.take();
        edge.said.push("said, but not journaled".into());
        tell(&mut engine, &mut edge);
        journal.as_mut().unwrap().finish().unwrap();
        assert_eq!(
            engine.snapshot(None, 10).notices.as_slice(),
            ["playbook file skipped: x.toml", "said, but not journaled"]
        );
        let rec = std::sync::Arc::new(Recording::open(&path).unwrap());
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        assert_eq!(rec.events.len(), 1);
        let mut p = Player::new(rec).unwrap();
        p.seek_events(1);
        let shown = p.engine().snapshot(None, 10);
        assert_eq!(shown.notices.as_slice(), ["playbook file skipped: x.toml"]);
        assert!(
            shown
                .log
                .iter()
                .any(|l| l.text == "playbook file skipped: x.toml")
        );
    }

    #[test]
    fn the_consoles_hands_act_only_on_an_intent_on_disk_and_otherwise_refuse() {
        use crate::actuators::DryRunActuator;
        use crate::domain::Action;
        use crate::engine::{Effect, remedy::Purpose};
        use crate::harness::Hands;
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_in(dir.path());
        let path = journal.path().to_path_buf();
        let x = Execution {
            t: 5.0,
            id: 9,
            model: 0,
            key: "ns/m".into(),
            action: Action::Restart,
            purpose: Purpose::Run,
            who: "alice".into(),
        };
        let rt = runtime();
        rt.block_on(async {
            let (results, mut rx) = mpsc::channel(4);
            let mut edge = bare(Some(journal), results);
            edge.actuator = Some(Arc::new(DryRunActuator));
            let mut engine = Engine::new(EngineConfig::default());
            let Ok(()) = harness::carry(&mut engine, &mut edge, vec![Effect::Execute(x.clone())]);
            // the intent is on disk (flushed and synced) before the actuator's answer comes
            let (recs, bad) = crate::journal::read(&path).unwrap();
            assert!(bad.is_empty());
            assert!(
                matches!(recs.last(), Some(Record::Intent { id: 9, actuator, .. }) if actuator == "dry run"),
                "{recs:?}"
            );
            let answer = tokio::time::timeout(Duration::from_secs(30), rx.recv())
                .await
                .unwrap();
            assert!(
                matches!(answer, Some(Event::ActionResult { id: 9, ok: true, dry_run: true, .. })),
                "{answer:?}"
            );
            // without a journal nothing acts, and a read-only session has nothing to act with
            let journal = edge.journal.take();
            assert!(
                matches!(edge.intent(&x), Ok(Verdict::Refuse(why)) if why.contains("no journal"))
            );
            edge.journal = journal;
            edge.actuator = None;
            assert!(
                matches!(edge.intent(&x), Ok(Verdict::Refuse(why)) if why.contains("read-only"))
            );
            let (recs, _) = crate::journal::read(&path).unwrap();
            let intents = recs
                .iter()
                .filter(|r| matches!(r, Record::Intent { .. }))
                .count();
            assert_eq!(intents, 1, "a refused action leaves no intent");
        });
    }

    #[test]
    fn who_executes_and_the_registry_are_said_as_journaled_events_at_the_sources_time() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_in(dir.path());
        let path = journal.path().to_path_buf();
        let rt = runtime();
        rt.block_on(async {
            let (tx, rx) = mpsc::channel(16);
            let engine = Engine::new(EngineConfig::default());
            let (snap_tx, snap_rx) = watch::channel(Arc::new(engine.snapshot(None, 0)));
            let (_focus_tx, focus_rx) = watch::channel(None);
            let mut leases = BTreeMap::new();
            leases.insert("ml".to_string(), LeaseStatus::held_for_test());
            let (lease_tx, lease_rx) = watch::channel(leases);
            let (reg_tx, reg_rx) = watch::channel(Some("registry: first poll…".to_string()));
            let (poll, mut ask_rx) = PollLink::new(Duration::from_secs(60));
            let cancel = CancellationToken::new();
            let mut edge = bare(Some(journal), tx.clone());
            edge.lease = Some(lease_rx);
            edge.registry = Some(RegistryLink {
                poll,
                status: reg_rx,
            });
            let task = tokio::spawn(engine_task(
                engine,
                rx,
                snap_tx,
                focus_rx,
                edge,
                cancel.clone(),
                20.0,
            ));
            let wait = |want: Option<&'static str>, reg: &'static str| {
                let mut snaps = snap_rx.clone();
                async move {
                    tokio::time::timeout(
                        Duration::from_secs(30),
                        snaps.wait_for(|s| {
                            s.executor.as_deref() == want && s.registry.as_deref() == Some(reg)
                        }),
                    )
                    .await
                    .is_ok()
                }
            };
            // nothing is said before the source has set the clock
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(snap_rx.borrow().executor, None);
            let world = crate::sim::SimWorld::new(1, 2, 1.7e9);
            let models = Event::Models {
                t: world.time(),
                models: world.metas(),
            };
            tx.send(models).await.unwrap();
            assert!(
                wait(Some("executor: this pitcrew"), "registry: first poll…").await,
                "{:?}",
                snap_rx.borrow()
            );
            // the registry poll is asked with the engine's own models and time
            let ask = tokio::time::timeout(Duration::from_secs(30), ask_rx.recv()).await;
            let (metas, t) = ask.unwrap().unwrap();
            assert_eq!((metas, t), (world.metas(), 1.7e9));
            lease_tx.send_modify(|m| {
                m.insert(
                    "ml".into(),
                    LeaseStatus::Other {
                        holder: "bob@h/7 (agent)".into(),
                        renewed: Timestamp::UNIX_EPOCH,
                        expires: Timestamp::UNIX_EPOCH,
                    },
                );
            });
            reg_tx.send(Some("registry ok".into())).unwrap();
            assert!(
                wait(
                    Some("executor elsewhere (ml: bob@h/7 (agent))"),
                    "registry ok"
                )
                .await,
                "{:?}",
                snap_rx.borrow()
            );
            cancel.cancel();
            task.await.unwrap();
        });
        let rec = crate::replay::Recording::open(&path).unwrap();
        let mut reader = crate::replay::Reader::new(&rec).unwrap();
        let said: Vec<_> = rec
            .events
            .iter()
            .filter_map(|i| match reader.event(i) {
                Some(Event::EdgeStatus { t, edge, text }) => Some((t, edge, text)),
                _ => None,
            })
            .collect();
        assert_eq!(said.len(), 4, "{said:?}");
        assert!(said.iter().all(|(t, _, _)| *t == 1.7e9), "{said:?}");
        assert_eq!(
            said.last().map(|s| (s.1, s.2.as_deref())),
            Some((EdgeKind::Registry, Some("registry ok")))
        );
        // a replay's status bar shows what the operator's did
        let mut p = crate::replay::Player::new(std::sync::Arc::new(rec)).unwrap();
        p.seek_events(usize::MAX);
        let shown = p.engine().snapshot(None, 0);
        assert_eq!(
            shown.executor.as_deref(),
            Some("executor elsewhere (ml: bob@h/7 (agent))")
        );
    }
}
