//! The agent's side of the stream. The engine task pushes every event its engine applies, in
//! order; each is encoded once into a frame shared by every attached console. A console that
//! joins gets a base (the engine's state, encoded off the engine's thread when one is asked
//! for) and the frames since, then the live frames. Nothing here waits for a console: a
//! console that falls behind by more than the channel holds is dropped and resyncs.
//!
//! With nobody attached nothing is encoded (only the observation table is kept current), and
//! the frames kept after a base are bounded: past [`MAX_SINCE_BYTES`] the base is forgotten
//! and the next console to join asks for a new one.

use super::wire::{Encoder, ObsTable};
use crate::engine::Event;
use std::sync::Mutex;
use tokio::sync::{Notify, broadcast};

/// A frame as sent, shared (reference-counted: a clone is not a copy).
pub type Bytes = axum::body::Bytes;

/// Frames kept after a base at most, bytes.
pub const MAX_SINCE_BYTES: usize = 32 << 20;
/// Live frames a console may be behind before it is dropped.
pub const LAG_FRAMES: usize = 4096;

#[derive(Debug)]
struct Inner {
    enc: Encoder,
    /// Events pushed.
    events: u64,
    base: Option<Bytes>,
    since: Vec<Bytes>,
    since_bytes: usize,
    /// A base being encoded: the events it follows and the table then, and the frames since.
    pending: Option<(u64, ObsTable, Vec<Bytes>)>,
    wanted: bool,
    /// Why the last base could not be made.
    failed: Option<String>,
}

/// The stream's source in the agent.
#[derive(Debug)]
pub struct Feed {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Bytes>,
    ready: Notify,
}

/// What a console joining gets: the base, the frames since, and the live ones to come.
pub struct Joined {
    /// The base frame.
    pub base: Bytes,
    /// Frames after it.
    pub since: Vec<Bytes>,
    /// Frames to come.
    pub live: broadcast::Receiver<Bytes>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            inner: Mutex::new(Inner {
                enc: Encoder::default(),
                events: 0,
                base: None,
                since: Vec::new(),
                since_bytes: 0,
                pending: None,
                wanted: false,
                failed: None,
            }),
            tx: broadcast::channel(LAG_FRAMES).0,
            ready: Notify::new(),
        }
    }
}

