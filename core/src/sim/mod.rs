//! Simulation: replay a recording against a simulated cluster with each
//! strategy — `predictive` (the forecaster and planner the controller runs),
//! the Kubernetes `hpa`, `static:N`, and the perfect-foresight `oracle` — and
//! report how each did. Deterministic: a virtual clock, no RNG, no I/O.
//!
//! Time runs in ticks that divide every period the run needs exactly: the
//! HPA's 15-second sync, the recording's step, the policy's interval,
//! start-up and SLO wait (15 s for the shipped policies; 5 s for a 10-second
//! interval). Arrivals recorded per step are spread evenly over its ticks. Measurements cover the window
//! after the warm-up, which every strategy also runs through, so the
//! predictive strategy has history to learn from when measuring starts.

pub mod chart;
pub mod cluster;
pub mod explain;
pub mod hpa;
pub mod html;
pub mod keda;
pub mod knowable;
pub mod oracle;
pub mod peers;
pub mod report;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::autoscale::{Autoscaler, Observation, UpstreamFeed};
use crate::plan::Decision;
use crate::policy::{Mode, Policy};
use crate::schedule::{Appointment, Booked};
use crate::series::{Grid, Series, SeriesView};

use cluster::{Cluster, TickOutcome, Waits};
pub use knowable::KnownDemand;
use peers::HpaCtl;
pub use report::{Report, StrategyResult};

/// The HPA's sync period (s): the longest simulation tick.
pub const HPA_SYNC_SECS: i64 = 15;

/// Seconds per chart bucket and report demand bucket (15 minutes).
pub const BUCKET_SECS: i64 = 900;

/// Seconds per fine sample of a run (one minute): the resolution of the
/// report's busiest-day figure and of its attainment per day. A multiple of
/// every tick (ticks divide the HPA's 15-second sync).
pub const FINE_SECS: i64 = 60;

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Errors of the simulation layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the recording has no column {0:?} (the policy's demand.arrivals.series); it has: {1}")]
    MissingSeries(String, String),
    #[error(
        "the recording's step ({recording}s) differs from the policy's forecast.step ({policy}s)"
    )]
    StepMismatch { recording: i64, policy: i64 },
    #[error("the recording has a step of {0}s; expected a positive whole number of seconds")]
    BadStep(i64),
    #[error("the recording ({len} steps) is not longer than the warm-up ({warmup} steps)")]
    TooShort { len: usize, warmup: usize },
    #[error(
        "unknown strategy {0:?}: expected predictive, predictive-via-keda, hpa, hpa:PERCENT, hpa:tuned, keda, keda:THRESHOLD, keda:tuned, oracle, static:N or static:match"
    )]
    UnknownStrategy(String),
    #[error("the recording's column {0:?} has a negative value at step {1}")]
    Negative(String, usize),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A strategy to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Predictive,
    /// The predictive strategy's decisions served to KEDA through planscale's
    /// external scaler, KEDA's HPA scaling the target (what `keda` mode does).
    PredictiveViaKeda,
    /// The HPA on CPU at the policy's `scaling.reactive_target`.
    Hpa,
    /// The HPA at a CPU target (percent), `hpa:N`.
    HpaAt(u32),
    /// The HPA at the cheapest target of a sweep that meets `slo.attainment`.
    HpaTuned,
    /// KEDA's Prometheus scaler on the queue depth, threshold
    /// `capacity × slo.max_wait`.
    Keda,
    /// KEDA at a threshold (milli demand units), `keda:X`.
    KedaAt(i64),
    /// KEDA at the cheapest threshold of a sweep that meets `slo.attainment`.
    KedaTuned,
    Static(u32),
    /// The smallest static count that reaches predictive's SLO attainment.
    StaticMatch,
    Oracle,
    /// The predictive strategy's planner fed the true expected demand given
    /// the book ([`knowable`]): only with [`simulate_known`], not parsed.
    Knowable,
}

impl Strategy {
    /// Parse a comma-separated list such as `predictive,hpa,static:4,oracle`.
    pub fn parse_list(text: &str) -> Result<Vec<Strategy>> {
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| match s {
                "predictive" => Ok(Strategy::Predictive),
                "predictive-via-keda" => Ok(Strategy::PredictiveViaKeda),
                "hpa" => Ok(Strategy::Hpa),
                "hpa:tuned" => Ok(Strategy::HpaTuned),
                "keda" => Ok(Strategy::Keda),
                "keda:tuned" => Ok(Strategy::KedaTuned),
                "oracle" => Ok(Strategy::Oracle),
                "static:match" => Ok(Strategy::StaticMatch),
                _ => {
                    let hpa = s
                        .strip_prefix("hpa:")
                        .and_then(|n| n.parse().ok())
                        .filter(|n| (1..=100).contains(n))
                        .map(Strategy::HpaAt);
                    let keda = || {
                        s.strip_prefix("keda:")
                            .and_then(|x| x.parse::<f64>().ok())
                            .filter(|x| x.is_finite() && *x > 0.0)
                            .map(|x| Strategy::KedaAt(keda::threshold_milli(x)))
                    };
                    let stat = || {
                        s.strip_prefix("static:")
                            .and_then(|n| n.parse().ok())
                            .map(Strategy::Static)
                    };
                    hpa.or_else(keda)
                        .or_else(stat)
                        .ok_or_else(|| Error::UnknownStrategy(s.to_string()))
                }
            })
            .collect()
    }

    /// The default set: predictive, each peer at its defaults and tuned, the
    /// matching static count, oracle.
    pub fn defaults() -> Vec<Strategy> {
        vec![
            Strategy::Predictive,
            Strategy::Hpa,
            Strategy::HpaTuned,
            Strategy::Keda,
            Strategy::KedaTuned,
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
    /// Booked appointments (may be empty). The predictive strategy sees at
    /// each decision only those booked by then ([`Appointment::known_at`]).
    pub schedule: Vec<Appointment>,
    /// Time run before measuring starts.
    pub warmup_secs: i64,
    /// Seconds after the recording's start of the first decision (the
    /// controller's loop starts whenever it starts, not on a step boundary).
    pub phase_secs: i64,
    /// The upstream stages' replayed output this policy's predictive
    /// strategy reads (a pipeline, [`simulate_pipeline`]); empty otherwise.
    pub upstream: Vec<UpstreamReplay>,
}

/// A pipeline stage's replayed output, as the next stage's predictive
/// strategy reads it: its predictive run's completions and, at each of its
/// fits, what it planned to complete. The downstream's own arrivals are the
/// recording's (docs/ARCHITECTURE.md, "Pipelines").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamReplay {
    pub policy: String,
    /// Work finished per step of the recording's grid (served, counted
    /// one job's service time after it starts, as a completions counter
    /// would count it).
    pub completions: Vec<f64>,
    /// Its plans: when each was made (a fit), the step its values start at,
    /// and the completions planned per step from there — the work queued
    /// then, served first, and the forecast mean, each one job's service
    /// time after it arrives ([`crate::autoscale::planned_completions`]).
    pub plans: Vec<Plan>,
}

