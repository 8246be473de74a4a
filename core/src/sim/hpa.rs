//! The Kubernetes HorizontalPodAutoscaler controller (autoscaling/v2), ported
//! from `kubernetes/kubernetes` `pkg/controller/podautoscaler` so that the
//! simulated `hpa` and `keda` peers decide as the real controller does.
//!
//! - [`resource_replicas`] is `ReplicaCalculator.GetResourceReplicas` with
//!   `groupPods` (replica_calculator.go): a CPU `Utilization` target over the
//!   pods' requests, with its rules for pods that are pending, not ready,
//!   within the CPU initialisation period, without metrics, failed or being
//!   deleted;
//! - [`external_per_pod_replicas`] is `GetExternalPerPodMetricReplicas`: an
//!   External metric with an `AverageValue` target (what KEDA creates);
//! - [`Hpa::sync`] is `reconcileAutoscaler` (horizontal.go): the min/max
//!   bounds, then `normalizeDesiredReplicas` (no `spec.behavior`: the legacy
//!   path that `kubectl autoscale` and KEDA's HPA take) or
//!   `normalizeDesiredReplicasWithBehaviors` (stabilisation windows and
//!   scaling policies).
//!
//! Times are whole seconds on the simulation clock; CPU is in millicores and
//! external metrics in milli-units (`resource.Quantity.MilliValue()`), so the
//! integer arithmetic upstream does (e.g. utilisation as a whole percent) is
//! reproduced exactly. The upstream test tables are ported in `tests` below.

use std::collections::VecDeque;

/// `--horizontal-pod-autoscaler-tolerance` default.
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// `--horizontal-pod-autoscaler-cpu-initialization-period` default (5 min).
pub const CPU_INITIALIZATION_SECS: i64 = 300;
/// `--horizontal-pod-autoscaler-initial-readiness-delay` default (30 s).
pub const INITIAL_READINESS_DELAY_SECS: i64 = 30;
/// `--horizontal-pod-autoscaler-downscale-stabilization` default (5 min).
pub const DOWNSCALE_STABILISATION_SECS: i64 = 300;
/// `--horizontal-pod-autoscaler-sync-period` default.
pub const SYNC_SECS: i64 = 15;

/// Why the replica calculator returned no proposal (the sync then changes
/// nothing, as `reconcileAutoscaler` does on a metrics error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CalcError {
    #[error("no pods returned by selector while calculating replica count")]
    NoPods,
    #[error("did not receive metrics for targeted pods (pods might be unready)")]
    NoMetrics,
    #[error("no metrics returned matched known pods")]
    DisjointMetrics,
}

/// The scale-up and scale-down tolerances (`Tolerances.isWithin`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub down: f64,
    pub up: f64,
}

impl Tolerances {
    pub fn both(t: f64) -> Self {
        Tolerances { down: t, up: t }
    }

    fn within(&self, ratio: f64) -> bool {
        (1.0 - self.down) <= ratio && ratio <= (1.0 + self.up)
    }
}

/// A pod's phase (`v1.PodPhase`, the ones the calculator distinguishes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Failed,
}

/// What the calculator reads of a pod.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodState {
    pub phase: Phase,
    /// `metadata.deletionTimestamp` is set.
    pub deleted: bool,
    /// The Ready condition: status and `lastTransitionTime` (s); `None` when
    /// the pod has no Ready condition.
    pub ready: Option<(bool, i64)>,
    /// `status.startTime` (s).
    pub start: Option<i64>,
    /// CPU request of the pod (millicores).
    pub request_milli: i64,
}

/// One pod's sample from the resource metrics API (metrics-server).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PodMetric {
    /// CPU used (millicores), averaged over `window`.
    pub value_milli: i64,
    /// End of the sample's window (s).
    pub timestamp: i64,
    /// The sample's window (s): metrics-server's resolution.
    pub window: i64,
}

/// The two readiness flags of the controller manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub cpu_initialization_secs: i64,
    pub initial_readiness_delay_secs: i64,
}

