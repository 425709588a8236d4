//! The control API's stream as a console reads it: any bytes, delivered in two pieces, as
//! frames (a damaged or hostile agent must end the stream with an error, never a panic).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut d = pitcrew::control::wire::Decoder::default();
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    d.push(&data[..cut]);
    while let Ok(Some(_)) = d.frame() {}
    d.push(&data[cut..]);
    while let Ok(Some(_)) = d.frame() {}
});
