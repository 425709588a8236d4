//! Library side of `pitcrew detect` and `pitcrew backtest detect`: streaming CSV in and out,
//! timestamp parsing, and NAB backtests.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::nab::{self, Profile, ProfileScore, ScoredFile};
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DetectError + '_ {
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
fn stream_file(
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

/// Result of `pitcrew backtest detect`.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestReport {
    /// Files scored, in label order.
    pub files: Vec<String>,
    /// Labelled windows.
    pub windows: usize,
    /// One result per profile.
    pub results: Vec<ProfileScore>,
}

impl BacktestReport {
    /// The normalised score of a profile, if it was computed.
    pub fn normalized(&self, profile: &str) -> Option<f64> {
        self.results
            .iter()
            .find(|r| r.profile == profile)
            .map(|r| r.normalized)
    }
}

impl fmt::Display for BacktestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.files.iter().map(String::len).max().unwrap_or(4).max(4);
        write!(f, "{:width$}", "file")?;
        for r in &self.results {
            write!(f, " {:>20}", r.profile)?;
        }
        writeln!(f)?;
        for (i, name) in self.files.iter().enumerate() {
            write!(f, "{name:width$}")?;
            for r in &self.results {
                let v = r.per_file.get(i).map_or(f64::NAN, |p| p.1);
                write!(f, " {v:>20.3}")?;
            }
            writeln!(f)?;
        }
        writeln!(f)?;
        for r in &self.results {
            writeln!(
                f,
                "{:20} files={} windows={} threshold={:.6} raw={:.4} normalized={:.3}",
                r.profile,
                self.files.len(),
                self.windows,
                r.threshold,
                r.raw,
                r.normalized
            )?;
        }
        if let Some(s) = self.normalized("standard") {
            writeln!(f, "NAB standard {s:.2}")?;
        }
        Ok(())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, DetectError> {
    let f = File::open(path).map_err(io_err(path))?;
    serde_json::from_reader(BufReader::new(f)).map_err(|e| DetectError::Json {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Loads NAB cost profiles from a `profiles.json` (`{"name": {"CostMatrix": {...}}}`).
pub fn load_profiles(path: &Path) -> Result<Vec<Profile>, DetectError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(rename = "CostMatrix")]
        cost: nab::CostMatrix,
    }
    let m: BTreeMap<String, Entry> = read_json(path)?;
    let mut v: Vec<Profile> = m
        .into_iter()
        .map(|(name, e)| Profile { name, cost: e.cost })
        .collect();
    // Keep NAB's customary order: standard first.
    v.sort_by_key(|p| (p.name != "standard", p.name.clone()));
    Ok(v)
}

/// `pitcrew backtest detect`: runs the ensemble (default configuration) over every file named in
/// `labels` (NAB `combined_windows.json` format), found under `data_dir` (or `data_dir/data`), and
/// scores it with NAB under the profiles of `profiles` (NAB's defaults when `None`), only
/// `profile` if given; each file's scores are also written to `scores_out/<category>/<file>.csv`
/// (the layout `nab_score.py` reads) when `scores_out` is given.
pub fn backtest(
    data_dir: &Path,
    labels: &Path,
    profiles: Option<&Path>,
    profile: Option<&str>,
    scores_out: Option<&Path>,
) -> Result<BacktestReport, DetectError> {
    let profs = chosen_profiles(profiles, profile)?;
    let (files, windows) = score_labelled(data_dir, labels, scores_out, &DetectConfig::default())?;
    let results = profs.iter().map(|p| nab::score(&files, p, None)).collect();
    Ok(BacktestReport {
        files: files.iter().map(|f| f.name.clone()).collect(),
        windows,
        results,
    })
}

/// `pitcrew backtest detect --cv category`: leave-one-category-out. For each category (the first
/// path component of a file's label), the alarm threshold is chosen on every other category by
/// NAB's exact sweep and the category is scored at it. The detectors have no other setting
/// chosen from data: their constants are fixed in the code (see the README for how they were set).
pub fn backtest_cv(
    data_dir: &Path,
    labels: &Path,
    profiles: Option<&Path>,
    profile: Option<&str>,
) -> Result<CvReport, DetectError> {
    let profs = chosen_profiles(profiles, profile)?;
    let (files, _) = score_labelled(data_dir, labels, None, &DetectConfig::default())?;
    Ok(CvReport {
        results: profs
            .iter()
            .map(|p| nab::cross_validate(&files, p, nab::category))
            .collect(),
    })
}

/// Result of [`backtest_cv`]: one cross-validation per profile.
#[derive(Debug, Clone, PartialEq)]
pub struct CvReport {
    /// Per profile.
    pub results: Vec<nab::CvScore>,
}

