//! The stream's frames and the command request and reply, as they travel.
//!
//! A frame is a little-endian `u32` length (of what follows), a kind byte and its payload:
//!
//! | kind | payload |
//! |------|---------|
//! | 1 hello | JSON [`Hello`]: protocol, pitcrew version, source, the engine's settings |
//! | 2 base  | `u64` events it follows · `u32` rows · rows × 6 `u32` observation table · zstd of the engine's state |
//! | 3 event | a flag byte (0 plain, 1 zstd) and the event as JSON (as the journal writes it) |
//! | 4 obs   | `f64` time · zstd of: `u32` count, a flag (1: the models are 0..count in order), the model indices (flag 0), then each value's bits XOR the model's previous ones, signal by signal, as four byte planes |
//! | 5 beat  | nothing: the agent is alive and has nothing new |
//!
//! Observations are most of the stream: XOR with the previous value of the same model and
//! signal turns what did not change into zeros and what changed a little into leading zeros,
//! which zstd packs best with the values laid out signal by signal in byte planes (a 1,000-model
//! simulated fleet: about 3 KB/s on the wire, against 15 KB/s as the journal's JSON). The table
//! each side keeps is the same because both see every frame in order from a base, which carries
//! the table as it was.

use crate::domain::Signal;
use crate::engine::{Command, Event};
use crate::fleet::Sample;
use crate::journal::Settings;
use serde::{Deserialize, Serialize};

/// Version of this protocol; an attached console refuses another.
pub const PROTOCOL: u32 = 1;

/// Largest frame a console accepts, bytes (a base of 10,000 models is about 400 MB).
pub const MAX_FRAME: usize = 2 << 30;
/// Largest engine state a base may inflate to (as a journal's checkpoint).
pub const MAX_STATE: u64 = crate::journal::MAX_CHECKPOINT_BYTES;
/// Largest event or observation frame, inflated.
pub const MAX_EVENT: usize = 64 << 20;

const HELLO: u8 = 1;
const BASE: u8 = 2;
const EVENT: u8 = 3;
const OBS: u8 = 4;
const BEAT: u8 = 5;

/// Values per model in the observation table.
const W: usize = Signal::COUNT;

/// The first frame: who the agent is and how its engine is set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL`].
    pub protocol: u32,
    /// The agent's pitcrew version: an attached console re-runs the agent's engine, so it
    /// must be the same.
    pub pitcrew: String,
    /// The agent's data source, in a few words.
    pub source: String,
    /// The engine's settings.
    pub settings: Settings,
    /// Who the agent says the caller is.
    pub you: String,
    /// The caller's verbs.
    pub verbs: Vec<super::Verb>,
}

/// A decoded frame.
#[derive(Debug)]
pub enum Frame {
    /// [`Hello`].
    Hello(Box<Hello>),
    /// The engine's state after `events` events, and the observation table then.
    Base {
        /// Events the state follows.
        events: u64,
        /// The table.
        table: ObsTable,
        /// The engine's state ([`crate::engine::Engine::restore`]).
        state: Vec<u8>,
    },
    /// An event the agent's engine applied.
    Event(Box<Event>),
    /// Nothing new.
    Beat,
}

/// The last value bits of each model and signal, as both ends of a stream know them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObsTable {
    rows: Vec<[u32; W]>,
}

impl ObsTable {
    fn row(&mut self, i: u32) -> &mut [u32; W] {
        let i = i as usize;
        if self.rows.len() <= i {
            self.rows.resize(i + 1, [0; W]);
        }
        &mut self.rows[i]
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// No rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.extend_from_slice(&((payload.len() + 1) as u32).to_le_bytes());
    out.push(kind);
    out.extend_from_slice(payload);
    out
}

/// The hello frame.
pub fn hello(h: &Hello) -> Vec<u8> {
    frame(HELLO, &serde_json::to_vec(h).unwrap_or_default())
}

/// The beat frame.
pub fn beat() -> Vec<u8> {
    frame(BEAT, &[])
}

/// A base frame from the engine's state bytes.
pub fn base(events: u64, table: &ObsTable, state: &[u8]) -> Result<Vec<u8>, String> {
    let packed = zstd::bulk::compress(state, 1).map_err(|e| format!("engine state: {e}"))?;
    let mut p = Vec::with_capacity(12 + table.rows.len() * W * 4 + packed.len());
    p.extend_from_slice(&events.to_le_bytes());
    p.extend_from_slice(&(table.rows.len() as u32).to_le_bytes());
    for r in &table.rows {
        for v in r {
            p.extend_from_slice(&v.to_le_bytes());
        }
    }
    p.extend_from_slice(&packed);
    if p.len() + 1 > MAX_FRAME {
        return Err(format!(
            "engine state of {} bytes is past the stream's frame bound",
            p.len()
        ));
    }
    Ok(frame(BASE, &p))
}

/// Encodes events into frames, keeping the observation table.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    /// The table as the frames so far leave it.
    pub table: ObsTable,
}