impl Readiness {
    pub fn kubernetes_default() -> Self {
        Readiness {
            cpu_initialization_secs: CPU_INITIALIZATION_SECS,
            initial_readiness_delay_secs: INITIAL_READINESS_DELAY_SECS,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Ready,
    Unready,
    Missing,
    Ignored,
}

/// `groupPods` for the CPU resource: deleted and failed pods are ignored,
/// pending pods are unready, pods without a sample are missing; a running
/// pod within the CPU initialisation period (`startTime + period` after
/// now) is unready when not Ready or when its sample's window began before it
/// turned Ready; after the period, only a pod that is not Ready and never was
/// (its condition last changed within `initial-readiness-delay` of its start)
/// is unready.
fn group_pods(
    pods: &[PodState],
    metrics: &[Option<PodMetric>],
    now: i64,
    r: Readiness,
    groups: &mut Vec<Group>,
) {
    groups.clear();
    groups.extend(
        pods.iter()
            .enumerate()
            .map(|(i, pod)| group_pod(i, pod, metrics, now, r)),
    );
}

fn group_pod(
    i: usize,
    pod: &PodState,
    metrics: &[Option<PodMetric>],
    now: i64,
    r: Readiness,
) -> Group {
    if pod.deleted || pod.phase == Phase::Failed {
        return Group::Ignored;
    }
    if pod.phase == Phase::Pending {
        return Group::Unready;
    }
    let Some(metric) = metrics.get(i).copied().flatten() else {
        return Group::Missing;
    };
    let unready = match (pod.ready, pod.start) {
        (Some((status, transition)), Some(start)) => {
            if start + r.cpu_initialization_secs > now {
                !status || metric.timestamp < transition + metric.window
            } else {
                !status && start + r.initial_readiness_delay_secs > transition
            }
        }
        _ => true,
    };
    if unready {
        Group::Unready
    } else {
        Group::Ready
    }
}

/// `metricsclient.GetResourceUtilizationRatio`: the utilisation as a whole
/// percent of the requests of the pods that have a sample (samples of pods
/// not in the list are skipped), and its ratio to the target.
fn utilisation_ratio(
    values: &[(usize, i64)],
    pods: &[PodState],
    target_percent: i64,
) -> Result<f64, CalcError> {
    let (mut used, mut requested) = (0i64, 0i64);
    for (i, v) in values {
        if let Some(p) = pods.get(*i) {
            used += v;
            requested += p.request_milli;
        }
    }
    if requested == 0 {
        return Err(CalcError::DisjointMetrics);
    }
    let percent = used * 100 / requested;
    Ok(percent as f64 / target_percent as f64)
}

fn ceil_replicas(x: f64) -> u32 {
    x.ceil().clamp(0.0, f64::from(i32::MAX)) as u32
}

/// Buffers [`resource_replicas`] fills at every sync, kept by an [`Hpa`] so
/// that a sync allocates nothing (a replay syncs every 15 s).
#[derive(Debug, Clone, Default)]
pub(super) struct Scratch {
    groups: Vec<Group>,
    values: Vec<(usize, i64)>,
}

/// `ReplicaCalculator.GetResourceReplicas` for CPU with a `Utilization`
/// target of `target_percent` % of the request. `metrics[i]` is pod `i`'s
/// sample; entries past `pods.len()` are samples of pods that are not in the
/// list (upstream's superfluous metrics).
/// `scratch` holds the buffers between calls.
#[allow(clippy::too_many_arguments)] // upstream's arguments, and the buffers
pub(super) fn resource_replicas(
    scratch: &mut Scratch,
    current: u32,
    target_percent: i64,
    tol: Tolerances,
    pods: &[PodState],
    metrics: &[Option<PodMetric>],
    now: i64,
    readiness: Readiness,
) -> Result<u32, CalcError> {
    if pods.is_empty() {
        return Err(CalcError::NoPods);
    }
    let Scratch { groups, values } = scratch;
    group_pods(pods, metrics, now, readiness, groups);
    let groups = &*groups;
    let group = |i: usize| groups.get(i).copied().unwrap_or(Group::Ready);
    let ready_count = groups.iter().filter(|g| **g == Group::Ready).count();
    // The metrics map without ignored and unready pods.
    values.clear();
    values.extend(
        metrics
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| (i, m.value_milli)))
            .filter(|(i, _)| !matches!(group(*i), Group::Ignored | Group::Unready)),
    );
    if values.is_empty() {
        return Err(CalcError::NoMetrics);
    }
    let ratio = utilisation_ratio(values, pods, target_percent)?;
    let has = |g: Group| groups.contains(&g);
    let scale_up_with_unready = has(Group::Unready) && ratio > 1.0;
    if !scale_up_with_unready && !has(Group::Missing) {
        if tol.within(ratio) {
            return Ok(current);
        }
        return Ok(ceil_replicas(ratio * ready_count as f64));
    }
    let of = |g: Group| {
        groups
            .iter()
            .enumerate()
            .filter(move |(_, x)| **x == g)
            .map(|(i, _)| i)
    };
    if ratio < 1.0 {
        // Scale-down: a pod without a sample uses 100 % of its request (or
        // the target, when that is above 100 %).
        let fallback = target_percent.max(100);
        values.extend(of(Group::Missing).map(|i| (i, pods[i].request_milli * fallback / 100)));
    } else if ratio > 1.0 {
        values.extend(of(Group::Missing).map(|i| (i, 0)));
    }
    if scale_up_with_unready {
        values.extend(of(Group::Unready).map(|i| (i, 0)));
    }
    let new_ratio = utilisation_ratio(values, pods, target_percent)?;
    if tol.within(new_ratio) || (ratio < 1.0 && new_ratio > 1.0) || (ratio > 1.0 && new_ratio < 1.0)
    {
        // Too small a change, or the direction would flip.
        return Ok(current);
    }
    let replicas = ceil_replicas(new_ratio * values.len() as f64);
    if (new_ratio < 1.0 && replicas > current) || (new_ratio > 1.0 && replicas < current) {
        return Ok(current);
    }
    Ok(replicas)
}

/// `ReplicaCalculator.GetExternalPerPodMetricReplicas`: an External metric
/// (`usage_milli`, the sum of its series) with an `AverageValue` target per
/// pod; `status_replicas` is the target's `status.replicas`.
pub fn external_per_pod_replicas(
    status_replicas: u32,
    usage_milli: i64,
    target_milli: i64,
    tol: Tolerances,
) -> u32 {
    let ratio = usage_milli as f64 / (target_milli as f64 * f64::from(status_replicas));
    if tol.within(ratio) {
        status_replicas
    } else {
        ceil_replicas(usage_milli as f64 / target_milli as f64)
    }
}

/// How a scaling policy limits change (`HPAScalingPolicyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    Pods,
    Percent,
}

/// One `HPAScalingPolicy`: at most `value` pods or percent per `period_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScalingPolicy {
    pub kind: PolicyKind,
    pub value: u32,
    pub period_secs: i64,
}

/// `selectPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    Max,
    Min,
    Disabled,
}

/// `HPAScalingRules` of one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub stabilisation_secs: i64,
    pub select: Select,
    pub policies: Vec<ScalingPolicy>,
}

impl Rules {
    /// `GenerateHPAScaleUpRules(nil)`: no stabilisation, 4 pods or 100 % per 15 s, the larger.
    pub fn default_up() -> Self {
        Rules {
            stabilisation_secs: 0,
            select: Select::Max,
            policies: vec![
                ScalingPolicy {
                    kind: PolicyKind::Pods,
                    value: 4,
                    period_secs: 15,
                },
                ScalingPolicy {
                    kind: PolicyKind::Percent,
                    value: 100,
                    period_secs: 15,
                },
            ],
        }
    }

    /// `GenerateHPAScaleDownRules(nil)` with the controller's 300-s window: 100 % per 15 s.
    pub fn default_down() -> Self {
        Rules {
            stabilisation_secs: DOWNSCALE_STABILISATION_SECS,
            select: Select::Max,
            policies: vec![ScalingPolicy {
                kind: PolicyKind::Percent,
                value: 100,
                period_secs: 15,
            }],
        }
    }

    fn longest_period(&self) -> i64 {
        self.policies
            .iter()
            .map(|p| p.period_secs)
            .max()
            .unwrap_or(0)
    }
}

/// `spec.behavior`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// No `spec.behavior` (what `kubectl autoscale` and KEDA create): the
    /// controller's `normalizeDesiredReplicas`: the highest recommendation of
    /// the downscale window, then at most `max(2 × current, 4)` on scale-up
    /// and no rate limit on scale-down.
    Legacy,
    /// `normalizeDesiredReplicasWithBehaviors`.
    Rules { up: Rules, down: Rules },
}

/// The HPA's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct HpaConfig {
    pub min: u32,
    pub max: u32,
    pub tolerance: Tolerances,
    pub sync_secs: i64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (legacy path).
    pub downscale_window_secs: i64,
    pub behaviour: Behaviour,
    pub readiness: Readiness,
}

