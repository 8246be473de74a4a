//! KEDA's Prometheus scaler on the queue depth, as KEDA runs it (see
//! docs/ARCHITECTURE.md, "Simulation"):
//!
//! - KEDA creates an HPA (no `spec.behavior` unless
//!   `advanced.horizontalPodAutoscalerConfig` sets one) with
//!   `minReplicas = max(minReplicaCount, 1)` (`controllers/keda/hpa.go`,
//!   `getHPAMinReplicas`) and one External metric whose `AverageValue` target
//!   is the trigger's `threshold` (`pkg/scalers/prometheus_scaler.go`,
//!   `GetMetricSpecForScaling`). At each of its 15-s syncs the HPA asks KEDA's
//!   metrics adapter for the metric, which runs the PromQL query then
//!   (`GetScaledObjectMetrics`; `useCachedMetrics` is false by default) and
//!   returns its value in milli-units (`GenerateMetricInMili`). The HPA's
//!   algorithm is [`super::hpa`]'s, on `GetExternalPerPodMetricReplicas`.
//! - KEDA's own loop runs every `pollingInterval` (30 s) and handles 0 ↔ 1
//!   (`pkg/scaling/executor/scale_scaledobjects.go`, `RequestScale`): the
//!   trigger is active when the value exceeds `activationThreshold` (0); from
//!   zero an active trigger scales to `max(minReplicaCount, 1)`; with
//!   `minReplicaCount` 0 an inactive trigger scales to zero once
//!   `lastActiveTime + cooldownPeriod` (300 s) has passed.

use super::cluster::{Cluster, TickOutcome};
use super::hpa::{
    Behaviour, Hpa, HpaConfig, Metric, PolicyKind, Rules, ScalingPolicy, Select, Tolerances,
};
use super::{Scaler, Ticks};
use crate::policy::Policy;

/// `pollingInterval` default (s).
pub const POLLING_INTERVAL_SECS: i64 = 30;
/// `cooldownPeriod` default (s).
pub const COOLDOWN_PERIOD_SECS: i64 = 300;

/// The default threshold (demand units waiting per replica): the work one
/// replica clears within the SLO wait, `capacity per second × slo.max_wait`.
pub fn default_threshold(p: &Policy) -> f64 {
    p.capacity.per_second() * p.slo.max_wait.secs() as f64
}

/// A threshold as the milli-quantity KEDA puts in the HPA
/// (`GetMetricTargetMili`: `int64(threshold × 1000)`), at least 1.
pub fn threshold_milli(threshold: f64) -> i64 {
    ((threshold * 1000.0) as i64).max(1)
}

/// The `cooldownPeriod` of the ScaledObject shipped for planscale's scaler
/// (deploy/examples/keda/scaledobject.yaml): planscale's decision already
/// waits out its own `scaling.stabilization` before it goes to zero, so
/// KEDA need not wait five more minutes.
pub const PLANSCALE_COOLDOWN_SECS: i64 = 30;

/// The `advanced.horizontalPodAutoscalerConfig.behavior` of the ScaledObject
/// shipped for planscale's scaler (deploy/examples/keda/scaledobject.yaml;
/// a test holds the two together). The planner has applied the policy's
/// step limits and scale-down stabilisation to the count it serves, so the
/// HPA must neither delay nor limit it: no stabilisation either way, scale-up
/// by up to 1000 % or 100 pods per 15 s, scale-down by up to 100 % per 15 s.
/// The `tolerance: 0` the example also sets (Kubernetes ≥ 1.35, feature gate
/// HPAConfigurableTolerance, beta) is not assumed here: the simulated HPA keeps
/// the controller's 10 %, the worst case, under which the HPA lands on the
/// served count whenever that differs from the current one by more than 10 %
/// (always, below 10 replicas).
pub fn planscale_behaviour() -> Behaviour {
    Behaviour::Rules {
        up: Rules {
            stabilisation_secs: 0,
            select: Select::Max,
            policies: vec![
                ScalingPolicy {
                    kind: PolicyKind::Percent,
                    value: 1000,
                    period_secs: 15,
                },
                ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: 100,
                    period_secs: 15,
                },
            ],
        },
        down: Rules {
            stabilisation_secs: 0,
            select: Select::Max,
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period_secs: 15,
            }],
        },
    }
}

/// The External metric's `AverageValue` target planscale's scaler serves
/// (`targetSizeFloat` 1, milli-units): the metric is the replica count, so
/// the HPA's `ceil(value / target)` is that count.
pub const PLANSCALE_TARGET_MILLI: i64 = 1000;

/// A KEDA ScaledObject: the HPA KEDA creates on one External metric, and
/// KEDA's own activation loop.
pub(super) struct KedaCtl {
    hpa: Hpa,
    target_milli: i64,
    tick_secs: i64,
    sync_ticks: usize,
    poll_ticks: usize,
    min_replica_count: u32,
    cooldown_secs: i64,
    /// `status.lastActiveTime` (s).
    last_active: Option<i64>,
}

