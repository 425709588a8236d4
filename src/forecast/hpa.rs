//! The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm, as documented and as in
//! the controller's `replica_calculator.go` / `horizontal.go`, for one resource metric:
//!
//! 1. **Replica calculation**: `usageRatio = mean utilisation of ready pods / target`. Without
//!    not-yet-ready pods (or when not scaling up): no change within the tolerance (0.1), else
//!    `ceil(usageRatio × readyPods)`. When scaling up with not-yet-ready pods, those count at 0%:
//!    the ratio is recomputed over all pods (utilisations are whole percentages, as in the
//!    controller); if it is then within tolerance or reverses direction
//!    nothing changes, else `ceil(newRatio × allPods)` (never below the current count).
//! 2. **Stabilisation**: each raw recommendation is recorded; the result is the current count
//!    raised to the lowest recommendation in the scale-up window (0 s by default) and lowered to
//!    the highest one in the scale-down window (300 s).
//! 3. **Rate limits**: scale-up at most `max(+100%, +4 pods)` per 15 s period; scale-down at most
//!    100% per 15 s (the default behaviour), then the min/max bounds.
//!
//! The controller runs every `sync_secs` (15 s).

use std::collections::VecDeque;

/// HPA settings (Kubernetes defaults except the target).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HpaConfig {
    /// Target average utilisation (0..1], e.g. 0.7.
    pub target_utilisation: f64,
    /// Tolerance on the usage ratio (default 0.1).
    pub tolerance: f64,
    /// Seconds between syncs (default 15).
    pub sync_secs: f64,
    /// Scale-up stabilisation window (default 0 s).
    pub scale_up_window_secs: f64,
    /// Scale-down stabilisation window (default 300 s).
    pub scale_down_window_secs: f64,
    /// Scale-up policy: percent per period (default 100).
    pub scale_up_percent: f64,
    /// Scale-up policy: pods per period (default 4).
    pub scale_up_pods: u32,
    /// Scale-down policy: percent per period (default 100).
    pub scale_down_percent: f64,
    /// Minimum replicas.
    pub min_replicas: u32,
    /// Maximum replicas.
    pub max_replicas: u32,
}

impl Default for HpaConfig {
    fn default() -> Self {
        HpaConfig {
            target_utilisation: 0.7,
            tolerance: 0.1,
            sync_secs: 15.0,
            scale_up_window_secs: 0.0,
            scale_down_window_secs: 300.0,
            scale_up_percent: 100.0,
            scale_up_pods: 4,
            scale_down_percent: 100.0,
            min_replicas: 1,
            max_replicas: 100_000,
        }
    }
}

/// Step 1: the replica calculator. `current` is the desired count now (`ready + unready`
/// normally), `ready_utilisation` the mean utilisation of ready pods (1.0 = 100% of request).
pub(crate) fn calculate_replicas(
    cfg: &HpaConfig,
    current: u32,
    ready: u32,
    unready: u32,
    ready_utilisation: f64,
) -> u32 {
    if ready == 0 || !ready_utilisation.is_finite() || cfg.target_utilisation <= 0.0 {
        // No metrics: the controller does not act.
        return current;
    }
    // Like the controller, utilisation and target are whole percentages (truncated).
    let target_pct = (cfg.target_utilisation * 100.0).round().max(1.0);
    let util_pct = (ready_utilisation * 100.0).floor();
    let ratio = util_pct / target_pct;
    let scale_up_with_unready = unready > 0 && ratio > 1.0;
    if !scale_up_with_unready {
        if (1.0 - ratio).abs() <= cfg.tolerance {
            return current;
        }
        return (ratio * f64::from(ready)).ceil() as u32;
    }
    let all = f64::from(ready + unready);
    let new_ratio = (util_pct * f64::from(ready) / all).floor() / target_pct;
    if (1.0 - new_ratio).abs() <= cfg.tolerance || new_ratio < 1.0 {
        return current;
    }
    let new = (new_ratio * all).ceil() as u32;
    new.max(current)
}

/// A stateful HPA controller (keeps the recommendation history).
#[derive(Debug, Clone)]
pub(crate) struct Hpa {
    /// Settings.
    pub cfg: HpaConfig,
    recommendations: VecDeque<(f64, u32)>,
}

impl Hpa {
    /// A controller with no history.
    pub fn new(cfg: HpaConfig) -> Hpa {
        Hpa {
            cfg,
            recommendations: VecDeque::new(),
        }
    }

