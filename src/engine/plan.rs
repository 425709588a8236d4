//! Demand forecasts and replica plans inside the engine.
//!
//! Each model's request rate (five-minute means, up to seven days) is forecast a few hours ahead
//! with an 80 % interval; a capacity per replica is learnt from the model's own history
//! (throughput per replica at its observed CPU), and the planner turns both into replicas per
//! step, ahead of the pod start-up lead time, never below what a reactive autoscaler would ask
//! for now. Plans are refreshed every few minutes, a bounded number of models per batch so that
//! a large fleet never stalls a tick. A fleet-wide replica budget, when set, is shared by
//! business priority and the cuts are shown.

use crate::domain::Signal;
use crate::fleet::{History, Resolution};
use crate::forecast::Forecast;
use crate::forecast::capacity::{
    Budget, BudgetRequest, PlannerConfig, ReplicaPlan, apply_budget, estimate_capacity_per_replica,
    plan_replicas,
};
use std::sync::Arc;

/// Seconds between two forecasts of one model.
pub(crate) const FORECAST_EVERY: f64 = 300.0;
/// Forecast steps (five minutes each): six hours.
pub(crate) const HORIZON_STEPS: usize = 72;
/// Models forecast per observation batch at most.
pub(crate) const PER_BATCH: usize = 8;
/// Utilisation the planner plans at.
pub(crate) const TARGET_UTILISATION: f64 = 0.7;

/// A model's forecast and, when its signals allow one, its replica plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelPlan {
    /// When it was made.
    pub made_at: f64,
    /// Demand forecast (needs only the request rate).
    pub forecast: Forecast,
    /// Replica plan and learnt capacity; why there is none when replicas or CPU are not
    /// measured (or too little of them yet).
    pub sizing: Result<Sizing, String>,
    /// Replicas granted under the fleet budget, when it cut this model: (wanted, granted).
    pub cut: Option<(u32, u32)>,
}

/// A replica plan and what it rests on.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sizing {
    /// Replica plan.
    pub plan: ReplicaPlan,
    /// Learnt requests/s one replica serves at the target utilisation.
    pub capacity: f64,
}

impl ModelPlan {
    /// The replica plan, when there is one.
    pub(crate) fn sizing(&self) -> Option<&Sizing> {
        self.sizing.as_ref().ok()
    }
}

/// Why a model has no plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum PlanState {
    /// Not yet tried.
    Pending,
    /// Made.
    Ready(Arc<ModelPlan>),
    /// Could not be made (too little history, …), and when it was tried.
    Failed(f64, String),
}

impl PlanState {
    /// When the plan was last made or tried.
    pub(crate) fn age_from(&self) -> Option<f64> {
        match self {
            PlanState::Pending => None,
            PlanState::Ready(p) => Some(p.made_at),
            PlanState::Failed(t, _) => Some(*t),
        }
    }

    /// The forecast and plan, when there is one.
    pub fn plan(&self) -> Option<&Arc<ModelPlan>> {
        match self {
            PlanState::Ready(p) => Some(p),
            _ => None,
        }
    }

    /// The replica plan, when there is one.
    pub(crate) fn sizing(&self) -> Option<&Sizing> {
        self.plan().and_then(|p| p.sizing())
    }
}

/// Forecast one model's demand from its history and, when replicas and CPU are measured, plan
/// its replicas. Fails only when the demand itself cannot be forecast.
pub(crate) fn make_plan(
    h: &History,
    now: f64,
    min_replicas: u32,
    max_replicas: u32,
    startup_secs: f64,
) -> Result<ModelPlan, String> {
    let demand = h.demand();
    let f = crate::forecast::forecast(&demand, HORIZON_STEPS).map_err(|e| e.to_string())?;
    let sizing = size(h, &f, now, min_replicas, max_replicas, startup_secs);
    Ok(ModelPlan {
        made_at: now,
        forecast: f,
        sizing,
        cut: None,
    })
}

/// The replica plan for a forecast, from the capacity per replica learnt from the model's own
/// (traffic, replicas, CPU) history.
fn size(
    h: &History,
    f: &Forecast,
    now: f64,
    min_replicas: u32,
    max_replicas: u32,
    startup_secs: f64,
) -> Result<Sizing, String> {
    let since = now - 6.0 * 3600.0;
    let rate = h.series(Signal::RequestRate, Resolution::Mid, since);
    let reps = h.series(Signal::Replicas, Resolution::Mid, since);
    let cpu = h.series(Signal::Cpu, Resolution::Mid, since);
    let missing: Vec<&str> = [(Signal::Replicas, &reps), (Signal::Cpu, &cpu)]
        .iter()
        .filter(|(_, pts)| !pts.iter().any(|p| p.1.is_finite()))
        .map(|(s, _)| s.title())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no replica plan: {} not measured in the last 6 h (the demand forecast needs only the request rate)",
            missing.join(" and ")
        ));
    }
    let samples: Vec<(f64, f64, f64)> = rate
        .iter()
        .zip(reps.iter())
        .zip(cpu.iter())
        .map(|((r, n), c)| (r.1, n.1, c.1))
        .collect();
    let capacity = estimate_capacity_per_replica(&samples, TARGET_UTILISATION).ok_or(
        "no replica plan yet: too little (traffic, replicas, CPU) history to learn the capacity per replica",
    )?;
    // the estimator gives throughput at the target: the planner wants it at 100 %
    let per_replica_full = capacity / TARGET_UTILISATION;
    let current = h.last(Signal::Replicas);
    let current = if current.is_finite() {
        current as u32
    } else {
        0
    };
    let current_demand = h.mean_between(Signal::RequestRate, now - 300.0, now);
    let cfg = PlannerConfig {
        target_utilisation: TARGET_UTILISATION,
        min_replicas,
        max_replicas,
        startup_secs,
        forecast_only: true,
        ..PlannerConfig::default()
    };
    let plan = plan_replicas(f, &cfg, current, current_demand, per_replica_full);
    Ok(Sizing { plan, capacity })
}

/// Share a replica budget by priority; returns `(model index, wanted, granted)` for cut models.
pub(crate) fn share_budget(wants: &[(u32, u32, u8)], budget: u32) -> Vec<(u32, u32, u32)> {
    let reqs: Vec<BudgetRequest> = wants
        .iter()
        .map(|&(idx, wanted, priority)| BudgetRequest {
            model: idx.to_string(),
            wanted,
            min: 1,
            // ours: 1 is the highest priority; the budget serves higher numbers first
            priority: u32::from(10u8.saturating_sub(priority)),
            cost_per_replica: 1.0,
        })
        .collect();
    let out = apply_budget(&reqs, Budget::Replicas(budget));
    out.cuts
        .iter()
        .filter_map(|(m, w, g)| m.parse::<u32>().ok().map(|i| (i, *w, *g)))
        .collect()
}