impl fmt::Display for CvReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(
                f,
                "{}: leave-one-category-out (threshold chosen on the other categories)",
                r.profile
            )?;
            writeln!(
                f,
                "  {:<24} {:>5} {:>7} {:>20} {:>10} {:>10} {:>10} {:>8} {:>6} {:>12}",
                "category",
                "files",
                "windows",
                "threshold",
                "raw",
                "normalized",
                "in-sample",
                "detected",
                "missed",
                "false-alarms"
            )?;
            for k in &r.folds {
                let norm = if k.windows > 0 {
                    format!("{:.2}", k.normalized)
                } else {
                    "—".to_string()
                };
                let inside = if k.windows > 0 {
                    format!("{:.2}", k.in_sample_normalized)
                } else {
                    "—".to_string()
                };
                // the threshold in full: it is one of the scores, and `nab_score.py --only
                // CATEGORY --threshold T` reproduces the fold with it
                writeln!(
                    f,
                    "  {:<24} {:>5} {:>7} {:>20} {:>10.3} {:>10} {:>10} {:>8} {:>6} {:>12}",
                    k.category,
                    k.files,
                    k.windows,
                    k.threshold,
                    k.raw,
                    norm,
                    inside,
                    k.detected,
                    k.missed,
                    k.false_alarms
                )?;
            }
            writeln!(
                f,
                "  pooled (cross-validated) {:.2}   in-sample {:.2} (threshold {:.6})",
                r.pooled_normalized, r.in_sample.normalized, r.in_sample.threshold
            )?;
            for k in r.folds.iter().filter(|k| k.windows == 0) {
                writeln!(
                    f,
                    "  {} has no windows: its false-alarm cost is {:.3} at its fold's threshold ({:.3} in-sample)",
                    k.category, k.raw, k.in_sample_raw
                )?;
            }
            writeln!(f)?;
        }
        if let Some(s) = self.results.iter().find(|r| r.profile == "standard") {
            writeln!(
                f,
                "NAB standard {:.2} cross-validated, {:.2} in-sample",
                s.pooled_normalized, s.in_sample.normalized
            )?;
        }
        Ok(())
    }
}

fn chosen_profiles(
    profiles: Option<&Path>,
    profile: Option<&str>,
) -> Result<Vec<Profile>, DetectError> {
    let mut profs = match profiles {
        Some(p) => load_profiles(p)?,
        None => nab::default_profiles(),
    };
    if let Some(name) = profile {
        let known = profs
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        profs.retain(|p| p.name == name);
        if profs.is_empty() {
            return Err(DetectError::UnknownProfile {
                name: name.to_string(),
                known,
            });
        }
    }
    Ok(profs)
}

/// Runs the ensemble over every file named in `labels`, with its windows as row ranges, and the
/// number of windows; writes the scores under `scores_out` when given. Public for
/// `examples/detect_sensitivity.rs`, which scores configurations other than the defaults.
pub fn score_labelled(
    data_dir: &Path,
    labels: &Path,
    scores_out: Option<&Path>,
    cfg: &DetectConfig,
) -> Result<(Vec<ScoredFile>, usize), DetectError> {
    let windows: BTreeMap<String, Vec<(String, String)>> = read_json(labels)?;
    let mut files = Vec::with_capacity(windows.len());
    for (rel, wins) in &windows {
        let mut path = data_dir.join(rel);
        if !path.exists() {
            path = data_dir.join("data").join(rel);
        }
        if !path.exists() {
            return Err(DetectError::MissingData {
                file: rel.clone(),
                labels: labels.to_path_buf(),
                data: data_dir.to_path_buf(),
            });
        }
        let mut index: HashMap<i64, usize> = HashMap::new();
        let mut scores = Vec::new();
        let mut rows: Vec<(String, String)> = Vec::new();
        stream_file(&path, cfg, |ts, vs, t, s| {
            index.insert(t, scores.len());
            scores.push(s);
            if scores_out.is_some() {
                rows.push((ts.to_string(), vs.to_string()));
            }
            Ok(())
        })?;
        let mut idx = Vec::with_capacity(wins.len());
        for (a, b) in wins {
            let find = |s: &String| {
                parse_timestamp(s)
                    .and_then(|t| index.get(&t).copied())
                    .ok_or_else(|| DetectError::WindowNotFound {
                        labels: labels.to_path_buf(),
                        file: rel.clone(),
                        timestamp: s.clone(),
                    })
            };
            idx.push((find(a)?, find(b)?));
        }
        if let Some(dir) = scores_out {
            let out = dir.join(rel);
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let f = File::create(&out).map_err(io_err(&out))?;
            let mut w = BufWriter::new(f);
            writeln!(w, "timestamp,value,anomaly_score").map_err(io_err(&out))?;
            for ((ts, vs), s) in rows.iter().zip(&scores) {
                writeln!(w, "{ts},{vs},{s}").map_err(io_err(&out))?;
            }
            w.flush().map_err(io_err(&out))?;
        }
        files.push(ScoredFile {
            name: rel.clone(),
            scores,
            windows: idx,
        });
    }
    Ok((files, windows.values().map(Vec::len).sum()))
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

    #[test]
    fn backtest_on_tiny_labelled_set() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cat")).unwrap();
        let mut text = String::from("timestamp,value\n");
        for i in 0..1000 {
            let v = if (700..705).contains(&i) {
                100.0
            } else {
                (i % 5) as f64
            };
            text.push_str(&format!("{},{v}\n", 1_400_000_000 + i * 300));
        }
        std::fs::write(dir.path().join("cat/f.csv"), text).unwrap();
        let w = |i: i64| format!("{}", 1_400_000_000 + i * 300);
        let labels = dir.path().join("w.json");
        std::fs::write(
            &labels,
            serde_json::json!({"cat/f.csv": [[w(650), w(749)]]}).to_string(),
        )
        .unwrap();
        let r = backtest(dir.path(), &labels, None, None, None).unwrap();
        assert_eq!(r.results.len(), 3);
        assert!(r.normalized("standard").unwrap() > 50.0, "{r}");
        let r = backtest(dir.path(), &labels, None, Some("nope"), None);
        assert!(matches!(r, Err(DetectError::UnknownProfile { .. })));
    }
}