/// One plan of an [`UpstreamReplay`].
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub made_at: DateTime<Utc>,
    pub start: usize,
    pub values: Vec<f64>,
}

impl UpstreamReplay {
    /// What a decision at `now`, in step `i`, knows of this stage:
    /// completions observed in the steps before `i`, then the newest plan
    /// made by `now`, on `grid` (from step `from` to `i + horizon`): `NaN`
    /// where nothing is known. `None` before its first plan (the stage after
    /// falls back to its own history rather than read "nothing more will
    /// finish").
    fn feed(
        &self,
        grid: &Grid,
        from: usize,
        i: usize,
        now: DateTime<Utc>,
        horizon: usize,
    ) -> Option<UpstreamFeed> {
        let plan = self.plans.iter().rev().find(|p| p.made_at <= now)?;
        let from = from.min(i);
        let mut values: Vec<f64> = (from..i)
            .map(|j| self.completions.get(j).copied().unwrap_or(f64::NAN))
            .collect();
        values.extend((i..i + horizon).map(|j| {
            j.checked_sub(plan.start)
                .and_then(|k| plan.values.get(k))
                .copied()
                .unwrap_or(f64::NAN)
        }));
        Some(UpstreamFeed {
            policy: self.policy.clone(),
            completions: Series::new(Grid::new(grid.time(from), grid.step_secs, 0), values),
        })
    }
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
        if step <= 0 {
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
        let mut schedule = schedule;
        schedule.sort();
        Ok(Scenario {
            policy,
            arrivals,
            schedule,
            warmup_secs,
            phase_secs: 0,
            upstream: Vec::new(),
        })
    }
}

/// Per-tick quantities shared by every run.
struct Ticks {
    grid: Grid,
    /// Seconds per tick.
    tick_secs: i64,
    n_ticks: usize,
    ticks_per_step: usize,
    /// Arrivals per tick (missing values count as no arrivals).
    arrivals: Vec<f64>,
    per_pod_per_tick: f64,
    startup_ticks: u64,
    wait_ticks: u64,
    measure_from_tick: u64,
    phase_ticks: usize,
    interval_ticks: usize,
}

impl Ticks {
    fn new(s: &Scenario) -> Ticks {
        let grid = s.arrivals.grid;
        let p = &s.policy;
        let tick_secs = [
            grid.step_secs,
            p.scaling.interval.secs_i64(),
            p.capacity.startup.secs_i64(),
            p.slo.max_wait.secs_i64(),
            s.phase_secs.max(0),
        ]
        .into_iter()
        .fold(HPA_SYNC_SECS, gcd)
        .max(1);
        let ticks_per_step = (grid.step_secs / tick_secs) as usize;
        let arrivals: Vec<f64> = s
            .arrivals
            .values
            .iter()
            .flat_map(|v| {
                let v = if v.is_finite() { *v } else { 0.0 };
                std::iter::repeat_n(v / ticks_per_step as f64, ticks_per_step)
            })
            .collect();
        Ticks {
            grid,
            tick_secs,
            n_ticks: arrivals.len(),
            ticks_per_step,
            arrivals,
            per_pod_per_tick: p.capacity.per_second() * tick_secs as f64,
            startup_ticks: (p.capacity.startup.secs_i64() / tick_secs) as u64,
            wait_ticks: (p.slo.max_wait.secs_i64() / tick_secs) as u64,
            measure_from_tick: (s.warmup_secs.max(0) / tick_secs) as u64,
            phase_ticks: (s.phase_secs.max(0) / tick_secs) as usize,
            interval_ticks: (p.scaling.interval.secs_i64().max(1) / tick_secs).max(1) as usize,
        }
    }

    fn time(&self, k: usize) -> DateTime<Utc> {
        self.grid.start + TimeDelta::seconds(k as i64 * self.tick_secs)
    }

    fn hpa_sync_ticks(&self) -> usize {
        (HPA_SYNC_SECS / self.tick_secs) as usize
    }

    fn bucket_ticks(&self) -> usize {
        (BUCKET_SECS / self.tick_secs) as usize
    }

    fn fine_ticks(&self) -> usize {
        (FINE_SECS / self.tick_secs) as usize
    }
}

/// A strategy's scaler inside the simulation.
trait Scaler {
    /// Called every tick before serving, with the last tick's outcome; returns
    /// a new requested count to apply now.
    fn act(&mut self, k: usize, cluster: &Cluster, last: TickOutcome) -> Option<u32>;
}

/// One minute ([`FINE_SECS`]) of a strategy's run in the measured window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Mean requested replicas over the minute.
    pub requested: f64,
    /// Mean ready replicas over the minute.
    pub ready: f64,
    /// Longest age of the oldest waiting work during the minute (s).
    pub wait_secs: f64,
    /// Work that arrived in the minute (demand units).
    pub work: f64,
    /// The part of `work` that started within the SLO wait.
    pub on_time: f64,
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
    /// Per minute of the measured window (`work` and `on_time` from `waits`).
    pub fine: Vec<Sample>,
    /// Predictive only: decisions by winning term.
    pub terms: BTreeMap<String, u32>,
    pub notes: Vec<String>,
}

fn run(t: &Ticks, initial: u32, ctl: &mut dyn Scaler) -> Run {
    replay(t, initial, ctl, &mut |_, _, _| false).0
}