impl Feed {
    /// An event the engine applied (the engine task, in order).
    pub fn push(&self, ev: &Event) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let i = &mut *g;
        i.events += 1;
        let listening = self.tx.receiver_count() > 0;
        if i.base.is_none() && i.pending.is_none() && !listening {
            i.enc.skip(ev);
            return;
        }
        let f = Bytes::from(i.enc.encode(ev));
        if let Some((_, _, frames)) = i.pending.as_mut() {
            frames.push(f.clone());
        } else if i.base.is_some() {
            i.since_bytes += f.len();
            i.since.push(f.clone());
            if i.since_bytes > MAX_SINCE_BYTES {
                i.base = None;
                i.since = Vec::new();
                i.since_bytes = 0;
            }
        }
        if listening {
            let _ = self.tx.send(f);
        }
    }

    /// A console is waiting for a base that nobody is making yet.
    pub fn wants_base(&self) -> bool {
        self.inner
            .lock()
            .is_ok_and(|i| i.wanted && i.pending.is_none())
    }

    /// The engine task is about to take the engine's state for a base: it follows the events
    /// pushed so far. Returns that count.
    pub fn mark(&self) -> u64 {
        let Ok(mut i) = self.inner.lock() else {
            return 0;
        };
        let at = i.events;
        let table = i.enc.table.clone();
        i.pending = Some((at, table, Vec::new()));
        i.wanted = false;
        at
    }

    /// The state taken at [`Feed::mark`], encoded (or why not). The base frame is made
    /// outside the lock (it compresses the whole state): the engine task's pushes never wait
    /// for it.
    pub fn set_base(&self, state: Result<Vec<u8>, String>) {
        let marked = self.inner.lock().ok().and_then(|i| {
            i.pending
                .as_ref()
                .map(|(at, table, _)| (*at, table.clone()))
        });
        let Some((at, table)) = marked else {
            return;
        };
        let made = state.and_then(|s| super::wire::base(at, &table, &s));
        if let Ok(mut i) = self.inner.lock()
            && i.pending.as_ref().is_some_and(|(a, _, _)| *a == at)
            && let Some((_, _, frames)) = i.pending.take()
        {
            match made {
                Ok(b) => {
                    i.since_bytes = frames.iter().map(|f| f.len()).sum();
                    i.since = frames;
                    i.base = Some(Bytes::from(b));
                    i.failed = None;
                }
                Err(e) => {
                    tracing::warn!("no base for attached consoles: {e}");
                    i.failed = Some(e);
                }
            }
        }
        self.ready.notify_waiters();
    }

    /// Join the stream: the base and what follows it, waiting up to `wait` for a base to be
    /// made when there is none.
    pub async fn join(&self, wait: std::time::Duration) -> Result<Joined, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.ready.notified();
            {
                let mut i = self.inner.lock().map_err(|_| "the feed is broken")?;
                if let Some(base) = &i.base {
                    return Ok(Joined {
                        base: base.clone(),
                        since: i.since.clone(),
                        live: self.tx.subscribe(),
                    });
                }
                if let Some(why) = i.failed.take() {
                    return Err(why);
                }
                i.wanted = true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err("the agent's engine did not make a base in time".into());
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::control::wire::{Decoder, Frame};
    use crate::sources::sim::step_events;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_console_joining_late_decodes_what_one_joining_early_does() {
        let feed = Arc::new(Feed::default());
        let mut w = crate::sim::SimWorld::new(3, 12, 1.7e9);
        // nobody listens: nothing is encoded, nothing kept
        for _ in 0..20 {
            for ev in step_events(&mut w) {
                feed.push(&ev);
            }
        }
        assert!(feed.inner.lock().unwrap().since.is_empty());
        let f2 = feed.clone();
        let early = tokio::spawn(async move { f2.join(std::time::Duration::from_secs(5)).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(feed.wants_base());
        let at = feed.mark();
        // events go on while the base is encoded
        let mut later = Vec::new();
        for _ in 0..5 {
            for ev in step_events(&mut w) {
                feed.push(&ev);
                later.push(ev);
            }
        }
        feed.set_base(Ok(b"state".to_vec()));
        let j = early.await.unwrap().unwrap();
        assert_eq!(j.since.len(), later.len());
        let mut d = Decoder::default();
        d.push(&j.base);
        let Some(Frame::Base { events, .. }) = d.frame().unwrap() else {
            panic!()
        };
        assert_eq!(events, at);
        for (f, ev) in j.since.iter().zip(&later) {
            d.push(f);
            let Some(Frame::Event(back)) = d.frame().unwrap() else {
                panic!()
            };
            assert_eq!(
                serde_json::to_string(&*back).unwrap(),
                serde_json::to_string(ev).unwrap()
            );
        }
        // a second console joins from the same base and follows the same frames
        let mut live = j.live;
        let j2 = feed.join(std::time::Duration::from_secs(1)).await.unwrap();
        assert_eq!(j2.since.len(), later.len());
        let mut d2 = Decoder::default();
        d2.push(&j2.base);
        for f in &j2.since {
            d2.push(f);
        }
        while d2.frame().unwrap().is_some() {}
        let mut live2 = j2.live;
        for ev in step_events(&mut w) {
            feed.push(&ev);
            let (a, b) = (live.recv().await.unwrap(), live2.recv().await.unwrap());
            assert_eq!(
                a.as_ptr(),
                b.as_ptr(),
                "one encoding shared by every console"
            );
            d.push(&a);
            d2.push(&b);
            let (Some(Frame::Event(x)), Some(Frame::Event(y))) =
                (d.frame().unwrap(), d2.frame().unwrap())
            else {
                panic!()
            };
            // (NaN is not equal to itself: compared as the journal writes them)
            assert_eq!(
                serde_json::to_string(&*x).unwrap(),
                serde_json::to_string(&*y).unwrap()
            );
        }
    }

    #[tokio::test]
    async fn a_base_that_cannot_be_made_is_said_and_none_waits_forever() {
        let feed = Arc::new(Feed::default());
        let f2 = feed.clone();
        let j = tokio::spawn(async move { f2.join(std::time::Duration::from_secs(5)).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        feed.mark();
        feed.set_base(Err("disk full".into()));
        assert_eq!(j.await.unwrap().err().as_deref(), Some("disk full"));
        let none = feed.join(std::time::Duration::from_millis(100)).await;
        assert!(none.err().unwrap().contains("in time"));
    }
}
