//! A checkpoint's state: the engine encoded as MessagePack, zstd-compressed, in base64,
//! spooled to an unnamed file until the journal writes it, and decoded with bounds checked
//! before anything is inflated.

use std::io::Write;

/// The encoding of a checkpoint's state: the engine as MessagePack, zstd-compressed, in base64.
pub const CHECKPOINT_ENCODING: &str = "msgpack+zstd+base64";

/// An engine state encoded for a [`Record::Checkpoint`].
#[derive(Debug)]
pub struct EncodedState {
    /// Engine time.
    pub t: f64,
    /// Length before compression.
    pub len: u64,
    /// The encoded state's text, spooled to a file rather than held in memory (at 10,000
    /// models with a week of history it is 670 MB).
    pub text: Spool,
}

/// A checkpoint's text in an unnamed file, readable by its owner only, in the journal's own
/// directory (it is removed by the system when dropped, whatever happens): the journal copies
/// it into its record.
#[derive(Debug)]
pub struct Spool {
    file: std::fs::File,
    bytes: u64,
}

impl Spool {
    /// Spool `text` in `dir` (tests: the text is written as it is, into a JSON string).
    #[cfg(test)]
    pub(crate) fn of_text(dir: &std::path::Path, text: &str) -> std::io::Result<Spool> {
        let mut file = tempfile::tempfile_in(dir)?;
        file.write_all(text.as_bytes())?;
        Ok(Spool {
            file,
            bytes: text.len() as u64,
        })
    }

    /// Length of the text, bytes.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// True when the text is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Copy the text to `out`, all of it or an error.
    pub(crate) fn copy_to(mut self, out: &mut impl Write) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        self.file.rewind()?;
        let n = std::io::copy(&mut (&mut self.file).take(self.bytes), out)?;
        if n != self.bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "checkpoint spool holds {n} bytes, {} were written to it",
                    self.bytes
                ),
            ));
        }
        Ok(())
    }
}

/// Counts the bytes written through it to `inner`.
pub(super) struct Counted<'a, W: Write> {
    pub(super) inner: &'a mut W,
    pub(super) n: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(b)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encode an engine's state into a [`Spool`] in `dir` (the console encodes a copy on another
