//! Times given on the command line (RFC 3339 or unix seconds) and the history window that
//! `--from`/`--to` make, checked against the config (history mode, `check --probe`).

/// A time given to `flag`: unix seconds or RFC 3339.
pub fn parse_time_for(flag: &str, s: &str) -> Result<f64, String> {
    if let Ok(x) = s.parse::<f64>() {
        return Ok(x);
    }
    s.parse::<jiff::Timestamp>()
        .map(|t| t.as_second() as f64)
        .map_err(|e| format!("{flag}: '{s}' is neither unix seconds nor RFC 3339 ({e})"))
}

/// The history window of `--from`/`--to` (unix seconds), checked against the config.
pub fn history_window(
    from: Option<&str>,
    to: Option<&str>,
    config: &crate::config::Config,
) -> Result<Option<(f64, f64)>, String> {
    let Some(from) = from else {
        return Ok(None);
    };
    if config.prometheus.is_none() {
        return Err(
            "--from replays past Prometheus data: the config needs a [prometheus] section \
             (give it with --config PATH; `pitcrew check --config PATH` validates it)"
                .into(),
        );
    }
    let from = parse_time_for("--from", from)?;
    let now = crate::clock::unix_now();
    let to = match to {
        Some(t) => parse_time_for("--to", t)?,
        None => now,
    };
    if from >= to {
        return Err(format!("--from ({from:.0}) must be before --to ({to:.0})"));
    }
    if from > now {
        return Err("--from is in the future".into());
    }
    Ok(Some((from, to.min(now))))
}
