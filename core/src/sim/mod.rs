//! Simulation: replay a recording against a simulated cluster with each
//! strategy — `predictive` (the forecaster and planner the controller runs),
//! the Kubernetes `hpa`, `static:N`, and the perfect-foresight `oracle` — and
//! report how each did. Deterministic: a virtual clock, no RNG, no I/O.
//!
//! Time runs in ticks of 15 s (the HPA's sync period). Arrivals recorded per
//! step are spread evenly over the step's ticks. Measurements cover the window
//! after the warm-up, which every strategy also runs through, so the
//! predictive strategy has history to learn from when measuring starts.

pub mod chart;
pub mod cluster;
pub mod hpa;
pub mod oracle;
pub mod report;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::forecast::{Forecast, Forecaster};
use crate::plan::{self, ForecastView, PlannerState};
use crate::policy::Policy;
use crate::schedule::{self, Appointment};
use crate::series::{Grid, Series};

use cluster::{Cluster, TickOutcome, Waits};
use hpa::{Hpa, HpaConfig};
pub use report::{Report, StrategyResult};

/// Seconds per simulation tick (the HPA's default sync period).
pub const TICK_SECS: i64 = 15;

/// Errors of the simulation layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the recording has no column {0:?} (the policy's demand.arrivals.series); it has: {1}")]
    MissingSeries(String, String),
    #[error(
        "the recording's step ({recording}s) differs from the policy's forecast.step ({policy}s)"
    )]
    StepMismatch { recording: i64, policy: i64 },
    #[error(
        "the recording has a step of {0}s, which is not a whole multiple of the {TICK_SECS}s tick"
    )]
    BadStep(i64),
    #[error("the recording ({len} steps) is not longer than the warm-up ({warmup} steps)")]
    TooShort { len: usize, warmup: usize },
    #[error("unknown strategy {0:?}: expected predictive, hpa, oracle, static:N or static:match")]
    UnknownStrategy(String),
    #[error("the recording's column {0:?} has a negative value at step {1}")]
    Negative(String, usize),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A strategy to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Predictive,
    Hpa,
    Static(u32),
    /// The smallest static count that reaches predictive's SLO attainment.
    StaticMatch,
    Oracle,
}

impl Strategy {
    /// Parse a comma-separated list such as `predictive,hpa,static:4,oracle`.
    pub fn parse_list(text: &str) -> Result<Vec<Strategy>> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "predictive" => Ok(Strategy::Predictive),
                "hpa" => Ok(Strategy::Hpa),
                "oracle" => Ok(Strategy::Oracle),
                "static:match" => Ok(Strategy::StaticMatch),
                _ => s
                    .strip_prefix("static:")
                    .and_then(|n| n.parse().ok())
                    .map(Strategy::Static)
                    .ok_or_else(|| Error::UnknownStrategy(s.to_string())),
            })
            .collect()
    }

    /// The default set: predictive, hpa, the matching static count, oracle.
    pub fn defaults() -> Vec<Strategy> {
        vec![
            Strategy::Predictive,
            Strategy::Hpa,
            Strategy::StaticMatch,
            Strategy::Oracle,
        ]
    }
}

/// Everything a simulation needs.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub policy: Policy,
    /// Work arriving per step (the policy's arrivals series).
    pub arrivals: Series,
    /// Booked appointments (may be empty).
    pub schedule: Vec<Appointment>,
    /// Time run before measuring starts.
    pub warmup_secs: i64,
}

impl Scenario {
    /// Build a scenario from a recording's columns, checking them.
    pub fn new(
        policy: Policy,
        recording: &crate::recording::Recording,
        schedule: Vec<Appointment>,
        warmup_secs: i64,
    ) -> Result<Scenario> {
        let name = &policy.demand.arrivals.series;
        let arrivals = recording
            .series(name)
            .ok_or_else(|| Error::MissingSeries(name.clone(), recording.names().join(", ")))?;
        let step = arrivals.grid.step_secs;
        if step % TICK_SECS != 0 {
            return Err(Error::BadStep(step));
        }
        if step != policy.step_secs() {
            return Err(Error::StepMismatch {
                recording: step,
                policy: policy.step_secs(),
            });
        }
        if let Some(i) = arrivals.values.iter().position(|v| *v < 0.0) {
            return Err(Error::Negative(name.clone(), i));
        }
        let warmup_steps = (warmup_secs.max(0) / step) as usize;
        if arrivals.len() <= warmup_steps {
            return Err(Error::TooShort {
                len: arrivals.len(),
                warmup: warmup_steps,
            });
        }
        Ok(Scenario {
            policy,
            arrivals,
            schedule,
            warmup_secs,
        })
    }
}

