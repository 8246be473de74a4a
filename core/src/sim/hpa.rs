//! The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) algorithm with its
//! default behaviour, on a CPU-utilisation target, as the simulated baseline.
//!
//! From the Kubernetes documentation (horizontal-pod-autoscale.md) and
//! `pkg/controller/podautoscaler` (replica_calculator.go, horizontal.go):
//! - every sync period (15 s) `desired = ceil(ready × utilisation / target)`,
//!   unchanged while `|utilisation / target − 1| ≤ 0.1`; pods that are not
//!   ready count as 0 % on scale-up, i.e. only ready pods' usage counts;
//! - scale-down: the highest recommendation of the last 300 s is used
//!   (stabilisation), then at most 100 % of the pods go per 15 s;
//! - scale-up: no stabilisation; at most `max(100 %, 4 pods)` per 15 s;
//! - the result is clamped to `[minReplicas, maxReplicas]`.

use std::collections::VecDeque;

/// The HPA's tunables (defaults as in Kubernetes).
#[derive(Debug, Clone, Copy)]
pub struct HpaConfig {
    pub min: u32,
    pub max: u32,
    /// Target average utilisation of ready pods, as a fraction.
    pub target: f64,
    /// 0.1 in Kubernetes (`--horizontal-pod-autoscaler-tolerance`).
    pub tolerance: f64,
    /// 15 s (`--horizontal-pod-autoscaler-sync-period`).
    pub sync_secs: i64,
    /// 300 s default scale-down stabilisation window.
    pub down_stabilisation_secs: i64,
    /// Scale-up policies: 100 % or 4 pods per 15 s, the larger.
    pub up_percent: f64,
    pub up_pods: u32,
    pub up_period_secs: i64,
    /// Scale-down policy: 100 % per 15 s.
    pub down_percent: f64,
    pub down_period_secs: i64,
}

impl HpaConfig {
    /// Kubernetes defaults with the given bounds and target.
    pub fn kubernetes_default(min: u32, max: u32, target: f64) -> Self {
        HpaConfig {
            min,
            max,
            target,
            tolerance: 0.1,
            sync_secs: 15,
            down_stabilisation_secs: 300,
            up_percent: 100.0,
            up_pods: 4,
            up_period_secs: 15,
            down_percent: 100.0,
            down_period_secs: 15,
        }
    }
}

/// HPA state: recommendations and scale events within the windows.
#[derive(Debug, Clone)]
pub struct Hpa {
    cfg: HpaConfig,
    recommendations: VecDeque<(i64, u32)>,
    /// `(time, replicas before, replicas after)` of recent changes.
    events: VecDeque<(i64, u32, u32)>,
    last_sync: Option<i64>,
}

impl Hpa {
    pub fn new(cfg: HpaConfig) -> Self {
        Hpa {
            cfg,
            recommendations: VecDeque::new(),
            events: VecDeque::new(),
            last_sync: None,
        }
    }

    /// Set `minReplicas` (planscale's `hpa-floor` mode raises and lowers it);
    /// the next sync applies it.
    pub fn set_min(&mut self, min: u32) {
        self.cfg.min = min;
    }

