//! Fixed-capacity rings of values in copy-on-write chunks (a clone, such as a checkpoint's,
//! shares them).

use crate::chunked::{Chunked, Value};

/// A fixed-capacity ring of values, stored in copy-on-write chunks ([`Chunked`]): a clone
/// (a checkpoint) shares them, and a ring holds memory only for the values pushed so far.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RingOf<T: Value> {
    #[serde(bound(deserialize = "T: Fill + serde::Deserialize<'de>"))]
    #[serde(deserialize_with = "deserialize_fill")]
    buf: Chunked<T>,
    head: usize,
    len: usize,
}

/// A ring of `f32` values (NaN where never written).
pub type Ring = RingOf<f32>;

/// The value a ring's slots hold before they are written.
pub trait Fill: Value {
    /// The fill value.
    const FILL: Self;
}

impl Fill for f32 {
    const FILL: f32 = f32::NAN;
}

impl Fill for f64 {
    const FILL: f64 = 0.0;
}

impl Fill for i32 {
    const FILL: i32 = 0;
}

impl Fill for half::bf16 {
    const FILL: half::bf16 = half::bf16::NAN;
}

fn deserialize_fill<'de, D, T>(d: D) -> Result<Chunked<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Fill + serde::Deserialize<'de>,
{
    crate::chunked::deserialize_with_fill(d, T::FILL)
}

impl<T: Fill> RingOf<T> {
    /// An empty ring holding at most `cap` values (`cap` ≥ 1).
    pub fn new(cap: usize) -> Self {
        RingOf {
            buf: Chunked::new(cap.max(1), T::FILL),
            head: 0,
            len: 0,
        }
    }

    /// Make its head point past its buffer (as a damaged checkpoint could).
    #[cfg(test)]
    pub(super) fn break_for_test(&mut self) {
        self.head = usize::MAX;
    }

    /// True when its head and length fit its buffer (a ring read back from a checkpoint).
    pub(super) fn consistent(&self) -> bool {
        !self.buf.is_empty() && self.head < self.buf.len() && self.len <= self.buf.len()
    }

    /// Append a value, dropping the oldest when full.
    pub fn push(&mut self, v: T) {
        let cap = self.buf.len();
        self.buf.set(self.head, v);
        self.head = (self.head + 1) % cap;
        self.len = (self.len + 1).min(cap);
    }

    /// Number of values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been pushed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Capacity.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Heap bytes held (see [`Chunked::heap_bytes`]).
    pub fn heap_bytes(&self) -> usize {
        self.buf.heap_bytes()
    }

    /// The `i`-th oldest value held.
    pub fn get(&self, i: usize) -> Option<T> {
        if i >= self.len {
            return None;
        }
        let cap = self.buf.len();
        let start = (self.head + cap - self.len) % cap;
        Some(self.buf.get((start + i) % cap))
    }

    /// The most recent value.
    pub fn last(&self) -> Option<T> {
        if self.len == 0 {
            None
        } else {
            self.get(self.len - 1)
        }
    }

    /// Iterate from oldest to newest over the last `n` values (or all, when fewer).
    pub fn tail(&self, n: usize) -> impl Iterator<Item = T> + '_ {
        let n = n.min(self.len);
        self.iter_from(self.len - n)
    }

    /// The values held from the `i`-th oldest on, oldest first (the two contiguous parts of
    /// the ring: no wrapping arithmetic per value).
    pub(super) fn iter_from(&self, i: usize) -> impl Iterator<Item = T> + '_ {
        let cap = self.buf.len();
        let start = (self.head + cap - self.len) % cap;
        // the held values are [start, start + len) modulo cap: a first part up to the end of
        // the buffer, then the rest from its beginning
        let first = self.len.min(cap - start);
        let second = self.len - first;
        let (a_from, b_from) = if i <= first {
            (start + i, 0)
        } else {
            (cap, (i - first).min(second))
        };
        self.buf
            .range(a_from, (start + first).saturating_sub(a_from))
            .chain(self.buf.range(b_from, second - b_from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_and_keeps_order() {
        let mut r = Ring::new(3);
        for v in 1..=5 {
            r.push(v as f32);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.tail(10).collect::<Vec<_>>(), vec![3.0, 4.0, 5.0]);
        assert_eq!(r.last(), Some(5.0));
        assert_eq!(r.get(3), None);
    }

    #[test]
    fn ring_iteration_from_any_start_matches_indexing() {
        for cap in [1, 3, 7] {
            let mut r = Ring::new(cap);
            let mut t = RingOf::<f64>::new(cap);
            for v in 0..20 {
                for i in 0..=r.len() + 1 {
                    let by_index: Vec<f32> = (i..r.len()).filter_map(|k| r.get(k)).collect();
                    assert_eq!(
                        r.iter_from(i).collect::<Vec<_>>(),
                        by_index,
                        "cap {cap} at {i}"
                    );
                    let by_index: Vec<f64> = (i..t.len()).filter_map(|k| t.get(k)).collect();
                    assert_eq!(
                        t.iter_from(i).collect::<Vec<_>>(),
                        by_index,
                        "cap {cap} at {i}"
                    );
                }
                r.push(v as f32);
                t.push(f64::from(v));
            }
        }
    }
}