/// Per-tick quantities shared by every run.
struct Ticks {
    grid: Grid,
    n: usize,
    per_step: usize,
    /// Arrivals per tick (missing values count as no arrivals).
    arrivals: Vec<f64>,
    per_pod: f64,
    startup: u64,
    wait: u64,
    measure_from: u64,
}

impl Ticks {
    fn new(s: &Scenario) -> Ticks {
        let grid = s.arrivals.grid;
        let per_step = (grid.step_secs / TICK_SECS) as usize;
        let arrivals: Vec<f64> = s
            .arrivals
            .values
            .iter()
            .flat_map(|v| {
                let v = if v.is_finite() { *v } else { 0.0 };
                std::iter::repeat_n(v / per_step as f64, per_step)
            })
            .collect();
        let p = &s.policy;
        Ticks {
            grid,
            n: arrivals.len(),
            per_step,
            arrivals,
            per_pod: p.capacity.per_second() * TICK_SECS as f64,
            startup: p.capacity.startup.secs().div_ceil(TICK_SECS as u64),
            wait: p.slo.max_wait.secs() / TICK_SECS as u64,
            measure_from: (s.warmup_secs.max(0) / TICK_SECS) as u64,
        }
    }

    fn time(&self, k: usize) -> DateTime<Utc> {
        self.grid.start + TimeDelta::seconds(k as i64 * TICK_SECS)
    }
}

/// A strategy's controller inside the simulation.
trait Controller {
    /// Called every tick before serving, with the last tick's outcome; returns
    /// a new requested count to apply now.
    fn act(&mut self, k: usize, cluster: &Cluster, last: TickOutcome) -> Option<u32>;
}

/// One strategy's run: measurements and a coarse timeline for the chart.
#[derive(Debug, Clone)]
pub struct Run {
    pub waits: Waits,
    pub replica_ticks: u64,
    pub scale_events: u32,
    pub peak: u32,
    /// Per chart bucket: mean requested replicas and the longest head-of-queue age (s).
    pub timeline: Vec<(f64, f64)>,
    /// Predictive only: decisions by winning term.
    pub terms: BTreeMap<String, u32>,
    pub notes: Vec<String>,
}

/// Ticks per chart bucket (15 minutes).
pub const BUCKET_TICKS: usize = 60;

fn run(t: &Ticks, initial: u32, ctl: &mut dyn Controller) -> Run {
    let mut cluster = Cluster::new(initial, t.startup);
    let mut waits = Waits::new(t.measure_from);
    let mut last = TickOutcome::default();
    let (mut replica_ticks, mut events, mut peak) = (0u64, 0u32, 0u32);
    let mut timeline = Vec::new();
    let (mut sum_req, mut max_age, mut in_bucket) = (0u64, 0u64, 0usize);
    for k in 0..t.n {
        let measuring = k as u64 >= t.measure_from;
        if let Some(n) = ctl.act(k, &cluster, last)
            && n != cluster.requested()
        {
            cluster.scale_to(n, k as u64);
            if measuring {
                events += 1;
            }
        }
        last = cluster.tick(k as u64, t.arrivals[k], t.per_pod, &mut waits);
        let req = cluster.requested();
        if measuring {
            replica_ticks += u64::from(req);
            peak = peak.max(req);
            sum_req += u64::from(req);
            max_age = max_age.max(cluster.head_age(k as u64 + 1));
            in_bucket += 1;
            if in_bucket == BUCKET_TICKS {
                timeline.push((
                    sum_req as f64 / in_bucket as f64,
                    (max_age as i64 * TICK_SECS) as f64,
                ));
                (sum_req, max_age, in_bucket) = (0, 0, 0);
            }
        }
    }
    cluster.drain_unserved(t.n as u64, &mut waits);
    Run {
        waits,
        replica_ticks,
        scale_events: events,
        peak,
        timeline,
        terms: BTreeMap::new(),
        notes: Vec::new(),
    }
}

struct StaticCtl(u32);

