//! A fixed-length array stored in copy-on-write chunks, for the engine's large per-model arrays
//! (history rings, seasonal profiles).
//!
//! - Cloning shares every chunk: a checkpoint of the engine's state (a clone handed to another
//!   thread to encode) copies pointers, not histories.
//! - A write copies only the chunk it lands in, and only while that chunk is shared.
//! - A chunk never written holds no memory and reads as the array's fill value, so a model's
//!   memory grows with the history it really holds, up to the array's length.
//! - A chunk whose last value has just been written and that holds one value throughout, as
//!   the chunk before it (cyclically) does, shares that chunk's block: a signal that stays put
//!   for hours (replicas, an error rate of zero) holds one block, not one per sixty values.
//!
//! It serialises as the plain sequence of its values (unwritten ones as the fill), exactly as
//! a `Vec<T>` of them would, so checkpoints written before it read back unchanged.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use std::sync::Arc;

/// Values per chunk. Sixty, not sixty-four: a chunk lives in an `Arc` whose two counters take
/// 16 bytes, and 16 + 60 × 4 = 256 bytes is a size class of the allocator (mimalloc's, as most
/// allocators'), where 16 + 64 × 4 = 272 would take a 320-byte block, wasting 15 % of every
/// `f32` history (one-byte values take 76 of an 80-byte block, eight-byte ones 496 of 512).
/// The index arithmetic divides by a constant, which compiles to a multiplication.
pub(crate) const CHUNK: usize = 60;

/// A fixed-length array of `T` in copy-on-write chunks of [`CHUNK`] values.
#[derive(Clone)]
pub(crate) struct Chunked<T: Copy> {
    chunks: Box<[Option<Arc<[T; CHUNK]>>]>,
    len: usize,
    fill: T,
}

/// A value a chunked array holds: the array compares values by [`Value::same`] when it
/// decides that a write changes nothing or that two chunks hold the same values.
pub trait Value: Copy + PartialEq {
    /// The same value: for floating point the same bits (so `-0.0` is not `0.0`), any NaN
    /// being the same as any other (so that a NaN fill is recognised).
    fn same(a: Self, b: Self) -> bool {
        a == b
    }
}

impl Value for u8 {}
impl Value for i32 {}

/// Floating point: the same bits, or both NaN.
macro_rules! float_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn same(a: $t, b: $t) -> bool {
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
            }
        }
    )*};
}
float_value!(f32, f64, half::bf16);

impl<T: Value> Chunked<T> {
    /// `len` values, all `fill`, holding no chunk yet.
    pub fn new(len: usize, fill: T) -> Self {
        Chunked {
            chunks: vec![None; len.div_ceil(CHUNK)].into_boxed_slice(),
            len,
            fill,
        }
    }

    /// From values (chunks holding only the fill are left unallocated).
    pub(crate) fn from_values(values: &[T], fill: T) -> Self {
        let mut c = Self::new(values.len(), fill);
        for (k, part) in values.chunks(CHUNK).enumerate() {
            if part.iter().all(|v| T::same(*v, fill)) {
                continue;
            }
            let mut a = [fill; CHUNK];
            a[..part.len()].copy_from_slice(part);
            c.chunks[k] = Some(Arc::new(a));
        }
        c
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds no value at all (length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `i`-th value (the fill when never written). Panics when `i` is out of bounds, as
    /// slice indexing does.
    #[inline]
    pub fn get(&self, i: usize) -> T {
        assert!(i < self.len, "index {i} out of bounds of {}", self.len);
        match &self.chunks[i / CHUNK] {
            Some(c) => c[i % CHUNK],
            None => self.fill,
        }
    }

    /// Set the `i`-th value, copying its chunk first when a clone still shares it.
    #[inline]
    pub fn set(&mut self, i: usize, v: T) {
        assert!(i < self.len, "index {i} out of bounds of {}", self.len);
        let fill = self.fill;
        match &mut self.chunks[i / CHUNK] {
            Some(c) => Arc::make_mut(c)[i % CHUNK] = v,
            // writing the fill where nothing was written changes nothing: no chunk for it
            // (a signal that is never measured costs no memory)
            None if T::same(v, fill) => {}
            slot @ None => {
                let mut a = [fill; CHUNK];
                a[i % CHUNK] = v;
                *slot = Some(Arc::new(a));
            }
        }
        if i % CHUNK == CHUNK - 1 || i + 1 == self.len {
            self.share_if_constant(i / CHUNK);
        }
    }

    /// Values of chunk `k` within the array (the last chunk may be partial).
    fn chunk_len(&self, k: usize) -> usize {
        (self.len - k * CHUNK).min(CHUNK)
    }

    /// Chunk `k`, just completed, holds one value throughout: nothing when it is the fill, the
    /// block of the chunk before it when that one holds the same value over as many values.
    fn share_if_constant(&mut self, k: usize) {
        let Some(c) = &self.chunks[k] else { return };
        let v = c[0];
        if !c[..self.chunk_len(k)].iter().all(|x| T::same(*x, v)) {
            return;
        }
        if T::same(v, self.fill) {
            self.chunks[k] = None;
            return;
        }
        let prev = (k + self.chunks.len() - 1) % self.chunks.len();
        let want = self.chunk_len(k).max(self.chunk_len(prev));
        if let Some(p) = &self.chunks[prev]
            && !Arc::ptr_eq(c, p)
            && p[..want].iter().all(|x| T::same(*x, v))
        {
            self.chunks[k] = Some(Arc::clone(p));
        }
    }

    /// The values from `start` on, `n` of them (no wrapping), in order.
    pub fn range(&self, start: usize, n: usize) -> impl Iterator<Item = T> + '_ {
        let end = start.saturating_add(n).min(self.len);
        let start = start.min(end);
        // chunk by chunk: each chunk is found once, not once per value
        (start / CHUNK..end.div_ceil(CHUNK)).flat_map(move |c| {
            let lo = start.max(c * CHUNK) - c * CHUNK;
            let hi = end.min((c + 1) * CHUNK) - c * CHUNK;
            let chunk = self.chunks[c].as_deref();
            (lo..hi).map(move |k| chunk.map_or(self.fill, |a| a[k]))
        })
    }

    /// Every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.range(0, self.len)
    }

