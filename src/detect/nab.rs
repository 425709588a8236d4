//! NAB scoring (Numenta Anomaly Benchmark v1.x): anomaly windows, the scaled sigmoid, the
//! probationary period, one global threshold per profile found by an exact sweep, and
//! normalisation to 0 (null detector) .. 100 (perfect).

use std::collections::HashMap;

/// Weights of a NAB cost profile.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostMatrix {
    /// Reward of a true positive at the start of a window.
    pub tp_weight: f64,
    /// Cost of a missed window.
    pub fn_weight: f64,
    /// Cost of a false positive far from any window.
    pub fp_weight: f64,
    /// Unused by NAB scoring, kept for completeness.
    #[serde(default)]
    pub tn_weight: f64,
}

/// A named cost profile.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Profile name, e.g. `standard`.
    pub name: String,
    /// Its weights.
    pub cost: CostMatrix,
}

/// NAB's three published profiles.
pub fn default_profiles() -> Vec<Profile> {
    let p = |name: &str, fp: f64, fnw: f64| Profile {
        name: name.to_string(),
        cost: CostMatrix {
            tp_weight: 1.0,
            fn_weight: fnw,
            fp_weight: fp,
            tn_weight: 1.0,
        },
    };
    vec![
        p("standard", 0.11, 1.0),
        p("reward_low_FP_rate", 0.22, 1.0),
        p("reward_low_FN_rate", 0.11, 2.0),
    ]
}

/// One scored file: timestamps (any monotone integer key, e.g. microseconds), scores, and its
/// labelled windows as index pairs (inclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredFile {
    /// Relative name, e.g. `realTraffic/speed_6005.csv`.
    pub name: String,
    /// Anomaly scores, one per row.
    pub scores: Vec<f64>,
    /// Windows as inclusive row-index ranges, in time order.
    pub windows: Vec<(usize, usize)>,
}

/// Result for one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileScore {
    /// Profile name.
    pub profile: String,
    /// The global threshold chosen.
    pub threshold: f64,
    /// Raw total score.
    pub raw: f64,
    /// Normalised score (0 = null detector, 100 = perfect).
    pub normalized: f64,
    /// Raw score per file, in input order.
    pub per_file: Vec<(String, f64)>,
}

/// NAB's scaled sigmoid.
fn ssig(p: f64) -> f64 {
    if p > 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * p).exp()) - 1.0
    }
}

/// Per row after the probationary period: sweep weight and window id.
struct Points {
    weight: Vec<f64>,
    window: Vec<Option<usize>>,
    score: Vec<f64>,
}

fn file_points(f: &ScoredFile, cm: &CostMatrix) -> Points {
    let n = f.scores.len();
    let prob = ((0.15 * n as f64).floor()).min(0.15 * 5000.0);
    let mut pts = Points {
        weight: Vec::with_capacity(n),
        window: Vec::with_capacity(n),
        score: Vec::with_capacity(n),
    };
    let mut k = 0;
    let mut prev: Option<(usize, usize)> = None;
    for i in 0..n {
        let (w, id) = match f.windows.get(k) {
            Some(&(a, b)) if a <= i && i <= b => {
                let width = (b - a + 1) as f64;
                let w = ssig(-((b as f64 - i as f64 + 1.0) / width)) * cm.tp_weight / ssig(-1.0);
                let id = k;
                if i == b {
                    prev = Some((b, b - a + 1));
                    k += 1;
                }
                (w, Some(id))
            }
            _ => {
                let w = match prev {
                    None => -1.0,
                    Some((b, width)) => ssig((b as f64 - i as f64).abs() / (width as f64 - 1.0)),
                };
                (w * cm.fp_weight, None)
            }
        };
        if i as f64 >= prob {
            pts.weight.push(w);
            pts.window.push(id);
            pts.score.push(f.scores[i]);
        }
    }
    pts
}

