//! Library side of `pitcrew backtest detect`: the ensemble run over labelled files (NAB's
//! `combined_windows.json` layout), scored with NAB in-sample ([`backtest`]) and by
//! leave-one-category-out cross-validation ([`backtest_cv`]), and the scoring of labelled files
//! that `examples/detect_sensitivity.rs` shares ([`score_labelled`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use super::DetectConfig;
use super::cli::{DetectError, io_err, parse_timestamp, stream_file};
use super::nab::{self, Profile, ProfileScore, ScoredFile};

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
pub(crate) fn load_profiles(path: &Path) -> Result<Vec<Profile>, DetectError> {
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