    /// One sync at time `t` (seconds): returns the new desired replica count.
    pub fn sync(&mut self, t: f64, current: u32, ready: u32, unready: u32, util: f64) -> u32 {
        let raw = calculate_replicas(&self.cfg, current, ready, unready, util);
        // Stabilisation.
        let up_cut = t - self.cfg.scale_up_window_secs;
        let down_cut = t - self.cfg.scale_down_window_secs;
        let keep = self
            .cfg
            .scale_up_window_secs
            .max(self.cfg.scale_down_window_secs);
        while self
            .recommendations
            .front()
            .is_some_and(|&(ts, _)| ts <= t - keep)
        {
            self.recommendations.pop_front();
        }
        let (mut up, mut down) = (raw, raw);
        for &(ts, r) in &self.recommendations {
            if ts > up_cut {
                up = up.min(r);
            }
            if ts > down_cut {
                down = down.max(r);
            }
        }
        self.recommendations.push_back((t, raw));
        let mut rec = current;
        if rec < up {
            rec = up;
        }
        if rec > down {
            rec = down;
        }
        // Rate limits (period = one sync: the previous sync's change lies on the cut-off).
        let cur = f64::from(current);
        let up_limit = (cur * (1.0 + self.cfg.scale_up_percent / 100.0))
            .ceil()
            .max(cur + f64::from(self.cfg.scale_up_pods)) as u32;
        let down_limit = (cur * (1.0 - self.cfg.scale_down_percent / 100.0))
            .ceil()
            .max(0.0) as u32;
        rec = rec.min(up_limit.min(self.cfg.max_replicas)).max(down_limit);
        rec.clamp(
            self.cfg.min_replicas,
            self.cfg.max_replicas.max(self.cfg.min_replicas),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HpaConfig {
        HpaConfig::default()
    }

    #[test]
    fn basic_ratio_rounds_up() {
        // 10 pods at 90% with target 70%: ratio 1.2857 -> ceil(12.857) = 13.
        assert_eq!(calculate_replicas(&cfg(), 10, 10, 0, 0.9), 13);
        // 10 pods at 35%: ratio 0.5 -> 5.
        assert_eq!(calculate_replicas(&cfg(), 10, 10, 0, 0.35), 5);
    }

    #[test]
    fn tolerance_band() {
        // 0.75 / 0.7 = 1.071, within 0.1: no change; 0.64/0.7 = 0.914 also within.
        assert_eq!(calculate_replicas(&cfg(), 10, 10, 0, 0.75), 10);
        assert_eq!(calculate_replicas(&cfg(), 10, 10, 0, 0.64), 10);
        // 0.78/0.7 = 1.114 -> ceil(11.14) = 12.
        assert_eq!(calculate_replicas(&cfg(), 10, 10, 0, 0.78), 12);
    }

    #[test]
    fn unready_pods_count_as_zero_on_scale_up() {
        // 8 ready at 105%, 2 starting: ratio 1.5; with the 2 at 0%: 1.05*8/10/0.7 = 1.2 -> 12.
        assert_eq!(calculate_replicas(&cfg(), 10, 8, 2, 1.05), 12);
        // 8 ready at 80%, 2 starting: ratio 1.143 but 0.8*8/10/0.7 = 0.914 reverses: keep 10.
        assert_eq!(calculate_replicas(&cfg(), 10, 8, 2, 0.8), 10);
        // 8 ready at 88%: new ratio 1.0057 within tolerance: keep 10.
        assert_eq!(calculate_replicas(&cfg(), 10, 8, 2, 0.88), 10);
        // Scale-down with unready pods: unready are ignored, ceil(0.5 * 8) = 4.
        assert_eq!(calculate_replicas(&cfg(), 10, 8, 2, 0.35), 4);
        // No ready pods: no metrics, no action.
        assert_eq!(calculate_replicas(&cfg(), 3, 0, 3, 0.0), 3);
    }

    #[test]
    fn scale_up_rate_limit() {
        let mut h = Hpa::new(cfg());
        // 3 pods at 500% wants ceil(3*5/0.7)=22; limited to max(3*2, 3+4) = 7.
        assert_eq!(h.sync(0.0, 3, 3, 0, 5.0), 7);
        // 10 pods at 350% wants 50; limited to max(20, 14) = 20.
        let mut h = Hpa::new(cfg());
        assert_eq!(h.sync(0.0, 10, 10, 0, 3.5), 20);
    }

    #[test]
    fn scale_down_stabilisation_window() {
        let mut h = Hpa::new(cfg());
        assert_eq!(h.sync(0.0, 10, 10, 0, 0.7), 10); // recommendation 10 at t=0
        // Load halves: raw 5, but the highest recommendation in the last 300 s is 10.
        let mut t = 15.0;
        while t < 300.0 {
            assert_eq!(h.sync(t, 10, 10, 0, 0.35), 10, "t={t}");
            t += 15.0;
        }
        // At t=300 the t=0 recommendation falls out of the window (strictly after the cut-off).
        assert_eq!(h.sync(300.0, 10, 10, 0, 0.35), 5);
    }

    #[test]
    fn scale_down_follows_the_highest_recent_recommendation() {
        let mut h = Hpa::new(cfg());
        h.sync(0.0, 10, 10, 0, 0.35); // raw 5 -> 5 (no history)
        h.sync(15.0, 5, 5, 0, 1.4); // raw 10 -> 10
        // At 30 s raw would be 4, but 10 was recommended 15 s ago.
        assert_eq!(h.sync(30.0, 10, 10, 0, 0.28), 10);
    }

    #[test]
    fn bounds() {
        let c = HpaConfig {
            min_replicas: 2,
            max_replicas: 6,
            ..cfg()
        };
        let mut h = Hpa::new(c);
        assert_eq!(h.sync(0.0, 4, 4, 0, 5.0), 6);
        let mut h = Hpa::new(HpaConfig {
            min_replicas: 2,
            ..cfg()
        });
        assert_eq!(h.sync(0.0, 4, 4, 0, 0.01), 2);
    }
}