impl Encoder {
    /// Keep the table current without making a frame (nobody is listening).
    pub fn skip(&mut self, ev: &Event) {
        if let Event::Observations { samples, .. } = ev {
            for (i, s) in samples {
                *self.table.row(*i) = s.values.map(f32::to_bits);
            }
        }
    }

    /// The frame of an event.
    pub fn encode(&mut self, ev: &Event) -> Vec<u8> {
        match ev {
            Event::Observations { t, samples } => {
                let n = samples.len();
                // the count; whether the models are 0..n in order (then their indices are
                // not sent); the indices otherwise; then the XORs signal by signal (every
                // model's first signal, then the second …), as four byte planes, high bytes
                // first: what did not change is long runs of zeros, which zstd packs
                let in_order = samples
                    .iter()
                    .enumerate()
                    .all(|(j, (i, _))| *i as usize == j);
                let mut raw = Vec::with_capacity(5 + n * 4 * (W + 1));
                raw.extend_from_slice(&(n as u32).to_le_bytes());
                raw.push(u8::from(in_order));
                if !in_order {
                    for (i, _) in samples {
                        raw.extend_from_slice(&i.to_le_bytes());
                    }
                }
                let mut xors = vec![0u32; n * W];
                for (j, (i, s)) in samples.iter().enumerate() {
                    let row = self.table.row(*i);
                    for (k, v) in s.values.iter().enumerate() {
                        let bits = v.to_bits();
                        xors[k * n + j] = bits ^ row[k];
                        row[k] = bits;
                    }
                }
                for plane in 0..4 {
                    raw.extend(xors.iter().map(|x| x.to_be_bytes()[plane]));
                }
                let packed = zstd::bulk::compress(&raw, 3).unwrap_or_default();
                let mut p = Vec::with_capacity(8 + packed.len());
                p.extend_from_slice(&t.to_le_bytes());
                p.extend_from_slice(&packed);
                frame(OBS, &p)
            }
            other => {
                let json = serde_json::to_vec(other).unwrap_or_default();
                let mut p = Vec::with_capacity(json.len() / 2 + 1);
                if json.len() > 256 {
                    p.push(1);
                    p.extend_from_slice(&zstd::bulk::compress(&json, 3).unwrap_or_default());
                } else {
                    p.push(0);
                    p.extend_from_slice(&json);
                }
                frame(EVENT, &p)
            }
        }
    }
}

/// Splits a byte stream into frames and decodes them, keeping the observation table.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    start: usize,
    table: ObsTable,
}

fn le_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(..4)?.try_into().ok()?))
}

fn inflate(data: &[u8], bound: usize) -> Result<Vec<u8>, String> {
    let declared = zstd::zstd_safe::get_frame_content_size(data)
        .ok()
        .flatten()
        .ok_or("a compressed part without its length")?;
    if declared > bound as u64 {
        return Err(format!(
            "a compressed part inflates to {declared} bytes, past the bound of {bound}"
        ));
    }
    let out = zstd::bulk::decompress(data, declared as usize).map_err(|e| e.to_string())?;
    if out.len() as u64 != declared {
        return Err("a compressed part shorter than it says".into());
    }
    Ok(out)
}

impl Decoder {
    /// Bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > (1 << 20) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, `Ok(None)` until one has arrived; an error is the stream's end
    /// (a frame too large or not one pitcrew writes).
    pub fn frame(&mut self) -> Result<Option<Frame>, String> {
        let rest = &self.buf[self.start..];
        let Some(len) = le_u32(rest) else {
            return Ok(None);
        };
        let len = len as usize;
        if len == 0 || len > MAX_FRAME {
            return Err(format!("a frame of {len} bytes: not a pitcrew stream"));
        }
        if rest.len() < 4 + len {
            return Ok(None);
        }
        let body = rest[4..4 + len].to_vec();
        self.start += 4 + len;
        self.decode(body[0], &body[1..]).map(Some)
    }