/// How often (in ticks) [`replay`] asks its `stop` whether to go on.
const STOP_CHECK_TICKS: usize = 240;

/// [`run`], asking `stop(replica_ticks, late_work, ticks_left)` every
/// [`STOP_CHECK_TICKS`] ticks of the measured window whether to give up (the
/// replica-ticks and the work started later than the SLO so far, lower
/// bounds of the finished run's; the measured ticks still to come); `false`
/// with the run as far as it went when it did. A sweep stops the settings
/// that can no longer win.
fn replay(
    t: &Ticks,
    initial: u32,
    ctl: &mut dyn Scaler,
    stop: &mut dyn FnMut(u64, f64, u64) -> bool,
) -> (Run, bool) {
    let mut cluster = Cluster::new(initial, t.startup_ticks);
    let fine_ticks = t.fine_ticks();
    let mut waits = Waits::bucketed(t.measure_from_tick, fine_ticks as u64, t.wait_ticks);
    let mut last = TickOutcome::default();
    let (mut replica_ticks, mut events, mut peak) = (0u64, 0u32, 0u32);
    let mut timeline = Vec::new();
    let (mut sum_req, mut max_age, mut in_bucket) = (0u64, 0u64, 0usize);
    let bucket = t.bucket_ticks();
    let measured = t.n_ticks.saturating_sub(t.measure_from_tick as usize);
    let mut fine = Vec::with_capacity(measured.div_ceil(fine_ticks.max(1)));
    let (mut f_req, mut f_ready, mut f_age, mut in_fine) = (0u64, 0u64, 0u64, 0usize);
    let mut finished = true;
    for k in 0..t.n_ticks {
        let measuring = k as u64 >= t.measure_from_tick;
        if measuring
            && k % STOP_CHECK_TICKS == 0
            && stop(replica_ticks, waits.late_so_far(), (t.n_ticks - k) as u64)
        {
            finished = false;
            break;
        }
        if let Some(n) = ctl.act(k, &cluster, last)
            && n != cluster.requested()
        {
            cluster.scale_to(n, k as u64);
            if measuring {
                events += 1;
            }
        }
        last = cluster.tick(k as u64, t.arrivals[k], t.per_pod_per_tick, &mut waits);
        let req = cluster.requested();
        if measuring {
            replica_ticks += u64::from(req);
            peak = peak.max(req);
            sum_req += u64::from(req);
            let age = cluster.head_age(k as u64 + 1);
            max_age = max_age.max(age);
            in_bucket += 1;
            f_req += u64::from(req);
            f_ready += u64::from(last.ready);
            f_age = f_age.max(age);
            in_fine += 1;
            if in_fine == fine_ticks || k + 1 == t.n_ticks {
                fine.push(Sample {
                    requested: f_req as f64 / in_fine as f64,
                    ready: f_ready as f64 / in_fine as f64,
                    wait_secs: (f_age as i64 * t.tick_secs) as f64,
                    ..Sample::default()
                });
                (f_req, f_ready, f_age, in_fine) = (0, 0, 0, 0);
            }
            if in_bucket == bucket {
                timeline.push((
                    sum_req as f64 / in_bucket as f64,
                    (max_age as i64 * t.tick_secs) as f64,
                ));
                (sum_req, max_age, in_bucket) = (0, 0, 0);
            }
        }
    }
    cluster.drain_unserved(t.n_ticks as u64, &mut waits);
    for (f, [work, on_time]) in fine.iter_mut().zip(&waits.by_bucket) {
        (f.work, f.on_time) = (*work, *on_time);
    }
    let r = Run {
        waits,
        replica_ticks,
        scale_events: events,
        peak,
        timeline,
        fine,
        terms: BTreeMap::new(),
        notes: Vec::new(),
    };
    (r, finished)
}

struct StaticCtl(u32);

impl Scaler for StaticCtl {
    fn act(&mut self, _k: usize, cluster: &Cluster, _last: TickOutcome) -> Option<u32> {
        (cluster.requested() != self.0).then_some(self.0)
    }
}

struct PlanCtl(Vec<u32>);

impl Scaler for PlanCtl {
    fn act(&mut self, k: usize, _cluster: &Cluster, _last: TickOutcome) -> Option<u32> {
        self.0.get(k).copied()
    }
}

/// What the predictive strategy saw and decided at one interval (for the
/// equivalence test against the controller and for explanations).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    pub at: DateTime<Utc>,
    pub current: u32,
    pub ready: u32,
    pub utilisation: Option<f64>,
    pub queue_depth: f64,
    pub decision: Decision,
}

/// The predictive strategy: the controller's [`Autoscaler`] refitted on its
/// cadence and deciding every interval. In `hpa-floor` mode its decision is
/// the floor (minReplicas) of a simulated HPA that scales above it; in
/// `scale` and `forecast-only` mode it sets the replica count (forecast-only
/// is shown as what `scale` would do).
struct PredictiveCtl<'a> {
    s: &'a Scenario,
    t: &'a Ticks,
    scaler: Autoscaler,
    /// The book as it stood at each decision: what was booked by then.
    booked: Booked<'a>,
    history_steps: usize,
    /// How the decision reaches the target.
    via: Via,
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
    /// Fits whose schedule held none of the policy's types, and the first such warning.
    schedule_blind: (u32, Option<String>),
    trace: Option<Vec<TraceEntry>>,
    /// The knowable reference: forecasts from the true expectation, no fits.
    known: Option<knowable::Known<'a>>,
    /// What this stage completed and planned, for a downstream stage
    /// (kept when `Some`).
    output: Option<UpstreamReplay>,
    /// One job's service time in ticks: how much later served work counts
    /// as completed in `output`.
    service_ticks: usize,
    /// Whether the upstream stages fed the last fit, for the notes: fits
    /// with and without them.
    upstream_fits: (u32, u32),
    upstream_note: Option<String>,
}

