//! Headless recorded sessions on the simulated fleet: the console's pipeline without a
//! terminal — every event journaled before the engine applies it, the engine's log after it,
//! every intent flushed before the simulated actuator acts, checkpoints of the engine's state
//! when due — with a script of operator decisions. Used to make the incident fixtures (`fixtures/incidents/*.jsonl`) and in tests.

use crate::domain::{Action, IncidentKind};
use crate::engine::{
    Command, Engine, EngineConfig, Event, Execution, SourceKind, SourceState, SourceStatus,
};
use crate::harness::Witness;
use crate::journal::{FORMAT, Journal, JournalConfig, Record, Settings};
use crate::policy::RemState;
use crate::policy::autonomy::Phase;
use crate::sim::{SIM_STEP, SimWorld};
use crate::sources::sim::step_events;
use std::path::Path;

/// What the script does.
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    /// Inject an incident on a model.
    Inject(usize, IncidentKind),
    /// Someone outside pitcrew changes a model (e.g. scales it down by hand).
    External(usize, Action),
    /// Someone outside pitcrew scales a model to this share of its replicas.
    ExternalScaleBy(usize, f64),
    /// Approve every proposal waiting for a human.
    ApprovePending,
    /// Veto every proposal waiting for a human, with a reason.
    VetoPending(String),
    /// Change the phase.
    Phase(Phase),
    /// A note.
    Note(String),
    /// The advisories scan what each model runs, and from then on each version that starts
    /// serving (as the console's scans do).
    Scan,
}

/// A scripted session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Seed.
    pub seed: u64,
    /// Models.
    pub models: usize,
    /// Seconds of history before the script starts.
    pub backfill: f64,
    /// Seconds after the script starts.
    pub duration: f64,
    /// Starting phase.
    pub phase: Phase,
    /// Operator user name.
    pub user: String,
    /// `(seconds after the start, act)`.
    pub script: Vec<(f64, Act)>,
}

/// Record a session to `path`.
pub fn record(path: &Path, s: &Session) -> std::io::Result<()> {
    record_parts(path, s, u64::MAX, 1)
}

