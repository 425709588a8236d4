//! The terminal UI: state, drawing, keymaps, themes and the event loop.
//!
//! The UI renders the engine's [`Snapshot`] plus its own [`state::Ui`]; keys map to
//! [`keymap::Action`]s through the keymap. It never awaits the network: it redraws when
//! something changed (a key, a new snapshot, the clock's second), capped in frequency.

pub mod dialog;
pub mod keymap;
pub mod lists;
pub mod state;
pub mod terminal;
pub mod theme;
pub mod views;
pub mod widgets;

use crate::domain::Playback;
use crate::engine::{Event, Snapshot, SourceState};
use crate::sources::sim::SPEED_RANGE;
use crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEventKind, KeyModifiers, MouseEventKind,
};
use futures::StreamExt;
use keymap::{Action, Keymap};
use state::{Out, Ui};
use std::sync::Arc;
use std::time::Duration;
use theme::Theme;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a status-line message stays.
const FLASH_FOR: Duration = Duration::from_secs(5);

/// Speeds offered by speed up / down.
const SPEEDS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// The next speed up or down from `now`.
pub(crate) fn next_speed(now: f64, up: bool) -> f64 {
    let next = if up {
        SPEEDS
            .iter()
            .copied()
            .find(|s| *s > now + 1e-9)
            .unwrap_or(SPEED_RANGE.1)
    } else {
        SPEEDS
            .iter()
            .rev()
            .copied()
            .find(|s| *s < now - 1e-9)
            .unwrap_or(SPEED_RANGE.0)
    };
    next.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
}

/// What the event loop talks to.
pub struct Channels {
    /// Snapshots from the engine.
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// The model the UI shows in detail.
    pub focus: watch::Sender<Option<String>>,
    /// Operator commands to the engine.
    pub commands: mpsc::Sender<Event>,
    /// The clock of what is shown — the simulator's, a past window's, a recording's player —
    /// when it can be controlled.
    pub playback: Option<mpsc::Sender<Playback>>,
}

/// The newest notice in `now` that `before` did not have (as many times): notices come from
/// several places (the engine, each agent's link, the console), so a new one is not always last.
fn newest_unseen<'a>(now: &'a [String], before: &[String]) -> Option<&'a String> {
    let count = |v: &[String], t: &String| v.iter().filter(|x| *x == t).count();
    now.iter()
        .enumerate()
        .rev()
        .find(|(i, t)| count(&now[..=*i], t) > count(before, t))
        .map(|(_, t)| t)
}

/// Send a playback control to the clock of what is shown, when it can be controlled.
fn play(ch: &Channels, p: Playback) {
    if let Some(tx) = &ch.playback {
        let _ = tx.try_send(p);
    }
}

/// What job control asks of the console.
enum Job {
    /// SIGTSTP: suspend.
    Stop,
    /// SIGCONT: continued after a stop someone else made (SIGSTOP): take the terminal back.
    Continued,
}

/// SIGTSTP and SIGCONT, when they can be listened to (never on other platforms).
struct JobSignals {
    #[cfg(unix)]
    tstp: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    cont: Option<tokio::signal::unix::Signal>,
}

impl JobSignals {
    fn new() -> JobSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            JobSignals {
                tstp: signal(SignalKind::from_raw(nix::libc::SIGTSTP)).ok(),
                cont: signal(SignalKind::from_raw(nix::libc::SIGCONT)).ok(),
            }
        }
        #[cfg(not(unix))]
        JobSignals {}
    }

    async fn next(&mut self) -> Job {
        #[cfg(unix)]
        {
            async fn one(s: &mut Option<tokio::signal::unix::Signal>) {
                let got = match s {
                    Some(s) => s.recv().await.is_some(),
                    None => false,
                };
                if !got {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                _ = one(&mut self.tstp) => Job::Stop,
                _ = one(&mut self.cont) => Job::Continued,
            }
        }
        #[cfg(not(unix))]
        std::future::pending().await
    }
}

#[cfg(unix)]
fn suspend(term: &mut terminal::Term, mouse: bool) -> std::io::Result<()> {
    terminal::suspend(term, mouse)
}

#[cfg(not(unix))]
fn suspend(_term: &mut terminal::Term, _mouse: bool) -> std::io::Result<()> {
    Ok(())
}

