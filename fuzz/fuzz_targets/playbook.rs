//! The playbook parser: any text as a playbook file (the policy's parse and the config's file:line:col problems).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pitcrew::config::playbooks::parse("playbook.toml", text);
    }
});
