//! A checkpoint: any text as its encoded state (with the length its frame declares, so that
//! decompression is reached, and one past the bounds, which must be refused before it is), and
//! any bytes as the decoded state an engine is restored from.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for len in [0, data.len() as u64, 1 << 20, 1 << 30] {
            let _ =
                pitcrew::journal::decode_state(pitcrew::journal::CHECKPOINT_ENCODING, len, text);
        }
    }
    let _ = pitcrew::engine::Engine::restore(pitcrew::engine::EngineConfig::default(), data);
});