/// How the predictive strategy's decision reaches the target.
enum Via {
    /// planscale sets the replica count (`scale`; `forecast-only` shown so).
    Direct,
    /// `hpa-floor`: the decision is the minReplicas of an HPA that scales above it.
    HpaFloor(HpaCtl),
    /// `keda` mode (and the `predictive-via-keda` strategy): the decision is
    /// served to KEDA's external scaler, whose HPA scales the target; the
    /// count served and whether the last decision changed its activity.
    Keda {
        keda: keda::KedaCtl,
        served: Option<u32>,
        pushed: bool,
        /// In the measured window, at each decision: how far the replica
        /// count was from the count served at the one before (the HPA has
        /// had an interval to land) — decisions seen, within one replica, largest gap.
        landed: (u32, u32, u32),
    },
}

impl<'a> PredictiveCtl<'a> {
    fn new(s: &'a Scenario, t: &'a Ticks, trace: bool) -> Self {
        Self::with_via(s, t, trace, s.policy.scaling.mode == Mode::Keda)
    }

    /// The predictive strategy, through KEDA when `via_keda`.
    fn with_via(s: &'a Scenario, t: &'a Ticks, trace: bool, via_keda: bool) -> Self {
        let p = &s.policy;
        let via = if via_keda {
            Via::Keda {
                keda: keda::KedaCtl::planscale(p, t),
                served: None,
                pushed: false,
                landed: (0, 0, 0),
            }
        } else if p.scaling.mode == Mode::HpaFloor {
            Via::HpaFloor(HpaCtl::new(p, t))
        } else {
            Via::Direct
        };
        PredictiveCtl {
            s,
            t,
            scaler: Autoscaler::new(p.clone()),
            booked: Booked::new(&s.schedule),
            history_steps: (p.forecast.history.secs_i64() / t.grid.step_secs).max(1) as usize,
            via,
            served: 0.0,
            capacity: 0.0,
            terms: BTreeMap::new(),
            models: BTreeMap::new(),
            cold_starts: 0,
            errors: BTreeMap::new(),
            fits: 0,
            schedule_blind: (0, None),
            trace: trace.then(Vec::new),
            known: None,
            output: None,
            service_ticks: 0,
            upstream_fits: (0, 0),
            upstream_note: None,
        }
    }

    /// Keep what this stage completes and plans (for [`simulate_pipeline`]).
    fn keeping_output(mut self) -> Self {
        self.output = Some(UpstreamReplay {
            policy: self.s.policy.name.clone(),
            completions: vec![0.0; self.s.arrivals.len()],
            plans: Vec::new(),
        });
        self.service_ticks = self.s.policy.service_in(self.t.tick_secs);
        self
    }

    /// Record the plan of the fit just made at `now`, with `queued` work
    /// waiting: from the step of `now` (after the newest complete one), as
    /// `planscale run` publishes it.
    fn record_plan(&mut self, now: DateTime<Utc>, queued: f64) {
        let Some(out) = &mut self.output else { return };
        let Some(f) = self.scaler.cached_forecast() else {
            return;
        };
        let g = self.t.grid;
        let (Some(start), Some(at)) = (g.index_of(f.grid.start), g.index_of(now)) else {
            return;
        };
        let offset = at.saturating_sub(start).min(f.mean.len());
        out.plans.push(Plan {
            made_at: now,
            start: start + offset,
            values: crate::autoscale::planned_completions(
                &self.s.policy,
                &f.mean[offset..],
                queued,
            ),
        });
    }

    /// The knowable reference on `demand` (see [`knowable`]).
    fn knowable(s: &'a Scenario, t: &'a Ticks, demand: &'a dyn KnownDemand) -> Self {
        let mut ctl = PredictiveCtl::new(s, t, false);
        ctl.known = Some(knowable::Known::new(
            demand,
            &s.policy,
            t,
            &s.arrivals.values,
            &s.schedule,
        ));
        ctl
    }

    /// A short summary for the report: which models were used, how often
    /// the engine was in cold start, and forecast errors.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(k) = &self.known {
            let sp = k.spread();
            notes.push(format!(
                "the planner fed the generator's expected demand given the book (spread {:.3}·μ + {:.4}·μ², measured on {} warm-up windows)",
                sp.linear, sp.quadratic, sp.windows
            ));
        }
        match (&self.via, self.s.policy.scaling.mode) {
            (Via::Keda { landed, .. }, _) => notes.push(format!(
                "through KEDA: planscale's external scaler serves each decision as an External metric (AverageValue target 1) to the HPA KEDA creates, with the shipped ScaledObject's behavior (no stabilisation, scaling policies that never bind), the controller's 10 % tolerance, 15-s syncs, activation pushed by StreamIsActive and polled every {}s, cooldown {}s; one interval after each decision the replica count was within one replica of it at {} of {} decisions (largest gap {})",
                keda::POLLING_INTERVAL_SECS,
                keda::PLANSCALE_COOLDOWN_SECS,
                landed.1,
                landed.0,
                landed.2
            )),
            (_, Mode::HpaFloor) => notes.push(
                "hpa-floor mode: planscale sets the floor (minReplicas) of an HPA with the Kubernetes defaults, which scales above it".into(),
            ),
            (_, Mode::ForecastOnly) => notes.push(
                "forecast-only mode: shown as what scale mode would do (forecast-only writes nothing)".into(),
            ),
            _ => {}
        }
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
        let (with, without) = self.upstream_fits;
        if with + without > 0 && !self.s.policy.demand.upstream.is_empty() {
            notes.push(format!(
                "pipeline: the forecast read {}'s simulated completions (and its plans) in {with} of {} fits",
                self.s.policy.upstream_names().join(", "),
                with + without
            ));
            if let Some(n) = &self.upstream_note {
                notes.push(format!("{n} (in {without} fits, first seen)"));
            }
        }
        if let (n, Some(first)) = &self.schedule_blind {
            notes.push(format!(
                "warning: in {n} of {} fits {first} (first seen)",
                self.fits
            ));
        }
        notes
    }

    /// The history at tick `k`: the complete steps before it, as far back as
    /// the policy's history reaches.
    fn history(&self, k: usize) -> SeriesView<'a> {
        let i = k / self.t.ticks_per_step;
        let from = i.saturating_sub(self.history_steps);
        let g = self.t.grid;
        SeriesView::new(
            Grid::new(g.time(from), g.step_secs, 0),
            &self.s.arrivals.values[from..i],
        )
    }

    /// Refit when due, as the controller does before deciding, with the
    /// appointments booked by `now`.
    /// Whether it refitted successfully.
    fn refit_if_due(&mut self, history: SeriesView<'_>, now: DateTime<Utc>) -> bool {
        if !self.scaler.refit_due(&history) {
            return false;
        }
        self.fits += 1;
        match self.scaler.upstream_note() {
            None => self.upstream_fits.0 += 1,
            Some(n) => {
                self.upstream_fits.1 += 1;
                self.upstream_note.get_or_insert(n);
            }
        }
        let known = self.booked.at(now);
        let refitted = self.scaler.refit(history, known);
        if let Some(w) = self.scaler.schedule_warning() {
            self.schedule_blind.0 += 1;
            self.schedule_blind.1.get_or_insert_with(|| w.to_string());
        }
        // The model the fit chose (its forecast is the one the next decision uses).
        let result = refitted.and_then(|()| match self.scaler.forecast(known) {
            Ok(f) => Ok((f.model.clone(), f.note.starts_with("cold start"))),
            Err(_) => Err(self
                .scaler
                .last_error()
                .cloned()
                .unwrap_or_else(|| crate::forecast::Error::Invalid("no forecast".into()))),
        });
        match result {
            Ok((model, cold)) => {
                if cold {
                    self.cold_starts += 1;
                }
                *self.models.entry(model).or_insert(0) += 1;
                true
            }
            Err(e) => {
                *self
                    .errors
                    .entry(format!("forecast unavailable: {e}"))
                    .or_insert(0) += 1;
                false
            }
        }
    }
}

