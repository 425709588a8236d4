//! Demand forecasts and replica plans inside the engine.
//!
//! Each model's request rate (five-minute means, up to seven days) is forecast a few hours ahead
//! with an 80 % interval; a capacity per replica is learnt from the model's own history
//! (throughput per replica at its observed CPU), and the planner turns both into replicas per
//! step, ahead of the pod start-up lead time, never below what a reactive autoscaler would ask
//! for now. Plans are refreshed every few minutes, a bounded number of models per batch so that
//! a large fleet never stalls a tick. A fleet-wide replica budget, when set, is shared by
//! business priority and the cuts are shown.

use crate::fleet::{History, Resolution, Signal};
use crate::forecast::Forecast;
use crate::forecast::capacity::{
    Budget, BudgetRequest, PlannerConfig, ReplicaPlan, apply_budget, estimate_capacity_per_replica,
    plan_replicas,
};
use std::sync::Arc;

/// Seconds between two forecasts of one model.
pub const FORECAST_EVERY: f64 = 300.0;
/// Forecast steps (five minutes each): six hours.
pub const HORIZON_STEPS: usize = 72;
/// Models forecast per observation batch at most.
pub const PER_BATCH: usize = 8;
/// Utilisation the planner plans at.
pub const TARGET_UTILISATION: f64 = 0.7;

/// A model's forecast and plan.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    /// When it was made.
    pub made_at: f64,
    /// Demand forecast.
    pub forecast: Forecast,
    /// Replica plan.
    pub plan: ReplicaPlan,
    /// Learnt requests/s one replica serves at the target utilisation.
    pub capacity: f64,
    /// Replicas granted under the fleet budget, when it cut this model: (wanted, granted).
    pub cut: Option<(u32, u32)>,
}

/// Why a model has no plan.
#[derive(Debug, Clone, PartialEq)]
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
    pub fn age_from(&self) -> Option<f64> {
        match self {
            PlanState::Pending => None,
            PlanState::Ready(p) => Some(p.made_at),
            PlanState::Failed(t, _) => Some(*t),
        }
    }

    /// The plan, when there is one.
    pub fn plan(&self) -> Option<&Arc<ModelPlan>> {
        match self {
            PlanState::Ready(p) => Some(p),
            _ => None,
        }
    }
}

/// Forecast and plan one model from its history.
pub fn make_plan(
    h: &History,
    now: f64,
    min_replicas: u32,
    max_replicas: u32,
    startup_secs: f64,
) -> Result<ModelPlan, String> {
    plan_from(&PlanInputs::read(
        h,
        now,
        min_replicas,
        max_replicas,
        startup_secs,
    ))
}

/// What a plan is made from, read from a model's history (so that the plan itself, a pure
/// function of these, can be made on another thread).
#[derive(Debug, Clone)]
pub struct PlanInputs {
    now: f64,
    min_replicas: u32,
    max_replicas: u32,
    startup_secs: f64,
    /// Five-minute means of the request rate.
    demand: Vec<(f64, f64)>,
    /// (request rate, replicas, CPU) one-minute means of the last six hours.
    samples: Vec<(f64, f64, f64)>,
    /// Replicas now (newest sample).
    current: f32,
    /// Mean request rate of the last five minutes.
    current_demand: f64,
}

impl PlanInputs {
    /// Read from `h` at `now`.
    pub fn read(
        h: &History,
        now: f64,
        min_replicas: u32,
        max_replicas: u32,
        startup_secs: f64,
    ) -> PlanInputs {
        let since = now - 6.0 * 3600.0;
        let rate = h.series(Signal::RequestRate, Resolution::Mid, since);
        let reps = h.series(Signal::Replicas, Resolution::Mid, since);
        let cpu = h.series(Signal::Cpu, Resolution::Mid, since);
        let samples: Vec<(f64, f64, f64)> = rate
            .iter()
            .zip(reps.iter())
            .zip(cpu.iter())
            .map(|((r, n), c)| (r.1, n.1, c.1))
            .collect();
        PlanInputs {
            now,
            min_replicas,
            max_replicas,
            startup_secs,
            demand: h.demand(),
            samples,
            current: h.last(Signal::Replicas),
            current_demand: h.mean_between(Signal::RequestRate, now - 300.0, now),
        }
    }
}

/// Forecast the demand and plan replicas from what [`PlanInputs::read`] read.
pub fn plan_from(inp: &PlanInputs) -> Result<ModelPlan, String> {
    let PlanInputs {
        now,
        min_replicas,
        max_replicas,
        startup_secs,
        ..
    } = *inp;
    let f = crate::forecast::forecast(&inp.demand, HORIZON_STEPS).map_err(|e| e.to_string())?;
    let capacity = estimate_capacity_per_replica(&inp.samples, TARGET_UTILISATION)
        .ok_or("no usable (traffic, replicas, CPU) history to learn capacity per replica yet")?;
    // the estimator gives throughput at the target: the planner wants it at 100 %
    let per_replica_full = capacity / TARGET_UTILISATION;
    let current = if inp.current.is_finite() {
        inp.current as u32
    } else {
        0
    };
    let current_demand = inp.current_demand;
    let cfg = PlannerConfig {
        target_utilisation: TARGET_UTILISATION,
        min_replicas,
        max_replicas,
        startup_secs,
        forecast_only: true,
        ..PlannerConfig::default()
    };
    let plan = plan_replicas(&f, &cfg, current, current_demand, per_replica_full);
    Ok(ModelPlan {
        made_at: now,
        forecast: f,
        plan,
        capacity,
        cut: None,
    })
}

