//! The control API's command request: any bytes as a body, and any text as a tokens file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pitcrew::control::wire::parse_command(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pitcrew::control::auth::Tokens::parse(text);
    }
});
