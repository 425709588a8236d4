//! How much the detectors' NAB score depends on their hand-set constants, and what choosing them
//! by leave-one-category-out cross-validation would give.
//!
//! ```text
//! cargo run --release --example detect_sensitivity -- [--data DIR] [--nested] [OVERRIDES...]
//! ```
//!
//! Each `OVERRIDES` argument is one configuration: `key=value` pairs joined by commas, applied to
//! the defaults (`calibration_span=8192,range_floor=0.02`; keys are [`DetectConfig`]'s numeric
//! fields). Without `--nested`, every configuration is scored as `backtest detect --cv category`
//! scores the defaults: pooled cross-validated and in-sample NAB standard, and each fold. With
//! `--nested`, the configurations are a grid to choose from: for each left-out category, the
//! configuration and its threshold are chosen on the other categories and the category is scored
//! with them; the pooled figure is what choosing those constants from data would predict. With no
//! configuration given, the grid halves and doubles the calibration span, the resolution floor and
//! the suppression span around the defaults (27 configurations).
//!
//! `DIR` (default `../shared/data/nab-dev`) holds the files and `windows.json`.

use pitcrew::detect::nab::{self, category};
use pitcrew::detect::{DetectConfig, backtest::score_labelled};
use std::path::PathBuf;
use std::process::ExitCode;

fn set(cfg: &mut DetectConfig, key: &str, value: &str) -> Result<(), String> {
    let int = || {
        value
            .parse::<u32>()
            .map_err(|e| format!("{key}={value}: {e}"))
    };
    let real = || {
        value
            .parse::<f64>()
            .map_err(|e| format!("{key}={value}: {e}"))
    };
    match key {
        "warmup" => cfg.warmup = int()?,
        "level_span" => cfg.level_span = int()?,
        "scale_span" => cfg.scale_span = int()?,
        "calibration_span" => cfg.calibration_span = int()?,
        "suppress_span" => cfg.suppress_span = int()?,
        "alarm_level" => cfg.alarm_level = real()?,
        "suppress_factor" => cfg.suppress_factor = real()?,
        "suppress_margin" => cfg.suppress_margin = real()?,
        "smoothing" => cfg.smoothing = real()?,
        "range_floor" => cfg.range_floor = real()?,
        "recurrence_days" => cfg.recurrence_days = int()?,
        "recurrence_bins" => cfg.recurrence_bins = int()?,
        // which detectors take part (level, seasonal, change point, novelty), e.g. 1110
        "enabled" if value.len() == 4 && value.chars().all(|c| c == '0' || c == '1') => {
            for (e, c) in cfg.enabled.iter_mut().zip(value.chars()) {
                *e = c == '1';
            }
        }
        _ => return Err(format!("unknown key {key:?}")),
    }
    Ok(())
}

fn parse(arg: &str) -> Result<DetectConfig, String> {
    let mut cfg = DetectConfig::default();
    for kv in arg.split(',') {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("{kv:?}: expected key=value"))?;
        set(&mut cfg, k, v)?;
    }
    Ok(cfg)
}

fn run() -> Result<(), String> {
    let mut data = PathBuf::from("../shared/data/nab-dev");
    let mut nested = false;
    let mut grid: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--data" => data = args.next().ok_or("--data needs a directory")?.into(),
            "--nested" => nested = true,
            _ => grid.push(a),
        }
    }
    if grid.is_empty() && nested {
        for c in [2048, 4096, 8192] {
            for f in [0.02, 0.04, 0.08] {
                for s in [64, 128, 256] {
                    grid.push(format!(
                        "calibration_span={c},range_floor={f},suppress_span={s}"
                    ));
                }
            }
        }
    }
    if !nested {
        grid.insert(0, String::new());
    }
    let labels = data.join("windows.json");
    let mut scored = Vec::with_capacity(grid.len());
    for g in &grid {
        let cfg = if g.is_empty() {
            DetectConfig::default()
        } else {
            parse(g)?
        };
        let (files, _) = score_labelled(&data, &labels, None, &cfg).map_err(|e| e.to_string())?;
        scored.push(files);
    }
    let name = |k: usize| {
        if grid[k].is_empty() {
            "defaults"
        } else {
            grid[k].as_str()
        }
    };
    let profiles = nab::default_profiles();
    if !nested {
        let standard = &profiles[0];
        for (k, files) in scored.iter().enumerate() {
            let cv = nab::cross_validate(files, standard, category);
            let folds: Vec<String> = cv
                .folds
                .iter()
                .map(|f| {
                    let v = if f.normalized.is_nan() {
                        f.raw
                    } else {
                        f.normalized
                    };
                    format!("{} {v:.2}", f.category)
                })
                .collect();
            println!(
                "{:<55} cross-validated {:6.2}  in-sample {:6.2}  | {}",
                name(k),
                cv.pooled_normalized,
                cv.in_sample.normalized,
                folds.join(", ")
            );
        }
        return Ok(());
    }
    for profile in &profiles {
        let mut groups: Vec<String> = Vec::new();
        for f in &scored[0] {
            let g = category(&f.name);
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        println!("{}:", profile.name);
        let (mut pooled, mut windows) = (0.0, 0usize);
        for g in &groups {
            let mut best: Option<(f64, usize, f64)> = None;
            for (k, files) in scored.iter().enumerate() {
                let train: Vec<_> = files
                    .iter()
                    .filter(|f| &category(&f.name) != g)
                    .cloned()
                    .collect();
                let s = nab::score(&train, profile, None);
                if best.is_none_or(|b| s.normalized > b.0) {
                    best = Some((s.normalized, k, s.threshold));
                }
            }
            let Some((train, k, threshold)) = best else {
                continue;
            };
            let test: Vec<_> = scored[k]
                .iter()
                .filter(|f| &category(&f.name) == g)
                .cloned()
                .collect();
            let held = nab::score(&test, profile, Some(threshold));
            windows += test.iter().map(|f| f.windows.len()).sum::<usize>();
            pooled += held.raw;
            println!(
                "  {g:<24} chose {:<55} (others {train:.2}, threshold {threshold:.3}): raw {:.3}, normalised {:.2}",
                name(k),
                held.raw,
                held.normalized
            );
        }
        let (best_in, k_in) = scored
            .iter()
            .enumerate()
            .map(|(k, f)| (nab::score(f, profile, None).normalized, k))
            .fold((f64::MIN, 0), |a, b| if b.0 > a.0 { b } else { a });
        println!(
            "  pooled, constants and threshold chosen per fold: {:.2}; in-sample best {best_in:.2} ({})",
            nab::normalise(pooled, windows, &profile.cost),
            name(k_in)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("detect_sensitivity: {e}");
            ExitCode::FAILURE
        }
    }
}