/// thread).
///
/// Streamed: the state is encoded twice, once to learn its length (which the frame and the
/// record carry) and once through the compressor and base64 into the spool, so that neither
/// the whole uncompressed state (a gigabyte at 10,000 models) nor its text (two thirds of
/// that) is held in memory.
pub fn encode_state(
    engine: &crate::engine::Engine,
    dir: &std::path::Path,
) -> Result<EncodedState, String> {
    let mut sink = std::io::sink();
    let mut tally = Counted {
        inner: &mut sink,
        n: 0,
    };
    engine.write_checkpoint(&mut tally)?;
    let len = tally.n;
    let fail = |e: std::io::Error| format!("engine checkpoint: {e}");
    let file = tempfile::tempfile_in(dir)
        .map_err(|e| format!("engine checkpoint: no spool file in {}: {e}", dir.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    let mut written = Counted {
        inner: &mut out,
        n: 0,
    };
    let text =
        base64::write::EncoderWriter::new(&mut written, &base64::engine::general_purpose::STANDARD);
    let mut z = zstd::stream::write::Encoder::new(text, 1).map_err(fail)?;
    // with zstd's checksum of the content: a damaged state is an error, not another state;
    // and with its length in the frame, which decoding checks against the record's
    z.include_checksum(true).map_err(fail)?;
    z.set_pledged_src_size(Some(len)).map_err(fail)?;
    z.include_contentsize(true).map_err(fail)?;
    engine.write_checkpoint(&mut z)?;
    let mut text = z.finish().map_err(fail)?;
    text.finish().map_err(fail)?;
    drop(text);
    let bytes = written.n;
    let mut file = out.into_inner().map_err(|e| fail(e.into_error()))?;
    // the spool is checked here, where a failure only costs this checkpoint: once the journal
    // has begun the record, a short spool would cost the journal
    use std::io::Seek;
    file.rewind().map_err(fail)?;
    let held = file.metadata().map_err(fail)?.len();
    if held != bytes {
        return Err(format!(
            "engine checkpoint: its spool holds {held} bytes, {bytes} were written to it"
        ));
    }
    Ok(EncodedState {
        t: engine.time(),
        len,
        text: Spool { file, bytes },
    })
}

/// The most a checkpoint may inflate to, bytes (the state of 10,000 models is about 1.1 GB).
pub(crate) const MAX_CHECKPOINT_BYTES: u64 = 4 << 30;

/// The most a checkpoint may inflate relative to its compressed size. An engine's own state
/// compresses up to about 1,200× (a fleet that has just started: its rings are serialised with
/// their fill) and a week-old one about 2×; a frame of zeros, the decompression bomb, compresses
/// past 4,000× …
pub(crate) const MAX_CHECKPOINT_RATIO: u64 = 2048;

/// … and a checkpoint may always inflate to this much (a young engine of a few models): no
/// threat to memory.
pub(crate) const MIN_CHECKPOINT_BOUND: u64 = 8 << 20;

/// The engine's state bytes ([`crate::engine::Engine::checkpoint`]) of a checkpoint record.
/// Refused before anything is inflated when the declared length is not the frame's own, or
/// passes [`MAX_CHECKPOINT_BYTES`] or (past [`MIN_CHECKPOINT_BOUND`]) [`MAX_CHECKPOINT_RATIO`]
/// times the compressed size.
pub fn decode_state(encoding: &str, len: u64, state: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    if encoding != CHECKPOINT_ENCODING {
        return Err(format!(
            "checkpoint encoded as {encoding:?}, this pitcrew reads {CHECKPOINT_ENCODING:?}"
        ));
    }
    let packed = base64::engine::general_purpose::STANDARD
        .decode(state)
        .map_err(|e| format!("checkpoint is not base64: {e}"))?;
    // a damaged length must not make us allocate without bound: it must be the frame's own
    let framed = zstd::zstd_safe::get_frame_content_size(&packed)
        .ok()
        .flatten();
    if framed != Some(len) {
        return Err(format!(
            "checkpoint says {len} bytes, its compressed frame {}",
            framed.map_or_else(|| "does not say".to_string(), |n| n.to_string())
        ));
    }
    let bound = (packed.len() as u64)
        .saturating_mul(MAX_CHECKPOINT_RATIO)
        .clamp(MIN_CHECKPOINT_BOUND, MAX_CHECKPOINT_BYTES);
    if len > bound {
        return Err(format!(
            "checkpoint refused: it would inflate {} bytes to {len}, past the bound of {bound} ({MAX_CHECKPOINT_RATIO}× its size or {MIN_CHECKPOINT_BOUND}, at most {MAX_CHECKPOINT_BYTES}): a decompression bomb or a damaged record",
            packed.len()
        ));
    }
    let raw = zstd::bulk::decompress(&packed, len as usize)
        .map_err(|e| format!("checkpoint does not decompress: {e}"))?;
    if raw.len() as u64 != len {
        return Err(format!(
            "checkpoint decompresses to {} bytes, its record says {len}",
            raw.len()
        ));
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_bomb_is_refused_before_it_inflates() {
        use base64::Engine as _;
        use std::io::Write as _;
        let len: u64 = 256 << 20;
        let mut z = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
        z.set_pledged_src_size(Some(len)).unwrap();
        z.include_contentsize(true).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            z.write_all(&zeros).unwrap();
        }
        let packed = z.finish().unwrap();
        assert!((packed.len() as u64) * MAX_CHECKPOINT_RATIO < len);
        let text = base64::engine::general_purpose::STANDARD.encode(&packed);
        let e = decode_state(CHECKPOINT_ENCODING, len, &text).unwrap_err();
        assert!(e.contains("decompression bomb"), "{e}");
        // real states, encoded the way the console does, are under the bound: an empty
        // engine, and a fleet of 200 models before its first sample (the console's first
        // checkpoint; 15 MB that compress about 1,200×)
        let (_world, young) =
            crate::harness::start(7, 200, 1.7e9, crate::engine::EngineConfig::default());
        let dir = tempfile::tempdir().unwrap();
        let enc = encode_state(&young, dir.path()).unwrap();
        assert!(enc.len > MIN_CHECKPOINT_BOUND && enc.len > 256 * enc.text.len());
        let mut text = Vec::new();
        enc.text.copy_to(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            decode_state(CHECKPOINT_ENCODING, enc.len, &text).unwrap(),
            young.checkpoint().unwrap()
        );
        let engine = crate::engine::Engine::new(crate::engine::EngineConfig::default());
        let enc = encode_state(&engine, dir.path()).unwrap();
        let mut text = Vec::new();
        enc.text.copy_to(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(decode_state(CHECKPOINT_ENCODING, enc.len, &text).is_ok());
    }
}
