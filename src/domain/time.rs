//! How a unix time is written for people, in every part that shows one (screens, replay
//! summaries, probes): UTC, to the second.

/// `YYYY-MM-DD HH:MM:SS` UTC of a unix time; `t=…` for a time outside the calendar (a NaN is
/// not the epoch).
pub(crate) fn datetime(t: f64) -> String {
    if !t.is_finite() {
        return format!("t={t}");
    }
    match jiff::Timestamp::from_second(t.floor() as i64) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("t={t:.0}"),
    }
}

/// `HH:MM:SS` UTC of a unix time.
pub fn clock(t: f64) -> String {
    let s = t.rem_euclid(86_400.0) as i64;
    format!("{:02}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_utc_to_the_second_and_survives_any_float() {
        assert_eq!(datetime(0.0), "1970-01-01 00:00:00");
        assert_eq!(datetime(1_700_000_000.9), "2023-11-14 22:13:20");
        assert_eq!(clock(1_700_000_000.0), "22:13:20");
        assert_eq!(clock(-1.0), "23:59:59");
        assert!(datetime(f64::NAN).starts_with("t="));
        assert!(datetime(1e300).starts_with("t="));
    }
}