impl Scaler for PredictiveCtl<'_> {
    fn act(&mut self, k: usize, cluster: &Cluster, last: TickOutcome) -> Option<u32> {
        self.served += last.served;
        self.capacity += last.capacity;
        let t = self.t;
        if let Some(out) = &mut self.output
            && k > 0
        {
            // Served in tick k-1: finished one job's service time later.
            if let Some(c) = out
                .completions
                .get_mut((k - 1 + self.service_ticks) / t.ticks_per_step)
            {
                *c += last.served;
            }
        }
        let decide_now = k >= t.phase_ticks && (k - t.phase_ticks) % t.interval_ticks == 0;
        let mut wanted = None;
        if decide_now {
            let history = self.history(k);
            let now = t.time(k);
            if !self.s.upstream.is_empty() {
                let i = k / t.ticks_per_step;
                let from = i.saturating_sub(self.history_steps);
                let horizon = self.s.policy.horizon_steps();
                let feeds = self
                    .s
                    .upstream
                    .iter()
                    .filter_map(|u| u.feed(&t.grid, from, i, now, horizon))
                    .collect();
                self.scaler.set_upstream(feeds);
            }
            if self.known.is_none() && self.refit_if_due(history, now) {
                self.record_plan(now, cluster.queue_depth());
            }
            let utilisation = (self.capacity > 0.0).then(|| self.served / self.capacity);
            (self.served, self.capacity) = (0.0, 0.0);
            let obs = Observation {
                current: cluster.requested(),
                ready: cluster.ready(k as u64),
                utilisation,
                queue_depth: Some(cluster.queue_depth()),
                history: Some(history),
            };
            // Honest future knowledge: only what was booked by now (a live
            // schedule is that already; a replayed export is cut here).
            let booked = self.booked.at(now);
            let d = match &mut self.known {
                None => self.scaler.decide(now, &obs, booked),
                Some(known) => {
                    let i = k / t.ticks_per_step;
                    match known.forecast(&t.grid, i, now, booked) {
                        Ok(f) => self.scaler.decide_on(now, &obs, Some(&f)),
                        Err(e) => {
                            *self
                                .errors
                                .entry(format!("expected demand unavailable: {e}"))
                                .or_insert(0) += 1;
                            self.scaler.decide_on(now, &obs, None)
                        }
                    }
                }
            };
            if k as u64 >= t.measure_from_tick {
                *self.terms.entry(d.term.kind().to_string()).or_insert(0) += 1;
            }
            if let Some(tr) = &mut self.trace {
                tr.push(TraceEntry {
                    at: now,
                    current: obs.current,
                    ready: obs.ready,
                    utilisation,
                    queue_depth: cluster.queue_depth(),
                    decision: d.clone(),
                });
            }
            match &mut self.via {
                Via::HpaFloor(h) => {
                    let p = &self.s.policy;
                    h.hpa.set_min(crate::plan::hpa_floor(
                        d.desired,
                        p.replicas.min,
                        p.replicas.max,
                    ));
                }
                Via::Keda {
                    served,
                    pushed,
                    landed,
                    ..
                } => {
                    if let Some(before) = *served
                        && k as u64 >= t.measure_from_tick
                    {
                        let gap = before.abs_diff(obs.current);
                        landed.0 += 1;
                        landed.1 += u32::from(gap <= 1);
                        landed.2 = landed.2.max(gap);
                    }
                    let was_active = served.map(|n| n > 0);
                    *pushed = was_active.is_some_and(|a| a != (d.desired > 0));
                    *served = Some(d.desired);
                }
                Via::Direct => wanted = d.is_change().then_some(d.desired),
            }
        }
        match &mut self.via {
            Via::HpaFloor(h) => h.act(k, cluster, last),
            Via::Keda {
                keda,
                served,
                pushed,
                ..
            } => {
                let n = keda.serve(k, cluster, *served, *pushed);
                *pushed = false;
                n
            }
            Via::Direct => wanted,
        }
    }
}

/// Simulate the strategies on the scenario. `progress` is told the fraction done.
///
/// The predictive strategy (by far the most expensive) runs on a second
/// thread while the others run on this one; `static:match` needs its
/// attainment and runs last. Every run is deterministic, so the report does
/// not depend on which finishes first.
pub fn simulate(s: &Scenario, strategies: &[Strategy], progress: &mut dyn FnMut(f64)) -> Report {
    simulate_with(s, strategies, false, None, false, progress).0
}