/// Record a session to `path`, rotating to a new part (`stem.1.jsonl`, …) past
/// `max_part_bytes` and keeping the newest `max_parts`.
pub fn record_parts(
    path: &Path,
    s: &Session,
    max_part_bytes: u64,
    max_parts: u32,
) -> std::io::Result<()> {
    let t0 = 1_764_000_000.0;
    let mut world = SimWorld::new(s.seed, s.models, t0 - s.backfill);
    let cfg = EngineConfig {
        phase: s.phase,
        actuator: Some("simulated fleet".into()),
        ..EngineConfig::default()
    };
    let label = format!("sim seed {} · {} models (recorded)", s.seed, s.models);
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path.file_stem().map_or_else(
        || "session".to_string(),
        |x| x.to_string_lossy().into_owned(),
    );
    let j = Journal::create(
        JournalConfig {
            dir: dir.to_path_buf(),
            stem,
            max_part_bytes,
            max_parts,
            retention: None,
        },
        Record::Header {
            format: FORMAT,
            pitcrew: env!("CARGO_PKG_VERSION").to_string(),
            source: label.clone(),
            config_digest: crate::journal::digest(&format!("{:?}", Settings::of(&cfg))),
            start: t0,
            user: s.user.clone(),
            part: 0,
            settings: Some(Box::new(Settings::of(&cfg))),
            resumed: None,
        },
    )?;
    let mut engine = Engine::new(cfg);
    let mut j = Journaled { j };
    let feed = |engine: &mut Engine,
                world: &mut SimWorld,
                j: &mut Journaled,
                ev: Event|
     -> std::io::Result<()> {
        crate::harness::feed(engine, world, ev, j)?;
        j.checkpoint_if_due(engine)
    };
    let source = |state| SourceStatus {
        kind: SourceKind::Simulated,
        label: label.clone(),
        state,
        speed: 1.0,
        step: SIM_STEP,
    };
    let ev = Event::Models {
        t: world.time(),
        models: world.metas(),
    };
    feed(&mut engine, &mut world, &mut j, ev)?;
    let ev = Event::Source {
        t: world.time(),
        status: source(SourceState::Backfilling { progress: 0.0 }),
    };
    feed(&mut engine, &mut world, &mut j, ev)?;
    let steps = |secs: f64| (secs / SIM_STEP).round() as usize;
    for _ in 0..steps(s.backfill) {
        for ev in step_events(&mut world) {
            feed(&mut engine, &mut world, &mut j, ev)?;
        }
    }
    let ev = Event::Source {
        t: world.time(),
        status: source(SourceState::Live),
    };
    feed(&mut engine, &mut world, &mut j, ev)?;
    let start = world.time();
    let mut script = s.script.clone();
    script.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut next = 0;
    for _ in 0..steps(s.duration) {
        let t = world.time();
        while next < script.len() && start + script[next].0 <= t {
            let act = script[next].1.clone();
            next += 1;
            let command = |c| Event::Command {
                t,
                user: s.user.clone(),
                command: c,
                id: None,
            };
            match act {
                Act::Inject(m, k) => world.inject(m, k),
                Act::External(m, a) => {
                    let _ = world.act(m, &a);
                }
                Act::ExternalScaleBy(m, f) => {
                    if let Some(r) = world.models.get(m).map(|x| x.desired_replicas()) {
                        let replicas = ((f64::from(r) * f).round() as u32).max(1);
                        let _ = world.act(m, &Action::Scale { replicas });
                    }
                }
                Act::ApprovePending | Act::VetoPending(_) => {
                    let ids: Vec<u64> = engine
                        .remediations()
                        .filter(|r| r.state == RemState::Proposed)
                        .map(|r| r.id)
                        .collect();
                    for id in ids {
                        let c = match &act {
                            Act::VetoPending(reason) => Command::Veto {
                                id,
                                reason: reason.clone(),
                            },
                            _ => Command::Approve { id },
                        };
                        feed(&mut engine, &mut world, &mut j, command(c))?;
                    }
                }
                Act::Phase(p) => feed(
                    &mut engine,
                    &mut world,
                    &mut j,
                    command(Command::SetPhase { phase: p }),
                )?,
                Act::Note(text) => feed(
                    &mut engine,
                    &mut world,
                    &mut j,
                    command(Command::Note { text }),
                )?,
                Act::Scan => {
                    world.rescan = true;
                    for ev in crate::sources::sim::findings(&world) {
                        feed(&mut engine, &mut world, &mut j, ev)?;
                    }
                }
            }
        }
        for ev in step_events(&mut world) {
            feed(&mut engine, &mut world, &mut j, ev)?;
        }
    }
    j.j.flush()
}

/// The recorder's witness of the effect loop: every event journaled before the engine applies
/// it, the engine's log after it, every intent before the simulated actuator acts.
struct Journaled {
    j: Journal,
}

impl Journaled {
    /// A checkpoint of the engine's state when the journal says one is due.
    fn checkpoint_if_due(&mut self, engine: &Engine) -> std::io::Result<()> {
        if !self.j.checkpoint_due(engine.time()) {
            return Ok(());
        }
        let after = self.j.last_event();
        match crate::journal::encode_state(engine, self.j.dir()) {
            Ok(s) => self.j.checkpoint(after, s),
            Err(e) => {
                self.j.checkpoint_failed();
                Err(std::io::Error::other(e))
            }
        }
    }
}

impl Witness for Journaled {
    type Error = std::io::Error;
    fn event(&mut self, ev: &Event) -> std::io::Result<()> {
        self.j.event(ev)
    }
    fn applied(&mut self, engine: &Engine) -> std::io::Result<()> {
        self.j.log_new(engine)
    }
    fn intent(&mut self, x: &Execution) -> std::io::Result<()> {
        self.j.intent(x, "simulated fleet")
    }
}