impl HpaConfig {
    /// Controller-manager defaults, no `spec.behavior`.
    pub fn kubernetes_default(min: u32, max: u32) -> Self {
        HpaConfig {
            min,
            max,
            tolerance: Tolerances::both(DEFAULT_TOLERANCE),
            sync_secs: SYNC_SECS,
            downscale_window_secs: DOWNSCALE_STABILISATION_SECS,
            behaviour: Behaviour::Legacy,
            readiness: Readiness::kubernetes_default(),
        }
    }
}

/// The metric one HPA scales on, as read at a sync.
#[derive(Debug, Clone, Copy)]
pub enum Metric<'a> {
    /// A Resource metric (CPU) with a `Utilization` target in percent.
    Cpu {
        target_percent: i64,
        pods: &'a [PodState],
        metrics: &'a [Option<PodMetric>],
    },
    /// An External metric with an `AverageValue` target (milli-units).
    ExternalAverage { value_milli: i64, target_milli: i64 },
}

/// One HPA: its recommendations and scale events.
#[derive(Debug, Clone)]
pub struct Hpa {
    cfg: HpaConfig,
    /// `(time, unstabilised recommendation)`, oldest first.
    recommendations: VecDeque<(i64, u32)>,
    /// `(time, replicas added)` and `(time, replicas removed)` (behaviour path only).
    up_events: VecDeque<(i64, u32)>,
    down_events: VecDeque<(i64, u32)>,
    last_sync: Option<i64>,
    scratch: Scratch,
}

/// Scale events: `(time, replicas changed)`, oldest first.
type Events = VecDeque<(i64, u32)>;

/// Replicas changed in the last `period` s (`getReplicasChangePerPeriod`:
/// events strictly newer than `now − period`).
fn change_in_period(events: &VecDeque<(i64, u32)>, now: i64, period: i64) -> i64 {
    events
        .iter()
        .filter(|(t, _)| now - t < period)
        .map(|(_, c)| i64::from(*c))
        .sum()
}

fn to_u32(x: i64) -> u32 {
    x.clamp(0, i64::from(u32::MAX)) as u32
}

impl Hpa {
    pub fn new(cfg: HpaConfig) -> Self {
        Hpa {
            cfg,
            recommendations: VecDeque::new(),
            up_events: VecDeque::new(),
            down_events: VecDeque::new(),
            last_sync: None,
            scratch: Scratch::default(),
        }
    }

    /// Set `minReplicas` (planscale's `hpa-floor` mode raises and lowers it);
    /// the next sync applies it.
    pub fn set_min(&mut self, min: u32) {
        self.cfg.min = min;
    }

    /// `reconcileAutoscaler` at `now` (s) if a sync is due: `spec` is the
    /// target's `spec.replicas`, `status` its `status.replicas`. Returns the
    /// new replica count when it differs from `spec`.
    pub fn sync(&mut self, now: i64, spec: u32, status: u32, metric: Metric<'_>) -> Option<u32> {
        if self.last_sync.is_some_and(|t| now - t < self.cfg.sync_secs) {
            return None;
        }
        self.last_sync = Some(now);
        let c = &self.cfg;
        let (min, max) = (c.min, c.max.max(c.min));
        let desired = if spec == 0 && min != 0 {
            // "scaling is disabled since the replica count of the target is zero"
            return None;
        } else if spec > max {
            max
        } else if spec < min {
            min
        } else {
            let proposal = match metric {
                Metric::Cpu {
                    target_percent,
                    pods,
                    metrics,
                } => resource_replicas(
                    &mut self.scratch,
                    spec,
                    target_percent,
                    c.tolerance,
                    pods,
                    metrics,
                    now,
                    c.readiness,
                ),
                Metric::ExternalAverage {
                    value_milli,
                    target_milli,
                } => Ok(external_per_pod_replicas(
                    status,
                    value_milli,
                    target_milli,
                    c.tolerance,
                )),
            };
            let Ok(proposal) = proposal else {
                return None;
            };
            self.normalise(now, spec, proposal)
        };
        if desired == spec {
            return None;
        }
        if matches!(self.cfg.behaviour, Behaviour::Rules { .. }) {
            // storeScaleEvent: only with a behaviour.
            if desired > spec {
                self.up_events.push_back((now, desired - spec));
            } else {
                self.down_events.push_back((now, spec - desired));
            }
        }
        Some(desired)
    }

    /// Stabilise and rate-limit a proposal (either path), recording it.
    fn normalise(&mut self, now: i64, current: u32, proposal: u32) -> u32 {
        let (min, max) = (self.cfg.min, self.cfg.max.max(self.cfg.min));
        // Taken out while the rules are read, and put back: no copy of the
        // policies at every sync.
        let behaviour = std::mem::replace(&mut self.cfg.behaviour, Behaviour::Legacy);
        let desired = match &behaviour {
            Behaviour::Legacy => {
                let stabilised = self.stabilise_legacy(now, proposal);
                convert_legacy(current, stabilised, min, max).0
            }
            Behaviour::Rules { up, down } => {
                let stabilised = self.stabilise_rules(now, current, proposal, up, down);
                let keep = up.longest_period().max(down.longest_period());
                for ev in [&mut self.up_events, &mut self.down_events] {
                    while ev.front().is_some_and(|(t, _)| now - t >= keep) {
                        ev.pop_front();
                    }
                }
                convert_with_rules(
                    current,
                    stabilised,
                    min,
                    max,
                    up,
                    down,
                    (&self.up_events, &self.down_events),
                    now,
                )
                .0
            }
        };
        self.cfg.behaviour = behaviour;
        desired
    }

    fn record(&mut self, now: i64, proposal: u32, keep_secs: i64) {
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now - t >= keep_secs)
        {
            self.recommendations.pop_front();
        }
        self.recommendations.push_back((now, proposal));
    }

    /// `stabilizeRecommendation`: the highest recommendation of the downscale
    /// window, this one included. A recommendation exactly one window old is
    /// out of it: the real controller's clock has moved on by the time it
    /// compares.
    fn stabilise_legacy(&mut self, now: i64, proposal: u32) -> u32 {
        let window = self.cfg.downscale_window_secs;
        let highest = self
            .recommendations
            .iter()
            .filter(|(t, _)| now - t < window)
            .map(|(_, r)| *r)
            .fold(proposal, u32::max);
        self.record(now, proposal, window);
        highest
    }

    /// `stabilizeRecommendationWithBehaviors`: the lowest recommendation of
    /// the scale-up window and the highest of the scale-down window bound the
    /// current count.
    fn stabilise_rules(
        &mut self,
        now: i64,
        current: u32,
        proposal: u32,
        up: &Rules,
        down: &Rules,
    ) -> u32 {
        let (mut up_rec, mut down_rec) = (proposal, proposal);
        for (t, r) in &self.recommendations {
            if now - t < up.stabilisation_secs {
                up_rec = up_rec.min(*r);
            }
            if now - t < down.stabilisation_secs {
                down_rec = down_rec.max(*r);
            }
        }
        let keep = up.stabilisation_secs.max(down.stabilisation_secs).max(1);
        self.record(now, proposal, keep);
        current.max(up_rec).min(down_rec)
    }
}