impl KedaCtl {
    /// KEDA's Prometheus scaler on the queue depth, at KEDA's defaults.
    pub(super) fn new(p: &Policy, t: &Ticks, target_milli: i64) -> Self {
        let min = p.replicas.min;
        KedaCtl {
            hpa: Hpa::new(HpaConfig::kubernetes_default(min.max(1), p.replicas.max)),
            target_milli,
            tick_secs: t.tick_secs,
            sync_ticks: t.hpa_sync_ticks(),
            poll_ticks: (POLLING_INTERVAL_SECS / t.tick_secs).max(1) as usize,
            min_replica_count: min,
            cooldown_secs: COOLDOWN_PERIOD_SECS,
            last_active: None,
        }
    }

    /// KEDA on planscale's external scaler with the shipped ScaledObject
    /// (an `external-push` trigger, [`planscale_behaviour`],
    /// [`PLANSCALE_COOLDOWN_SECS`]).
    pub(super) fn planscale(p: &Policy, t: &Ticks) -> Self {
        let min = p.replicas.min;
        let mut cfg = HpaConfig::kubernetes_default(min.max(1), p.replicas.max);
        cfg.behaviour = planscale_behaviour();
        cfg.tolerance = Tolerances::both(super::hpa::DEFAULT_TOLERANCE);
        KedaCtl {
            hpa: Hpa::new(cfg),
            target_milli: PLANSCALE_TARGET_MILLI,
            tick_secs: t.tick_secs,
            sync_ticks: t.hpa_sync_ticks(),
            poll_ticks: (POLLING_INTERVAL_SECS / t.tick_secs).max(1) as usize,
            min_replica_count: min,
            cooldown_secs: PLANSCALE_COOLDOWN_SECS,
            last_active: None,
        }
    }

    /// One tick of KEDA on planscale's scaler serving `served` replicas
    /// (`None` before its first decision: the scaler answers UNAVAILABLE, the
    /// HPA's metric is missing and it changes nothing). `pushed` is true at a
    /// tick where `StreamIsActive` told KEDA of a change in activity: KEDA
    /// then runs its scale loop at once instead of at the next poll.
    pub(super) fn serve(
        &mut self,
        k: usize,
        cluster: &Cluster,
        served: Option<u32>,
        pushed: bool,
    ) -> Option<u32> {
        let served = served?;
        let now = k as i64 * self.tick_secs;
        let current = cluster.requested();
        if (pushed || k % self.poll_ticks == 0)
            && let Some(n) = self.request_scale(now, current, served > 0)
        {
            return Some(n);
        }
        if k % self.sync_ticks != 0 {
            return None;
        }
        self.hpa.sync(
            now,
            current,
            current,
            Metric::ExternalAverage {
                value_milli: i64::from(served) * 1000,
                target_milli: self.target_milli,
            },
        )
    }

    /// `RequestScale` at `now` with the trigger's activity.
    fn request_scale(&mut self, now: i64, current: u32, active: bool) -> Option<u32> {
        let min = self.min_replica_count;
        if current == 0 && active {
            self.last_active = Some(now);
            Some(min.max(1))
        } else if !active && current > 0 && min == 0 {
            let cooled = self
                .last_active
                .is_none_or(|t| t + self.cooldown_secs < now);
            cooled.then_some(0)
        } else if !active && current < min {
            Some(min)
        } else {
            if active {
                self.last_active = Some(now);
            }
            None
        }
    }
}

