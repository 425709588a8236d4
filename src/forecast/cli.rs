//! Library side of the `pitcrew forecast` and `pitcrew backtest scaling` commands: reading a
//! series from CSV, writing forecasts, and running the scaling backtest and the MASE evaluation.
//!
//! Input CSV: a header row; the first column is a timestamp (unix seconds, RFC 3339, or a civil
//! `YYYY-MM-DD[ T]HH:MM[:SS]` read as UTC); the value column is `value` or the one named. Empty
//! or non-numeric values are gaps (filled when the series is regularised); a timestamp that
//! cannot be read is an error naming the file and line.

use super::eval::{self, EvalSummary};
use super::scaling_backtest::{self, BacktestConfig, BacktestReport};
use super::{Forecast, ForecastError, forecast};
use std::path::{Path, PathBuf};

/// Errors of the command functions; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// File could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The CSV could not be parsed.
    #[error("{path}: CSV error: {message}")]
    Csv {
        /// File concerned.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The value column is missing.
    #[error("{path}: no column named {column:?} (columns: {available}); pass --column NAME")]
    NoColumn {
        /// File concerned.
        path: PathBuf,
        /// Column asked for.
        column: String,
        /// Header of the file.
        available: String,
    },
    /// A timestamp could not be read.
    #[error(
        "{path}:{line}: cannot read timestamp {value:?} (expected unix seconds, RFC 3339 or YYYY-MM-DD HH:MM:SS)"
    )]
    BadTimestamp {
        /// File concerned.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The text found.
        value: String,
    },
    /// The series could not be forecast.
    #[error("{path}: {source}")]
    Forecast {
        /// File concerned.
        path: PathBuf,
        /// Why.
        source: ForecastError,
    },
    /// Invalid arguments.
    #[error("{0}")]
    Usage(String),
}

/// How the input wrote its timestamps (outputs follow the same style).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// Unix seconds.
    Unix,
    /// `YYYY-MM-DD HH:MM:SS` in UTC.
    Civil,
    /// RFC 3339 with `Z`.
    Rfc3339,
}

/// A series read from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// (unix seconds, value); rows with an unreadable value are left out (gaps).
    pub points: Vec<(f64, f64)>,
    /// Timestamp style of the file.
    pub style: TimeStyle,
}

/// Parses a timestamp: unix seconds, RFC 3339, or a civil date-time read as UTC.
pub fn parse_timestamp(s: &str) -> Option<(f64, TimeStyle)> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        return v.is_finite().then_some((v, TimeStyle::Unix));
    }
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some((ts.as_millisecond() as f64 / 1000.0, TimeStyle::Rfc3339));
    }
    let dt = s.parse::<jiff::civil::DateTime>().ok().or_else(|| {
        s.parse::<jiff::civil::Date>()
            .ok()
            .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
    })?;
    let z = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some((
        z.timestamp().as_millisecond() as f64 / 1000.0,
        TimeStyle::Civil,
    ))
}

/// Formats unix seconds in a style.
pub(crate) fn format_timestamp(t: f64, style: TimeStyle) -> String {
    let ts = jiff::Timestamp::from_millisecond((t * 1000.0).round() as i64).ok();
    match (style, ts) {
        (TimeStyle::Civil, Some(ts)) => ts.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        (TimeStyle::Rfc3339, Some(ts)) => ts.to_string(),
        _ => {
            if t.fract() == 0.0 {
                format!("{t:.0}")
            } else {
                format!("{t}")
            }
        }
    }
}

/// A CSV reader over a file, each line bounded to [`crate::files::MAX_LINE_BYTES`].
type CsvReader = csv::Reader<crate::files::LineBound<std::io::BufReader<std::fs::File>>>;

