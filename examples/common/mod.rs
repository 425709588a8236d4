//! What the memory examples share: reading a process's memory from `/proc` (Linux only).

/// The field `key` (`"VmRSS:"`, `"VmHWM:"`) of the process `pid`'s `/proc/PID/status`, in
/// KiB, or `None` when it cannot be read.
pub fn status_kib(pid: u32, key: &str) -> Option<f64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// [`status_kib`] of this process, in MiB (NaN when it cannot be read).
#[allow(dead_code)] // not every example reads its own memory
pub fn own_mib(key: &str) -> f64 {
    status_kib(std::process::id(), key).map_or(f64::NAN, |kib| kib / 1024.0)
}