    /// Run a sync if one is due at `now` (seconds). Returns the new replica
    /// count when it differs from `current`.
    pub fn sync(
        &mut self,
        now: i64,
        current: u32,
        ready: u32,
        utilisation: Option<f64>,
    ) -> Option<u32> {
        if self.last_sync.is_some_and(|t| now - t < self.cfg.sync_secs) {
            return None;
        }
        self.last_sync = Some(now);
        let c = self.cfg;
        // Raw recommendation from the metric (no metric: keep current).
        let raw = match utilisation {
            Some(u) if ready > 0 && u.is_finite() => {
                let ratio = u / c.target;
                if (ratio - 1.0).abs() <= c.tolerance {
                    current
                } else {
                    let n = (f64::from(ready) * ratio - 1e-9).ceil().max(0.0);
                    n.min(f64::from(u32::MAX)) as u32
                }
            }
            _ => current,
        };
        self.recommendations.push_back((now, raw));
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now - *t >= c.down_stabilisation_secs)
        {
            self.recommendations.pop_front();
        }
        while self
            .events
            .front()
            .is_some_and(|(t, _, _)| now - *t >= c.up_period_secs.max(c.down_period_secs))
        {
            self.events.pop_front();
        }
        // Stabilisation: scale-up uses the lowest, scale-down the highest
        // recommendation of its window (up window is 0 s: the raw value).
        let mut desired = raw;
        if raw < current {
            let highest = self
                .recommendations
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(raw);
            desired = highest.min(current);
        }
        // Rate limits relative to the replica count at the start of the period.
        if desired > current {
            let added: u32 = self
                .events
                .iter()
                .filter(|(t, b, a)| now - *t < c.up_period_secs && a > b)
                .map(|(_, b, a)| a - b)
                .sum();
            let base = current.saturating_sub(added);
            let by_percent = (f64::from(base) * (1.0 + c.up_percent / 100.0)).ceil() as u32;
            let limit = by_percent.max(base + c.up_pods);
            desired = desired.min(limit);
        } else if desired < current {
            let removed: u32 = self
                .events
                .iter()
                .filter(|(t, b, a)| now - *t < c.down_period_secs && a < b)
                .map(|(_, b, a)| b - a)
                .sum();
            let base = current + removed;
            let limit = (f64::from(base) * (1.0 - c.down_percent / 100.0))
                .ceil()
                .max(0.0) as u32;
            desired = desired.max(limit);
        }
        desired = desired.clamp(c.min, c.max.max(c.min));
        if desired != current {
            self.events.push_back((now, current, desired));
            Some(desired)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hpa() -> Hpa {
        Hpa::new(HpaConfig::kubernetes_default(1, 50, 0.5))
    }

    #[test]
    fn formula_and_tolerance() {
        let mut h = hpa();
        // 4 ready at 100 % with target 50 %: 8 (100 % policy allows 8).
        assert_eq!(h.sync(0, 4, 4, Some(1.0)), Some(8));
        let mut h = hpa();
        // 0.54 / 0.5 = 1.08: within tolerance.
        assert_eq!(h.sync(0, 4, 4, Some(0.54)), None);
    }

    #[test]
    fn syncs_only_every_15_seconds() {
        let mut h = hpa();
        assert_eq!(h.sync(0, 4, 4, Some(1.0)), Some(8));
        assert_eq!(h.sync(10, 8, 4, Some(1.0)), None);
        // Not-ready pods count as 0 %: 4 ready at 100 % -> 8, already there.
        assert_eq!(h.sync(15, 8, 4, Some(1.0)), None);
    }

    #[test]
    fn scale_up_is_limited_to_double_or_four_pods() {
        let mut h = hpa();
        // 1 ready at 100 % with target 10 % wants 10: limited to max(2, 1+4) = 5.
        let mut h10 = Hpa::new(HpaConfig::kubernetes_default(1, 50, 0.1));
        assert_eq!(h10.sync(0, 1, 1, Some(1.0)), Some(5));
        // 10 ready wanting 40: limited to 20.
        assert_eq!(h.sync(0, 10, 10, Some(2.0)), Some(20));
    }

    #[test]
    fn scale_down_waits_five_minutes() {
        let mut h = hpa();
        assert_eq!(h.sync(0, 10, 10, Some(0.5)), None); // at target
        assert_eq!(h.sync(15, 10, 10, Some(0.1)), None); // wants 2, window holds 10
        assert_eq!(h.sync(285, 10, 10, Some(0.1)), None);
        assert_eq!(h.sync(300, 10, 10, Some(0.1)), Some(2));
        // Bounded below by minReplicas.
        let mut h = Hpa::new(HpaConfig::kubernetes_default(3, 50, 0.5));
        assert_eq!(h.sync(0, 4, 4, Some(0.0)), Some(3));
    }
}