impl Controller for StaticCtl {
    fn act(&mut self, _k: usize, cluster: &Cluster, _last: TickOutcome) -> Option<u32> {
        (cluster.requested() != self.0).then_some(self.0)
    }
}

struct PlanCtl(Vec<u32>);

impl Controller for PlanCtl {
    fn act(&mut self, k: usize, _cluster: &Cluster, _last: TickOutcome) -> Option<u32> {
        self.0.get(k).copied()
    }
}

struct HpaCtl(Hpa);

impl Controller for HpaCtl {
    fn act(&mut self, k: usize, cluster: &Cluster, last: TickOutcome) -> Option<u32> {
        let util = (last.capacity > 0.0).then(|| last.served / last.capacity);
        self.0
            .sync(k as i64 * TICK_SECS, cluster.requested(), last.ready, util)
    }
}

/// The predictive strategy: the forecaster refitted on its cadence and the
/// planner deciding every interval — the code the controller runs.
struct PredictiveCtl<'a> {
    s: &'a Scenario,
    t: &'a Ticks,
    model: Box<dyn Forecaster>,
    types: Vec<String>,
    state: PlannerState,
    forecast: Option<Forecast>,
    last_fit_step: Option<usize>,
    interval_ticks: usize,
    refit_steps: usize,
    /// Served and capacity since the last decision, for the utilisation.
    served: f64,
    capacity: f64,
    terms: BTreeMap<String, u32>,
    /// Fits by the model they chose.
    models: BTreeMap<String, u32>,
    /// Fits that were a cold start (too little history for model choice).
    cold_starts: u32,
    /// Forecast errors by message, with how many fits gave each.
    errors: BTreeMap<String, u32>,
    fits: u32,
}

impl<'a> PredictiveCtl<'a> {
    fn new(s: &'a Scenario, t: &'a Ticks) -> Self {
        let p = &s.policy;
        let types = match &p.schedule {
            Some(spec) if !spec.types.is_empty() => spec.types.clone(),
            _ => schedule::types_of(&s.schedule),
        };
        PredictiveCtl {
            s,
            t,
            model: forecaster_for(p),
            types,
            state: PlannerState::default(),
            forecast: None,
            last_fit_step: None,
            interval_ticks: (p.scaling.interval.secs_i64() / TICK_SECS).max(1) as usize,
            refit_steps: (p.forecast.refit_every.secs_i64() / t.grid.step_secs).max(1) as usize,
            served: 0.0,
            capacity: 0.0,
            terms: BTreeMap::new(),
            models: BTreeMap::new(),
            cold_starts: 0,
            errors: BTreeMap::new(),
            fits: 0,
        }
    }

    /// A short summary for the report: which models were used, how often
    /// the engine was in cold start, and forecast errors.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.models.is_empty() {
            let used: Vec<String> = self
                .models
                .iter()
                .map(|(m, c)| format!("{m} {c}"))
                .collect();
            notes.push(format!(
                "forecast models chosen (fits, refit every {}): {}",
                self.s.policy.forecast.refit_every,
                used.join(", ")
            ));
        }
        if self.cold_starts > 0 {
            notes.push(format!(
                "cold start in {} of {} fits: too little history to choose a model by backtest, a simpler one was used",
                self.cold_starts, self.fits
            ));
        }
        for (e, c) in &self.errors {
            notes.push(format!("{e} (in {c} of {} fits)", self.fits));
        }
        notes
    }

    /// Refit on the completed steps before step `i`, if due.
    fn refit(&mut self, i: usize) {
        if i == 0 || self.last_fit_step.is_some_and(|l| i - l < self.refit_steps) {
            return;
        }
        let p = &self.s.policy;
        let grid = self.t.grid;
        let history_steps = (p.forecast.history.secs_i64() / grid.step_secs).max(1) as usize;
        let from = i.saturating_sub(history_steps);
        let hist = Series::new(
            Grid::new(grid.time(from), grid.step_secs, 0),
            self.s.arrivals.values[from..i].to_vec(),
        );
        let horizon = (p.forecast.horizon.secs_i64() / grid.step_secs).max(1) as usize;
        let (past, future) = if self.types.is_empty() {
            (None, None)
        } else {
            (
                Some(schedule::start_counts(
                    &self.s.schedule,
                    &hist.grid,
                    &self.types,
                )),
                Some(schedule::start_counts(
                    &self.s.schedule,
                    &hist.grid.following(horizon),
                    &self.types,
                )),
            )
        };
        self.last_fit_step = Some(i);
        self.fits += 1;
        let result = self.model.fit(&hist, past.as_ref()).and_then(|_| {
            self.model
                .predict(horizon, &[p.forecast.quantile], future.as_ref())
        });
        match result {
            Ok(f) => {
                if f.note.starts_with("cold start") {
                    self.cold_starts += 1;
                }
                *self.models.entry(f.model.clone()).or_insert(0) += 1;
                self.forecast = Some(f);
            }
            Err(e) => {
                *self
                    .errors
                    .entry(format!("forecast unavailable: {e}"))
                    .or_insert(0) += 1;
                self.forecast = None;
            }
        }
    }
}

