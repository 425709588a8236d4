//! The keymap loader: any bytes as a keymap file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path =
        std::env::temp_dir().join(format!("pitcrew-fuzz-keymap-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = pitcrew::tui::keymap::Keymap::check(&path.display().to_string(), &[]);
    }
});