/// Share a replica budget by priority; returns `(model index, wanted, granted)` for cut models.
pub fn share_budget(wants: &[(u32, u32, u8)], budget: u32) -> Vec<(u32, u32, u32)> {
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

/// Shares the plans of a batch (their demand forecasts, mostly) with one helper thread.
///
/// A plan is a pure function of its [`PlanInputs`], so where it is computed changes nothing
/// in the results: [`ForecastPool::plan_all`] returns exactly what [`plan_from`] gives for
/// each input, in order. The caller computes forecasts too (it
/// takes jobs from the back of the queue while the helper takes them from the front), so a
/// helper that is slow to be scheduled never makes a batch slower than doing it alone. Used
/// by replay (re-running a long recording is mostly forecasting); the live engine has none.
pub struct ForecastPool {
    shared: Arc<Shared>,
    worker: Option<std::thread::JoinHandle<()>>,
}

type Job = (usize, PlanInputs);
type Made = Result<ModelPlan, String>;

#[derive(Default)]
struct Shared {
    /// Held for a whole batch: engines cloned from one another may share a pool.
    batch: std::sync::Mutex<()>,
    state: std::sync::Mutex<PoolState>,
    work: std::sync::Condvar,
    done: std::sync::Condvar,
}

#[derive(Default)]
struct PoolState {
    queue: std::collections::VecDeque<Job>,
    results: Vec<Option<Made>>,
    busy: usize,
    stop: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        // a panic while holding the lock leaves plain data: carry on with it
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn plan_caught(inputs: &PlanInputs) -> Made {
    std::panic::catch_unwind(|| plan_from(inputs))
        .unwrap_or_else(|_| Err("making the plan failed (internal error)".to_string()))
}

impl ForecastPool {
    /// A pool with one helper thread; `None` when the machine has a single core or the thread
    /// cannot be started (plans are then made by the caller alone).
    pub fn new() -> Option<ForecastPool> {
        if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
            return None;
        }
        let shared = Arc::new(Shared::default());
        let theirs = shared.clone();
        let worker = std::thread::Builder::new()
            .name("pitcrew-forecast".into())
            .spawn(move || {
                let mut st = theirs.lock();
                loop {
                    if st.stop {
                        return;
                    }
                    let Some((slot, inputs)) = st.queue.pop_front() else {
                        st = theirs
                            .work
                            .wait(st)
                            .unwrap_or_else(std::sync::PoisonError::into_inner);
                        continue;
                    };
                    st.busy += 1;
                    drop(st);
                    let made = plan_caught(&inputs);
                    st = theirs.lock();
                    if let Some(r) = st.results.get_mut(slot) {
                        *r = Some(made);
                    }
                    st.busy -= 1;
                    theirs.done.notify_all();
                }
            })
            .ok()?;
        Some(ForecastPool {
            shared,
            worker: Some(worker),
        })
    }

    /// [`plan_from`] of every input, in order.
    pub fn plan_all(&self, inputs: Vec<PlanInputs>) -> Vec<Made> {
        let n = inputs.len();
        let sh = &self.shared;
        let _batch = sh
            .batch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        {
            let mut st = sh.lock();
            st.results = (0..n).map(|_| None).collect();
            st.queue = inputs.into_iter().enumerate().collect();
        }
        sh.work.notify_one();
        let mut st = sh.lock();
        while let Some((slot, inputs)) = st.queue.pop_back() {
            drop(st);
            let made = plan_caught(&inputs);
            st = sh.lock();
            if let Some(r) = st.results.get_mut(slot) {
                *r = Some(made);
            }
        }
        while st.busy > 0 {
            st = sh
                .done
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        std::mem::take(&mut st.results)
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err("the plan was lost (internal error)".into())))
            .collect()
    }
}

impl Drop for ForecastPool {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.work.notify_all();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl std::fmt::Debug for ForecastPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ForecastPool")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Sample;

    fn history(seed: u32) -> History {
        let mut h = History::new();
        for i in 0..(8 * 720) {
            let t = f64::from(i) * 5.0;
            let day = (t / 86_400.0 * std::f64::consts::TAU).sin();
            let rate = 100.0 + 40.0 * day + f64::from((i * 7 + seed) % 13);
            let reps = 3.0 + f64::from(seed % 3);
            let cpu = rate / reps / 60.0;
            let s = Sample {
                values: [rate as f32, 50.0, 0.001, f32::NAN, cpu as f32, reps as f32],
            };
            h.push(t, &s);
        }
        h
    }

    #[test]
    fn pool_plans_equal_plans_made_alone_in_order() {
        let Some(pool) = ForecastPool::new() else {
            // a single core: the engine makes its plans alone and there is nothing to compare
            assert_eq!(
                std::thread::available_parallelism().map_or(1, |n| n.get()),
                1
            );
            return;
        };
        let hs: Vec<History> = (0..9).map(history).collect();
        let now = 8.0 * 3600.0;
        let inputs: Vec<PlanInputs> = hs
            .iter()
            .map(|h| PlanInputs::read(h, now, 1, 1000, 150.0))
            .collect();
        let alone: Vec<_> = hs
            .iter()
            .map(|h| make_plan(h, now, 1, 1000, 150.0))
            .collect();
        assert!(alone.iter().all(Result::is_ok), "{alone:?}");
        for _ in 0..3 {
            assert_eq!(pool.plan_all(inputs.clone()), alone);
        }
        // a history too short to plan fails the same way through the pool
        let empty = PlanInputs::read(&History::new(), now, 1, 1000, 150.0);
        let got = pool.plan_all(vec![empty.clone(), inputs[0].clone()]);
        assert_eq!(got[0], plan_from(&empty));
        assert!(got[0].is_err());
        assert_eq!(got[1], alone[0]);
    }
}