impl Controller for PredictiveCtl<'_> {
    fn act(&mut self, k: usize, cluster: &Cluster, last: TickOutcome) -> Option<u32> {
        self.served += last.served;
        self.capacity += last.capacity;
        if k % self.t.per_step == 0 {
            self.refit(k / self.t.per_step);
        }
        if k % self.interval_ticks != 0 {
            return None;
        }
        let p = &self.s.policy;
        let i = k / self.t.per_step;
        // The arrival rate observed over the last completed step.
        let arrival_rate = i
            .checked_sub(1)
            .map(|j| self.s.arrivals.values[j])
            .filter(|v| v.is_finite())
            .map(|v| v / self.t.grid.step_secs as f64);
        let utilisation = (self.capacity > 0.0).then(|| self.served / self.capacity);
        (self.served, self.capacity) = (0.0, 0.0);
        let values;
        let view = match &self.forecast {
            Some(f) => {
                values = f.quantile(p.forecast.quantile);
                Some(ForecastView {
                    grid: f.grid,
                    values,
                    level: p.forecast.quantile,
                })
            }
            None => None,
        };
        let input = plan::Input {
            now: self.t.time(k),
            current: cluster.requested(),
            ready: cluster.ready(k as u64),
            utilisation,
            queue_depth: Some(cluster.queue_depth()),
            arrival_rate,
            forecast: view,
        };
        let d = plan::decide(p, &input, &self.state);
        self.state.record(p, &d);
        if k as u64 >= self.t.measure_from {
            *self.terms.entry(d.term.kind().to_string()).or_insert(0) += 1;
        }
        d.is_change().then_some(d.desired)
    }
}

/// The forecaster the predictive strategy and the controller use for a policy.
pub fn forecaster_for(policy: &Policy) -> Box<dyn Forecaster> {
    Box::new(crate::forecast::engine_for(policy))
}

/// Simulate the strategies on the scenario. `progress` is told the fraction done.
pub fn simulate(s: &Scenario, strategies: &[Strategy], progress: &mut dyn FnMut(f64)) -> Report {
    let t = Ticks::new(s);
    let p = &s.policy;
    let (min, max) = (p.replicas.min, p.replicas.max);
    let mut runs: Vec<(String, Run)> = Vec::new();
    let total = strategies.len().max(1) as f64;
    let mut predictive_attainment = None;
    // Predictive first: static:match needs its attainment.
    let mut order: Vec<Strategy> = strategies.to_vec();
    order.sort_by_key(|s| !matches!(s, Strategy::Predictive));
    let mut by_name: BTreeMap<usize, (String, Run)> = BTreeMap::new();
    for (done, strat) in order.iter().enumerate() {
        let slot = strategies.iter().position(|x| x == strat).unwrap_or(done);
        let (name, r) = match strat {
            Strategy::Predictive => {
                let mut ctl = PredictiveCtl::new(s, &t);
                let mut r = run(&t, min, &mut ctl);
                r.notes = ctl.notes();
                r.terms = ctl.terms;
                predictive_attainment = Some(r.waits.within(t.wait));
                ("predictive".to_string(), r)
            }
            Strategy::Hpa => {
                let cfg = HpaConfig::kubernetes_default(min, max, p.scaling.reactive_target);
                let mut ctl = HpaCtl(Hpa::new(cfg));
                ("hpa".to_string(), run(&t, min, &mut ctl))
            }
            Strategy::Static(n) => {
                let n = (*n).clamp(min, max);
                (format!("static:{n}"), run(&t, n, &mut StaticCtl(n)))
            }
            Strategy::StaticMatch => static_match(&t, min, max, predictive_attainment),
            Strategy::Oracle => {
                let plan = oracle::plan(
                    &t.arrivals,
                    t.per_pod,
                    t.wait as usize,
                    t.startup as usize,
                    min,
                    max,
                );
                let initial = plan.first().copied().unwrap_or(min);
                ("oracle".to_string(), run(&t, initial, &mut PlanCtl(plan)))
            }
        };
        by_name.insert(slot, (name, r));
        progress((done + 1) as f64 / total);
    }
    runs.extend(by_name.into_values());
    report::build(s, &t.grid, t.measure_from, t.wait, runs)
}

