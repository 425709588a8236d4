//! `pitcrew backtest incidents`' patch scenarios, on the same effect loop: the simulated fleet's
//! real findings (its pinned packages against the advisories that ship with it) answered by
//! patches under an autonomy phase — one scenario where every build is clean, one where
//! ranker-bert's build regresses (it serves slower and fails more). Per patch: how it was
//! decided, how it ended, whether its findings closed, and whether the model broke an objective
//! in the last hour of the run; a regressing build must be stopped at the canary with traffic
//! back on the version that served.

use super::incidents::{BacktestConfig, OPERATOR, operator_answers, warmed_up};
use super::route;
use crate::domain::{Action, Signal};
use crate::engine::{EngineConfig, Event};
use crate::policy::Remediation;
use crate::policy::autonomy::{ActionClass, Mode};
use crate::sim::SIM_STEP;
use crate::sources::sim::{findings, step_events};
use serde::Serialize;

/// The model whose build regresses in the second scenario (search/ranker-bert).
const REGRESSING: usize = 1;

/// One patch's figures.
#[derive(Debug, Clone, Serialize)]
pub struct PatchReport {
    /// Scenario: `patch-clean` or `patch-regresses`.
    pub scenario: String,
    /// Model.
    pub model: String,
    /// What it pins instead, in a few words.
    pub bumps: Vec<String>,
    /// Who decided: `auto`, `human` (the modelled operator) or `would-do` (observe).
    pub decided: String,
    /// How it ended (`succeeded`, `undone`, `failed`, `proposed`, …).
    pub outcome: String,
    /// The proposal to promotion (the candidate serving all traffic), seconds.
    pub to_promotion_secs: Option<f64>,
    /// Its findings closed by the end of the run.
    pub closed: bool,
    /// Its build was made to regress.
    pub regressing_build: bool,
    /// The model served the version it served before the patch at the end.
    pub serving_before: bool,
    /// The model's p95 latency or error rate above its critical objective in the last hour
    /// of the run (one-minute means).
    pub broken_after: bool,
}

/// The patch scenarios under `cfg`'s phase: the fleet's findings given to the engine after the
/// warm-up, then `cfg.horizon` seconds watched.
pub fn run_patches(cfg: &BacktestConfig) -> Vec<PatchReport> {
    let mut out = trace(cfg, false);
    out.extend(trace(cfg, true));
    out
}

fn trace(cfg: &BacktestConfig, regress: bool) -> Vec<PatchReport> {
    let scenario = if regress {
        "patch-regresses"
    } else {
        "patch-clean"
    };
    let (mut world, mut engine, mut log) = warmed_up(cfg);
    let objectives = EngineConfig::default().objectives;
    let steps = |secs: f64| (secs / SIM_STEP).round() as usize;
    if regress && REGRESSING < world.models.len() {
        world.models[REGRESSING].build_regresses = true;
    }
    let before: Vec<u32> = world.models.iter().map(|m| m.serving_version()).collect();
    // what each model runs is scanned now and again whenever a version starts serving
    world.rescan = true;
    for ev in findings(&world) {
        engine.apply(ev);
    }
    let start = world.time();
    let last_hour = start + cfg.horizon - 3600.0;
    let mut broken = vec![false; world.models.len()];
    // one-minute sums of (p95, errors, samples) per model, for the last hour: minutes
    // (k, k + 60], sixty of them
    let mut minute = vec![(0.0_f64, 0.0_f64, 0u32); world.models.len()];
    let mut minute_end = last_hour + 60.0;
    for _ in 0..steps(cfg.horizon) {
        for ev in step_events(&mut world) {
            if let Event::Observations { t, samples } = &ev
                && *t > last_hour
            {
                if *t > minute_end {
                    judge_minute(&mut minute, &mut broken, &objectives);
                    minute_end += 60.0;
                }
                for (m, s) in samples {
                    let (p95, err) = (
                        s.values[Signal::LatencyP95.index()],
                        s.values[Signal::ErrorRate.index()],
                    );
                    if let Some(acc) = minute.get_mut(*m as usize)
                        && p95.is_finite()
                        && err.is_finite()
                    {
                        acc.0 += f64::from(p95);
                        acc.1 += f64::from(err);
                        acc.2 += 1;
                    }
                }
            }
            let fx = engine.apply(ev);
            route(&mut engine, &mut world, fx, &mut log);
        }
        operator_answers(&mut engine, &mut world, &mut log, cfg.operator_delay);
    }
    judge_minute(&mut minute, &mut broken, &objectives);
    let vulns = engine.vulns();
    engine
        .remediations()
        .filter(|r| r.class == ActionClass::Patch)
        .map(|r| {
            let m = r.model as usize;
            let open = vulns.iter().find(|v| v.model == r.model).is_some_and(|v| {
                v.open
                    .iter()
                    .any(|o| r.bumps.iter().any(|b| b.fixes(&o.found)))
            });
            PatchReport {
                scenario: scenario.to_string(),
                model: world.models[m].meta.key(),
                bumps: r.bumps.iter().map(crate::domain::Bump::describe).collect(),
                decided: decided(r),
                outcome: r.state.word().to_lowercase(),
                to_promotion_secs: promoted_at(r).map(|t| t - r.proposed),
                closed: !open,
                regressing_build: regress && m == REGRESSING,
                serving_before: world.models[m].serving_version() == before[m],
                broken_after: broken[m],
            }
        })
        .collect()
}

