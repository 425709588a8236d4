//! Context-novelty detector: which short sequences of quantised levels have never been seen.

/// Number of quantisation levels (4 bits each).
const LEVELS: i64 = 16;
/// Longest context, in samples.
const MAX_CONTEXT: usize = 4;
/// Bits in the seen-set (8 KiB).
const SET_BITS: usize = 1 << 16;

/// Remembers which contexts (the current quantised level and the one, two and three levels before
/// it) have occurred, in a bounded bit set (a one-hash Bloom filter). Quantisation is relative to
/// a slow robust baseline, `width` sigmas per level, so it is scale-free.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Novelty {
    seen: Vec<u64>,
    history: [u8; MAX_CONTEXT],
    filled: usize,
}

impl Default for Novelty {
    fn default() -> Self {
        Self::new()
    }
}

impl Novelty {
    /// An empty detector.
    pub fn new() -> Self {
        Self {
            seen: vec![0; SET_BITS / 64],
            history: [0; MAX_CONTEXT],
            filled: 0,
        }
    }

    /// Its set has the size its keys index (a detector read back from a checkpoint).
    pub(crate) fn consistent(&self) -> bool {
        self.seen.len() == SET_BITS / 64
    }

    /// Quantises a standardised value (`z`, in sigmas of a slow baseline) into a level.
    pub(crate) fn quantise(z: f64) -> u8 {
        let q = (z * 1.0).floor() as i64 + LEVELS / 2;
        q.clamp(0, LEVELS - 1) as u8
    }

    fn key(len: usize, ctx: &[u8; MAX_CONTEXT], q: u8) -> usize {
        // FNV-1a over (len, context, level).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut mix = |b: u8| {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        };
        mix(len as u8);
        for &c in &ctx[MAX_CONTEXT - len..] {
            mix(c);
        }
        mix(q);
        (h as usize ^ (h >> 32) as usize) & (SET_BITS - 1)
    }

    fn contexts(&self, q: u8) -> impl Iterator<Item = usize> + '_ {
        let avail = self.filled.min(MAX_CONTEXT - 1);
        (0..=avail).map(move |len| Self::key(len, &self.history, q))
    }

    /// How many of the contexts ending in level `q` are new (0 = all seen), weighted so that a
    /// new level alone counts most.
    pub fn evidence(&self, q: u8) -> f64 {
        let mut s = 0.0;
        for (len, k) in self.contexts(q).enumerate() {
            if self.seen[k / 64] & (1 << (k % 64)) == 0 {
                s += 1.0 / (1.0 + len as f64);
            }
        }
        s
    }

    /// Learns level `q`.
    pub(crate) fn learn(&mut self, q: u8) {
        let keys: [usize; MAX_CONTEXT] = {
            let mut ks = [usize::MAX; MAX_CONTEXT];
            for (slot, k) in ks.iter_mut().zip(self.contexts(q)) {
                *slot = k;
            }
            ks
        };
        for k in keys.into_iter().filter(|&k| k != usize::MAX) {
            self.seen[k / 64] |= 1 << (k % 64);
        }
        self.history.rotate_left(1);
        self.history[MAX_CONTEXT - 1] = q;
        self.filled = (self.filled + 1).min(MAX_CONTEXT);
    }

    /// Bytes of state.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.seen.capacity() * 8
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn repeated_pattern_becomes_familiar() {
        let mut n = Novelty::new();
        let pat = [3u8, 5, 7, 5];
        assert!(n.evidence(3) > 0.0);
        for _ in 0..10 {
            for &q in &pat {
                n.learn(q);
            }
        }
        assert_eq!(n.evidence(3), 0.0);
        assert!(n.evidence(15) >= 1.0);
    }
}