/// The smallest static count whose attainment reaches `target` (predictive's),
/// found by bisection over `[min, max]` (attainment grows with the count).
fn static_match(t: &Ticks, min: u32, max: u32, target: Option<f64>) -> (String, Run) {
    let attain = |n: u32| {
        let r = run(t, n, &mut StaticCtl(n));
        (r.waits.within(t.wait), r)
    };
    let Some(target) = target else {
        let (_, r) = attain(max);
        let mut r = r;
        r.notes
            .push("static:match without predictive: the maximum is shown".into());
        return (format!("static:{max}"), r);
    };
    let (mut lo, mut hi) = (min, max);
    let (top, mut best) = attain(max);
    if top < target {
        best.notes.push(format!(
            "no static count up to max ({max}) reaches predictive's attainment"
        ));
        return (format!("static:{max}"), best);
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (a, r) = attain(mid);
        if a >= target {
            hi = mid;
            best = r;
        } else {
            lo = mid + 1;
        }
    }
    (format!("static:{hi}"), best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Duration;
    use chrono::TimeZone;

    /// Two weeks of 5-minute steps with a daily spike from 08:00 to 10:00.
    fn scenario() -> Scenario {
        let start = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
        let values: Vec<f64> = (0..14 * 288)
            .map(|i| {
                let minute = (i % 288) * 5;
                if (480..600).contains(&minute) {
                    40.0
                } else {
                    2.0
                }
            })
            .collect();
        let series = Series::new(Grid::new(start, 300, 0), values);
        let policy = Policy::test()
            .min(1)
            .max(30)
            .per_replica(1.0)
            .startup(Duration::from_mins(3));
        Scenario {
            policy,
            arrivals: series,
            schedule: Vec::new(),
            warmup_secs: 7 * 86_400,
        }
    }

    #[test]
    fn oracle_is_cheapest_and_predictive_beats_the_hpa_on_a_daily_spike() {
        let s = scenario();
        let r = simulate(&s, &Strategy::defaults(), &mut |_| {});
        let get = |n: &str| r.strategies.iter().find(|x| x.name.starts_with(n)).unwrap();
        let (pred, hpa, stat, oracle) =
            (get("predictive"), get("hpa"), get("static"), get("oracle"));
        assert!(oracle.slo_attainment > 0.999, "{oracle:?}");
        for other in [pred, hpa, stat] {
            assert!(
                oracle.replica_hours <= other.replica_hours,
                "{other:?} vs {oracle:?}"
            );
        }
        assert!(
            pred.slo_attainment > hpa.slo_attainment,
            "{pred:?} vs {hpa:?}"
        );
        assert!(stat.slo_attainment >= pred.slo_attainment);
        assert!(
            pred.replica_hours < stat.replica_hours,
            "{pred:?} vs {stat:?}"
        );
    }

    #[test]
    fn same_inputs_same_report() {
        let s = scenario();
        let a = simulate(&s, &Strategy::defaults(), &mut |_| {});
        let b = simulate(&s, &Strategy::defaults(), &mut |_| {});
        assert_eq!(a.to_json(), b.to_json());
    }

    #[test]
    fn strategy_lists_parse_and_reject_unknowns() {
        assert_eq!(
            Strategy::parse_list("predictive, hpa,static:3,static:match,oracle").unwrap(),
            vec![
                Strategy::Predictive,
                Strategy::Hpa,
                Strategy::Static(3),
                Strategy::StaticMatch,
                Strategy::Oracle
            ]
        );
        assert!(Strategy::parse_list("static:x").is_err());
        assert!(Strategy::parse_list("keda").is_err());
    }
}
