//! The wall clock, read at the edges: the session's start, the journal's name, the sources'
//! clock events, a time range given on the command line, MLflow's promotion tags. (Two edges
//! read it in their own types: the Kubernetes Lease code as a jiff `Timestamp`, the journal's
//! retention as a `SystemTime`.) The deterministic core (the engine,
//! judgement, policy, the fleet's state and the simulated world) never reads it: time comes to
//! it in events, so the same events give the same state (`tests/architecture.rs` holds it).

/// Seconds since the Unix epoch, now (0 on a clock set before 1970).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Milliseconds since the Unix epoch, now, exactly (0 on a clock set before 1970).
pub fn unix_millis() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_after_this_code_was_written() {
        // 2026-01-01T00:00:00Z
        assert!(unix_now() > 1_767_225_600.0);
        assert!(unix_millis() > 1_767_225_600_000);
    }
}