/// `convertDesiredReplicasWithRules` (no behaviour): returns the count and
/// the HPA condition reason.
fn convert_legacy(current: u32, desired: u32, min: u32, max: u32) -> (u32, &'static str) {
    let up_limit = (2 * current).max(4);
    let (max_allowed, reason) = if max > up_limit {
        (up_limit, "ScaleUpLimit")
    } else {
        (max, "TooManyReplicas")
    };
    if desired < min {
        (min, "TooFewReplicas")
    } else if desired > max_allowed {
        (max_allowed, reason)
    } else {
        (desired, "DesiredWithinRange")
    }
}

/// `calculateScaleUpLimitWithScalingRules` / `calculateScaleDownLimitWithBehaviors`.
fn policy_limit(
    current: u32,
    rules: &Rules,
    events: (&Events, &Events),
    now: i64,
    up: bool,
) -> i64 {
    let current = i64::from(current);
    if rules.select == Select::Disabled {
        return current;
    }
    // Scaling up, Max selects the largest limit; scaling down, the smallest.
    let largest = (rules.select == Select::Max) == up;
    let mut result = if largest { i64::MIN } else { i64::MAX };
    for p in &rules.policies {
        let start = current - change_in_period(events.0, now, p.period_secs)
            + change_in_period(events.1, now, p.period_secs);
        let v = i64::from(p.value);
        let proposed = match (p.kind, up) {
            (PolicyKind::Pods, true) => start + v,
            (PolicyKind::Pods, false) => start - v,
            (PolicyKind::Percent, true) => (start as f64 * (1.0 + v as f64 / 100.0)).ceil() as i64,
            (PolicyKind::Percent, false) => (start as f64 * (1.0 - v as f64 / 100.0)) as i64,
        };
        result = if largest {
            result.max(proposed)
        } else {
            result.min(proposed)
        };
    }
    result
}

/// `convertDesiredReplicasWithBehaviorRate`: returns the count and the HPA
/// condition reason.
#[allow(clippy::too_many_arguments)]
fn convert_with_rules(
    current: u32,
    desired: u32,
    min: u32,
    max: u32,
    up: &Rules,
    down: &Rules,
    events: (&Events, &Events),
    now: i64,
) -> (u32, &'static str) {
    if desired > current {
        let limit = to_u32(policy_limit(current, up, events, now, true).max(i64::from(current)));
        let (max_allowed, reason) = if max > limit {
            (limit, "ScaleUpLimit")
        } else {
            (max, "TooManyReplicas")
        };
        if desired > max_allowed {
            return (max_allowed, reason);
        }
    } else if desired < current {
        let limit = to_u32(
            policy_limit(current, down, (events.0, events.1), now, false).min(i64::from(current)),
        );
        let (min_allowed, reason) = if min < limit {
            (limit, "ScaleDownLimit")
        } else {
            (min, "TooFewReplicas")
        };
        if desired < min_allowed {
            return (min_allowed, reason);
        }
    }
    (desired, "DesiredWithinRange")
}

#[cfg(test)]
mod tests {
    //! Ported from kubernetes/kubernetes pkg/controller/podautoscaler:
    //! replica_calculator_test.go (`TestReplicaCalcResourceScale` and the
    //! single-case `TestReplicaCalc*` tests) and horizontal_test.go
    //! (`TestNormalizeDesiredReplicas`, `TestScalingWithRules`). Upstream
    //! fixtures: every pod requests the same CPU in each of two containers
    //! and reports the same usage in each (so a pod's request and usage are
    //! twice the per-container figure; ratios are unchanged); samples carry
    //! the zero time with a one-minute window; pods' Ready conditions have
    //! the zero transition time; `hotCPUCreationTime` is now and
    //! `coolCPUCreationTime` three minutes ago; the calculator is built with
    //! `defaultTestingCPUInitializationPeriod` 2 min and
    //! `defaultTestingDelayOfInitialReadinessStatus` 10 s.
    use super::*;

    /// Go's zero `time.Time`, far before any test's now (0).
    const ZERO: i64 = -63_000_000_000;
    const TESTING: Readiness = Readiness {
        cpu_initialization_secs: 120,
        initial_readiness_delay_secs: 10,
    };

    #[derive(Clone, Copy)]
    enum Start {
        Zero,
        Hot,
        Cool,
    }

    /// One upstream `calcScenario` with a CPU resource.
    struct Case {
        name: &'static str,
        current: u32,
        /// CPU request per container, in cores (`cpuRequests`).
        requests: Vec<f64>,
        /// Usage per container (millicores) of the pods that have a sample.
        levels: Vec<i64>,
        ready: Vec<bool>,
        start: Vec<Start>,
        phase: Vec<Phase>,
        deleted: Vec<bool>,
        target: i64,
        expected: u32,
    }

    impl Case {
        fn new(name: &'static str, current: u32, requests: &[f64], levels: &[i64]) -> Self {
            Case {
                name,
                current,
                requests: requests.to_vec(),
                levels: levels.to_vec(),
                ready: Vec::new(),
                start: Vec::new(),
                phase: Vec::new(),
                deleted: Vec::new(),
                target: 0,
                expected: 0,
            }
        }
        fn ready(mut self, r: &[bool]) -> Self {
            self.ready = r.to_vec();
            self
        }
        fn start(mut self, s: &[Start]) -> Self {
            self.start = s.to_vec();
            self
        }
        fn phase(mut self, p: &[Phase]) -> Self {
            self.phase = p.to_vec();
            self
        }
        fn deleted(mut self, d: &[bool]) -> Self {
            self.deleted = d.to_vec();
            self
        }
        fn expect(mut self, target: i64, replicas: u32) -> Self {
            self.target = target;
            self.expected = replicas;
            self
        }

