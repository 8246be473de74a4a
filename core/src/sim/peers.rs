//! The reactive peers: the Kubernetes HPA on CPU (`hpa`, reading CPU as
//! metrics-server serves it) and KEDA's Prometheus scaler on the queue depth
//! (`keda`, [`super::keda`]), each at its defaults and tuned by a sweep
//! (`hpa:tuned`, `keda:tuned`: the cheapest setting that meets the policy's
//! `slo.attainment`). See docs/ARCHITECTURE.md, "Simulation".

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::cluster::{Cluster, TickOutcome};
use super::hpa::{Hpa, HpaConfig, Metric, Phase, PodMetric, PodState};
use super::keda::{self, KedaCtl};
use super::{Run, Scaler, Strategy, Ticks, replay, run};
use crate::policy::Policy;

/// What the HPA sees of metrics-server: a pod's CPU averaged over one
/// `resolution_secs` window (metrics-server's `--metric-resolution`; the
/// upstream manifests set 15 s), from the scrape that was visible `age_secs`
/// before the sync (the kubelet's stats and the scrape lag behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsServer {
    pub resolution_secs: i64,
    pub age_secs: i64,
}

impl MetricsServer {
    pub const DEFAULT: MetricsServer = MetricsServer {
        resolution_secs: 15,
        age_secs: 15,
    };
}

/// Every simulated pod requests one CPU; its usage is its busy fraction.
const REQUEST_MILLI: i64 = 1000;
/// Start and readiness time of the pods that exist when the run begins.
const LONG_AGO: i64 = -1_000_000_000;

/// The HPA on CPU utilisation of the simulated pods. All ready pods share
/// the FIFO queue's work equally, so each is busy `served ÷ capacity` of a
/// tick; a starting pod is Pending (no container, no sample) until it is
/// ready, then needs one full metrics window before it has a sample.
pub(super) struct HpaCtl {
    pub(super) hpa: Hpa,
    target_percent: i64,
    tick_secs: i64,
    sync_ticks: usize,
    startup_ticks: u64,
    ms: MetricsServer,
    /// `cum[j]`: the ready pods' busy fraction summed over ticks `0..j`.
    cum: Vec<f64>,
    pods: Vec<PodState>,
    metrics: Vec<Option<PodMetric>>,
}

/// A utilisation fraction as the HPA's whole-percent target.
fn percent(fraction: f64) -> u32 {
    (fraction * 100.0).round().clamp(1.0, 100.0) as u32
}

impl HpaCtl {
    /// The HPA at the policy's `scaling.reactive_target`.
    pub(super) fn new(p: &Policy, t: &Ticks) -> Self {
        Self::with_target(p, t, percent(p.scaling.reactive_target))
    }

    pub(super) fn with_target(p: &Policy, t: &Ticks, target_percent: u32) -> Self {
        HpaCtl {
            hpa: Hpa::new(HpaConfig::kubernetes_default(
                p.replicas.min,
                p.replicas.max,
            )),
            target_percent: i64::from(target_percent),
            tick_secs: t.tick_secs,
            sync_ticks: t.hpa_sync_ticks(),
            startup_ticks: t.startup_ticks,
            ms: MetricsServer::DEFAULT,
            cum: vec![0.0],
            pods: Vec::new(),
            metrics: Vec::new(),
        }
    }

    /// The pod list and metrics-server's samples at tick `k`.
    fn sample(&mut self, k: usize, cluster: &Cluster) {
        let tick = self.tick_secs;
        let now = k as i64 * tick;
        let res = self.ms.resolution_secs.max(tick);
        // The sample's window: (ts − res, ts], from the last scrape visible.
        let ts = (now - self.ms.age_secs).div_euclid(res) * res;
        let (from, to) = (ts - res, ts);
        let (a, b) = ((from / tick).max(0) as usize, (to / tick).max(0) as usize);
        let busy = if b > a && from >= 0 {
            Some((self.cum[b] - self.cum[a]) / (b - a) as f64)
        } else {
            None
        };
        self.pods.clear();
        self.metrics.clear();
        for &r in cluster.ready_ticks() {
            let (start, ready_at) = if r == 0 {
                (LONG_AGO, LONG_AGO)
            } else {
                (
                    (r as i64 - self.startup_ticks as i64) * tick,
                    r as i64 * tick,
                )
            };
            let running = r as usize <= k;
            self.pods.push(PodState {
                phase: if running {
                    Phase::Running
                } else {
                    Phase::Pending
                },
                deleted: false,
                ready: Some(if running {
                    (true, ready_at)
                } else {
                    (false, start)
                }),
                start: Some(start),
                request_milli: REQUEST_MILLI,
            });
            // metrics-server has a sample once a whole window ran after the
            // container started.
            let sample = busy
                .filter(|_| running && from >= ready_at)
                .map(|u| PodMetric {
                    value_milli: (u * REQUEST_MILLI as f64).round() as i64,
                    timestamp: ts,
                    window: res,
                });
            self.metrics.push(sample);
        }
    }
}