impl Scaler for KedaCtl {
    fn act(&mut self, k: usize, cluster: &Cluster, _last: TickOutcome) -> Option<u32> {
        let now = k as i64 * self.tick_secs;
        let current = cluster.requested();
        let queue = cluster.queue_depth();
        if k % self.poll_ticks == 0 {
            // `activationThreshold` 0: active while any work waits.
            if let Some(n) = self.request_scale(now, current, queue > 0.0) {
                return Some(n);
            }
        }
        if k % self.sync_ticks != 0 {
            return None;
        }
        let value_milli = (queue * 1000.0) as i64;
        self.hpa.sync(
            now,
            current,
            current,
            Metric::ExternalAverage {
                value_milli,
                target_milli: self.target_milli,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Duration;

    fn ctl(min: u32) -> (KedaCtl, Ticks) {
        let s = super::super::tests::scenario_with(
            crate::policy::Policy::test()
                .min(min)
                .max(30)
                .per_replica(1.0)
                .startup(Duration::from_mins(3)),
        );
        let t = Ticks::new(&s);
        let p = &s.policy;
        (
            KedaCtl::new(p, &t, threshold_milli(default_threshold(p))),
            t,
        )
    }

    #[test]
    fn default_threshold_is_what_one_replica_clears_within_the_slo_wait() {
        // 0.25 jobs per minute and a 10-minute SLO wait: 2.5 jobs.
        let mut p = crate::policy::Policy::test().per_replica(0.25);
        p.slo.max_wait = Duration::from_mins(10);
        assert!((default_threshold(&p) - 2.5).abs() < 1e-12);
        assert_eq!(threshold_milli(2.5), 2500);
        assert_eq!(threshold_milli(0.0), 1);
    }

    #[test]
    fn activation_scales_from_zero_and_cools_down_for_five_minutes() {
        let (mut k, _) = ctl(0);
        // Active at zero: one replica.
        assert_eq!(k.request_scale(0, 0, true), Some(1));
        // Active with replicas: only lastActiveTime moves.
        assert_eq!(k.request_scale(30, 1, true), None);
        // Inactive: scaled to zero only after lastActiveTime + 300 s.
        assert_eq!(k.request_scale(60, 1, false), None);
        assert_eq!(k.request_scale(330, 1, false), None);
        assert_eq!(k.request_scale(331, 1, false), Some(0));
        // With minReplicaCount 2 KEDA never scales to zero, and restores the minimum.
        let (mut k, _) = ctl(2);
        assert_eq!(k.request_scale(0, 2, false), None);
        assert_eq!(k.request_scale(30, 1, false), Some(2));
        assert_eq!(k.request_scale(60, 0, true), Some(2));
    }

    #[test]
    fn planscale_served_count_is_what_the_hpa_sets_outside_the_tolerance() {
        let s = super::super::tests::scenario_with(
            crate::policy::Policy::test()
                .min(0)
                .max(40)
                .per_replica(1.0)
                .startup(Duration::from_mins(3)),
        );
        let t = Ticks::new(&s);
        let mut k = KedaCtl::planscale(&s.policy, &t);
        let sync = t.hpa_sync_ticks();
        let c = Cluster::new(2, t.startup_ticks);
        // Before the first decision the metric is missing: nothing changes.
        assert_eq!(k.serve(0, &c, None, false), None);
        // 2 -> 9 in one sync (the shipped policies allow 1000 % per 15 s).
        assert_eq!(k.serve(sync, &c, Some(9), false), Some(9));
        // 10 -> 11 is within the 10 % tolerance: held; 10 -> 12 is not.
        let c10 = Cluster::new(10, t.startup_ticks);
        assert_eq!(k.serve(2 * sync, &c10, Some(11), false), None);
        assert_eq!(k.serve(3 * sync, &c10, Some(12), false), Some(12));
        // Down at once: no stabilisation window.
        assert_eq!(k.serve(4 * sync, &c10, Some(3), false), Some(3));
        // To zero after the 30-s cooldown (minReplicaCount 0), and back at
        // once when StreamIsActive pushes activity, between polls.
        let c1 = Cluster::new(1, t.startup_ticks);
        let poll = (POLLING_INTERVAL_SECS / t.tick_secs) as usize;
        let at = 10 * poll;
        assert_eq!(k.serve(at, &c1, Some(1), false), None);
        assert_eq!(k.serve(at + poll, &c1, Some(0), false), None);
        assert_eq!(k.serve(at + 2 * poll, &c1, Some(0), false), Some(0));
        let c0 = Cluster::new(0, t.startup_ticks);
        assert_eq!(k.serve(at + 2 * poll + 1, &c0, Some(4), true), Some(1));
    }

    #[test]
    fn hpa_on_queue_depth_follows_ceil_of_queue_over_threshold() {
        // Threshold 3 jobs (1 job/min × 3 min). Queue 20 with 2 replicas:
        // ratio 20 / (3 × 2) = 3.33, ceil(20 / 3) = 7, limited to max(2 × 2, 4) = 4.
        let (mut k, t) = ctl(1);
        k.target_milli = 3000;
        let mut c = Cluster::new(2, t.startup_ticks);
        let mut w = super::super::cluster::Waits::new(0);
        c.tick(
            0,
            20.0 + 2.0 * t.per_pod_per_tick,
            t.per_pod_per_tick,
            &mut w,
        );
        assert!((c.queue_depth() - 20.0).abs() < 1e-9);
        assert_eq!(k.act(0, &c, TickOutcome::default()), Some(4));
        // At 4 replicas the next sync (15 s on) gives 7 (within 2 × 4).
        let mut c4 = c.clone();
        c4.scale_to(4, 1);
        let sync = t.hpa_sync_ticks();
        assert_eq!(k.act(sync, &c4, TickOutcome::default()), Some(7));
        // Queue 6.5 with 2 replicas: 6.5 / 6 = 1.08 is within the tolerance.
        let (mut k, _) = ctl(1);
        k.target_milli = 3000;
        let mut c = Cluster::new(2, t.startup_ticks);
        c.tick(
            0,
            6.5 + 2.0 * t.per_pod_per_tick,
            t.per_pod_per_tick,
            &mut w,
        );
        assert_eq!(k.act(0, &c, TickOutcome::default()), None);
    }
}