        /// Pods as upstream's `buildFakePod` makes them: `max(current,
        /// len(podPhase))` pods, two containers each.
        fn run(&self) -> Result<u32, CalcError> {
            let n = (self.current as usize).max(self.phase.len());
            let pods: Vec<PodState> = (0..n)
                .map(|i| PodState {
                    phase: self.phase.get(i).copied().unwrap_or(Phase::Running),
                    deleted: self.deleted.get(i).copied().unwrap_or(false),
                    ready: Some((self.ready.get(i).copied().unwrap_or(true), ZERO)),
                    start: Some(match self.start.get(i).copied().unwrap_or(Start::Zero) {
                        Start::Zero => ZERO,
                        Start::Hot => 0,
                        Start::Cool => -180,
                    }),
                    request_milli: self
                        .requests
                        .get(i)
                        .map_or(0, |c| (c * 1000.0).round() as i64 * 2),
                })
                .collect();
            let metrics: Vec<Option<PodMetric>> = self
                .levels
                .iter()
                .map(|l| {
                    Some(PodMetric {
                        value_milli: l * 2,
                        timestamp: ZERO,
                        window: 60,
                    })
                })
                .collect();
            resource_replicas(
                &mut Scratch::default(),
                self.current,
                self.target,
                Tolerances::both(DEFAULT_TOLERANCE),
                &pods,
                &metrics,
                0,
                TESTING,
            )
        }
    }

    fn ones(n: usize) -> Vec<f64> {
        vec![1.0; n]
    }

    #[test]
    fn replica_calculator_matches_the_upstream_resource_tables() {
        use Phase::{Failed, Pending, Running};
        use Start::{Cool, Hot};
        let (t, f) = (true, false);
        let cases = vec![
            // TestReplicaCalcResourceScale "scale up"
            Case::new("scale up", 3, &ones(3), &[300, 500, 700]).expect(30, 5),
            // "scale up: unready pod scales less"
            Case::new("unready pod scales less", 3, &ones(3), &[300, 500, 700])
                .ready(&[f, t, t])
                .expect(30, 4),
            // "scale up: hot-CPU pod scales less"
            Case::new("hot-CPU pod scales less", 3, &ones(3), &[300, 500, 700])
                .start(&[Hot, Cool, Cool])
                .expect(30, 4),
            // "no scale: unready pods ignored"
            Case::new("unready pods ignored", 3, &ones(3), &[400, 500, 700])
                .ready(&[t, f, f])
                .expect(30, 3),
            // "no scale: hot-CPU pods ignored"
            Case::new("hot-CPU pods ignored", 3, &ones(3), &[400, 500, 700])
                .ready(&[t, f, f])
                .start(&[Cool, Hot, Hot])
                .expect(30, 3),
            // "scale up: failed pods ignored"
            Case::new("failed pods ignored (up)", 2, &ones(4), &[500, 700])
                .ready(&[t, t, f, f])
                .phase(&[Running, Running, Failed, Failed])
                .expect(30, 4),
            // "scale up: pods being deleted are ignored"
            Case::new("deleted pods ignored (up)", 2, &ones(4), &[500, 700])
                .ready(&[t, t, f, f])
                .phase(&[Running; 4])
                .deleted(&[f, f, t, t])
                .expect(30, 4),
            // "scale down"
            Case::new("scale down", 5, &ones(5), &[100, 300, 500, 250, 250]).expect(50, 3),
            // "scale down: exclude unready pods"
            Case::new(
                "exclude unready pods",
                5,
                &ones(5),
                &[100, 300, 500, 250, 250],
            )
            .ready(&[t, t, t, f, f])
            .expect(50, 2),
            // "scale down: exclude unscheduled pods"
            Case::new("exclude unscheduled pods", 5, &ones(5), &[100])
                .ready(&[t, f, f, f, f])
                .phase(&[Running, Pending, Pending, Pending, Pending])
                .expect(50, 1),
            // "scale down: ignore hot-CPU pods"
            Case::new(
                "ignore hot-CPU pods",
                5,
                &ones(5),
                &[100, 300, 500, 250, 250],
            )
            .start(&[Cool, Cool, Cool, Hot, Hot])
            .expect(50, 2),
            // "scale down: failed pods ignored"
            Case::new(
                "failed pods ignored (down)",
                5,
                &ones(7),
                &[100, 300, 500, 250, 250],
            )
            .ready(&[t, t, t, t, t, f, f])
            .phase(&[Running, Running, Running, Running, Running, Failed, Failed])
            .expect(50, 3),
            // "scale down: pods being deleted are ignored"
            Case::new(
                "deleted pods ignored (down)",
                5,
                &ones(7),
                &[100, 300, 500, 250, 250],
            )
            .ready(&[t, t, t, t, t, f, f])
            .phase(&[Running; 7])
            .deleted(&[f, f, f, f, f, t, t])
            .expect(50, 3),
            // TestReplicaCalcTolerance
            Case::new("tolerance", 3, &[0.9, 1.0, 1.1], &[1010, 1030, 1020]).expect(100, 3),
            // TestReplicaCalcSuperfluousMetrics
            Case::new(
                "superfluous metrics",
                4,
                &ones(4),
                &[4000, 9500, 3000, 7000, 3200, 2000],
            )
            .expect(100, 24),
            // TestReplicaCalcMissingMetrics
            Case::new("missing metrics", 4, &ones(4), &[400, 95]).expect(100, 3),
            // TestReplicaCalcMissingMetricsNoChangeEq
            Case::new("missing metrics, no change (=)", 2, &ones(2), &[1000]).expect(100, 2),
            // TestReplicaCalcMissingMetricsNoChangeGt
            Case::new("missing metrics, no change (>)", 2, &ones(2), &[1900]).expect(100, 2),
            // TestReplicaCalcMissingMetricsNoChangeLt
            Case::new("missing metrics, no change (<)", 2, &ones(2), &[600]).expect(100, 2),
            // TestReplicaCalcMissingMetricsUnreadyChange
            Case::new(
                "missing metrics, unready, no change",
                3,
                &ones(3),
                &[100, 450],
            )
            .ready(&[f, t, t])
            .expect(50, 3),
            // TestReplicaCalcMissingMetricsHotCpuNoChange
            Case::new(
                "missing metrics, hot CPU, no change",
                3,
                &ones(3),
                &[100, 450],
            )
            .start(&[Hot, Cool, Cool])
            .expect(50, 3),
            // TestReplicaCalcMissingMetricsUnreadyScaleUp
            Case::new(
                "missing metrics, unready, scale up",
                3,
                &ones(3),
                &[100, 2000],
            )
            .ready(&[f, t, t])
            .expect(50, 4),
            // TestReplicaCalcMissingMetricsHotCpuScaleUp
            Case::new(
                "missing metrics, hot CPU, scale up",
                3,
                &ones(3),
                &[100, 2000],
            )
            .ready(&[f, t, t])
            .start(&[Hot, Cool, Cool])
            .expect(50, 4),
            // TestReplicaCalcMissingMetricsUnreadyScaleDown
            Case::new(
                "missing metrics, unready, scale down",
                4,
                &ones(4),
                &[100, 100, 100],
            )
            .ready(&[f, t, t, t])
            .expect(50, 3),
            // TestReplicaCalcMissingMetricsScaleDownTargetOver100
            Case::new(
                "missing metrics, target over 100 %",
                4,
                &[1.0, 1.0, 2.0, 2.0],
                &[200, 100, 100],
            )
            .ready(&[f, t, t, t])
            .expect(300, 2),
            // TestReplicaCalcDuringRollingUpdateWithMaxSurge
            Case::new("rolling update with max surge", 2, &ones(3), &[100, 100])
                .phase(&[Running; 3])
                .expect(50, 2),
        ];
        for c in &cases {
            assert_eq!(c.run(), Ok(c.expected), "{}", c.name);
        }
    }

