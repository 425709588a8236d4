//! The CSV reader of `detect`, `forecast` and `backtest`: any bytes as a file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("pitcrew-fuzz-csv-{}.csv", std::process::id()));
    if std::fs::write(&path, data).is_ok() {
        let _ = pitcrew::forecast::cli::read_series(&path, None);
        let _ = pitcrew::forecast::cli::read_series(&path, Some("value"));
    }
});
