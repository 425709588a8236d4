//! The theme loader, in every colour mode: any bytes as a theme file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("pitcrew-fuzz-theme-{}.toml", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = pitcrew::tui::theme::Theme::check(&path.display().to_string(), &[]);
    }
});