impl Scaler for HpaCtl {
    fn act(&mut self, k: usize, cluster: &Cluster, last: TickOutcome) -> Option<u32> {
        if k > 0 {
            let u = if last.capacity > 0.0 {
                last.served / last.capacity
            } else {
                0.0
            };
            let prev = self.cum.last().copied().unwrap_or(0.0);
            self.cum.push(prev + u);
        }
        if k % self.sync_ticks != 0 {
            return None;
        }
        self.sample(k, cluster);
        let n = cluster.requested();
        self.hpa.sync(
            k as i64 * self.tick_secs,
            n,
            n,
            Metric::Cpu {
                target_percent: self.target_percent,
                pods: &self.pods,
                metrics: &self.metrics,
            },
        )
    }
}

/// One peer at one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    /// CPU utilisation target (%).
    Hpa(u32),
    /// Queue-depth threshold per replica (milli demand units).
    Keda(i64),
}

/// A milli-quantity in demand units, as short as it goes (`2.5`, `0.25`).
fn units(milli: i64) -> String {
    let s = format!("{:.3}", milli as f64 / 1000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Peer {
    fn name(self) -> String {
        match self {
            Peer::Hpa(p) => format!("hpa:{p}"),
            Peer::Keda(m) => format!("keda:{}", units(m)),
        }
    }

    fn setting(self, unit: &str) -> String {
        match self {
            Peer::Hpa(p) => format!("target {p} %"),
            Peer::Keda(m) => format!("threshold {} {unit}", units(m)),
        }
    }

    fn run(self, p: &Policy, t: &Ticks) -> Run {
        match self {
            Peer::Hpa(pct) => run(t, p.replicas.min, &mut HpaCtl::with_target(p, t, pct)),
            Peer::Keda(m) => run(t, p.replicas.min, &mut KedaCtl::new(p, t, m)),
        }
    }

    /// [`Peer::run`] unless `stop` gives it up (`None`).
    fn run_unless(
        self,
        p: &Policy,
        t: &Ticks,
        stop: &mut dyn FnMut(u64, f64, u64) -> bool,
    ) -> Option<Run> {
        let (r, finished) = match self {
            Peer::Hpa(pct) => replay(t, p.replicas.min, &mut HpaCtl::with_target(p, t, pct), stop),
            Peer::Keda(m) => replay(t, p.replicas.min, &mut KedaCtl::new(p, t, m), stop),
        };
        finished.then_some(r)
    }
}

fn default_hpa(p: &Policy) -> Peer {
    Peer::Hpa(percent(p.scaling.reactive_target))
}

fn default_keda(p: &Policy) -> Peer {
    Peer::Keda(keda::threshold_milli(keda::default_threshold(p)))
}

/// The settings a sweep tries: HPA targets 10–95 % in steps of 5; KEDA
/// thresholds from a tenth to four times the default.
fn candidates(p: &Policy, hpa: bool) -> Vec<Peer> {
    if hpa {
        return (2..=19).map(|i| Peer::Hpa(i * 5)).collect();
    }
    let base = keda::default_threshold(p);
    let mut v: Vec<Peer> = [
        0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0,
    ]
    .iter()
    .map(|f| Peer::Keda(keda::threshold_milli(base * f)))
    .collect();
    v.dedup();
    v
}

fn describe(p: &Policy, peer: Peer) -> String {
    match peer {
        Peer::Hpa(pct) => format!(
            "CPU Utilization target {pct} % of the request; metrics-server resolution {} s, read {} s after its scrape; no spec.behavior (the controller's defaults)",
            MetricsServer::DEFAULT.resolution_secs,
            MetricsServer::DEFAULT.age_secs
        ),
        Peer::Keda(m) => format!(
            "Prometheus scaler on the queue depth, AverageValue threshold {} {} per replica; HPA sync {} s, pollingInterval {} s, cooldownPeriod {} s (scales to zero only when replicas.min is 0)",
            units(m),
            p.demand.unit,
            super::HPA_SYNC_SECS,
            keda::POLLING_INTERVAL_SECS,
            keda::COOLDOWN_PERIOD_SECS
        ),
    }
}

/// The cheapest setting (fewest replica-hours) whose attainment reaches
/// `slo.attainment`; without one, the best attainment. Ties keep the first.
fn tune(p: &Policy, t: &Ticks, hpa: bool) -> (String, Run) {
    let goal = p.slo.attainment;
    let cands = candidates(p, hpa);
    let range = format!(
        "{} settings from {} to {}",
        cands.len(),
        cands[0].setting(&p.demand.unit),
        cands[cands.len() - 1].setting(&p.demand.unit)
    );
    // The settings that were replayed to their end, in their order.
    let mut tried: Vec<(Peer, f64, Run)> = cands
        .iter()
        .zip(sweep(p, t, &cands))
        .filter_map(|(c, r)| r.map(|(a, r)| (*c, a, r)))
        .collect();
    let meets = tried.iter().any(|(_, a, _)| *a >= goal);
    let mut best = 0;
    for (i, (_, a, r)) in tried.iter().enumerate() {
        let (_, ba, br) = &tried[best];
        let better = if meets {
            *a >= goal && (*ba < goal || r.replica_ticks < br.replica_ticks)
        } else {
            *a > *ba || (*a == *ba && r.replica_ticks < br.replica_ticks)
        };
        if better {
            best = i;
        }
    }
    if tried.is_empty() {
        // Not reached: a sweep replays at least its cheapest meeting or
        // every setting to the end, and there is at least one setting.
        tried.push((cands[0], 0.0, cands[0].run(p, t)));
    }
    let (peer, attained, mut r) = tried.swap_remove(best);
    let hours = r.replica_ticks as f64 * t.tick_secs as f64 / 3600.0;
    r.notes.push(if meets {
        format!(
            "tuned: {} is the cheapest of {range} that meets slo.attainment {:.2} % ({:.2} %, {hours:.1} replica-h)",
            peer.setting(&p.demand.unit),
            goal * 100.0,
            attained * 100.0
        )
    } else {
        format!(
            "tuned: none of {range} meets slo.attainment {:.2} %; {} comes closest ({:.2} %)",
            goal * 100.0,
            peer.setting(&p.demand.unit),
            attained * 100.0
        )
    });
    r.notes.push(describe(p, peer));
    (peer.name(), r)
}

/// Every setting's attainment and run, in `cands`' order, as if each were
/// replayed to its end; but a replay stops as soon as it cannot be the one
/// [`tune`] picks, and is `None` then (only when another setting meets the
/// goal, which the pick then is):
/// - once its replica-ticks so far, plus `replicas.min` for every measured
///   tick still to come, exceed those of a finished setting that meets the
///   goal (it would cost more: a tie still finishes), or
/// - once its work started later than the SLO exceeds what the goal allows
///   of the measured work (it cannot meet the goal), with a margin of 10⁻⁶
///   of the work for rounding. If in the end no setting meets the goal,
///   those are replayed again to their end (the pick is then the best
///   attainment).
///
/// The replays run on every core; they are tried from the last setting
/// (the cheapest: the highest target or threshold) down, so that the
/// cheapest setting that meets the goal is usually found first and the rest
/// stop early. Which replays stop depends on the threads' timing; the pick
/// does not.
fn sweep(p: &Policy, t: &Ticks, cands: &[Peer]) -> Vec<Option<(f64, Run)>> {
    let goal = p.slo.attainment;
    let work: f64 = t.arrivals.iter().skip(t.measure_from_tick as usize).sum();
    let allowed_late = (1.0 - goal).max(0.0) * work + 1e-6 * work;
    // Both peers keep at least replicas.min requested (the HPA clamps to
    // [min, max]; KEDA's HPA too, and it scales to zero only when min is 0).
    let floor = u64::from(p.replicas.min);
    // The fewest replica-ticks of a finished setting that meets the goal.
    let cheapest = AtomicU64::new(u64::MAX);
    let order: Vec<usize> = (0..cands.len()).rev().collect();
    let mut out: Vec<Option<(f64, Run)>> = vec![None; cands.len()];
    for (i, r) in order.iter().zip(par_map(&order, |&i| {
        let mut stop = |ticks: u64, late: f64, left: u64| {
            ticks.saturating_add(floor.saturating_mul(left)) > cheapest.load(Ordering::Relaxed)
                || late > allowed_late
        };
        let r = cands[i].run_unless(p, t, &mut stop)?;
        let a = r.waits.within(t.wait_ticks);
        if a >= goal {
            cheapest.fetch_min(r.replica_ticks, Ordering::Relaxed);
        }
        Some((a, r))
    })) {
        out[*i] = r;
    }
    if !out.iter().flatten().any(|(a, _)| *a >= goal) {
        // Nothing meets the goal, so no replay stopped for its cost: those
        // that stopped for their lateness are needed for the best attainment.
        let again: Vec<usize> = (0..cands.len()).filter(|i| out[*i].is_none()).collect();
        for (i, r) in again.iter().zip(par_map(&again, |&i| {
            let r = cands[i].run(p, t);
            (r.waits.within(t.wait_ticks), r)
        })) {
            out[*i] = Some(r);
        }
    }
    out
}

/// `f` of every item, on as many threads as there are cores (each takes the
/// next item left), returned in the items' order: the same as a sequential
/// map for a deterministic `f`.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let mut all: Vec<(usize, R)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for h in others {
            // A panic in a replay is a bug: surface it here.
            all.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        all
    });
    all.sort_unstable_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Run one of the peer strategies (`hpa`, `hpa:N`, `hpa:tuned`, `keda`,
/// `keda:X`, `keda:tuned`); `None` for any other strategy.
pub(super) fn run_peer(p: &Policy, t: &Ticks, s: Strategy) -> Option<(String, Run)> {
    let (name, peer) = match s {
        Strategy::Hpa => ("hpa".to_string(), default_hpa(p)),
        Strategy::Keda => ("keda".to_string(), default_keda(p)),
        Strategy::HpaAt(pct) => (Peer::Hpa(pct).name(), Peer::Hpa(pct)),
        Strategy::KedaAt(m) => (Peer::Keda(m).name(), Peer::Keda(m)),
        Strategy::HpaTuned => return Some(tune(p, t, true)),
        Strategy::KedaTuned => return Some(tune(p, t, false)),
        _ => return None,
    };
    let mut r = peer.run(p, t);
    r.notes.push(describe(p, peer));
    Some((name, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Duration;
    use crate::sim::tests::scenario_with;

    /// What `tune` picked before the sweep stopped replays: every setting
    /// replayed to its end, the same rule.
    fn exhaustive(p: &Policy, t: &Ticks, hpa: bool) -> (Peer, Run) {
        let goal = p.slo.attainment;
        let tried: Vec<(Peer, f64, Run)> = candidates(p, hpa)
            .into_iter()
            .map(|c| {
                let r = c.run(p, t);
                (c, r.waits.within(t.wait_ticks), r)
            })
            .collect();
        let meets = tried.iter().any(|(_, a, _)| *a >= goal);
        let mut best = 0;
        for (i, (_, a, r)) in tried.iter().enumerate() {
            let (_, ba, br) = &tried[best];
            if (meets && *a >= goal && (*ba < goal || r.replica_ticks < br.replica_ticks))
                || (!meets && (*a > *ba || (*a == *ba && r.replica_ticks < br.replica_ticks)))
            {
                best = i;
            }
        }
        let (c, _, r) = tried.into_iter().nth(best).unwrap();
        (c, r)
    }

    #[test]
    fn a_sweep_that_stops_replays_picks_what_replaying_every_setting_picks() {
        // Goals whose cheapest setting only just meets them (hpa:40 attains
        // 0.9788, keda:4.5 0.9808, keda:5 0.9535 here), a minimum of 2 (the
        // cost bound counts the floor), and at most 3 replicas, with which
        // no setting meets the goal (the stopped replays are replayed again
        // for the best attainment).
        for (min, max, goal) in [
            (1, 30, 0.978),
            (1, 30, 0.98),
            (1, 30, 0.95),
            (2, 30, 0.95),
            (1, 3, 0.99),
        ] {
            let mut p = Policy::test()
                .min(min)
                .max(max)
                .per_replica(1.0)
                .startup(Duration::from_mins(3));
            p.slo.attainment = goal;
            let s = scenario_with(p);
            let t = Ticks::new(&s);
            for hpa in [true, false] {
                let (peer, want) = exhaustive(&s.policy, &t, hpa);
                let (name, got) = tune(&s.policy, &t, hpa);
                let case = format!("min {min}, max {max}, goal {goal}, hpa {hpa}");
                assert_eq!(name, peer.name(), "{case}");
                assert_eq!(got.replica_ticks, want.replica_ticks, "{case}");
                assert_eq!(got.waits, want.waits, "{case}");
                assert_eq!(got.timeline, want.timeline, "{case}");
            }
        }
    }

    #[test]
    fn par_map_keeps_the_items_order() {
        let items: Vec<u64> = (0..200).collect();
        // Uneven work, so that the threads finish out of order.
        let slow = |x: &u64| (0..(x % 7) * 10_000).fold(*x, |a, b| a ^ b) * 3;
        let seq: Vec<u64> = items.iter().map(slow).collect();
        assert_eq!(par_map(&items, slow), seq);
        assert_eq!(par_map(&items[..1], slow), seq[..1]);
        assert!(par_map(&[] as &[u64], slow).is_empty());
    }

    #[test]
    fn units_and_names_read_back_as_strategies() {
        assert_eq!(units(2500), "2.5");
        assert_eq!(units(250), "0.25");
        assert_eq!(units(3000), "3");
        assert_eq!(Peer::Keda(2500).name(), "keda:2.5");
        assert_eq!(Peer::Hpa(55).name(), "hpa:55");
        assert_eq!(
            Strategy::parse_list(&format!(
                "{},{}",
                Peer::Keda(250).name(),
                Peer::Hpa(55).name()
            ))
            .unwrap(),
            vec![Strategy::KedaAt(250), Strategy::HpaAt(55)]
        );
    }
}
