//! The config parser and its checks: any text as `config.toml`.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let src = pitcrew::check::SourceText::new("config.toml", text.to_string().into());
        let _ = pitcrew::config::Config::parse(&src);
    }
});
