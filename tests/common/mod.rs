//! Helpers shared by the integration tests that drive the real binary.
#![allow(dead_code)]

pub mod fake_prom;

use std::path::{Path, PathBuf};
use std::process::Command;

/// `../shared/data` beside the repository; the tests fail (not skip) without it.
pub fn shared_data() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    assert!(
        p.join("nab-dev/windows.json").exists() && p.join("traces/ETTh1.csv").exists(),
        "../shared/data is required beside the repository"
    );
    p
}

/// `../shared` beside the repository.
pub fn shared() -> PathBuf {
    shared_data().join("..")
}

/// The pitcrew binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pitcrew"))
}