    /// Heap bytes this array holds (its chunk table and the chunks it owns or shares).
    pub fn heap_bytes(&self) -> usize {
        let chunk = std::mem::size_of::<[T; CHUNK]>() + 2 * std::mem::size_of::<usize>();
        self.chunks.len() * std::mem::size_of::<usize>()
            + self.chunks.iter().flatten().count() * chunk
    }
}

impl<T: Value> PartialEq for Chunked<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<T: Value + std::fmt::Debug> std::fmt::Debug for Chunked<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Value + Serialize> Serialize for Chunked<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Deserialise a chunked array from a plain sequence, with the given fill for values never
/// written (use through a `deserialize_with` function that names the fill).
pub(crate) fn deserialize_with_fill<'de, D, T>(d: D, fill: T) -> Result<Chunked<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Value + Deserialize<'de>,
{
    let v = Vec::<T>::deserialize(d)?;
    Ok(Chunked::from_values(&v, fill))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_shares_until_written() {
        let mut a = Chunked::new(200, f32::NAN);
        assert_eq!(a.len(), 200);
        assert!(a.get(199).is_nan());
        assert_eq!(a.heap_bytes(), 4 * 8, "no chunk before the first write");
        a.set(5, f32::NAN);
        assert_eq!(a.heap_bytes(), 4 * 8, "writing the fill allocates nothing");
        a.set(130, 1.5);
        assert_eq!(a.get(130), 1.5);
        assert_eq!(a.chunks.iter().flatten().count(), 1);
        let b = a.clone();
        assert!(Arc::ptr_eq(
            a.chunks[2].as_ref().unwrap(),
            b.chunks[2].as_ref().unwrap()
        ));
        a.set(131, 2.5);
        // the write copied the shared chunk: the clone still sees what it had
        assert!(b.get(131).is_nan());
        assert_eq!(a.get(131), 2.5);
        assert!(!Arc::ptr_eq(
            a.chunks[2].as_ref().unwrap(),
            b.chunks[2].as_ref().unwrap()
        ));
        assert_eq!(a.range(129, 4).count(), 4);
        assert_eq!(a.range(198, 10).count(), 2);
        assert_eq!(a.range(300, 10).count(), 0);
    }

    #[test]
    fn serialises_as_the_plain_sequence_and_reads_back_lazily() {
        let mut a = Chunked::new(130, 0.0f64);
        a.set(3, 7.0);
        let plain: Vec<f64> = (0..130).map(|i| if i == 3 { 7.0 } else { 0.0 }).collect();
        let mine = rmp_serde::to_vec(&a).unwrap();
        assert_eq!(mine, rmp_serde::to_vec(&plain).unwrap());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&plain).unwrap()
        );
        let mut de = rmp_serde::Deserializer::new(&mine[..]);
        let back = deserialize_with_fill(&mut de, 0.0f64).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.chunks.iter().flatten().count(), 1);
        // a NaN fill is recognised too, and -0.0 is not the fill 0.0
        let mut z = Chunked::new(70, 0.0f32);
        z.set(1, -0.0);
        assert!(z.get(1).is_sign_negative());
        let n = Chunked::from_values(&[f32::NAN; 70], f32::NAN);
        assert_eq!(n.chunks.iter().flatten().count(), 0);
    }

    #[test]
    fn chunks_that_hold_one_value_share_one_block_until_written() {
        // a ring's pattern: laps over an array of 4.5 chunks, a constant value and then a change
        let len = CHUNK * 4 + CHUNK / 2;
        let mut a = Chunked::new(len, f32::NAN);
        for lap in 0..3 {
            for i in 0..len {
                a.set(i, 2.0);
            }
            let first = a.chunks[0].clone().unwrap();
            assert!(
                a.chunks.iter().flatten().all(|c| Arc::ptr_eq(c, &first)),
                "lap {lap}: one block for every chunk"
            );
        }
        assert!(a.iter().all(|v| v == 2.0));
        // a write lands in its own copy: the other chunks keep the shared value
        a.set(CHUNK + 3, 5.0);
        assert_eq!(a.get(CHUNK + 3), 5.0);
        for i in (0..len).filter(|&i| i != CHUNK + 3) {
            assert_eq!(a.get(i), 2.0, "at {i}");
        }
        // a chunk completed with the fill throughout holds nothing
        for i in 0..CHUNK {
            a.set(i, f32::NAN);
        }
        assert!(a.chunks[0].is_none());
        assert!(a.get(0).is_nan());
        // a partial last chunk shares only a block that holds its value over its length too
        let mut b = Chunked::new(CHUNK + 10, 0u8);
        for i in 0..CHUNK + 10 {
            b.set(i, if i < CHUNK + 5 { 1 } else { 2 });
        }
        assert_eq!(b.iter().filter(|&v| v == 2).count(), 5);
        // -0.0 is not 0.0: a chunk of one does not share the other's block
        let mut z = Chunked::new(2 * CHUNK, f32::NAN);
        for i in 0..2 * CHUNK {
            z.set(i, if i < CHUNK { 0.0 } else { -0.0 });
        }
        assert!(z.get(CHUNK).is_sign_negative() && z.get(0).is_sign_positive());
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn out_of_bounds_panics_like_a_slice() {
        Chunked::new(3, 0u8).get(3);
    }
}