    fn decode(&mut self, kind: u8, p: &[u8]) -> Result<Frame, String> {
        match kind {
            HELLO => serde_json::from_slice(p)
                .map(|h| Frame::Hello(Box::new(h)))
                .map_err(|e| format!("hello: {e}")),
            BEAT => Ok(Frame::Beat),
            BASE => {
                let events = u64::from_le_bytes(
                    p.get(..8)
                        .and_then(|b| b.try_into().ok())
                        .ok_or("base: short")?,
                );
                let rows = le_u32(&p[8..]).ok_or("base: short")? as usize;
                let end = 12usize
                    .checked_add(rows.checked_mul(W * 4).ok_or("base: too many rows")?)
                    .ok_or("base: too many rows")?;
                let table_bytes = p.get(12..end).ok_or("base: shorter than its table")?;
                let mut table = ObsTable {
                    rows: Vec::with_capacity(rows),
                };
                for r in table_bytes.chunks_exact(W * 4) {
                    let mut row = [0u32; W];
                    for (k, v) in r.chunks_exact(4).enumerate() {
                        row[k] = le_u32(v).unwrap_or(0);
                    }
                    table.rows.push(row);
                }
                let bound = usize::try_from(MAX_STATE).unwrap_or(usize::MAX);
                let state = inflate(&p[end..], bound).map_err(|e| format!("base: {e}"))?;
                self.table = table.clone();
                Ok(Frame::Base {
                    events,
                    table,
                    state,
                })
            }
            EVENT => {
                let (&flag, json) = p.split_first().ok_or("event: empty")?;
                let json = match flag {
                    0 => json.to_vec(),
                    1 => inflate(json, MAX_EVENT).map_err(|e| format!("event: {e}"))?,
                    f => return Err(format!("event: unknown flag {f}")),
                };
                let ev: Event = serde_json::from_slice(&json).map_err(|e| format!("event: {e}"))?;
                if matches!(ev, Event::Observations { .. }) {
                    // observations come as obs frames only: the table must see them
                    return Err("event: observations outside an obs frame".into());
                }
                Ok(Frame::Event(Box::new(ev)))
            }
            OBS => {
                let t = f64::from_le_bytes(
                    p.get(..8)
                        .and_then(|b| b.try_into().ok())
                        .ok_or("obs: short")?,
                );
                let raw = inflate(&p[8..], MAX_EVENT).map_err(|e| format!("obs: {e}"))?;
                let n = le_u32(&raw).ok_or("obs: short")? as usize;
                let in_order = *raw.get(4).ok_or("obs: short")? == 1;
                let idx_bytes = if in_order {
                    0
                } else {
                    n.checked_mul(4).ok_or("obs: too many samples")?
                };
                let need = n
                    .checked_mul(4 * W)
                    .and_then(|b| b.checked_add(5 + idx_bytes))
                    .ok_or("obs: too many samples")?;
                if raw.len() != need {
                    return Err(format!("obs: {} bytes for {n} samples", raw.len()));
                }
                let (idx, planes) = raw[5..].split_at(idx_bytes);
                let m = n * W;
                let mut samples = Vec::with_capacity(n);
                for j in 0..n {
                    let i = if in_order {
                        j as u32
                    } else {
                        le_u32(&idx[4 * j..]).unwrap_or(0)
                    };
                    if i as usize > 10_000_000 {
                        return Err(format!("obs: model index {i}"));
                    }
                    let row = self.table.row(i);
                    let mut values = [0f32; W];
                    for (k, v) in values.iter_mut().enumerate() {
                        let at = k * n + j;
                        let x = u32::from_be_bytes([
                            planes[at],
                            planes[m + at],
                            planes[2 * m + at],
                            planes[3 * m + at],
                        ]);
                        row[k] ^= x;
                        *v = f32::from_bits(row[k]);
                    }
                    samples.push((i, Sample { values }));
                }
                Ok(Frame::Event(Box::new(Event::Observations { t, samples })))
            }
            k => Err(format!("a frame of unknown kind {k}")),
        }
    }
}

/// A command as a console sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// Chosen by the console, unique: a retry with the same id is applied once.
    pub id: String,
    /// What.
    pub command: Command,
}

/// The agent's answer to a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandReply {
    /// The id it answers.
    pub id: String,
    /// What the engine said of it (e.g. "approved by alice", or who had already decided).
    pub said: Vec<String>,
    /// An earlier request with this id was applied; this one changed nothing.
    pub repeated: bool,
}

/// Largest command request body, bytes.
pub const MAX_COMMAND_BYTES: usize = 16 << 10;