/// Opens `path` as a CSV with a header row; returns the reader and the header.
fn open_csv(path: &Path) -> Result<(CsvReader, csv::StringRecord), CliError> {
    let file = std::fs::File::open(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rdr =
        csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(crate::files::LineBound::new(
                std::io::BufReader::with_capacity(1 << 16, file),
                crate::files::MAX_LINE_BYTES,
            ));
    let headers = rdr.headers().map_err(csv_error(path))?.clone();
    Ok((rdr, headers))
}

/// The CSV reader's errors for `path`.
fn csv_error(path: &Path) -> impl Fn(csv::Error) -> CliError + '_ {
    move |e| CliError::Csv {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The index of the column named `want` (names trimmed), or an error listing the columns.
fn column_index(path: &Path, headers: &csv::StringRecord, want: &str) -> Result<usize, CliError> {
    headers
        .iter()
        .position(|h| h.trim() == want)
        .ok_or_else(|| CliError::NoColumn {
            path: path.to_path_buf(),
            column: want.to_string(),
            available: headers.iter().collect::<Vec<_>>().join(","),
        })
}

/// Reads a series: first column timestamp, value column `column` (default `value`).
pub fn read_series(path: &Path, column: Option<&str>) -> Result<Series, CliError> {
    let csv_err = csv_error(path);
    let (mut rdr, headers) = open_csv(path)?;
    let col = column_index(path, &headers, column.unwrap_or("value"))?;
    let mut points = Vec::new();
    let mut style = TimeStyle::Unix;
    for rec in rdr.records() {
        let rec = rec.map_err(&csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let ts = rec.get(0).unwrap_or("");
        if ts.trim().is_empty() {
            continue;
        }
        let (t, st) = parse_timestamp(ts).ok_or_else(|| CliError::BadTimestamp {
            path: path.to_path_buf(),
            line,
            value: ts.to_string(),
        })?;
        style = st;
        if let Some(v) = rec
            .get(col)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
        {
            points.push((t, v));
        }
    }
    Ok(Series { points, style })
}

/// Writes a forecast as `timestamp,mean,lo80,hi80`.
pub(crate) fn write_forecast(path: &Path, f: &Forecast, style: TimeStyle) -> Result<(), CliError> {
    let mut out = String::from("timestamp,mean,lo80,hi80\n");
    for p in &f.points {
        out.push_str(&format!(
            "{},{},{},{}\n",
            format_timestamp(p.t, style),
            p.mean,
            p.lo80,
            p.hi80
        ));
    }
    std::fs::write(path, out).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// `pitcrew forecast FILE... --horizon H [--column NAME] [--origin N] --out PATH`. With one input
/// `out` is the output file (or an existing directory to write into); with several it is a
/// directory (created if needed) receiving one file per input with the input's file name.
/// `origin` keeps only the first N rows. Returns the files written and each forecast.
pub fn run_forecast(
    inputs: &[PathBuf],
    horizon: usize,
    column: Option<&str>,
    origin: Option<usize>,
    out: &Path,
) -> Result<Vec<(PathBuf, Forecast)>, CliError> {
    if inputs.is_empty() {
        return Err(CliError::Usage("no input files given".into()));
    }
    if horizon == 0 {
        return Err(CliError::Usage("--horizon must be at least 1".into()));
    }
    let to_dir = inputs.len() > 1 || out.is_dir();
    if to_dir {
        std::fs::create_dir_all(out).map_err(|source| CliError::Io {
            path: out.to_path_buf(),
            source,
        })?;
    }
    let mut written = Vec::new();
    for input in inputs {
        let mut s = read_series(input, column)?;
        if let Some(n) = origin {
            s.points.truncate(n);
        }
        let f = forecast(&s.points, horizon).map_err(|source| CliError::Forecast {
            path: input.clone(),
            source,
        })?;
        let dest = if to_dir {
            let name = input.file_name().ok_or_else(|| {
                CliError::Usage(format!("{}: input has no file name", input.display()))
            })?;
            out.join(name)
        } else {
            out.to_path_buf()
        };
        write_forecast(&dest, &f, s.style)?;
        written.push((dest, f));
    }
    Ok(written)
}

/// `pitcrew backtest scaling FILE [--column NAME] [--capacity R] [--target U] [--startup SECONDS]
/// [--trace OUT.csv]`: returns the report (serialise it with `serde_json` for the JSON output).
pub fn run_backtest_scaling(
    input: &Path,
    column: Option<&str>,
    capacity: Option<f64>,
    target: Option<f64>,
    startup_secs: Option<f64>,
    trace: Option<&Path>,
) -> Result<BacktestReport, CliError> {
    let s = read_series(input, column)?;
    let mut cfg = BacktestConfig::default();
    if let Some(u) = target {
        if !(u > 0.0 && u <= 1.0) {
            return Err(CliError::Usage(format!(
                "--target must be in (0, 1], got {u}"
            )));
        }
        cfg.target_utilisation = u;
    }
    if let Some(st) = startup_secs {
        if !(st >= 0.0 && st.is_finite()) {
            return Err(CliError::Usage(format!("--startup must be >= 0, got {st}")));
        }
        cfg.startup_secs = st;
    }
    if let Some(r) = capacity
        && !(r > 0.0 && r.is_finite())
    {
        return Err(CliError::Usage(format!("--capacity must be > 0, got {r}")));
    }
    cfg.capacity_per_replica = capacity;
    let (report, rows) = scaling_backtest::run(&s.points, &cfg)
        .map_err(|e| CliError::Usage(format!("{}: {e}", input.display())))?;
    if let Some(path) = trace {
        let mut out =
            String::from("timestamp,demand,hpa_replicas,predictive_replicas,predictive_asked\n");
        for r in &rows {
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                format_timestamp(r.t, s.style),
                r.demand,
                r.hpa_ready,
                r.predictive_ready,
                r.predictive_asked
            ));
        }
        std::fs::write(path, out).map_err(|source| CliError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    }
    Ok(report)
}

/// The forecasting suite on the shared data (`data_root` is the `shared/data` directory):
/// - ETT: every column of `traces/ETTh1.csv` and `ETTh2.csv`,
/// - realTraffic and realAWSCloudwatch: every series of nab-dev's two categories,
///
/// each at up to 20 origins spread over its history, and
/// - bike_sharing: `cnt` of `traces/bike_sharing/hour.csv`, its missing hours left as gaps, at
///   the last 56 midnights;
///
/// all at a one-day horizon.
pub(crate) fn mase_suite(data_root: &Path) -> Result<Vec<eval::NamedSeries>, CliError> {
    let mut series: Vec<eval::NamedSeries> = Vec::new();
    let spread = eval::Origins::Spread(20);
    for file in ["ETTh1.csv", "ETTh2.csv"] {
        let path = data_root.join("traces").join(file);
        for col in ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"] {
            let s = read_series(&path, Some(col))?;
            series.push(eval::NamedSeries {
                group: "ETT".into(),
                name: format!("{file}:{col}"),
                points: s.points,
                origins: spread,
            });
        }
    }
    for cat in ["realTraffic", "realAWSCloudwatch"] {
        let dir = data_root.join("nab-dev").join("data").join(cat);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| CliError::Io {
                path: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        for f in files {
            let s = read_series(&f, None)?;
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            series.push(eval::NamedSeries {
                group: cat.into(),
                name,
                points: s.points,
                origins: spread,
            });
        }
    }
    let bike = data_root
        .join("traces")
        .join("bike_sharing")
        .join("hour.csv");
    series.push(eval::NamedSeries {
        group: "bike_sharing".into(),
        name: "hour.csv:cnt".into(),
        points: read_date_hour_series(&bike, "dteday", "hr", "cnt")?,
        origins: eval::Origins::LastMidnights(56),
    });
    Ok(series)
}

/// The MASE evaluation of [`mase_suite`] with the default settings.
pub fn run_mase_evaluation(data_root: &Path) -> Result<EvalSummary, CliError> {
    Ok(eval::evaluate_many(
        &mase_suite(data_root)?,
        &eval::EvalConfig::default(),
    ))
}

/// The leave-one-group-out cross-validation of [`mase_suite`] over
/// [`eval::default_candidates`].
pub fn run_forecast_cv(data_root: &Path) -> Result<eval::CvSummary, CliError> {
    Ok(eval::cross_validate(
        &mase_suite(data_root)?,
        &eval::default_candidates(),
    ))
}

fn to_json(v: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string_pretty(v).map_err(|e| CliError::Usage(format!("cannot encode JSON: {e}")))
}

const TABLE_HEAD: &str =
    "group                series     MASE daily-naive weekly-naive  improvement   cover80";

fn table_row(g: &eval::GroupScore) -> String {
    format!(
        "{:<20} {:>6} {:>8.3} {:>11.3} {:>12.3} {:>11.1}% {:>8.1}%",
        g.group,
        g.series,
        g.mase,
        g.mase_daily_naive,
        g.mase_weekly_naive,
        g.improvement_vs_better_naive * 100.0,
        g.coverage80 * 100.0
    )
}

/// The evaluation as a table (or JSON).
pub fn render_evaluation(s: &EvalSummary, json: bool) -> Result<String, CliError> {
    if json {
        return to_json(s);
    }
    let mut out = vec![TABLE_HEAD.to_string()];
    out.extend(s.groups.iter().map(table_row));
    out.extend(
        s.skipped
            .iter()
            .map(|(n, why)| format!("skipped {n}: {why}")),
    );
    Ok(out.join("\n"))
}

/// The cross-validation as tables (or JSON): per group with the setting chosen without it, then
/// the same groups in-sample.
pub fn render_cv(s: &eval::CvSummary, json: bool) -> Result<String, CliError> {
    if json {
        return to_json(s);
    }
    let mut out = vec![
        format!(
            "leave-one-group-out over the defaults {{{}}}; chosen on every group: {}",
            s.candidates.join(", "),
            s.in_sample_choice
        ),
        String::new(),
        format!("cross-validated (each group scored with the defaults chosen on the others)"),
        format!("{TABLE_HEAD}   chosen"),
    ];
    for f in &s.folds {
        out.push(format!("{}   {}", table_row(&f.cv), f.chosen));
    }
    out.push(table_row(&s.pooled_cv));
    out.push(String::new());
    out.push(format!(
        "in-sample (defaults chosen on every group: {})",
        s.in_sample_choice
    ));
    out.push(TABLE_HEAD.to_string());
    for f in &s.folds {
        out.push(table_row(&f.in_sample));
    }
    out.push(table_row(&s.pooled_in_sample));
    out.extend(
        s.skipped
            .iter()
            .map(|(n, why)| format!("skipped {n}: {why}")),
    );
    Ok(out.join("\n"))
}

/// Reads a series whose time is a date column (`YYYY-MM-DD`, UTC) and an hour column (0–23), as
/// the UCI bike-sharing data writes it. Rows with an unreadable value are left out (gaps).
pub(crate) fn read_date_hour_series(
    path: &Path,
    date: &str,
    hour: &str,
    value: &str,
) -> Result<Vec<(f64, f64)>, CliError> {
    let csv_err = csv_error(path);
    let (mut rdr, headers) = open_csv(path)?;
    let col = |want: &str| column_index(path, &headers, want);
    let (dc, hc, vc) = (col(date)?, col(hour)?, col(value)?);
    let mut points = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(&csv_err)?;
        let line = rec.position().map_or(0, |p| p.line());
        let d = rec.get(dc).unwrap_or("").trim();
        let hr = rec.get(hc).unwrap_or("").trim();
        let t = match (parse_timestamp(d), hr.parse::<u8>()) {
            (Some((t, _)), Ok(h)) if h < 24 => t + 3600.0 * f64::from(h),
            _ => {
                return Err(CliError::BadTimestamp {
                    path: path.to_path_buf(),
                    line,
                    value: format!("{d} hour {hr}"),
                });
            }
        };
        if let Some(v) = rec
            .get(vc)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite())
        {
            points.push((t, v));
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let (t, st) = parse_timestamp("2016-07-01 01:00:00").unwrap();
        assert_eq!(st, TimeStyle::Civil);
        assert_eq!(t, 1_467_334_800.0);
        assert_eq!(format_timestamp(t, st), "2016-07-01 01:00:00");
        assert_eq!(
            parse_timestamp("1467334800").unwrap(),
            (1_467_334_800.0, TimeStyle::Unix)
        );
        assert_eq!(
            parse_timestamp("2016-07-01T01:00:00Z").unwrap().0,
            1_467_334_800.0
        );
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn forecast_command_single_and_many() {
        let dir = tempfile::tempdir().unwrap();
        let mut body = String::from("timestamp,value,other\n");
        for i in 0..500 {
            let v = 10.0 + ((i % 24) as f64 - 12.0).abs();
            body.push_str(&format!("{},{v},{}\n", 1_467_334_800 + 3600 * i, v * 2.0));
        }
        body.push_str("1469134800,,1\n");
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        std::fs::write(&a, &body).unwrap();
        std::fs::write(&b, &body).unwrap();
        let out = dir.path().join("one.csv");
        let r = run_forecast(std::slice::from_ref(&a), 30, None, Some(400), &out).unwrap();
        assert_eq!(r.len(), 1);
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "timestamp,mean,lo80,hi80");
        assert_eq!(lines.len(), 31);
        assert!(lines[1].starts_with(&format!("{},", 1_467_334_800 + 3600 * 400)));
        let outdir = dir.path().join("many");
        let r = run_forecast(&[a.clone(), b], 5, Some("other"), None, &outdir).unwrap();
        assert_eq!(r.len(), 2);
        assert!(outdir.join("a.csv").exists() && outdir.join("b.csv").exists());
        assert!(matches!(
            run_forecast(&[a], 5, Some("nope"), None, &out),
            Err(CliError::NoColumn { .. })
        ));
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.csv");
        std::fs::write(&p, "timestamp,value\n1,2\nnot a time,3\n").unwrap();
        let e = read_series(&p, None).unwrap_err();
        assert!(matches!(e, CliError::BadTimestamp { line: 3, .. }), "{e}");
        let missing = dir.path().join("missing.csv");
        assert!(read_series(&missing, None).is_err());
        std::fs::write(&p, "timestamp,value\n1,2\n").unwrap();
        let out = dir.path().join("o.csv");
        assert!(matches!(
            run_forecast(&[p], 3, None, None, &out),
            Err(CliError::Forecast { .. })
        ));
    }
}