/// [`simulate`] with the true expected demand `known` of a generated
/// department, so that [`Strategy::Knowable`] can run (without it, that
/// strategy is left out of the report).
pub fn simulate_known(
    s: &Scenario,
    strategies: &[Strategy],
    known: &dyn KnownDemand,
    progress: &mut dyn FnMut(f64),
) -> Report {
    simulate_with(s, strategies, false, Some(known), false, progress).0
}

/// [`simulate`], keeping what the predictive strategy saw and decided at
/// every interval of the measured window in [`Report::decisions`] (for the
/// report's decision timeline). The predictive strategy still runs once.
pub fn simulate_explained(
    s: &Scenario,
    strategies: &[Strategy],
    progress: &mut dyn FnMut(f64),
) -> Report {
    simulate_with(s, strategies, true, None, false, progress).0
}

fn simulate_with(
    s: &Scenario,
    strategies: &[Strategy],
    explain: bool,
    known: Option<&dyn KnownDemand>,
    keep_output: bool,
    progress: &mut dyn FnMut(f64),
) -> (Report, Option<UpstreamReplay>) {
    let t = Ticks::new(s);
    let p = &s.policy;
    let (min, max) = (p.replicas.min, p.replicas.max);
    // A strategy named twice is run and reported once.
    let mut unique: Vec<Strategy> = Vec::with_capacity(strategies.len());
    for x in strategies {
        if !unique.contains(x) {
            unique.push(*x);
        }
    }
    let strategies = &unique[..];
    let total = strategies.len().max(1) as f64;
    let mut done = 0usize;
    let mut results: Vec<Option<(String, Run)>> = vec![None; strategies.len()];
    let predictive_at = strategies.iter().position(|x| *x == Strategy::Predictive);
    let mut predictive_attainment = None;
    let mut decisions = Vec::new();
    let mut output = None;
    std::thread::scope(|scope| {
        let predictive = predictive_at
            .map(|_| scope.spawn(|| run_predictive_stage(s, &t, explain, keep_output)));
        for (slot, strat) in strategies.iter().enumerate() {
            let r = match strat {
                Strategy::Predictive | Strategy::StaticMatch => continue,
                Strategy::Hpa
                | Strategy::HpaAt(_)
                | Strategy::HpaTuned
                | Strategy::Keda
                | Strategy::KedaAt(_)
                | Strategy::KedaTuned => match peers::run_peer(p, &t, *strat) {
                    Some(r) => r,
                    None => continue,
                },
                Strategy::PredictiveViaKeda => {
                    let mut ctl = PredictiveCtl::with_via(s, &t, false, true);
                    let mut r = run(&t, min, &mut ctl);
                    r.notes = ctl.notes();
                    r.terms = std::mem::take(&mut ctl.terms);
                    ("predictive-via-keda".to_string(), r)
                }
                Strategy::Knowable => match known {
                    Some(demand) => {
                        let mut ctl = PredictiveCtl::knowable(s, &t, demand);
                        let mut r = run(&t, min, &mut ctl);
                        r.notes = ctl.notes();
                        r.terms = std::mem::take(&mut ctl.terms);
                        ("knowable".to_string(), r)
                    }
                    None => continue,
                },
                Strategy::Static(n) => {
                    let n = (*n).clamp(min, max);
                    (format!("static:{n}"), run(&t, n, &mut StaticCtl(n)))
                }
                Strategy::Oracle => {
                    let plan = oracle::plan(
                        &t.arrivals,
                        t.per_pod_per_tick,
                        t.wait_ticks as usize,
                        t.startup_ticks as usize,
                        min,
                        max,
                    );
                    let initial = plan.first().copied().unwrap_or(min);
                    ("oracle".to_string(), run(&t, initial, &mut PlanCtl(plan)))
                }
            };
            results[slot] = Some(r);
            done += 1;
            progress(done as f64 / total);
        }
        if let (Some(slot), Some(handle)) = (predictive_at, predictive) {
            // A panic in the predictive run is a bug: surface it here.
            let (r, trace, out) = handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            output = out;
            let from = t.time(t.measure_from_tick as usize);
            decisions = trace.into_iter().filter(|e| e.at >= from).collect();
            predictive_attainment = Some(r.waits.within(t.wait_ticks));
            results[slot] = Some(("predictive".to_string(), r));
            done += 1;
            progress(done as f64 / total);
        }
    });
    for (slot, strat) in strategies.iter().enumerate() {
        if *strat == Strategy::StaticMatch && results[slot].is_none() {
            results[slot] = Some(static_match(&t, min, max, predictive_attainment));
            done += 1;
            progress(done as f64 / total);
        }
    }
    let runs = results.into_iter().flatten().collect();
    (report::build(s, &t, runs, decisions), output)
}

fn run_predictive(s: &Scenario, t: &Ticks, trace: bool) -> (Run, Vec<TraceEntry>) {
    let (r, trace, _) = run_predictive_stage(s, t, trace, false);
    (r, trace)
}

/// The predictive run, with what it completed and planned when `output`.
fn run_predictive_stage(
    s: &Scenario,
    t: &Ticks,
    trace: bool,
    output: bool,
) -> (Run, Vec<TraceEntry>, Option<UpstreamReplay>) {
    let mut ctl = PredictiveCtl::new(s, t, trace);
    if output {
        ctl = ctl.keeping_output();
    }
    let mut r = run(t, s.policy.replicas.min, &mut ctl);
    r.notes = ctl.notes();
    r.terms = std::mem::take(&mut ctl.terms);
    (r, ctl.trace.unwrap_or_default(), ctl.output)
}

/// The predictive strategy alone, with what it saw and decided at every
/// interval: the replay the controller's loop is compared against.
pub fn predictive_trace(s: &Scenario) -> Vec<TraceEntry> {
    run_predictive(s, &Ticks::new(s), true).1
}

/// One stage of a replayed pipeline: its report, and what its predictive
/// strategy completed and planned (for the stages after it).
pub struct StageReport {
    pub report: Report,
    pub output: Option<UpstreamReplay>,
}

