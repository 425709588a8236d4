//! Library side of `pitcrew detect`: streaming CSV in and out, timestamp parsing, and the
//! errors of the detect and backtest commands (the labelled backtests are in
//! [`super::backtest`]).

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{DetectConfig, Ensemble};

/// Errors of the detect and backtest commands. Each says what was wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The CSV itself is malformed (quoting, ragged rows...).
    #[error("{path}:{line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the CSV reader reported.
        message: String,
    },
    /// The header lacks a needed column.
    #[error("{path}:1: expected a header with columns `timestamp,value`, found `{found}`")]
    Header {
        /// The file.
        path: PathBuf,
        /// The header found.
        found: String,
    },
    /// A timestamp could not be parsed.
    #[error(
        "{path}:{line}: bad timestamp `{text}` (expected `YYYY-MM-DD HH:MM:SS[.ffffff]`, an ISO \
         `T` form, or Unix seconds)"
    )]
    Timestamp {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The offending text.
        text: String,
    },
    /// A value could not be parsed as a number.
    #[error("{path}:{line}: bad value `{text}` (expected a number; leave it empty if missing)")]
    Value {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The offending text.
        text: String,
    },
    /// Two inputs would write the same output file.
    #[error("{path}: two inputs have the same file name; outputs would overwrite each other")]
    DuplicateOutput {
        /// The output path.
        path: PathBuf,
    },
    /// The labels or profiles JSON is malformed.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A labelled window boundary is not a timestamp of its data file.
    #[error("{labels}: window boundary `{timestamp}` of {file} is not a timestamp in the data")]
    WindowNotFound {
        /// The labels file.
        labels: PathBuf,
        /// The data file.
        file: String,
        /// The boundary.
        timestamp: String,
    },
    /// A data file named in the labels is missing.
    #[error("{file}: named in {labels} but not found under {data}")]
    MissingData {
        /// The relative name.
        file: String,
        /// The labels file.
        labels: PathBuf,
        /// The data directory.
        data: PathBuf,
    },
    /// The requested profile does not exist.
    #[error("unknown profile `{name}` (known: {known})")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The known names.
        known: String,
    },
}

pub(super) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DetectError + '_ {
    move |source| DetectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a timestamp into Unix microseconds (UTC). Accepts `YYYY-MM-DD HH:MM[:SS[.f…]]`, the same
/// with `T` instead of the space and an optional trailing `Z`, a bare date, or a number of Unix
/// seconds (possibly fractional).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs.abs() < 1e12).then(|| (secs * 1e6).round() as i64);
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (&s[..i], s[i + 1..].trim_start()),
        None => (s, ""),
    };
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut hh, mut mm, mut ss, mut micros) = (0, 0, 0, 0);
    if !time.is_empty() {
        let (hms, frac) = match time.split_once('.') {
            Some((a, b)) => (a, Some(b)),
            None => (time, None),
        };
        let mut tp = hms.split(':');
        hh = num(tp.next()?)?;
        mm = num(tp.next()?)?;
        if let Some(sec) = tp.next() {
            ss = num(sec)?;
        }
        if tp.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        if let Some(f) = frac {
            let f = f.get(..6).unwrap_or(f);
            let v = num(f)?;
            micros = v * 10_i64.pow(6 - f.len() as u32);
        }
    }
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(secs * 1_000_000 + micros)
}

/// Summary of one `detect` output.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// The input file.
    pub input: PathBuf,
    /// The output file.
    pub output: PathBuf,
    /// Data rows.
    pub rows: u64,
    /// Rows with a missing or non-finite value (scored 0).
    pub missing: u64,
    /// Rows scoring at least [`super::Scored::NOTABLE`].
    pub notable: u64,
}

/// Summary of a `detect` run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectSummary {
    /// One entry per input, in order.
    pub files: Vec<FileSummary>,
}

impl fmt::Display for DetectSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.files {
            writeln!(
                f,
                "{} -> {}: {} rows, {} missing, {} notable",
                s.input.display(),
                s.output.display(),
                s.rows,
                s.missing,
                s.notable
            )?;
        }
        Ok(())
    }
}

/// Streams one `timestamp,value` CSV through a fresh [`Ensemble`], calling `sink` with each
/// row's timestamp text, value text, parsed timestamp (µs) and score. Returns (rows, missing).
pub(super) fn stream_file(
    path: &Path,
    cfg: &DetectConfig,
    mut sink: impl FnMut(&str, &str, i64, f64) -> Result<(), DetectError>,
) -> Result<(u64, u64), DetectError> {
    let file = File::open(path).map_err(io_err(path))?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(crate::files::LineBound::new(
            BufReader::with_capacity(1 << 16, file),
            crate::files::MAX_LINE_BYTES,
        ));
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        match e.into_kind() {
            csv::ErrorKind::Io(source) => DetectError::Io {
                path: path.to_path_buf(),
                source,
            },
            kind => DetectError::Csv {
                path: path.to_path_buf(),
                line,
                message: format!("{kind:?}"),
            },
        }
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(ti), Some(vi)) = (col("timestamp"), col("value")) else {
        return Err(DetectError::Header {
            path: path.to_path_buf(),
            found: headers.iter().collect::<Vec<_>>().join(","),
        });
    };
    let mut ens = Ensemble::with_config(cfg.clone());
    let mut rec = csv::StringRecord::new();
    let (mut rows, mut missing) = (0u64, 0u64);
    while rdr.read_record(&mut rec).map_err(csv_err)? {
        let line = rec.position().map_or(0, |p| p.line());
        let ts = rec.get(ti).unwrap_or("");
        let vs = rec.get(vi).unwrap_or("");
        let t = parse_timestamp(ts).ok_or_else(|| DetectError::Timestamp {
            path: path.to_path_buf(),
            line,
            text: ts.to_string(),
        })?;
        let v = if vs.is_empty() {
            f64::NAN
        } else {
            vs.parse::<f64>().map_err(|_| DetectError::Value {
                path: path.to_path_buf(),
                line,
                text: vs.to_string(),
            })?
        };
        if !v.is_finite() {
            missing += 1;
        }
        let s = ens.update(t as f64 / 1e6, v);
        sink(ts, vs, t, s.score)?;
        rows += 1;
    }
    Ok((rows, missing))
}