    #[test]
    fn replica_calculator_errors_as_upstream() {
        // TestReplicaCalcEmptyMetrics: no samples at all.
        let c = Case::new("empty metrics", 4, &ones(3), &[]).expect(100, 0);
        assert_eq!(c.run(), Err(CalcError::NoMetrics));
        // TestReplicaCalcDisjointResourcesMetrics: the only sample is of an
        // unknown pod (upstream names it "an-older-pod-name").
        let pods = [PodState {
            phase: Phase::Running,
            deleted: false,
            ready: Some((true, ZERO)),
            start: Some(ZERO),
            request_milli: 2000,
        }];
        let sample = Some(PodMetric {
            value_milli: 200,
            timestamp: ZERO,
            window: 60,
        });
        let r = resource_replicas(
            &mut Scratch::default(),
            1,
            100,
            Tolerances::both(0.1),
            &pods,
            &[None, sample],
            0,
            TESTING,
        );
        assert_eq!(r, Err(CalcError::DisjointMetrics));
    }

    #[test]
    fn computed_tolerance_regression() {
        // TestReplicaCalcComputedToleranceAlgImplementation: 10 pods using
        // 150 m each against requests of about 300 m (jittered); a target just
        // past the tolerance scales to ceil(ratio × 10), one just inside does not.
        let per_pod = 300i64;
        let jitter = [100, -100, 10, -10, 2, -2, 1, -1, 0, 0];
        let pods: Vec<PodState> = jitter
            .iter()
            .map(|j| PodState {
                phase: Phase::Running,
                deleted: false,
                ready: Some((true, ZERO)),
                start: Some(ZERO),
                request_milli: (per_pod + j) * 2,
            })
            .collect();
        let metrics: Vec<Option<PodMetric>> = (0..10)
            .map(|_| {
                Some(PodMetric {
                    value_milli: 150 * 2,
                    timestamp: ZERO,
                    window: 60,
                })
            })
            .collect();
        let calc = |target: f64| {
            resource_replicas(
                &mut Scratch::default(),
                10,
                (target * 100.0) as i64,
                Tolerances::both(0.1),
                &pods,
                &metrics,
                0,
                TESTING,
            )
        };
        let target = 1.0 / (2.0 * (1.0 - 0.1)) + 0.01;
        let final_pods = (1500.0 / (3000.0 * target) * 10.0_f64).ceil() as u32;
        assert_eq!((calc(target), final_pods), (Ok(9), 9));
        let target = 1.0 / (2.0 * (1.0 - 0.1)) + 0.004;
        assert_eq!(calc(target), Ok(10));
    }