/// Replay a pipeline: each scenario in order (every upstream before its
/// downstream; [`crate::policy::pipeline_order`]), the predictive strategy
/// of each stage reading the simulated completions and plans of the stages
/// its policy names in `demand.upstream` (set in its `Scenario::upstream`
/// here). Each stage's report is as [`simulate_explained`]'s. `progress` is
/// told the fraction of the whole pipeline done.
pub fn simulate_pipeline(
    scenarios: Vec<Scenario>,
    strategies: &[Strategy],
    progress: &mut dyn FnMut(f64),
) -> Vec<StageReport> {
    let n = scenarios.len().max(1) as f64;
    let mut out: Vec<StageReport> = Vec::with_capacity(scenarios.len());
    let mut strategies = strategies.to_vec();
    if !strategies.contains(&Strategy::Predictive) {
        // The stages after read its completions: it always runs (and is
        // reported).
        strategies.insert(0, Strategy::Predictive);
    }
    for (k, mut s) in scenarios.into_iter().enumerate() {
        s.upstream = s
            .policy
            .demand
            .upstream
            .iter()
            .filter_map(|u| {
                out.iter()
                    .filter_map(|r| r.output.as_ref())
                    .find(|o| o.policy == u.policy)
                    .cloned()
            })
            .collect();
        let mut part = |f: f64| progress((k as f64 + f) / n);
        let (report, output) = simulate_with(&s, &strategies, true, None, true, &mut part);
        out.push(StageReport { report, output });
    }
    out
}