/// Scores `files` under one profile. `total_windows` is the number of labelled windows (used for
/// normalisation; windows entirely inside a probationary period still count there, as in NAB).
/// With `threshold = None` the best global threshold is found by an exact sweep.
pub fn score(files: &[ScoredFile], profile: &Profile, threshold: Option<f64>) -> ProfileScore {
    let cm = &profile.cost;
    let total_windows: usize = files.iter().map(|f| f.windows.len()).sum();
    let pts: Vec<Points> = files.iter().map(|f| file_points(f, cm)).collect();
    let thr = threshold.unwrap_or_else(|| sweep(&pts, cm));
    let mut total = 0.0;
    let mut per_file = Vec::with_capacity(files.len());
    for (f, p) in files.iter().zip(&pts) {
        let mut best: HashMap<usize, f64> = HashMap::new();
        let mut sub = 0.0;
        for ((&w, &id), &s) in p.weight.iter().zip(&p.window).zip(&p.score) {
            let d = s >= thr;
            match id {
                None => {
                    if d {
                        sub += w;
                    }
                }
                Some(id) => {
                    let e = best.entry(id).or_insert(-cm.fn_weight);
                    let v = if d { w } else { -cm.fn_weight };
                    if v > *e {
                        *e = v;
                    }
                }
            }
        }
        sub += best.values().sum::<f64>();
        per_file.push((f.name.clone(), sub));
        total += sub;
    }
    let base = -cm.fn_weight * total_windows as f64;
    let perfect = cm.tp_weight * total_windows as f64;
    let normalized = if total_windows > 0 {
        100.0 * (total - base) / (perfect - base)
    } else {
        f64::NAN
    };
    ProfileScore {
        profile: profile.name.clone(),
        threshold: thr,
        raw: total,
        normalized,
        per_file,
    }
}

/// One left-out group of [`cross_validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct CvFold {
    /// The group (NAB category).
    pub category: String,
    /// Files in it.
    pub files: usize,
    /// Windows in it.
    pub windows: usize,
    /// Threshold chosen on every other group.
    pub threshold: f64,
    /// Raw score of the group at that threshold.
    pub raw: f64,
    /// Normalised over the group's own windows (NaN without windows).
    pub normalized: f64,
    /// Raw score of the group at the in-sample threshold.
    pub in_sample_raw: f64,
    /// Normalised at the in-sample threshold (NaN without windows).
    pub in_sample_normalized: f64,
    /// Windows with a detection at the fold's threshold.
    pub detected: usize,
    /// Windows without one (a window inside the probationary period is always missed).
    pub missed: usize,
    /// Detections outside every window (after the probationary period) at the fold's threshold.
    pub false_alarms: usize,
}

/// `(windows detected, windows missed, detections outside windows)` of `files` at `threshold`.
fn outcomes(files: &[ScoredFile], cm: &CostMatrix, threshold: f64) -> (usize, usize, usize) {
    let (mut detected, mut total, mut false_alarms) = (0, 0, 0);
    for f in files {
        let p = file_points(f, cm);
        let mut hit = vec![false; f.windows.len()];
        for (&id, &s) in p.window.iter().zip(&p.score) {
            if s >= threshold {
                match id {
                    Some(k) => hit[k] = true,
                    None => false_alarms += 1,
                }
            }
        }
        detected += hit.iter().filter(|h| **h).count();
        total += f.windows.len();
    }
    (detected, total - detected, false_alarms)
}

/// Result of [`cross_validate`] for one profile.
#[derive(Debug, Clone, PartialEq)]
pub struct CvScore {
    /// Profile name.
    pub profile: String,
    /// One fold per group, in order of first appearance.
    pub folds: Vec<CvFold>,
    /// Every file's raw score at its own fold's threshold, summed and normalised over all
    /// windows as NAB normalises.
    pub pooled_normalized: f64,
    /// The usual in-sample score (one threshold swept on every file).
    pub in_sample: ProfileScore,
}

/// A raw score normalised as NAB normalises: 0 is the null detector's score over `windows`
/// windows, 100 a perfect one's (NaN without windows).
pub fn normalise(raw: f64, windows: usize, cm: &CostMatrix) -> f64 {
    let base = -cm.fn_weight * windows as f64;
    let perfect = cm.tp_weight * windows as f64;
    if windows > 0 {
        100.0 * (raw - base) / (perfect - base)
    } else {
        f64::NAN
    }
}

/// A labelled file's NAB category: the first component of its name
/// (`realTraffic/speed_6005.csv` → `realTraffic`).
pub fn category(name: &str) -> String {
    name.split('/').next().unwrap_or(name).to_string()
}