    #[test]
    fn external_average_value_matches_the_upstream_cases() {
        let tol = Tolerances::both(0.1);
        // TestReplicaCalcScaleUpPerPodCMExternal: 8600 m over 3 pods at 2150 m each.
        assert_eq!(external_per_pod_replicas(3, 8600, 2150, tol), 4);
        // TestReplicaCalcScaleDownPerPodCMExternal.
        assert_eq!(external_per_pod_replicas(5, 8600, 2867, tol), 3);
        // TestReplicaCalcTolerancePerPodCMExternal.
        assert_eq!(external_per_pod_replicas(3, 8600, 2900, tol), 3);
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn legacy_stabilisation_matches_test_normalize_desired_replicas() {
        // horizontal_test.go TestNormalizeDesiredReplicas (5-minute window).
        let cases: [(&str, &[(u32, i64)], u32, u32); 5] = [
            ("empty log", &[], 5, 5),
            ("stabilize", &[(4, -120), (5, -60)], 3, 5),
            ("no stabilize", &[(1, -120), (2, -60)], 3, 3),
            (
                "no stabilize - old recommendations",
                &[(10, -600), (9, -540)],
                3,
                3,
            ),
            (
                "stabilize - old recommendations",
                &[(10, -600), (4, -60), (5, -120), (9, -540)],
                3,
                5,
            ),
        ];
        for (name, recs, desired, expected) in cases {
            let mut h = Hpa::new(HpaConfig::kubernetes_default(1, 100));
            h.recommendations = recs.iter().map(|(r, t)| (*t, *r)).collect();
            assert_eq!(h.stabilise_legacy(0, desired), expected, "{name}");
        }
    }

    /// `generateScalingRules(pods, podsPeriod, percent, percentPeriod, window)`.
    fn rules(pods: u32, pods_period: i64, percent: u32, percent_period: i64, window: i64) -> Rules {
        let mut policies = Vec::new();
        if pods != 0 {
            policies.push(ScalingPolicy {
                kind: PolicyKind::Pods,
                value: pods,
                period_secs: pods_period,
            });
        }
        if percent != 0 {
            policies.push(ScalingPolicy {
                kind: PolicyKind::Percent,
                value: percent,
                period_secs: percent_period,
            });
        }
        Rules {
            stabilisation_secs: window,
            select: Select::Max,
            policies,
        }
    }

    /// `generateEventsUniformDistribution(events, 120)`: event i of n sits at
    /// the centre of the i-th of n equal segments of the last 120 s.
    fn events(changes: &[u32]) -> VecDeque<(i64, u32)> {
        let seg = 120 / changes.len().max(1) as i64;
        changes
            .iter()
            .enumerate()
            .map(|(i, c)| (-(120 - seg * (i as i64 + 1) + seg / 2), *c))
            .collect()
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn rate_limits_match_test_scaling_with_rules() {
        // horizontal_test.go TestScalingWithRules: (name, up events, down
        // events, min, max, up rules, down rules, current, desired, expected,
        // condition); `None` rules are GenerateHPAScale{Up,Down}Rules(nil).
        type R = Option<Rules>;
        let n: R = None;
        let s = |r: Rules| Some(r);
        let cases: Vec<(&str, &[u32], &[u32], u32, u32, R, R, u32, u32, u32, &str)> = vec![
            (
                "within range",
                &[],
                &[],
                3,
                8,
                n.clone(),
                n.clone(),
                5,
                7,
                7,
                "DesiredWithinRange",
            ),
            (
                "< minReplicas",
                &[],
                &[],
                2,
                8,
                n.clone(),
                n.clone(),
                3,
                1,
                2,
                "TooFewReplicas",
            ),
            (
                "minReplicas 0",
                &[],
                &[],
                0,
                10,
                n.clone(),
                n.clone(),
                1,
                0,
                0,
                "DesiredWithinRange",
            ),
            (
                "maxReplicas < scaleUpLimit",
                &[],
                &[],
                1,
                10,
                n.clone(),
                n.clone(),
                20,
                1000,
                10,
                "TooManyReplicas",
            ),
            (
                "more than maximum",
                &[],
                &[],
                100,
                150,
                n.clone(),
                n.clone(),
                100,
                1000,
                150,
                "TooManyReplicas",
            ),
            (
                "user scale-up policy limits",
                &[],
                &[],
                1,
                2000,
                s(rules(0, 0, 1, 60, 0)),
                n.clone(),
                3,
                1000,
                4,
                "ScaleUpLimit",
            ),
            (
                "scaleUp with default behavior",
                &[],
                &[],
                1,
                1000,
                n.clone(),
                n.clone(),
                10,
                50,
                20,
                "ScaleUpLimit",
            ),
            (
                "pods policy larger than percent",
                &[],
                &[],
                1,
                1000,
                s(rules(100, 60, 100, 60, 0)),
                n.clone(),
                10,
                500,
                110,
                "ScaleUpLimit",
            ),
            (
                "percent policy larger than pods",
                &[],
                &[],
                1,
                1000,
                s(rules(2, 60, 100, 60, 0)),
                n.clone(),
                10,
                500,
                20,
                "ScaleUpLimit",
            ),
            (
                "large pod policy, within max",
                &[],
                &[],
                1,
                1000,
                s(rules(100, 60, 0, 0, 0)),
                n.clone(),
                10,
                50,
                50,
                "DesiredWithinRange",
            ),
            (
                "large percent policy, within max",
                &[],
                &[],
                1,
                1000,
                s(rules(10000, 60, 0, 0, 0)),
                n.clone(),
                10,
                50,
                50,
                "DesiredWithinRange",
            ),
            (
                "pod policy limitation",
                &[],
                &[],
                1,
                1000,
                s(rules(30, 60, 0, 0, 0)),
                n.clone(),
                10,
                50,
                40,
                "ScaleUpLimit",
            ),
            (
                "percent policy limitation",
                &[],
                &[],
                1,
                1000,
                s(rules(0, 0, 200, 60, 0)),
                n.clone(),
                10,
                50,
                30,
                "ScaleUpLimit",
            ),
            (
                "scaleDown percent larger than pods",
                &[],
                &[],
                1,
                1000,
                n.clone(),
                s(rules(20, 60, 1, 60, 300)),
                100,
                2,
                80,
                "ScaleDownLimit",
            ),
            (
                "scaleDown pods larger than percent",
                &[],
                &[],
                1,
                1000,
                n.clone(),
                s(rules(2, 60, 1, 60, 300)),
                100,
                2,
                98,
                "ScaleDownLimit",
            ),
            (
                "scaleDown MinReplicas, large pod policy",
                &[],
                &[],
                1,
                1000,
                n.clone(),
                s(rules(100, 60, 0, 0, 300)),
                10,
                0,
                1,
                "TooFewReplicas",
            ),
            (
                "scaleDown MinReplicas, large percent policy",
                &[],
                &[],
                5,
                1000,
                n.clone(),
                s(rules(0, 0, 100, 60, 300)),
                10,
                2,
                5,
                "TooFewReplicas",
            ),
            (
                "scaleDown pod policy limitation",
                &[],
                &[],
                1,
                1000,
                n.clone(),
                s(rules(5, 60, 0, 0, 300)),
                10,
                2,
                5,
                "ScaleDownLimit",
            ),
            (
                "scaleDown percent policy limitation",
                &[],
                &[],
                1,
                1000,
                n.clone(),
                s(rules(0, 0, 50, 60, 300)),
                10,
                5,
                5,
                "DesiredWithinRange",
            ),
            (
                "max, large pod policy and events",
                &[1, 5, 9],
                &[],
                1,
                200,
                s(rules(300, 60, 0, 0, 0)),
                n.clone(),
                100,
                500,
                200,
                "TooManyReplicas",
            ),
            (
                "max, large percent policy and events",
                &[1, 5, 9],
                &[],
                1,
                200,
                s(rules(0, 0, 10000, 60, 0)),
                n.clone(),
                100,
                500,
                200,
                "TooManyReplicas",
            ),
            (
                "many recent scale-up events",
                &[1, 5, 9],
                &[],
                1,
                1000,
                s(rules(5, 120, 0, 0, 0)),
                n.clone(),
                100,
                500,
                100,
                "ScaleUpLimit",
            ),
            (
                "pod policy, previous scale-ups",
                &[1, 5, 9],
                &[],
                1,
                1000,
                s(rules(150, 120, 0, 0, 0)),
                n.clone(),
                100,
                500,
                235,
                "ScaleUpLimit",
            ),
            (
                "percent policy, previous scale-ups",
                &[1, 5, 9],
                &[],
                1,
                1000,
                s(rules(0, 0, 200, 120, 0)),
                n.clone(),
                100,
                500,
                255,
                "ScaleUpLimit",
            ),
            (
                "percent policy, previous ups and downs",
                &[4],
                &[2],
                1,
                1000,
                s(rules(0, 0, 300, 300, 0)),
                n.clone(),
                6,
                24,
                16,
                "ScaleUpLimit",
            ),
            (
                "scaleDown default policy, previous events",
                &[],
                &[1, 5, 9],
                1,
                1000,
                n.clone(),
                n.clone(),
                10,
                5,
                5,
                "DesiredWithinRange",
            ),
            (
                "scaleDown MinReplicas=nil, large pod policy, events",
                &[],
                &[1, 5, 9],
                1,
                1000,
                n.clone(),
                s(rules(115, 120, 0, 0, 300)),
                100,
                0,
                1,
                "TooFewReplicas",
            ),
            (
                "scaleDown MinReplicas, large pod policy, events",
                &[],
                &[1, 5, 9],
                5,
                1000,
                n.clone(),
                s(rules(130, 120, 0, 0, 300)),
                100,
                0,
                5,
                "TooFewReplicas",
            ),
            (
                "scaleDown MinReplicas, large percent policy, events",
                &[],
                &[1, 5, 9],
                5,
                1000,
                n.clone(),
                s(rules(0, 0, 100, 120, 300)),
                100,
                2,
                5,
                "TooFewReplicas",
            ),
            (
                "scaleDown pod policy and previous events",
                &[],
                &[1, 5, 9],
                1,
                1000,
                n.clone(),
                s(rules(5, 120, 0, 0, 300)),
                100,
                2,
                100,
                "ScaleDownLimit",
            ),
            (
                "scaleDown percent policy and previous events",
                &[],
                &[2, 4, 6],
                1,
                1000,
                n.clone(),
                s(rules(0, 0, 50, 120, 300)),
                100,
                0,
                56,
                "ScaleDownLimit",
            ),
            (
                "scaleDown percent, previous ups and downs",
                &[2],
                &[4],
                1,
                1000,
                n.clone(),
                s(rules(0, 0, 50, 180, 0)),
                10,
                1,
                6,
                "ScaleDownLimit",
            ),
            (
                "previous events prevent scale-down",
                &[],
                &[10, 10, 10],
                1,
                1000,
                n.clone(),
                s(rules(0, 0, 10, 120, 300)),
                100,
                0,
                100,
                "ScaleDownLimit",
            ),
            (
                "previous events still allow scale-down",
                &[],
                &[10, 10, 10],
                1,
                1000,
                n.clone(),
                s(rules(0, 0, 1000, 120, 300)),
                10,
                5,
                5,
                "DesiredWithinRange",
            ),
            (
                "outdated flag, up",
                &[8, 12, 9, 11],
                &[],
                1,
                1000,
                s(rules(1000, 60, 0, 0, 0)),
                n.clone(),
                100,
                200,
                200,
                "DesiredWithinRange",
            ),
            (
                "not outdated, two policies, up",
                &[8, 12, 9, 11],
                &[],
                1,
                1000,
                s(rules(1000, 120, 100, 60, 0)),
                n.clone(),
                100,
                200,
                200,
                "DesiredWithinRange",
            ),
            (
                "outdated, two policies, up",
                &[8, 12, 9, 11],
                &[],
                1,
                1000,
                s(rules(1000, 30, 100, 60, 0)),
                n.clone(),
                100,
                200,
                200,
                "DesiredWithinRange",
            ),
            (
                "outdated flag, down",
                &[],
                &[8, 12, 9, 11],
                1,
                1000,
                n.clone(),
                s(rules(1000, 60, 0, 0, 300)),
                100,
                5,
                5,
                "DesiredWithinRange",
            ),
            (
                "not outdated, two policies, down",
                &[],
                &[8, 12, 9, 11],
                1,
                1000,
                n.clone(),
                s(rules(1000, 120, 100, 60, 300)),
                100,
                5,
                5,
                "DesiredWithinRange",
            ),
            (
                "outdated, two policies, down",
                &[],
                &[8, 12, 9, 11],
                1,
                1000,
                n.clone(),
                s(rules(1000, 30, 100, 60, 300)),
                100,
                5,
                5,
                "DesiredWithinRange",
            ),
        ];
        for (name, up_ev, down_ev, min, max, up, down, current, desired, expected, cond) in cases {
            let up = up.unwrap_or_else(Rules::default_up);
            let down = down.unwrap_or_else(Rules::default_down);
            let (ue, de) = (events(up_ev), events(down_ev));
            let got = convert_with_rules(current, desired, min, max, &up, &down, (&ue, &de), 0);
            assert_eq!(got, (expected, cond), "{name}");
        }
    }

    #[test]
    fn legacy_path_doubles_or_adds_four_and_scales_down_after_five_minutes() {
        let cpu = |h: &mut Hpa, now: i64, n: u32, level: i64, target: i64| {
            let pod = PodState {
                phase: Phase::Running,
                deleted: false,
                ready: Some((true, ZERO)),
                start: Some(ZERO),
                request_milli: 1000,
            };
            let sample = PodMetric {
                value_milli: level,
                timestamp: now,
                window: 15,
            };
            let (pods, metrics) = (vec![pod; n as usize], vec![Some(sample); n as usize]);
            h.sync(
                now,
                n,
                n,
                Metric::Cpu {
                    target_percent: target,
                    pods: &pods,
                    metrics: &metrics,
                },
            )
        };
        let new = || Hpa::new(HpaConfig::kubernetes_default(1, 50));
        // 1 pod at 100 % with a 10 % target wants 10: at most max(2 × 1, 4) = 4.
        assert_eq!(cpu(&mut new(), 0, 1, 1000, 10), Some(4));
        // 10 pods at 100 % with a 50 % target want 20, within 2 × 10.
        assert_eq!(cpu(&mut new(), 0, 10, 1000, 50), Some(20));
        let mut h = new();
        assert_eq!(cpu(&mut h, 0, 4, 500, 50), None); // at target
        assert_eq!(cpu(&mut h, 10, 4, 100, 50), None); // no sync due
        // 4 pods at 10 % want 1, but the 5-minute window holds 4.
        assert_eq!(cpu(&mut h, 15, 4, 100, 50), None);
        assert_eq!(cpu(&mut h, 285, 4, 100, 50), None);
        assert_eq!(cpu(&mut h, 300, 4, 100, 50), Some(1));
    }

    #[test]
    fn external_scale_up_is_limited_to_four_from_one_on_the_legacy_path() {
        let mut h = Hpa::new(HpaConfig::kubernetes_default(1, 30));
        let m = Metric::ExternalAverage {
            value_milli: 25_000,
            target_milli: 2_500,
        };
        // ceil(25 / 2.5) = 10, limited to max(2 × 1, 4) = 4.
        assert_eq!(h.sync(0, 1, 1, m), Some(4));
        // From 4 the limit is max(2 × 4, 4) = 8, then 10 is within 16.
        assert_eq!(h.sync(15, 4, 4, m), Some(8));
        assert_eq!(h.sync(30, 8, 8, m), Some(10));
        // Disabled at zero replicas with minReplicas 1.
        assert_eq!(h.sync(45, 0, 0, m), None);
    }
}
