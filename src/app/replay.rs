//! Replay of a recording in the console: read-only, no source, no actuator, no network and no
//! journal; the engine re-runs the recorded events under the player's control.

use super::*;

/// journal; the engine re-runs the recorded events.
pub fn run_replay(
    file: &std::path::Path,
    speed: f64,
    theme: &str,
    keymap: &str,
    ascii: bool,
) -> anyhow::Result<()> {
    let paths = Paths::from_env();
    let (theme, keymap) = load_look(&paths, theme, keymap)?;
    let rec = Arc::new(crate::replay::Recording::open(file).map_err(|e| anyhow::anyhow!("{e}"))?);
    if rec.events.is_empty() {
        anyhow::bail!("{}: the recording holds no events", file.display());
    }
    let rt = runtime()?;
    let r = rt.block_on(replay_console(rec, speed, theme, keymap, ascii));
    rt.shutdown_timeout(STOP_BLOCKING);
    r
}

fn replay_snapshot(
    p: &crate::replay::Player,
    st: &crate::replay::PlayState,
    focus: Option<&str>,
    label: &str,
) -> Snapshot {
    let mut s = p.engine().snapshot(focus, 1000);
    let finished = p.next_time().is_none();
    s.read_only = true;
    s.actuator = None;
    s.source = crate::engine::SourceStatus {
        kind: crate::engine::SourceKind::Replay,
        label: label.to_string(),
        state: if finished {
            crate::engine::SourceState::Finished
        } else if st.playing {
            crate::engine::SourceState::Live
        } else {
            crate::engine::SourceState::Paused
        },
        speed: st.speed,
        step: SIM_STEP,
    };
    // the data age is that of the recording at the cursor, not of the wall clock
    s.t = s.t.max(st.cursor.min(p.next_time().unwrap_or(st.cursor)));
    s
}

async fn replay_console(
    rec: Arc<crate::replay::Recording>,
    speed: f64,
    theme: Theme,
    keymap: Keymap,
    ascii: bool,
) -> anyhow::Result<()> {
    use crate::domain::Playback;
    use crate::replay::{PlayState, Player};
    let mut player = Player::new(rec.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let label = format!(
        "replay {}",
        rec.path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
    );
    let mut st = PlayState {
        playing: true,
        speed,
        cursor: rec
            .events
            .get(player.origin())
            .map_or(rec.events[0].t, |e| e.t),
    };
    player.advance(&mut st, usize::MAX);
    let (snap_tx, snap_rx) = watch::channel(Arc::new(replay_snapshot(&player, &st, None, &label)));
    let (focus_tx, mut focus_rx) = watch::channel::<Option<String>>(None);
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<Playback>(64);
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Event>(16);
    let cancel = CancellationToken::new();
    spawn_signal_watch(cancel.clone());
    let problems: Vec<String> = rec.problems.clone();
    let task_cancel = cancel.clone();
    // one pass through the recording in the background takes checkpoints, so that seeking
    // anywhere is quick; until it is done, seeks re-run the events they need
    let (cps_tx, mut cps_rx) = tokio::sync::oneshot::channel();
    let scan_rec = rec.clone();
    tokio::task::spawn_blocking(move || {
        if let Ok(c) = Player::scan_checkpoints(scan_rec) {
            let _ = cps_tx.send(c);
        }
    });
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = tokio::time::Instant::now();
        let mut flash: Option<String> = None;
        let mut notices: Vec<String> = problems;
        let mut shown_problems = 0;
        loop {
            tokio::select! {
                _ = task_cancel.cancelled() => break,
                c = ctl_rx.recv() => {
                    let Some(c) = c else { break };
                    flash = player.control(c, &mut st);
                    if c == Playback::Pause(false) || matches!(c, Playback::Speed(_)) {
                        last = tokio::time::Instant::now();
                    }
                }
                // commands from the UI: the UI refuses mutating keys in a replay; anything that
                // still arrives is dropped here, never applied to the recording
                _ = cmd_rx.recv() => {}
                cps = &mut cps_rx, if !cps_rx.is_terminated() => {
                    if let Ok(c) = cps {
                        player.adopt_checkpoints(c, f64::INFINITY);
                    }
                }
                r = focus_rx.changed() => { if r.is_err() { break; } }
                _ = tick.tick() => {
                    let now = tokio::time::Instant::now();
                    if st.playing {
                        st.cursor += now.duration_since(last).as_secs_f64() * st.speed;
                        if !player.advance(&mut st, 50_000) {
                            st.playing = false;
                        }
                    }
                    last = now;
                }
            }
            // a checkpoint of the journal that could not be read is said, not hidden
            if player.problems().len() > shown_problems {
                notices.extend(player.problems()[shown_problems..].iter().cloned());
                shown_problems = player.problems().len();
            }
            let f = focus_rx.borrow().clone();
            let mut snap = replay_snapshot(&player, &st, f.as_deref(), &label);
            // messages accumulate: the console shows the newest one when the list grows
            if let Some(m) = flash.take() {
                notices.push(m);
            }
            if !notices.is_empty() {
                snap.notices = Arc::new(notices.clone());
            }
            if snap_tx.send(Arc::new(snap)).is_err() {
                break;
            }
        }
    });
    let (mut term, guard) = terminal::setup(false, theme.mode() == ColorMode::None)
        .context("cannot set up the terminal (is this a TTY?)")?;
    let mut ui = Ui::new(
        ascii,
        false,
        Capabilities::REPLAY,
        crate::operator::os_account(),
    );
    ui.flash = Some(format!(
        "replaying {} ({} events, {} marks) read-only: space play/pause, +/- speed, ./, step, n/N incidents and decisions, t seek",
        rec.path.display(),
        rec.events.len(),
        rec.marks.len()
    ));
    let channels = Channels {
        snapshots: snap_rx,
        focus: focus_tx,
        commands: cmd_tx,
        playback: Some(ctl_tx),
    };
    // Replay redraws at a fixed rate: what moves is the recording, not the fleet.
    let stop = cancel.clone();
    let result = tui::run(&mut term, &mut ui, &theme, &keymap, channels, stop, 10.0).await;
    cancel.cancel();
    drop(guard);
    let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    result
}
