//! History mode: a past window replayed in wall time — the backfill before it at once, then
//! its rows paced at the console's speed, paused and sped up by the console's controls.

use super::*;

/// Lowest and highest replay speed in history mode.
pub(crate) const HISTORY_SPEED_RANGE: (f64, f64) = (0.1, 1_000_000.0);
/// Attempts at one chunk of history before history mode gives up.
pub(super) const HISTORY_ATTEMPTS: usize = 20;

/// Replay `from .. to` (with the backfill before it) until the window ends or the engine goes
/// away.
pub(super) async fn history(src: &mut Src, from: f64, to: f64) {
    let step = src.step;
    if !(from.is_finite() && to.is_finite() && from < to) {
        let st = SourceState::Down {
            error: format!("history window {from} .. {to} is empty: give --from before --to"),
        };
        src.set_status(unix_now(), st, "").await;
        return;
    }
    let start = align_down(from - src.backfill, step);
    let from_a = align_down(from, step);
    let chunks = split_range(start, to, step, POINTS_PER_REQUEST);
    let n = chunks.len().max(1);
    let mut notes: Vec<String> = Vec::new();
    let mut live_sent = false;
    let mut clock = PacedClock::new(from_a, src.speed, HISTORY_SPEED_RANGE);
    let mut last_clock = tokio::time::Instant::now();
    for (i, (s, e)) in chunks.into_iter().enumerate() {
        let paced = e > from_a;
        if !paced
            && !src
                .set_status(
                    s,
                    SourceState::Backfilling {
                        progress: i as f64 / n as f64,
                    },
                    "",
                )
                .await
        {
            return;
        }
        // fetch, retrying through the breaker (bounded)
        let mut attempt = 0;
        let f = loop {
            match src.fetch_range(s, e).await {
                Ok(f) => break f,
                Err(err) => {
                    attempt += 1;
                    tracing::warn!("{}: {err}", src.base_label);
                    let give_up = attempt >= HISTORY_ATTEMPTS
                        || !err.is_server_fault() && !matches!(err, PromError::CircuitOpen { .. });
                    let error = if give_up {
                        format!("{err} (history stopped)")
                    } else {
                        err.to_string()
                    };
                    if !src.set_status(s, SourceState::Down { error }, "").await || give_up {
                        return;
                    }
                    let wait = src
                        .g
                        .breaker()
                        .retry_in(src.g.now())
                        .clamp(step.min(1.0), 60.0);
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
            }
        };
        for w in f.notes {
            if !notes.contains(&w) {
                tracing::warn!("{}: {w}", src.base_label);
                notes.push(w);
            }
        }
        if src.is_down() {
            let st = if paced {
                SourceState::Live
            } else {
                SourceState::Backfilling {
                    progress: i as f64 / n as f64,
                }
            };
            if !src.set_status(s, st, &notice(&notes)).await {
                return;
            }
        }
        let mut rows = f.rows.into_iter().peekable();
        // the backfill part at once
        let mut head = Vec::new();
        while let Some(r) = rows.next_if(|r| r.0 <= from_a) {
            head.push(r);
        }
        if !src.emit(head).await {
            return;
        }
        if !paced {
            continue;
        }
        if !live_sent {
            live_sent = true;
            clock = PacedClock::new(from_a, clock.speed(), HISTORY_SPEED_RANGE);
            if !src
                .set_status(from_a, SourceState::Live, &notice(&notes))
                .await
            {
                return;
            }
        }
        // the window, paced
        for row in rows {
            if !wait_until(src, &mut clock, row.0, &mut last_clock, &notice(&notes)).await {
                return;
            }
            if !src.emit(vec![row]).await {
                return;
            }
        }
    }
    // let the clock reach the end of the window, then finish
    let end = align_down(to, step);
    if !live_sent {
        clock = PacedClock::new(from_a, clock.speed(), HISTORY_SPEED_RANGE);
    }
    if !wait_until(src, &mut clock, end, &mut last_clock, &notice(&notes)).await {
        return;
    }
    if !src.send(Event::Clock { t: end }).await {
        return;
    }
    src.set_status(end, SourceState::Finished, &notice(&notes))
        .await;
}

/// Wait until the window's clock reaches `target`, applying the console's pause and speed
/// controls as they come and sending a clock event at most every wall second (so data age
/// moves between sparse rows). False when the engine went away.
pub(super) async fn wait_until(
    src: &mut Src,
    clock: &mut PacedClock,
    target: f64,
    last_clock: &mut tokio::time::Instant,
    notes: &str,
) -> bool {
    loop {
        if clock.now() >= target {
            return true;
        }
        let wait = Duration::from_secs_f64(clock.wall_until(target).min(1.0));
        let control = match src.pace.as_mut() {
            Some(rx) => tokio::select! {
                c = rx.recv() => Some(c),
                _ = tokio::time::sleep(wait) => None,
            },
            None => {
                tokio::time::sleep(wait).await;
                None
            }
        };
        match control {
            Some(Some(c)) if clock.apply(c) => {
                src.speed = clock.speed();
                let st = if clock.paused() {
                    SourceState::Paused
                } else {
                    SourceState::Live
                };
                if !src.set_status(clock.now().min(target), st, notes).await {
                    return false;
                }
            }
            Some(Some(_)) => {}
            // the console is gone: play on
            Some(None) => src.pace = None,
            None => {}
        }
        if last_clock.elapsed() >= Duration::from_secs(1) {
            *last_clock = tokio::time::Instant::now();
            if !src
                .send(Event::Clock {
                    t: clock.now().min(target),
                })
                .await
            {
                return false;
            }
        }
    }
}