/// Run the UI until quit or cancellation.
pub async fn run(
    term: &mut terminal::Term,
    ui: &mut Ui,
    theme: &Theme,
    keymap: &Keymap,
    mut ch: Channels,
    cancel: CancellationToken,
    refresh_hz: f64,
) -> anyhow::Result<()> {
    let mut events = EventStream::new();
    let min_data_frame = Duration::from_secs_f64(1.0 / refresh_hz.clamp(0.2, 60.0));
    let mut dirty = true;
    let mut data_dirty = false;
    let mut last_frame = Instant::now() - min_data_frame;
    let mut flash_at: Option<(String, Instant)> = None;
    let mut last_second = i64::MIN;
    let mut last_focus: Option<String> = None;
    let mut notices_shown: Arc<Vec<String>> = Arc::default();
    let mut job = JobSignals::new();
    loop {
        let snap = ch.snapshots.borrow().clone();
        ui.clock = snap.t;
        // attached to an agent: decisions are journaled in the name the agent knows you by
        if let Some(you) = snap.links.iter().find_map(|l| l.you.as_ref())
            && ui.user != *you
        {
            ui.user = you.clone();
        }
        // problems with the console itself (an unwritable data dir…) are said at once
        if !Arc::ptr_eq(&snap.notices, &notices_shown) {
            if let Some(new) = newest_unseen(&snap.notices, &notices_shown) {
                ui.flash = Some(new.clone());
            }
            notices_shown = snap.notices.clone();
        }
        // flash expiry
        match (&ui.flash, &flash_at) {
            (Some(m), Some((old, _))) if m == old => {}
            (Some(m), _) => flash_at = Some((m.clone(), Instant::now())),
            (None, _) => flash_at = None,
        }
        if let Some((_, at)) = &flash_at
            && at.elapsed() >= FLASH_FOR
        {
            ui.flash = None;
            flash_at = None;
            dirty = true;
        }
        let sec = snap.t.floor() as i64;
        if sec != last_second {
            last_second = sec;
            data_dirty = true;
        }
        let now = Instant::now();
        if dirty || (data_dirty && now.duration_since(last_frame) >= min_data_frame) {
            let ctx = views::Ctx {
                snap: &snap,
                theme,
                keymap,
            };
            term.draw(|f| views::draw(f, ui, &ctx))?;
            last_frame = Instant::now();
            dirty = false;
            data_dirty = false;
            if ui.selected != last_focus {
                last_focus = ui.selected.clone();
                let _ = ch.focus.send(last_focus.clone());
            }
        }
        let wake = if data_dirty {
            last_frame + min_data_frame
        } else {
            Instant::now() + Duration::from_millis(500)
        };
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            j = job.next() => {
                match j {
                    Job::Stop => suspend(term, ui.mouse)?,
                    Job::Continued => terminal::reenter(term, ui.mouse)?,
                }
                dirty = true;
            }
            ev = events.next() => {
                let Some(ev) = ev else { return Ok(()) };
                let ev = ev?;
                if let TermEvent::Key(k) = &ev
                    && k.kind != KeyEventKind::Release
                    && k.code == KeyCode::Char('z')
                    && k.modifiers.contains(KeyModifiers::CONTROL)
                {
                    // ctrl-z in raw mode is a key, not a signal: suspend as the tty would
                    suspend(term, ui.mouse)?;
                    dirty = true;
                    continue;
                }
                let outs = handle_term_event(ui, keymap, &snap, ev);
                dirty = true;
                for o in outs {
                    match o {
                        Out::Quit => return Ok(()),
                        Out::Redraw => terminal::full_redraw(term)?,
                        Out::SetMouse(on) => { let _ = terminal::set_mouse(on); }
                        Out::Command(command) => {
                            let ev = Event::Command { t: snap.t, user: ui.user.clone(), command, id: None };
                            if ch.commands.try_send(ev).is_err() {
                                ui.flash = Some("engine busy: command not sent, try again".into());
                            }
                        }
                        Out::Speed(f) => {
                            let s = next_speed(snap.source.speed, f > 1.0);
                            play(&ch, Playback::Speed(s));
                            ui.flash = Some(format!("speed ×{s}"));
                        }
                        Out::TogglePause => {
                            let paused = matches!(snap.source.state, SourceState::Paused);
                            play(&ch, Playback::Pause(!paused));
                        }
                        Out::Step(fwd) => play(&ch, Playback::Step(fwd)),
                        Out::Mark(next) => play(&ch, Playback::Mark(next)),
                        Out::Seek(t) => play(&ch, Playback::Seek(t)),
                    }
                }
            }
            r = ch.snapshots.changed() => {
                if r.is_err() {
                    return Ok(());
                }
                data_dirty = true;
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Turn a terminal event into UI changes.
pub(crate) fn handle_term_event(
    ui: &mut Ui,
    keymap: &Keymap,
    snap: &Snapshot,
    ev: TermEvent,
) -> Vec<Out> {
    match ev {
        TermEvent::Key(k) => {
            if k.kind == KeyEventKind::Release {
                return vec![];
            }
            if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
                return vec![Out::Quit];
            }
            if let Some(outs) = ui.on_key_text(&k, snap) {
                return outs;
            }
            match keymap.action_for(&k) {
                Some(a) => ui.on_action(a, snap),
                None => vec![],
            }
        }
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollDown => ui.on_action(Action::Down, snap),
            MouseEventKind::ScrollUp => ui.on_action(Action::Up, snap),
            _ => vec![],
        },
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::newest_unseen;

    #[test]
    fn the_notice_flashed_is_the_new_one_wherever_it_is() {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // a link's new notice arrives before the console's older one
        let before = v(&["a: one", "console: x"]);
        let now = v(&["a: one", "a: two", "console: x"]);
        assert_eq!(
            newest_unseen(&now, &before).map(String::as_str),
            Some("a: two")
        );
        // the same words said again are new again
        let now2 = v(&["a: one", "a: two", "console: x", "console: x"]);
        assert_eq!(
            newest_unseen(&now2, &now).map(String::as_str),
            Some("console: x")
        );
        // the oldest dropped, nothing new: nothing to flash
        assert_eq!(newest_unseen(&v(&["console: x"]), &before), None);
    }
}
