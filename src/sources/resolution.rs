//! The data's own resolution: how often a series really brings a new value, whatever step it
//! is queried at. A Prometheus range query at a 15 s step over data written every 30 minutes
//! answers each point for the lookback (5 min) and then nothing: the step says 15 s, the data
//! say 30 min. Measured from the rows a source fetched, so the step can be checked against it.

use crate::fleet::Sample;
use std::collections::HashMap;

/// Changes a series must show before its resolution is trusted.
const MIN_INTERVALS: usize = 4;

/// Seconds between new values of the most frequently changing series in `rows` (the median
/// interval between changes of each model's signal, the smallest over all of them); `None` when
/// no series changed often enough to tell.
pub(crate) fn data_resolution(rows: &[(f64, Vec<(u32, Sample)>)]) -> Option<f64> {
    let mut series: HashMap<(u32, usize), Vec<(f64, f64)>> = HashMap::new();
    for (t, samples) in rows {
        for (model, s) in samples {
            for (k, v) in s.values.iter().enumerate() {
                if v.is_finite() {
                    series
                        .entry((*model, k))
                        .or_default()
                        .push((*t, f64::from(*v)));
                }
            }
        }
    }
    series_resolution(series.values().map(Vec::as_slice))
}

/// The same over raw series of `(time, value)` points in time order.
pub(crate) fn series_resolution<'a>(
    series: impl IntoIterator<Item = &'a [(f64, f64)]>,
) -> Option<f64> {
    series
        .into_iter()
        .filter_map(median_change_interval)
        .min_by(f64::total_cmp)
}

/// Median seconds between the times a series takes a new value; `None` with too few changes.
fn median_change_interval(points: &[(f64, f64)]) -> Option<f64> {
    let mut last = f64::NAN;
    let mut changes = Vec::new();
    for &(t, v) in points {
        if v.is_finite() && v != last {
            last = v;
            changes.push(t);
        }
    }
    if changes.len() <= MIN_INTERVALS {
        return None;
    }
    let mut gaps: Vec<f64> = changes.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    gaps.get(gaps.len() / 2).copied()
}

/// The warning when `step` is finer than the data's `resolution` (three steps or more between
/// new values), with what to set instead.
pub(crate) fn step_warning(step: f64, resolution: f64) -> Option<String> {
    (resolution >= 3.0 * step).then(|| {
        format!(
            "step_seconds = {step:.0} is finer than the data (a new value every {}): staleness uses the data's {}; set step_seconds = {:.0}",
            span(resolution),
            span(resolution),
            resolution
        )
    })
}

fn span(secs: f64) -> String {
    if secs >= 3600.0 && (secs % 3600.0).abs() < 1.0 {
        format!("{:.0} h", secs / 3600.0)
    } else if secs >= 60.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Signal;

    fn rows(step: f64, every: f64, lookback: f64, n: usize) -> Vec<(f64, Vec<(u32, Sample)>)> {
        (0..n)
            .filter_map(|i| {
                let t = i as f64 * step;
                let raw = (t / every).floor();
                // Prometheus answers a raw point for `lookback` after it, then nothing
                (t - raw * every <= lookback).then(|| {
                    let mut s = Sample::MISSING;
                    s.values[Signal::RequestRate.index()] = (raw as f32).sin() * 50.0 + 100.0;
                    (t, vec![(0, s)])
                })
            })
            .collect()
    }

    #[test]
    fn thirty_minute_data_queried_every_fifteen_seconds_reads_as_thirty_minutes() {
        let r = data_resolution(&rows(15.0, 1800.0, 300.0, 4 * 24 * 60)).unwrap();
        assert_eq!(r, 1800.0);
        let w = step_warning(15.0, r).unwrap();
        assert!(
            w.contains("every 30 min") && w.contains("step_seconds = 1800"),
            "{w}"
        );
        // data as fine as the step: no warning
        let r = data_resolution(&rows(15.0, 15.0, 300.0, 1000)).unwrap();
        assert_eq!(r, 15.0);
        assert_eq!(step_warning(15.0, r), None);
        // a flat series tells nothing
        let mut flat = rows(15.0, 15.0, 300.0, 100);
        for (_, s) in &mut flat {
            s[0].1.values[0] = 1.0;
        }
        assert_eq!(data_resolution(&flat), None);
    }
}