/// Writes rows `timestamp,value,anomaly_score` to `out`, via a temporary file renamed on success
/// so a failed run leaves no half-written output.
fn detect_one(input: &Path, out: &Path) -> Result<FileSummary, DetectError> {
    let tmp = out.with_extension("partial");
    let result = (|| {
        let f = File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = BufWriter::with_capacity(1 << 16, f);
        writeln!(w, "timestamp,value,anomaly_score").map_err(io_err(&tmp))?;
        let mut notable = 0u64;
        let (rows, missing) = stream_file(input, &DetectConfig::default(), |ts, vs, _, score| {
            if score >= super::Scored::NOTABLE {
                notable += 1;
            }
            writeln!(w, "{ts},{vs},{score}").map_err(io_err(&tmp))
        })?;
        w.flush().map_err(io_err(&tmp))?;
        std::fs::rename(&tmp, out).map_err(io_err(out))?;
        Ok(FileSummary {
            input: input.to_path_buf(),
            output: out.to_path_buf(),
            rows,
            missing,
            notable,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `pitcrew detect FILE... --out DIR`: scores each CSV `timestamp,value` and writes
/// `DIR/<same file name>` with `timestamp,value,anomaly_score`, one row per input row. Rows are
/// streamed; memory does not grow with the file. Stops at the first malformed input.
pub fn detect_files(inputs: &[PathBuf], out_dir: &Path) -> Result<DetectSummary, DetectError> {
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let mut seen = std::collections::HashSet::new();
    let mut summary = DetectSummary::default();
    for input in inputs {
        let name = input.file_name().ok_or_else(|| DetectError::Io {
            path: input.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        })?;
        let out = out_dir.join(name);
        if !seen.insert(out.clone()) {
            return Err(DetectError::DuplicateOutput { path: out });
        }
        summary.files.push(detect_one(input, &out)?);
    }
    Ok(summary)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_timestamps() {
        assert_eq!(parse_timestamp("1970-01-01 00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("1970-01-02T00:00:01Z"),
            Some(86_401_000_000)
        );
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.000000"),
            parse_timestamp("2014-04-10 07:15:00")
        );
        assert_eq!(
            parse_timestamp("2014-04-10 07:15:00.5").map(|t| t % 1_000_000),
            Some(500_000)
        );
        assert_eq!(parse_timestamp("1396000000"), Some(1_396_000_000_000_000));
        // 2014-04-01 00:00:00 UTC
        assert_eq!(
            parse_timestamp("2014-04-01 00:00:00"),
            Some(1_396_310_400_000_000)
        );
        assert_eq!(parse_timestamp("2014-13-01 00:00:00"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp(""), None);
    }

    #[test]
    fn detect_writes_one_row_per_input_row() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("s.csv");
        let mut text = String::from("timestamp,value\n");
        for i in 0..500 {
            text.push_str(&format!("{},{}\n", 1_400_000_000 + i * 60, (i % 7) as f64));
        }
        text.push_str("1400100000,\n");
        std::fs::write(&input, text).unwrap();
        let out = dir.path().join("out");
        let s = detect_files(std::slice::from_ref(&input), &out).unwrap();
        assert_eq!(s.files[0].rows, 501);
        assert_eq!(s.files[0].missing, 1);
        let written = std::fs::read_to_string(out.join("s.csv")).unwrap();
        let lines: Vec<_> = written.lines().collect();
        assert_eq!(lines[0], "timestamp,value,anomaly_score");
        assert_eq!(lines.len(), 502);
        for l in &lines[1..] {
            let s: f64 = l.rsplit(',').next().unwrap().parse().unwrap();
            assert!((0.0..=1.0).contains(&s));
        }
    }

    #[test]
    fn malformed_input_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("bad.csv");
        std::fs::write(
            &input,
            "timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,abc\n",
        )
        .unwrap();
        let err = detect_files(&[input], &dir.path().join("o")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bad.csv:3"), "{msg}");
        assert!(msg.contains("abc"), "{msg}");
        assert!(!dir.path().join("o/bad.csv").exists());

        let input = dir.path().join("ts.csv");
        std::fs::write(&input, "timestamp,value\nnot-a-time,1\n").unwrap();
        let msg = detect_files(&[input], &dir.path().join("o"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("ts.csv:2"), "{msg}");

        let input = dir.path().join("hdr.csv");
        std::fs::write(&input, "time,v\n1,1\n").unwrap();
        let msg = detect_files(&[input], &dir.path().join("o"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("hdr.csv:1"), "{msg}");
    }
}