/// A command request from its body: bounded, well-formed, with an id of at most 128 printable
/// characters.
pub fn parse_command(body: &[u8]) -> Result<CommandRequest, String> {
    if body.len() > MAX_COMMAND_BYTES {
        return Err(format!(
            "request of {} bytes, past the bound of {MAX_COMMAND_BYTES}",
            body.len()
        ));
    }
    let r: CommandRequest =
        serde_json::from_slice(body).map_err(|e| format!("not a command: {e}"))?;
    if r.id.is_empty() || r.id.len() > 128 || r.id.chars().any(|c| c.is_control()) {
        return Err("the command id must be 1 to 128 printable characters".into());
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sources::sim::step_events;

    #[test]
    fn every_event_of_a_simulated_hour_comes_back_bit_for_bit() {
        let mut w = crate::sim::SimWorld::new(7, 40, 1.7e9);
        w.inject(3, crate::domain::IncidentKind::LatencySpike);
        let mut enc = Encoder::default();
        let mut dec = Decoder::default();
        let mut n = 0;
        for step in 0..720 {
            for ev in step_events(&mut w) {
                let f = enc.encode(&ev);
                // delivered in pieces, as a network does
                let (a, b) = f.split_at(f.len() / 3);
                dec.push(a);
                assert!(dec.frame().unwrap().is_none());
                dec.push(b);
                let Some(Frame::Event(back)) = dec.frame().unwrap() else {
                    panic!("no event at step {step}")
                };
                assert_eq!(
                    serde_json::to_string(&*back).unwrap(),
                    serde_json::to_string(&ev).unwrap()
                );
                if let (
                    Event::Observations { samples: a, .. },
                    Event::Observations { samples: b, .. },
                ) = (&*back, &ev)
                {
                    for ((_, x), (_, y)) in a.iter().zip(b) {
                        assert_eq!(x.values.map(f32::to_bits), y.values.map(f32::to_bits));
                    }
                }
                n += 1;
            }
        }
        assert!(n > 720);
        // some models, out of order (a source that answered for part of the fleet)
        let part = Event::Observations {
            t: 1.7e9 + 1.0,
            samples: vec![
                (
                    5,
                    Sample {
                        values: [1.5, f32::NAN, 0.25, 0.9, 0.5, 3.0],
                    },
                ),
                (
                    2,
                    Sample {
                        values: [2.5, 40.0, 0.0, f32::NAN, 0.1, 2.0],
                    },
                ),
            ],
        };
        dec.push(&enc.encode(&part));
        let Some(Frame::Event(back)) = dec.frame().unwrap() else {
            panic!("no partial observations")
        };
        assert_eq!(
            serde_json::to_string(&*back).unwrap(),
            serde_json::to_string(&part).unwrap()
        );
        // a console joining later starts from a base that carries the table
        let state = vec![7u8; 10_000];
        let mut late = Decoder::default();
        late.push(&base(n, &enc.table, &state).unwrap());
        let Some(Frame::Base {
            events,
            state: s,
            table,
        }) = late.frame().unwrap()
        else {
            panic!("no base")
        };
        assert_eq!((events, s, table.len()), (n, state, 40));
        for ev in step_events(&mut w) {
            late.push(&enc.encode(&ev));
            let Some(Frame::Event(back)) = late.frame().unwrap() else {
                panic!()
            };
            assert_eq!(
                serde_json::to_string(&*back).unwrap(),
                serde_json::to_string(&ev).unwrap()
            );
        }
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let mut enc = Encoder::default();
        let mut w = crate::sim::SimWorld::new(1, 5, 1.7e9);
        let good = enc.encode(&step_events(&mut w)[0]);
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 0, 0],
            vec![255, 255, 255, 255, 1],
            frame(9, b"x"),
            frame(HELLO, b"{"),
            frame(EVENT, &[2, 1, 2]),
            frame(OBS, &[1, 2, 3]),
            frame(BASE, &[0; 8]),
            frame(BASE, &[0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255]),
            {
                let mut g = good.clone();
                let n = g.len();
                g[n - 3] ^= 0xff;
                g
            },
        ];
        for c in cases {
            let mut d = Decoder::default();
            d.push(&c);
            // an error, or (a frame still incomplete) nothing: never a panic
            let _ = d.frame();
        }
        let mut bomb = Vec::new();
        bomb.extend_from_slice(&0f64.to_le_bytes());
        bomb.extend_from_slice(&zstd::bulk::compress(&vec![0u8; MAX_EVENT + 1], 3).unwrap());
        let mut d = Decoder::default();
        d.push(&frame(OBS, &bomb));
        assert!(d.frame().unwrap_err().contains("past the bound"));
    }

    #[test]
    fn command_requests_are_bounded_and_checked() {
        let ok = br#"{"id":"c-1","command":{"cmd":"approve","id":3}}"#;
        assert_eq!(
            parse_command(ok).unwrap().command,
            Command::Approve { id: 3 }
        );
        for bad in [
            &br#"{"id":"","command":{"cmd":"approve","id":3}}"#[..],
            br#"{"id":"x","command":{"cmd":"reboot"}}"#,
            br#"{"id":"x"}"#,
            br#"not json"#,
            br#"{"id":"x","command":{"cmd":"approve","id":3},"extra":1}"#,
        ] {
            assert!(
                parse_command(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let huge = format!(
            r#"{{"id":"x","command":{{"cmd":"note","text":"{}"}}}}"#,
            "a".repeat(MAX_COMMAND_BYTES)
        );
        assert!(
            parse_command(huge.as_bytes())
                .unwrap_err()
                .contains("bound")
        );
    }
}