/// Each model's minute of means judged against the critical objectives, then cleared.
fn judge_minute(
    minute: &mut [(f64, f64, u32)],
    broken: &mut [bool],
    o: &crate::engine::Objectives,
) {
    for (acc, b) in minute.iter_mut().zip(broken.iter_mut()) {
        if acc.2 > 0 {
            let n = f64::from(acc.2);
            *b |= acc.0 / n > o.latency_crit_ms || acc.1 / n > o.error_crit;
        }
        *acc = (0.0, 0.0, 0);
    }
}

/// Who decided a remediation.
fn decided(r: &Remediation) -> String {
    let by_human = r
        .decisions
        .iter()
        .any(|d| d.what == "approve" && d.who == OPERATOR);
    match r.mode {
        Mode::Observe => "would-do",
        _ if by_human => "human",
        Mode::Auto => "auto",
        _ => "nobody",
    }
    .to_string()
}

/// When the candidate took all traffic (the last canary stage run), if it did.
fn promoted_at(r: &Remediation) -> Option<f64> {
    match r.action {
        Action::Canary { share, .. } if share >= 1.0 => r
            .timeline
            .iter()
            .rev()
            .find(|(_, s)| s.contains("100 %"))
            .map(|(t, _)| *t),
        _ => None,
    }
}

/// The patch reports as text.
pub fn render_patches(list: &[PatchReport]) -> String {
    let mut s = format!(
        "{:<15} {:<24} {:<8} {:<10} {:>7} {:<6} {:<7} {:<6}  bumps\n",
        "scenario", "model", "decided", "outcome", "promote", "closed", "serving", "broken"
    );
    for p in list {
        s.push_str(&format!(
            "{:<15} {:<24} {:<8} {:<10} {:>7} {:<6} {:<7} {:<6}  {}{}\n",
            p.scenario,
            p.model,
            p.decided,
            p.outcome,
            p.to_promotion_secs
                .map_or("—".to_string(), |x| format!("{:.1}", x / 60.0)),
            if p.closed { "yes" } else { "no" },
            if p.serving_before { "same" } else { "changed" },
            if p.broken_after { "yes" } else { "no" },
            p.bumps.join(", "),
            if p.regressing_build {
                " (its build regresses)"
            } else {
                ""
            }
        ));
    }
    s.push_str("(promote = minutes from the proposal to the candidate serving all traffic; closed = its findings closed; serving = the version serving at the end, the same as before the patch or another; broken = p95 or errors above the critical objective in the run's last hour)\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::autonomy::Phase;

    fn run(phase: Phase) -> Vec<PatchReport> {
        run_patches(&BacktestConfig {
            phase,
            ..BacktestConfig::default()
        })
    }

    #[test]
    fn a_regressing_build_is_stopped_at_the_canary_and_clean_ones_close_their_findings() {
        let list = run(Phase::Autonomy);
        for scenario in ["patch-clean", "patch-regresses"] {
            assert!(
                list.iter().filter(|p| p.scenario == scenario).count() >= 3,
                "{}",
                render_patches(&list)
            );
        }
        for p in &list {
            assert!(!p.broken_after, "{}", render_patches(&list));
            if p.regressing_build {
                assert_eq!(p.model, "search/ranker-bert");
                assert_eq!(p.outcome, "undone", "{}", render_patches(&list));
                assert!(p.serving_before && !p.closed && p.to_promotion_secs.is_none());
            } else {
                assert_eq!(p.outcome, "succeeded", "{}", render_patches(&list));
                assert!(p.closed && !p.serving_before && p.to_promotion_secs.is_some());
            }
        }
        assert!(list.iter().any(|p| p.regressing_build));
        // the major bump (pillow 9.5.0 → 10.0.1) was decided by the (modelled) operator
        let pillow = list
            .iter()
            .find(|p| p.model == "vision/thumbnail-crop")
            .unwrap_or_else(|| panic!("{}", render_patches(&list)));
        assert_eq!(pillow.decided, "human");
    }

    #[test]
    fn in_foundation_every_patch_is_a_would_do() {
        let list = run(Phase::Foundation);
        assert!(list.len() >= 4, "{}", render_patches(&list));
        for p in &list {
            assert_eq!((p.decided.as_str(), p.closed), ("would-do", false), "{p:?}");
        }
    }
}