/// The smallest static count whose attainment reaches `target` (predictive's),
/// found by bisection over `[min, max]` (attainment grows with the count).
fn static_match(t: &Ticks, min: u32, max: u32, target: Option<f64>) -> (String, Run) {
    let attain = |n: u32| {
        let r = run(t, n, &mut StaticCtl(n));
        (r.waits.within(t.wait_ticks), r)
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
pub(super) mod tests {
    use super::*;
    use crate::policy::Duration;
    use chrono::TimeZone;

    /// Two weeks of 5-minute steps with a daily spike from 08:00 to 10:00.
    fn scenario() -> Scenario {
        scenario_with(
            Policy::test()
                .min(1)
                .max(30)
                .per_replica(1.0)
                .startup(Duration::from_mins(3)),
        )
    }

    /// [`scenario`]'s recording with another policy.
    pub(super) fn scenario_with(policy: Policy) -> Scenario {
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
        Scenario {
            policy,
            arrivals: series,
            schedule: Vec::new(),
            warmup_secs: 7 * 86_400,
            phase_secs: 0,
            upstream: Vec::new(),
        }
    }

    #[test]
    fn a_downstream_decision_knows_the_completions_before_it_and_the_newest_plan() {
        let grid = Grid::new(Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(), 300, 0);
        let u = UpstreamReplay {
            policy: "contour".into(),
            completions: (0..20).map(f64::from).collect(),
            plans: vec![
                Plan {
                    made_at: grid.time(4),
                    start: 4,
                    values: vec![100.0; 10],
                },
                Plan {
                    made_at: grid.time(8) + TimeDelta::seconds(30),
                    start: 8,
                    values: vec![200.0, 201.0, 202.0, 203.0, 204.0],
                },
                // Made later in step 10 than the decision below: not known to it.
                Plan {
                    made_at: grid.time(10) + TimeDelta::seconds(90),
                    start: 10,
                    values: vec![-1.0; 10],
                },
            ],
        };
        // At step 10, from step 6, 4 steps ahead: steps 6..10 observed, then
        // the plan made in step 8 from its third value on.
        let now = grid.time(10) + TimeDelta::seconds(60);
        let f = u.feed(&grid, 6, 10, now, 4).unwrap();
        assert_eq!(f.policy, "contour");
        assert_eq!(f.completions.grid.start, grid.time(6));
        assert_eq!(f.completions.values[..4], [6.0, 7.0, 8.0, 9.0]);
        assert_eq!(f.completions.values[4..7], [202.0, 203.0, 204.0]);
        assert!(f.completions.values[7].is_nan(), "beyond the plan: unknown");
        // Before any plan: nothing is fed (the stage after falls back).
        assert!(u.feed(&grid, 0, 3, grid.time(3), 2).is_none());
        // A history start past the completions recorded: missing, no panic.
        let f = u.feed(&grid, 30, 40, grid.time(40), 2).unwrap();
        assert!(f.completions.values.iter().take(10).all(|v| v.is_nan()));
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
    fn hpa_floor_mode_is_simulated_as_a_floor_under_the_hpa() {
        let mut s = scenario();
        s.policy.scaling.mode = Mode::HpaFloor;
        let r = simulate(&s, &[Strategy::Predictive, Strategy::Hpa], &mut |_| {});
        let (floor, hpa) = (&r.strategies[0], &r.strategies[1]);
        assert!(
            floor.notes.iter().any(|n| n.starts_with("hpa-floor mode")),
            "{:?}",
            floor.notes
        );
        // The floor raised ahead of the spike serves it better than the HPA alone.
        assert!(
            floor.slo_attainment > hpa.slo_attainment,
            "{} vs {}",
            floor.slo_attainment,
            hpa.slo_attainment
        );
        assert!(
            floor
                .decisions_by_term
                .get("predictive")
                .is_some_and(|n| *n > 0)
        );
    }

    #[test]
    fn through_keda_the_decisions_land_and_cost_what_they_cost_directly() {
        let s = scenario();
        let r = simulate(
            &s,
            &[Strategy::Predictive, Strategy::PredictiveViaKeda],
            &mut |_| {},
        );
        let (direct, via) = (&r.strategies[0], &r.strategies[1]);
        assert_eq!(via.name, "predictive-via-keda");
        let ratio = via.replica_hours / direct.replica_hours;
        assert!((0.95..=1.05).contains(&ratio), "{via:?} vs {direct:?}");
        assert!(
            via.slo_attainment >= direct.slo_attainment - 0.005,
            "{} vs {}",
            via.slo_attainment,
            direct.slo_attainment
        );
        let note = via
            .notes
            .iter()
            .find(|n| n.starts_with("through KEDA"))
            .expect("the KEDA note");
        assert!(note.contains("within one replica of it at"), "{note}");
        // A keda-mode policy's `predictive` is the same run.
        let mut k = scenario();
        k.policy.scaling.mode = Mode::Keda;
        let r = simulate(&k, &[Strategy::Predictive], &mut |_| {});
        assert_eq!(r.strategies[0].replica_hours, via.replica_hours);
    }

    #[test]
    fn a_10_second_interval_is_simulated_at_10_seconds() {
        let mut s = scenario();
        s.policy.scaling.interval = Duration::from_secs(10);
        let t = Ticks::new(&s);
        assert_eq!(
            (t.tick_secs, t.interval_ticks, t.hpa_sync_ticks()),
            (5, 2, 3)
        );
        s.policy.scaling.interval = Duration::from_mins(1);
        s.policy.capacity.startup = Duration::from_secs(100);
        let t = Ticks::new(&s);
        assert_eq!(
            (t.tick_secs, t.startup_ticks),
            (5, 20),
            "start-up is not rounded up"
        );
        let trace = predictive_trace(&Scenario {
            phase_secs: 45,
            ..scenario()
        });
        assert_eq!(
            trace[0].at,
            s.arrivals.grid.start + TimeDelta::seconds(45),
            "decisions start at the phase"
        );
        assert!(
            trace
                .windows(2)
                .all(|w| w[1].at - w[0].at == TimeDelta::minutes(1))
        );
    }

    /// Two weeks with a spike from 08:00 to 10:00 only on the days that have
    /// a CT-SIM appointment at 07:30, booked `booked_at(start)`.
    fn booked_spikes(booked_at: impl Fn(DateTime<Utc>) -> Option<DateTime<Utc>>) -> Scenario {
        let mut s = scenario();
        s.policy.schedule = Some(
            serde_yaml::from_str(
                "source: {type: csv, path: book.csv}\ntypes: [CT-SIM]\nmax_lag: 3h\n",
            )
            .unwrap(),
        );
        let spike_day = |d: usize| d % 3 != 0;
        s.arrivals.values = (0..14 * 288)
            .map(|i| {
                let minute = (i % 288) * 5;
                if spike_day(i / 288) && (480..600).contains(&minute) {
                    40.0
                } else {
                    2.0
                }
            })
            .collect();
        s.schedule = (0..14)
            .filter(|d| spike_day(*d))
            .map(|d| {
                let start =
                    s.arrivals.grid.start + TimeDelta::days(d as i64) + TimeDelta::minutes(450);
                Appointment {
                    start,
                    end: start + TimeDelta::minutes(20),
                    kind: "CT-SIM".into(),
                    resource: None,
                    booked_at: booked_at(start),
                }
            })
            .collect();
        s
    }

    #[test]
    fn the_predictive_strategy_sees_only_what_was_booked_by_each_decision() {
        let decisions = |s: &Scenario| -> Vec<Decision> {
            predictive_trace(s)
                .into_iter()
                .map(|e| e.decision)
                .collect()
        };
        let unknown = decisions(&booked_spikes(|_| None));
        let mut empty = booked_spikes(|_| None);
        empty.schedule.clear();
        let empty = decisions(&empty);
        // The book matters here at all...
        assert!(unknown != empty, "the schedule changes no decision");
        // ...a book whose every booking comes after the replay is no book...
        let end = booked_spikes(|_| None).arrivals.grid.end();
        let never = decisions(&booked_spikes(|_| Some(end + TimeDelta::days(1))));
        assert!(
            never == empty,
            "an appointment was used before it was booked"
        );
        // ...and one booked further ahead than the 48-hour horizon is as if
        // always known (an unknown booking time counts as booked).
        let ahead = decisions(&booked_spikes(|start| Some(start - TimeDelta::days(3))));
        assert!(
            ahead == unknown,
            "an appointment known 3 days ahead was missed"
        );
        // Entered in the book 25 minutes after it started (the spike follows
        // 30 minutes after the start): the decisions just before the spike
        // do not know it, the refits after it do.
        let late = decisions(&booked_spikes(|start| Some(start + TimeDelta::minutes(25))));
        assert!(late != unknown && late != empty);
    }

    #[test]
    fn same_inputs_same_report() {
        let s = scenario();
        let a = simulate(&s, &Strategy::defaults(), &mut |_| {});
        let b = simulate(&s, &Strategy::defaults(), &mut |_| {});
        assert_eq!(a.to_json(), b.to_json());
    }

    #[test]
    fn an_explained_run_keeps_the_decisions_and_its_minutes_add_up_to_the_report() {
        let s = scenario();
        let plain = simulate(&s, &Strategy::defaults(), &mut |_| {});
        let r = simulate_explained(&s, &Strategy::defaults(), &mut |_| {});
        assert_eq!(plain.to_json(), r.to_json());
        assert!(plain.decisions.is_empty());
        // One decision per interval (1 minute) of the 7 measured days.
        assert_eq!(r.decisions.len(), 7 * 1440);
        assert!(r.decisions.iter().all(|e| e.at >= r.grid_start));
        for x in &r.strategies {
            assert_eq!(x.fine.len(), 7 * 1440, "{}", x.name);
            let hours: f64 = x.fine.iter().map(|f| f.requested).sum::<f64>() / 60.0;
            assert!((hours - x.replica_hours).abs() < 0.01, "{} {hours}", x.name);
            let work: f64 = x.fine.iter().map(|f| f.work).sum();
            assert!((work - r.work_total).abs() < 1e-6, "{} {work}", x.name);
            let on_time: f64 = x.fine.iter().map(|f| f.on_time).sum();
            assert!(
                (on_time / work - x.slo_attainment).abs() < 1e-6,
                "{}",
                x.name
            );
            let max_wait = x.fine.iter().map(|f| f.wait_secs).fold(0.0, f64::max);
            assert!(max_wait >= x.max_wait_seconds, "{}", x.name);
        }
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
        assert_eq!(
            Strategy::parse_list("hpa:55,hpa:tuned,keda,keda:2.5,keda:tuned").unwrap(),
            vec![
                Strategy::HpaAt(55),
                Strategy::HpaTuned,
                Strategy::Keda,
                Strategy::KedaAt(2500),
                Strategy::KedaTuned
            ]
        );
        for bad in [
            "static:x", "hpa:0", "hpa:101", "keda:0", "keda:-1", "keda:nan", "keda:x",
        ] {
            assert!(Strategy::parse_list(bad).is_err(), "{bad}");
        }
    }
}