/// Leave-one-group-out: for each group of files (`group_of(name)`), the threshold is swept on the
/// other groups' files only and the group is scored at it.
pub fn cross_validate(
    files: &[ScoredFile],
    profile: &Profile,
    group_of: impl Fn(&str) -> String,
) -> CvScore {
    let cm = &profile.cost;
    let in_sample = score(files, profile, None);
    let mut groups: Vec<String> = Vec::new();
    for f in files {
        let g = group_of(&f.name);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut pooled = 0.0;
    let folds = groups
        .iter()
        .map(|g| {
            let (test, train): (Vec<ScoredFile>, Vec<ScoredFile>) =
                files.iter().cloned().partition(|f| &group_of(&f.name) == g);
            let thr = score(&train, profile, None).threshold;
            let held = score(&test, profile, Some(thr));
            let inside = score(&test, profile, Some(in_sample.threshold));
            let windows = test.iter().map(|f| f.windows.len()).sum();
            let (detected, missed, false_alarms) = outcomes(&test, cm, thr);
            pooled += held.raw;
            CvFold {
                category: g.clone(),
                files: test.len(),
                windows,
                threshold: thr,
                raw: held.raw,
                normalized: normalise(held.raw, windows, cm),
                in_sample_raw: inside.raw,
                in_sample_normalized: normalise(inside.raw, windows, cm),
                detected,
                missed,
                false_alarms,
            }
        })
        .collect();
    let all_windows = files.iter().map(|f| f.windows.len()).sum();
    CvScore {
        profile: profile.name.clone(),
        folds,
        pooled_normalized: normalise(pooled, all_windows, cm),
        in_sample,
    }
}

/// Exact threshold sweep over all distinct scores, as NAB does.
fn sweep(pts: &[Points], cm: &CostMatrix) -> f64 {
    // (score, weight, global window id)
    let mut all: Vec<(f64, f64, Option<usize>)> = Vec::new();
    let mut offset = 0;
    for p in pts {
        for ((&w, &id), &s) in p.weight.iter().zip(&p.window).zip(&p.score) {
            all.push((s, w, id.map(|i| i + offset)));
        }
        offset += p.window.iter().flatten().max().map_or(0, |m| m + 1);
    }
    all.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut parts: HashMap<usize, f64> = HashMap::new();
    for &(_, _, id) in &all {
        if let Some(id) = id {
            parts.insert(id, -cm.fn_weight);
        }
    }
    let mut parts_sum: f64 = parts.values().sum();
    let mut fp = 0.0;
    let mut best = (parts_sum, 1.1);
    for j in 0..all.len() {
        let (s, w, id) = all[j];
        match id {
            None => fp += w,
            Some(id) => {
                if let Some(v) = parts.get_mut(&id)
                    && w > *v
                {
                    parts_sum += w - *v;
                    *v = w;
                }
            }
        }
        if j + 1 == all.len() || all[j + 1].0 != s {
            let tot = fp + parts_sum;
            if tot > best.0 {
                best = (tot, s);
            }
        }
    }
    best.1
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(scores: Vec<f64>, windows: Vec<(usize, usize)>) -> ScoredFile {
        ScoredFile {
            name: "a/b.csv".into(),
            scores,
            windows,
        }
    }

    #[test]
    fn null_detector_scores_zero_and_perfect_scores_hundred() {
        let std = &default_profiles()[0];
        let f = file(vec![0.0; 1000], vec![(500, 599)]);
        let r = score(&[f], std, None);
        assert!((r.normalized - 0.0).abs() < 1e-9, "{r:?}");
        let mut s = vec![0.0; 1000];
        s[500] = 1.0;
        let r = score(&[file(s, vec![(500, 599)])], std, None);
        assert!((r.normalized - 100.0).abs() < 1e-6, "{r:?}");
    }

    #[test]
    fn false_positive_costs_fp_weight() {
        let std = &default_profiles()[0];
        let mut s = vec![0.0; 1000];
        s[500] = 1.0;
        s[300] = 1.0; // before the window: full FP cost
        let r = score(&[file(s, vec![(500, 599)])], std, Some(0.5));
        assert!((r.raw - (1.0 - 0.11)).abs() < 1e-9, "{r:?}");
    }

    #[test]
    fn outcomes_count_windows_and_false_alarms() {
        let cm = &default_profiles()[0].cost;
        let mut s = vec![0.0; 1000];
        s[550] = 1.0; // inside the window
        s[300] = 1.0; // outside, after the probationary period
        s[100] = 1.0; // inside the probationary period: not counted
        let f = vec![file(s, vec![(500, 599), (700, 799)])];
        assert_eq!(outcomes(&f, cm, 0.5), (1, 1, 1));
        assert_eq!(outcomes(&f, cm, 1.5), (0, 2, 0));
    }
}
