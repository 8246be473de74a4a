//! The planner: pure decision logic, the same code in the controller and in
//! simulation. [`decide`] takes the policy, what is observed now and the
//! forecast, and returns a [`Decision`] with the winning term and the numbers
//! behind it. It performs no I/O and reads no clock.
//!
//! Terms (all in replicas):
//! 1. *predictive*: replicas to serve, from the moment a replica requested
//!    now is ready (`now + startup`), the quantile of the work summed over
//!    each window at the level `slo.attainment` asks for
//!    ([`crate::forecast::WorkSpread`]), letting work wait up to
//!    `queue_allowance × slo.max_wait` (see [`decide`]'s comments);
//! 2. *reactive*: the HPA formula on current utilisation of ready replicas,
//!    with its tolerance; when the queue depth is observed it keeps only the
//!    replicas busy now (the backlog term scales up on observed load);
//! 3. *backlog*: replicas to drain the queue beyond the one the plan lets
//!    wait within the rest of the SLO wait while serving the recent arrival
//!    rate.
//!
//! The recommendation is the largest term, clamped to `[min, max]`. Scale-up
//! is rate-limited per period; scale-down waits for the stabilisation window
//! (the largest recommendation within it wins), is rate-limited, never goes
//! below the forecast need over `[now, now + startup + interval]` (a replica
//! removed now cannot be back sooner), and never happens while metrics are
//! missing.

use std::collections::VecDeque;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::forecast::spread::normal_quantile;
use crate::forecast::{self, Forecast, WorkSpread};
use crate::policy::Policy;
use crate::series::Grid;
use statrs::distribution::{ContinuousCDF, Normal};

/// A borrowed view of a forecast as the planner reads it: the expected
/// demand per step and the spread of work summed over a window (what the
/// predictive term provisions from), the point and every quantile level
/// (for display and the forecast ledger), and the level the policy plans at.
#[derive(Debug, Clone, Copy)]
pub struct ForecastView<'a> {
    /// The grid of the forecast values (future steps).
    pub grid: Grid,
    /// Point forecast (median for counts, else mean), demand units per step.
    pub point: &'a [f64],
    /// Expected demand per step, demand units per step.
    pub mean: &'a [f64],
    /// Spread of work summed over a window.
    pub spread: WorkSpread,
    /// Every quantile level of the forecast, ascending, each with one value per step.
    pub quantiles: &'a [(f64, Vec<f64>)],
    /// Per-step forecast of the policy's quantile, demand units per step.
    pub values: &'a [f64],
    /// The quantile level the plan provisions at (of work per window).
    pub level: f64,
    /// The standard normal quantile of `level`.
    pub z: f64,
    /// When set, each window is planned at the level that leaves this
    /// fraction of its expected work above the plan (`1 − slo.attainment`,
    /// [`WorkSpread::shortfall_z`]) instead of at `level`.
    pub late: Option<f64>,
}

impl<'a> ForecastView<'a> {
    /// View `f` at quantile `level`; an error when the forecast lacks that level.
    pub fn of(f: &'a Forecast, level: f64) -> forecast::Result<ForecastView<'a>> {
        Ok(ForecastView {
            grid: f.grid,
            point: &f.point,
            mean: &f.mean,
            spread: f.spread,
            quantiles: &f.quantiles,
            values: f.quantile(level)?,
            level,
            z: normal_quantile(level),
            late: None,
        })
    }

    /// Plan each window so that the work expected above the plan is
    /// `1 − attainment` of the window's work.
    pub fn planning_for(self, attainment: f64) -> Self {
        ForecastView {
            late: Some((1.0 - attainment).clamp(0.0, 1.0)),
            ..self
        }
    }
}

impl ForecastView<'_> {
    /// Step indices `first..=last` of the steps overlapping `[from, to)`
    /// (seconds from the grid start `a`, `b`), or `None` when the forecast
    /// (`len` values) does not cover it.
    fn span(&self, from: DateTime<Utc>, to: DateTime<Utc>, len: usize) -> Option<(i64, i64)> {
        let step = self.grid.step_secs;
        let a = (from - self.grid.start).num_seconds();
        let b = (to - self.grid.start).num_seconds();
        if a < 0 || b <= a {
            return None;
        }
        let last = ((b - 1) / step) as usize;
        (last < len.min(self.grid.len)).then_some((a, b))
    }

    /// Largest per-step forecast rate at the policy's quantile (units per
    /// second) over steps overlapping `[from, to)`, or `None` if the
    /// forecast does not cover that window. For display: the plan sizes
    /// from [`Self::expected_work`] and the spread.
    pub fn max_rate(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        peak_rate(
            self.values,
            self.grid.step_secs,
            self.span(from, to, self.values.len())?,
        )
    }

    /// Forecast work (demand units) at the policy's per-step quantile
    /// arriving in `[from, to)`, or `None` if the forecast does not cover
    /// the window. Missing or negative values count as the largest finite
    /// value of the window (no guess downwards).
    pub fn work(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        integrate(
            self.values,
            self.grid.step_secs,
            self.span(from, to, self.values.len())?,
        )
    }

    /// Expected work (demand units) arriving in `[from, to)`, partial steps
    /// pro rata; missing values count as the window's largest. `None` if the
    /// forecast does not cover the window.
    pub fn expected_work(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        integrate(
            self.mean,
            self.grid.step_secs,
            self.span(from, to, self.mean.len())?,
        )
    }

    /// The standard normal quantile the plan uses for a window of expected
    /// work `mean`: the shortfall level when planning for an attainment,
    /// else the fixed level's.
    pub fn z_for(&self, mean: f64) -> f64 {
        self.late
            .map_or(self.z, |late| self.spread.shortfall_z(mean, late))
    }

    /// The plan's level (as `z`) and quantile for a window of expected work `mean`.
    fn planned(&self, mean: f64) -> (f64, f64) {
        let z = self.z_for(mean);
        (z, self.spread.quantile(mean, z))
    }

    /// The work arriving in `[from, to)` the plan provisions for: its
    /// quantile at the plan's level.
    pub fn work_quantile(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        self.expected_work(from, to).map(|m| self.planned(m).1)
    }
}

/// Largest finite rate (units per second) of `values` over the steps of the
/// window `(a, b)` (seconds from the grid start), or `None` if none is finite.
fn peak_rate(values: &[f64], step: i64, (a, b): (i64, i64)) -> Option<f64> {
    let (first, last) = ((a / step) as usize, ((b - 1) / step) as usize);
    let m = values[first..=last]
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NAN, f64::max);
    m.is_finite().then(|| m.max(0.0) / step as f64)
}

/// Work of the per-step `values` over the window `(a, b)`, partial steps
/// pro rata; a missing value counts as the window's peak rate.
fn integrate(values: &[f64], step: i64, (a, b): (i64, i64)) -> Option<f64> {
    let peak = peak_rate(values, step, (a, b))?;
    let (first, last) = ((a / step) as usize, ((b - 1) / step) as usize);
    let mut total = 0.0;
    for (i, v) in values.iter().enumerate().take(last + 1).skip(first) {
        let lo = (i as i64 * step).max(a);
        let hi = ((i as i64 + 1) * step).min(b);
        let rate = if v.is_finite() {
            v.max(0.0) / step as f64
        } else {
            peak
        };
        total += rate * (hi - lo) as f64;
    }
    Some(total)
}

/// What the predictive term planned for: the window whose work bound the
/// replica count, the work expected in it and its quantile at the plan's
/// level, and the wait its last unit of work would see.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Planned {
    /// The binding window `[from, to)`.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Work already queued that the window starts with, demand units.
    pub queued: f64,
    /// Expected work arriving in the window, demand units.
    pub expected_work: f64,
    /// Work in the window at the plan's quantile level, demand units.
    pub work_quantile: f64,
    /// The quantile level (of work per window) the window was planned at.
    pub level: f64,
    /// Wait of the window's last unit, seconds, if its work arrives as
    /// provisioned and the replicas asked for serve it.
    pub wait_secs: f64,
    /// Which condition bound: the work at the quantile within the SLO wait,
    /// or the expected work within the allowance (then `work_quantile` is
    /// the expected work and `level` 0.5).
    pub provision: Provision,
}

/// The condition that sized a predictive plan ([`Planned::provision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provision {
    /// The work at the SLO's level starts within the SLO wait.
    Quantile,
    /// The expected work starts within the queueing allowance; work above
    /// it is left to the later decisions (backlog term), which can still
    /// add replicas in time.
    Expected,
}

/// The SLO wait within which the predictive term serves the work at the
/// plan's quantile, or `None` when that is left to the later decisions:
/// when a replica asked for once work beyond the plan queues (after the
/// allowance) is ready within the SLO wait — `startup + interval + allow ≤
/// max_wait` — the plan buys only the expected work, and the backlog term
/// buys the excess when it comes instead of in every case ahead of it.
/// Without an allowance (no queue metric) nothing beyond the plan is seen,
/// so the quantile is always provisioned.
fn quantile_wait(policy: &Policy, allow: f64) -> Option<f64> {
    let w = policy.windows();
    let wait = policy.slo.max_wait.secs() as f64;
    let react = (w.lead + w.window).num_milliseconds() as f64 / 1000.0;
    (allow <= 0.0 || react + allow > wait).then_some(wait)
}

/// What is waiting when a window starts: work queued now, the expected work
/// arriving between now and the window's start, and what the replicas
/// serving meanwhile can do. The work arriving meanwhile is as uncertain as
/// the window's, so the two are one sum for the quantile.
#[derive(Debug, Clone, Copy, Default)]
struct LeadIn {
    queued: f64,
    prior: f64,
    served: f64,
}

/// Service rate (units per second) for the work arriving in `[start, end)`,
/// starting with what `lead` leaves waiting: over sub-windows `[a, b)` whose
/// ends are the window's ends and the forecast's step boundaries (what waits
/// counts only from `start`), the largest of
/// - `(waiting + Q(a, b)) / (b − a + wait)`: the work at the plan's level
///   starts within the SLO `wait` — the oracle's deadline on the quantile
///   of cumulative work. The work above `Q` is what may be late (the level
///   comes from `slo.attainment`, [`ForecastView::planning_for`]): work
///   above the *expected* only waits longer than the allowance;
/// - `(expected waiting + E(a, b)) / (b − a + allow)`: the expected work
///   starts within the queueing allowance `allow`, which keeps the rest of
///   the SLO wait for the backlog term when the forecast is low.
///
/// `Q` is the quantile of the window's summed work ([`WorkSpread`]), not a
/// sum of per-step quantiles, so the rate does not grow as the step shrinks.
/// With `allow` 0 (no queue metric: nothing may be planned to wait, it
/// would not be seen) the rate is `(waiting + Q) / (b − a)`, about the
/// quantile rate of the busiest step. `None` if the forecast does not cover
/// the window.
fn rate_within_wait(
    f: &ForecastView<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    lead: LeadIn,
    allow: f64,
    quantile_wait: Option<f64>,
) -> Option<(f64, Planned)> {
    // Breakpoints: the window's ends and the step boundaries inside it.
    let step = TimeDelta::seconds(f.grid.step_secs);
    let mut points = vec![start];
    let offset = (start - f.grid.start).num_seconds();
    let mut t =
        f.grid.start + TimeDelta::seconds((offset / f.grid.step_secs + 1) * f.grid.step_secs);
    while t < end {
        points.push(t);
        t += step;
    }
    points.push(end);
    // Cumulative expected work at each breakpoint.
    let mut cum = Vec::with_capacity(points.len());
    cum.push(0.0);
    let mut acc = 0.0;
    for w in points.windows(2) {
        acc += f.expected_work(w[0], w[1])?;
        cum.push(acc);
    }
    let queued = lead.queued.max(0.0);
    // (rate, the binding window's z, what it planned)
    let mut best: Option<(f64, f64, Planned)> = None;
    for (i, &a) in points.iter().enumerate() {
        for (j, &b) in points.iter().enumerate().skip(i + 1) {
            // The forecast says nothing about time scales below its step: a
            // window shorter than a step (less the allowance) is taken at its
            // rate over a step's length (without an allowance and with a
            // short interval, the quantile of a few seconds' work per those
            // seconds would ask for any number of replicas).
            let len = (b - a).num_milliseconds() as f64 / 1000.0;
            let eff = len.max(f.grid.step_secs as f64 - allow);
            if eff <= 0.0 || len <= 0.0 {
                continue;
            }
            let mean = (cum[j] - cum[i]) * eff / len;
            let (mut z, mut work) = f.planned(mean);
            // From `start`: what still waits then, at the same quantile of
            // the work arriving from now.
            let mut q0 = 0.0;
            if i == 0 {
                let (z_all, all) = f.planned(lead.prior + mean);
                z = z_all;
                let total = queued + all - lead.served;
                q0 = (total - work).max(0.0);
                work = total.max(work) - q0;
            }
            let span = eff + allow;
            // (rate, what waits, the work provisioned, which condition)
            let (rate, waiting, provisioned, provision) = if allow > 0.0 {
                // The expected work within the allowance; the work at the
                // plan's level within the SLO wait (work above the expected
                // only waits longer than the allowance), unless the later
                // decisions can still add replicas for it in time.
                let expected_q0 = if i == 0 {
                    (queued + lead.prior - lead.served).max(0.0)
                } else {
                    0.0
                };
                let by_expected = (expected_q0 + mean) / span;
                match quantile_wait.map(|w| (q0 + work) / (eff + w.max(allow))) {
                    Some(r) if r > by_expected => (r, q0, work, Provision::Quantile),
                    _ => (by_expected, expected_q0, mean, Provision::Expected),
                }
            } else {
                ((q0 + work) / span, q0, work, Provision::Quantile)
            };
            if best.as_ref().is_none_or(|(r, _, _)| rate > *r) {
                best = Some((
                    rate,
                    z,
                    Planned {
                        from: a,
                        to: a + TimeDelta::milliseconds((eff * 1000.0) as i64),
                        queued: waiting,
                        expected_work: mean,
                        work_quantile: provisioned,
                        level: f.level,
                        wait_secs: 0.0,
                        provision,
                    },
                ));
            }
        }
    }
    best.map(|(r, z, p)| {
        let level = if p.provision == Provision::Expected {
            0.5
        } else if f.late.is_some() {
            Normal::standard().cdf(z)
        } else {
            f.level
        };
        (r, Planned { level, ..p })
    })
}

/// What is observed at decision time. `None` means the metric is missing.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub now: DateTime<Utc>,
    /// Replicas currently requested (spec.replicas).
    pub current: u32,
    /// Replicas ready to serve.
    pub ready: u32,
    /// Busy fraction of the ready replicas' capacity (CPU utilisation), >= 0.
    pub utilisation: Option<f64>,
    /// Work waiting in the queue, demand units.
    pub queue_depth: Option<f64>,
    /// Current arrival rate, demand units per second.
    pub arrival_rate: Option<f64>,
    /// The latest forecast, if there is a usable one.
    pub forecast: Option<ForecastView<'a>>,
    /// Why there is no forecast, when `forecast` is `None`.
    pub no_forecast: Option<NoForecast>,
}

/// Why a decision has no predictive term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoForecast {
    /// No model has been fitted yet (no history seen).
    NoModel,
    /// The metrics are unavailable: a forecast fitted on data that can no
    /// longer be checked is not used.
    MetricsUnavailable,
    /// The last fit failed and no earlier model exists.
    FitFailed,
    /// The model could not predict (see the error counter).
    PredictFailed,
    /// The forecast does not cover the window from `now + startup`.
    NotCovering,
}

impl NoForecast {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            NoForecast::NoModel => "no_model",
            NoForecast::MetricsUnavailable => "metrics_unavailable",
            NoForecast::FitFailed => "fit_failed",
            NoForecast::PredictFailed => "predict_failed",
            NoForecast::NotCovering => "not_covering",
        }
    }

    /// In words, for Events and logs.
    pub fn explain(&self) -> &'static str {
        match self {
            NoForecast::NoModel => "no forecast model fitted yet",
            NoForecast::MetricsUnavailable => "metrics unavailable, the forecast is not used",
            NoForecast::FitFailed => "the forecast fit failed",
            NoForecast::PredictFailed => "the forecast failed",
            NoForecast::NotCovering => "the forecast does not cover the lead window",
        }
    }
}

/// The term that set the replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Term {
    /// The forecast quantile over the lead window.
    Predictive,
    /// The HPA formula on current utilisation.
    Reactive,
    /// Draining the current queue within the SLO.
    Backlog,
    /// The policy's minimum (no term asked for more).
    Minimum,
    /// No usable term: the current count is kept.
    Hold,
}

impl Term {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Term::Predictive => "predictive",
            Term::Reactive => "reactive",
            Term::Backlog => "backlog",
            Term::Minimum => "minimum",
            Term::Hold => "hold",
        }
    }
}

/// What held the change back or bounded it, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    MaxReplicas,
    MinReplicas,
    ScaleUpRate,
    ScaleDownRate,
    /// A higher recommendation inside the stabilisation window.
    Stabilisation,
    /// The forecast rises before a removed replica could be back.
    ForecastRise,
    /// Metrics are missing: no scale-down on a guess.
    MissingMetrics,
}

impl Limit {
    pub fn kind(&self) -> &'static str {
        match self {
            Limit::MaxReplicas => "max-replicas",
            Limit::MinReplicas => "min-replicas",
            Limit::ScaleUpRate => "scale-up-rate",
            Limit::ScaleDownRate => "scale-down-rate",
            Limit::Stabilisation => "stabilisation",
            Limit::ForecastRise => "forecast-rise",
            Limit::MissingMetrics => "missing-metrics",
        }
    }
}

/// Replicas asked for by each term (`None`: the term had no input).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Terms {
    pub predictive: Option<u32>,
    pub reactive: Option<u32>,
    pub backlog: Option<u32>,
}

/// A decision and everything behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub at: DateTime<Utc>,
    /// Replicas requested before the decision.
    pub current: u32,
    /// Replicas to request.
    pub desired: u32,
    /// The largest term, clamped to the bounds, before stabilisation and rate limits.
    pub recommended: u32,
    pub term: Term,
    pub terms: Terms,
    pub limit: Option<Limit>,
    /// Forecast rate at the policy quantile over the lead window, units per second.
    pub forecast_rate: Option<f64>,
    pub quantile: f64,
    pub utilisation: Option<f64>,
    pub queue_depth: Option<f64>,
    /// Why the predictive term is missing, when it is.
    pub no_forecast: Option<NoForecast>,
    /// The forecast at the policy's quantile for the step containing
    /// `now + startup`, demand units per step.
    pub forecast_at_lead: Option<f64>,
    /// What the predictive term planned for, when it had a forecast.
    pub planned: Option<Planned>,
}

impl Decision {
    /// Whether the decision changes the replica count.
    pub fn is_change(&self) -> bool {
        self.desired != self.current
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.desired.cmp(&self.current) {
            std::cmp::Ordering::Greater => "scale up",
            std::cmp::Ordering::Less => "scale down",
            std::cmp::Ordering::Equal => "keep",
        };
        write!(
            f,
            "{verb} {} -> {} ({} term",
            self.current,
            self.desired,
            self.term.kind()
        )?;
        let show = |v: Option<u32>| v.map_or("-".to_string(), |n| n.to_string());
        write!(
            f,
            "; predictive {}, reactive {}, backlog {}",
            show(self.terms.predictive),
            show(self.terms.reactive),
            show(self.terms.backlog)
        )?;
        if let Some(r) = self.forecast_rate {
            write!(
                f,
                "; forecast p{:.0} {:.3}/min",
                self.quantile * 100.0,
                r * 60.0
            )?;
        }
        if let Some(p) = &self.planned {
            let over =
                crate::duration::Duration::from_secs((p.to - p.from).num_seconds().max(0) as u64);
            match p.provision {
                Provision::Quantile => write!(
                    f,
                    "; planned p{:.0} work {:.1} (expected {:.1}) over {over}",
                    p.level * 100.0,
                    p.queued + p.work_quantile,
                    p.queued + p.expected_work,
                )?,
                Provision::Expected => write!(
                    f,
                    "; planned the expected work {:.1} over {over} (more is the backlog term's)",
                    p.queued + p.work_quantile,
                )?,
            }
            if p.wait_secs > 0.0 {
                write!(
                    f,
                    ", waits up to {}",
                    crate::duration::Duration::from_secs(p.wait_secs.round() as u64)
                )?;
            }
        }
        if let Some(u) = self.utilisation {
            write!(f, "; utilisation {:.0}%", u * 100.0)?;
        }
        if let Some(q) = self.queue_depth {
            write!(f, "; queue {q:.1}")?;
        }
        if let Some(l) = self.limit {
            write!(f, "; limited by {}", l.kind())?;
        }
        if let Some(n) = self.no_forecast {
            write!(f, "; no predictive term: {}", n.explain())?;
        }
        write!(f, ")")
    }
}

/// What the planner remembers between decisions: recent recommendations
/// (for stabilisation) and recent replica counts (for rate limits).
#[derive(Debug, Clone, Default)]
pub struct PlannerState {
    recommendations: VecDeque<(DateTime<Utc>, u32)>,
    counts: VecDeque<(DateTime<Utc>, u32)>,
}

impl PlannerState {
    /// Remember a decision; forget what no window can need any more.
    pub fn record(&mut self, policy: &Policy, d: &Decision) {
        self.recommendations.push_back((d.at, d.recommended));
        self.counts.push_back((d.at, d.current));
        self.counts.push_back((d.at, d.desired));
        let s = &policy.scaling;
        let keep = s
            .stabilization
            .secs_i64()
            .max(s.scale_up.period.secs_i64())
            .max(s.scale_down.period.secs_i64());
        let horizon = d.at - TimeDelta::seconds(keep);
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| *t < horizon)
        {
            self.recommendations.pop_front();
        }
        while self.counts.front().is_some_and(|(t, _)| *t < horizon) {
            self.counts.pop_front();
        }
    }

    fn max_recommendation_since(&self, since: DateTime<Utc>) -> Option<u32> {
        self.recommendations
            .iter()
            .filter(|(t, _)| *t > since)
            .map(|(_, r)| *r)
            .max()
    }

    fn min_count_since(&self, since: DateTime<Utc>) -> Option<u32> {
        self.counts
            .iter()
            .filter(|(t, _)| *t > since)
            .map(|(_, r)| *r)
            .min()
    }

    fn max_count_since(&self, since: DateTime<Utc>) -> Option<u32> {
        self.counts
            .iter()
            .filter(|(t, _)| *t > since)
            .map(|(_, r)| *r)
            .max()
    }
}

/// Replicas needed to serve `rate` units/second at `per_replica` units/second each.
fn replicas_for(rate: f64, per_replica: f64) -> u32 {
    if !(rate.is_finite() && rate > 0.0) {
        return 0;
    }
    let n = (rate / per_replica - 1e-9).ceil();
    n.clamp(0.0, f64::from(u32::MAX)) as u32
}

/// The HPA floor (minReplicas) for a wanted count in `hpa-floor` mode: never
/// below the HPA's own minimum, never above its maximum.
pub fn hpa_floor(wanted: u32, original_min: u32, max: u32) -> u32 {
    wanted.max(original_min).min(max.max(1))
}

/// Replicas the predictive term provisions for work arriving in `[from, to)`
/// with `queue` units already waiting at `from`: the deadline condition of
/// [`decide`]'s predictive term, with the queueing allowance only when the
/// queue is observed (`Some`). `None` when the forecast does not cover it.
/// `planscale forecast` sizes its hourly rows with it.
pub fn replicas_to_serve(
    policy: &Policy,
    f: &ForecastView<'_>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    queue: Option<f64>,
) -> Option<u32> {
    let allow = if queue.is_some() {
        policy.windows().allowance_secs
    } else {
        0.0
    };
    let lead = LeadIn {
        queued: queue.unwrap_or(0.0),
        ..LeadIn::default()
    };
    rate_within_wait(f, from, to, lead, allow, quantile_wait(policy, allow))
        .map(|(r, _)| replicas_for(r, policy.capacity.per_second()))
}

/// Decide the replica count. Pure: the same inputs give the same decision.
pub fn decide(policy: &Policy, input: &Input<'_>, state: &PlannerState) -> Decision {
    let per = policy.capacity.per_second();
    let w = policy.windows();
    let (startup, interval) = (w.lead, w.window);
    let now = input.now;
    let (min, max) = (policy.replicas.min, policy.replicas.max.max(1));
    let current = input.current;

    // 1. Predictive: the window this decision alone can still provision for,
    // using part of the SLO wait as a queueing allowance (see `queue_allowance`).
    // A plan that lets work queue is only safe while the queue is seen: the
    // queued work raises later decisions. Without a queue metric the term
    // provisions the peak forecast rate.
    let s = &policy.scaling;
    let wait = policy.slo.max_wait.secs().max(1) as f64;
    let queue_depth = input.queue_depth.filter(|q| q.is_finite() && *q >= 0.0);
    let allow = if queue_depth.is_some() {
        w.allowance_secs
    } else {
        0.0
    };
    let quantile_wait = quantile_wait(policy, allow);
    let lookahead = if allow > 0.0 {
        w.lookahead
    } else {
        TimeDelta::zero()
    };
    // The queue the predictive term and the scale-down guard plan with:
    // without an allowance the term is the peak forecast rate alone and the
    // queue is the backlog term's (as in the first planner).
    let planned_queue = queue_depth.filter(|_| allow > 0.0);
    let up_rate = input
        .forecast
        .and_then(|f| f.max_rate(now + startup, now + startup + interval));
    let plan = input.forecast.and_then(|f| {
        // Work still queued when the new replicas are ready: what waits now,
        // plus what the forecast brings until then, less what the replicas
        // serving meanwhile (between ready and requested) can do.
        let lead = planned_queue.map_or(LeadIn::default(), |q| {
            let serving = (f64::from(input.ready) + f64::from(current.max(input.ready))) / 2.0;
            LeadIn {
                queued: q,
                prior: f.expected_work(now, now + startup).unwrap_or(0.0),
                served: serving * per * startup.num_seconds() as f64,
            }
        });
        let provision = |end| rate_within_wait(&f, now + startup, end, lead, allow, quantile_wait);
        // When the lookahead runs past the forecast, the window alone.
        provision(now + startup + interval + lookahead)
            .or_else(|| provision(now + startup + interval))
            .map(|(r, mut planned)| {
                let n = replicas_for(r, per);
                let len = (planned.to - planned.from).num_milliseconds() as f64 / 1000.0;
                let served = f64::from(n.max(1)) * per;
                planned.wait_secs =
                    ((planned.queued + planned.work_quantile) / served - len).max(0.0);
                (n, planned)
            })
    });
    let predictive = plan.map(|(n, _)| n);

    // 2. Reactive floor: the HPA formula on utilisation of ready replicas.
    // With a queue metric and a plan it has no say: a queue worker is fully
    // busy whenever work waits, so its utilisation says "busy", not how many
    // replicas the work needs; the plan counts the queue and the forecast,
    // and the backlog term what the plan did not expect. With a queue metric
    // and no plan it keeps the replicas busy now (utilisation × ready, at
    // most the current count), and the headroom the HPA's target buys
    // against growth is what the predictive term plans from the forecast.
    let reactive = input
        .utilisation
        .filter(|u| u.is_finite() && *u >= 0.0)
        .filter(|_| queue_depth.is_none() || predictive.is_none())
        .map(|u| {
            if queue_depth.is_some() {
                let busy = (f64::from(input.ready) * u.min(1.0) - 1e-9).ceil();
                return (busy.max(0.0) as u32).min(current);
            }
            let ratio = u / s.reactive_target;
            if (ratio - 1.0).abs() <= s.tolerance {
                current
            } else {
                let n = (f64::from(input.ready) * ratio - 1e-9).ceil();
                n.clamp(0.0, f64::from(u32::MAX)) as u32
            }
        });

    // 3. Backlog: the queue beyond what the plan lets wait. The predictive
    // term lets work queue for the allowance, so a queue of the recent
    // arrival rate × allowance is planned; more than that is evidence the
    // forecast was low, and the excess must start within the rest of the
    // SLO wait while arrivals go on at the recent rate. Without a forecast
    // (or an allowance) every queued unit is backlog.
    let rate_now = input
        .arrival_rate
        .filter(|r| r.is_finite())
        .unwrap_or(0.0)
        .max(0.0);
    let planned_wait = if predictive.is_some() { allow } else { 0.0 };
    let backlog = queue_depth.map(|q| {
        let excess = q - rate_now * planned_wait;
        if q <= 0.0 || excess <= 0.0 {
            0
        } else {
            replicas_for(excess / (wait - planned_wait).max(1.0) + rate_now, per)
        }
    });

    let terms = Terms {
        predictive,
        reactive,
        backlog,
    };
    let candidates = [
        (Term::Predictive, predictive),
        (Term::Reactive, reactive),
        (Term::Backlog, backlog),
    ];
    // The largest term wins; on ties the earlier (predictive) is named.
    let best = candidates
        .iter()
        .filter_map(|(t, v)| v.map(|v| (*t, v)))
        .fold(None, |acc: Option<(Term, u32)>, (t, v)| match acc {
            Some((_, bv)) if bv >= v => acc,
            _ => Some((t, v)),
        });
    let (mut term, raw) = match best {
        Some((t, v)) => (t, v),
        None => (Term::Hold, current),
    };
    let mut limit = None;
    let mut recommended = raw;
    if recommended > max {
        recommended = max;
        limit = Some(Limit::MaxReplicas);
    }
    if recommended < min {
        recommended = min;
        if term != Term::Hold {
            term = Term::Minimum;
        }
    }

    let metrics_missing =
        input.utilisation.is_none() && input.queue_depth.is_none() && input.arrival_rate.is_none();
    let mut desired = recommended;
    if desired > current {
        // Rate limit against the lowest count within the scale-up period.
        let period = TimeDelta::seconds(s.scale_up.period.secs_i64());
        let base = state
            .min_count_since(now - period)
            .map_or(current, |m| m.min(current));
        let cap = base.saturating_add(s.scale_up.max_change(base));
        if desired > cap {
            desired = cap.max(current);
            limit = Some(Limit::ScaleUpRate);
        }
    } else if desired < current {
        if metrics_missing {
            desired = current;
            limit = Some(Limit::MissingMetrics);
        } else {
            // Stabilisation: the highest recommendation in the window wins.
            let window = TimeDelta::seconds(s.stabilization.secs_i64());
            if let Some(m) = state.max_recommendation_since(now - window)
                && m > desired
            {
                desired = m.min(current);
                limit = Some(Limit::Stabilisation);
            }
            // Never below what the forecast needs before a replica could return.
            if let Some((rate, _)) = input.forecast.and_then(|f| {
                let lead = LeadIn {
                    queued: planned_queue.unwrap_or(0.0),
                    ..LeadIn::default()
                };
                rate_within_wait(
                    &f,
                    now,
                    now + startup + interval,
                    lead,
                    allow,
                    quantile_wait,
                )
            }) {
                let need = replicas_for(rate, per).clamp(min, max);
                if need > desired {
                    desired = need.min(current);
                    limit = Some(Limit::ForecastRise);
                }
            }
            // Rate limit against the highest count within the scale-down period.
            let period = TimeDelta::seconds(s.scale_down.period.secs_i64());
            let base = state
                .max_count_since(now - period)
                .map_or(current, |m| m.max(current));
            let floor = base.saturating_sub(s.scale_down.max_change(base));
            if desired < floor {
                desired = floor.min(current);
                limit = Some(Limit::ScaleDownRate);
            }
        }
    }
    if desired < min {
        desired = min;
        limit = Some(Limit::MinReplicas);
    }
    Decision {
        at: now,
        current,
        desired,
        recommended,
        term,
        terms,
        limit,
        forecast_rate: up_rate,
        quantile: input.forecast.map_or(policy.forecast.quantile, |f| f.level),
        utilisation: input.utilisation,
        queue_depth: input.queue_depth,
        forecast_at_lead: input.forecast.and_then(|f| {
            f.grid
                .index_of(now + startup)
                .and_then(|k| f.values.get(k).copied())
        }),
        planned: plan.map(|(_, p)| p),
        no_forecast: match (&input.forecast, predictive) {
            (None, _) => Some(input.no_forecast.unwrap_or(NoForecast::NoModel)),
            (Some(_), None) => Some(NoForecast::NotCovering),
            (Some(_), Some(_)) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Duration;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    /// A policy where one replica serves 1 job/min, start-up 2 min, interval 1 min,
    /// provisioning for the forecast rate itself (no queueing allowance).
    fn policy() -> Policy {
        Policy::test()
            .min(1)
            .max(20)
            .per_replica(1.0)
            .startup(Duration::from_mins(2))
            .queue_allowance(0.0)
    }

    /// A forecast on a 1-minute grid from t0, jobs per minute.
    fn forecast(values: &[f64]) -> (Grid, Vec<f64>) {
        (Grid::new(t0(), 60, values.len()), values.to_vec())
    }

    /// A forecast known exactly: mean, point and quantile are `v`, no spread.
    fn certain(grid: Grid, v: &[f64]) -> ForecastView<'_> {
        ForecastView {
            grid,
            point: v,
            mean: v,
            spread: WorkSpread {
                linear: 0.0,
                quadratic: 0.0,
                windows: 0,
            },
            quantiles: &[],
            values: v,
            level: 0.9,
            z: normal_quantile(0.9),
            late: None,
        }
    }

    fn input<'a>(current: u32, f: Option<&'a (Grid, Vec<f64>)>) -> Input<'a> {
        Input {
            now: t0(),
            current,
            ready: current,
            utilisation: Some(0.8),
            queue_depth: Some(0.0),
            arrival_rate: Some(0.0),
            forecast: f.map(|(g, v)| certain(*g, v)),
            no_forecast: None,
        }
    }

    #[test]
    fn scales_up_ahead_of_a_forecast_spike() {
        // Spike of 6 jobs/min from minute 2: a replica asked for now is ready then.
        let f = forecast(&[1.0, 1.0, 6.0, 6.0, 6.0, 1.0]);
        let d = decide(&policy(), &input(2, Some(&f)), &PlannerState::default());
        assert_eq!(d.desired, 6);
        assert_eq!(d.term, Term::Predictive);
        assert_eq!(d.terms.predictive, Some(6));
        assert!(
            d.to_string()
                .starts_with("scale up 2 -> 6 (predictive term")
        );
    }

    #[test]
    fn reactive_floor_follows_the_hpa_formula_with_tolerance() {
        let f = forecast(&[1.0; 10]);
        let mut i = input(4, Some(&f));
        i.queue_depth = None; // CPU is the only load signal
        i.utilisation = Some(1.0); // ratio 1.25 > 1.1: ceil(4 * 1.25) = 5
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!((d.desired, d.term), (5, Term::Reactive));
        i.utilisation = Some(0.85); // ratio 1.06 within tolerance: keep 4
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.terms.reactive, Some(4));
        assert_eq!(d.desired, 4);
    }

    #[test]
    fn with_a_queue_metric_the_plan_replaces_utilisation_and_the_backlog_scales_up() {
        let f = forecast(&[1.0; 10]);
        let mut i = input(4, Some(&f));
        i.utilisation = Some(1.0);
        // Busy, nothing waits, a plan: "busy" is not a count of replicas
        // needed, and the plan counts the queue: the reactive term has no say.
        i.queue_depth = Some(0.0);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.terms.reactive, None);
        assert_eq!(d.term, Term::Predictive);
        // Work waits: the backlog term sizes the scale-up: 40/5 + 2 = 10 per
        // minute is 10 replicas, 8 after the scale-up rate limit (4 + 4).
        i.queue_depth = Some(40.0);
        i.arrival_rate = Some(2.0 / 60.0);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!((d.desired, d.term), (8, Term::Backlog));
        // Without a plan the replicas busy now are kept (no scale-down)...
        let mut i = input(4, None);
        i.utilisation = Some(1.0);
        i.queue_depth = Some(0.0);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.terms.reactive, Some(4));
        assert_eq!(d.desired, 4);
        // ...and utilisation below the target still lowers the reactive term.
        i.utilisation = Some(0.2);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.terms.reactive, Some(1));
    }

    #[test]
    fn backlog_is_drained_within_the_slo() {
        // 20 jobs queued, SLO 5 min, arrivals 1/min: 20/5 + 1 = 5 replicas.
        let mut i = input(1, None);
        i.queue_depth = Some(20.0);
        i.arrival_rate = Some(1.0 / 60.0);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!((d.desired, d.term), (5, Term::Backlog));
    }

    #[test]
    fn bounds_and_scale_up_rate_apply() {
        let f = forecast(&[100.0; 10]);
        let d = decide(&policy(), &input(2, Some(&f)), &PlannerState::default());
        // Recommendation clamped to max 20, then +max(4 pods, 100 %) from 2 = 6.
        assert_eq!(d.recommended, 20);
        assert_eq!(d.desired, 6);
        assert_eq!(d.limit, Some(Limit::ScaleUpRate));
        let low = forecast(&[0.0; 10]);
        let mut i = input(1, Some(&low));
        i.utilisation = Some(0.0);
        let d = decide(&policy().min(3), &i, &PlannerState::default());
        assert_eq!((d.desired, d.term), (3, Term::Minimum));
    }

    #[test]
    fn scale_down_waits_for_the_stabilisation_window() {
        let p = policy();
        let high = forecast(&[8.0; 30]);
        let low = forecast(&[1.0; 30]);
        let mut state = PlannerState::default();
        let d = decide(&p, &input(8, Some(&high)), &state);
        state.record(&p, &d);
        // One minute later the forecast drops: the recent 8 holds.
        let mut i = input(8, Some(&low));
        i.now = t0() + TimeDelta::minutes(1);
        i.utilisation = Some(0.1);
        let d = decide(&p, &i, &state);
        assert_eq!(d.desired, 8);
        assert_eq!(d.limit, Some(Limit::Stabilisation));
        // After the window (10 min) it goes down, one step at a time (max(1, 20 %)).
        i.now = t0() + TimeDelta::minutes(11);
        let d = decide(&p, &i, &state);
        assert_eq!(d.recommended, 1);
        assert_eq!(d.desired, 6);
        assert_eq!(d.limit, Some(Limit::ScaleDownRate));
    }

    #[test]
    fn no_scale_down_right_before_a_forecast_rise() {
        // Low for the lead window, but a rise at minute 2 (within start-up + interval).
        let f = forecast(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let rise = forecast(&[1.0, 5.0, 1.0, 1.0, 1.0, 1.0]);
        let mut i = input(5, Some(&rise));
        i.utilisation = Some(0.1);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.desired, 5);
        assert_eq!(d.limit, Some(Limit::ForecastRise));
        let mut i = input(5, Some(&f));
        i.utilisation = Some(0.1);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.desired, 4, "without the rise it steps down");
    }

    #[test]
    fn missing_metrics_never_scale_down() {
        let low = forecast(&[0.0; 10]);
        let mut i = input(6, Some(&low));
        i.utilisation = None;
        i.queue_depth = None;
        i.arrival_rate = None;
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.desired, 6);
        assert_eq!(d.limit, Some(Limit::MissingMetrics));
        // Nothing at all: hold.
        let i = Input {
            forecast: None,
            ..i
        };
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!((d.desired, d.term), (6, Term::Hold));
    }

    #[test]
    fn a_forecast_that_ends_too_early_is_not_used() {
        let short = forecast(&[9.0, 9.0]);
        let d = decide(&policy(), &input(2, Some(&short)), &PlannerState::default());
        assert_eq!(d.terms.predictive, None);
        assert_eq!(d.forecast_rate, None);
    }

    #[test]
    fn a_short_spike_is_absorbed_by_the_queueing_allowance() {
        // SLO 5 min, allowance 0.4: work may wait 2 min. A 1-minute spike of
        // 6 jobs at minute 2, then 1 job/min: 6 jobs within 1 + 2 minutes
        // need 2 replicas, not 6.
        let f = forecast(&[1.0, 1.0, 6.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let p = policy().queue_allowance(0.4);
        let d = decide(&p, &input(1, Some(&f)), &PlannerState::default());
        assert_eq!(d.terms.predictive, Some(2));
        // Without the allowance the peak rate itself is provisioned.
        let d = decide(&policy(), &input(1, Some(&f)), &PlannerState::default());
        assert_eq!(d.terms.predictive, Some(6));
    }

    #[test]
    fn a_sustained_rate_is_served_in_full_once_work_queues() {
        // 4 jobs/min for the whole window. With no queue the allowance lets
        // the term ask for a little less than 4; with the allowance's worth of
        // work already waiting (4 jobs/min × 2 min) it asks for the full 4.
        let f = forecast(&[4.0; 20]);
        let p = policy().queue_allowance(0.4);
        let mut i = input(4, Some(&f));
        let d = decide(&p, &i, &PlannerState::default());
        let relaxed = d.terms.predictive.unwrap();
        assert!((3..4).contains(&relaxed), "{d}");
        i.queue_depth = Some(8.0);
        let d = decide(&p, &i, &PlannerState::default());
        assert!(d.terms.predictive.unwrap() >= 4, "{d}");
    }

    #[test]
    fn without_a_queue_metric_the_peak_rate_is_provisioned() {
        // The same spike as above, but nothing reports the queue: a plan
        // that lets work queue could not see it grow, so no allowance.
        let f = forecast(&[1.0, 1.0, 6.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]);
        let mut i = input(1, Some(&f));
        i.queue_depth = None;
        let d = decide(&policy().queue_allowance(0.4), &i, &PlannerState::default());
        assert_eq!(d.terms.predictive, Some(6));
    }

    #[test]
    fn queued_work_raises_the_predictive_term() {
        // Work queued now that the ready replicas cannot clear before new
        // replicas start counts as work arriving at start-up.
        let f = forecast(&[1.0; 20]);
        let p = policy().queue_allowance(0.4);
        let mut i = input(1, Some(&f));
        let quiet = decide(&p, &i, &PlannerState::default()).terms.predictive;
        i.queue_depth = Some(30.0);
        let busy = decide(&p, &i, &PlannerState::default()).terms.predictive;
        assert!(busy > quiet, "{busy:?} vs {quiet:?}");
        // 30 queued + 2 arriving - 2 served by one replica in the 2-minute
        // start-up = 30 at start-up: 31 jobs within 1 + 2 minutes, 11 replicas.
        assert_eq!(busy, Some(11));
    }

    #[test]
    fn work_integrates_partial_steps_and_treats_gaps_as_the_peak() {
        let (g, v) = forecast(&[60.0, f64::NAN, 120.0]);
        let f = certain(g, &v);
        let w = f
            .work(
                t0() + TimeDelta::seconds(30),
                t0() + TimeDelta::seconds(150),
            )
            .unwrap();
        // 30 s at 1/s, 60 s of the gap at the window's peak 2/s, 30 s at 2/s.
        assert!((w - (30.0 + 120.0 + 60.0)).abs() < 1e-9, "{w}");
        assert!(f.work(t0(), t0() + TimeDelta::minutes(4)).is_none());
    }

    /// A policy with the queueing allowance: SLO 5 min, allowance 0.4 (work
    /// may wait 2 min in the plan), lookahead 4 min; start-up 2 min,
    /// interval 1 min: a decision provisions `[now + 2, now + 7)` minutes.
    fn queueing() -> Policy {
        policy().queue_allowance(0.4)
    }

    #[test]
    fn a_sustained_rise_is_met_step_by_step_without_overshoot() {
        // 1 job/min, then 6 from minute 3 on. At t0 the window [2, 7) holds
        // 1 + 4 × 6 = 25 jobs; the busiest sub-window is [3, 7): 24 jobs in
        // 4 min + 2 min allowance = 4/min: 4 replicas, not the peak's 6,
        // because what queues now raises the next decisions.
        let mut v = vec![1.0; 3];
        v.extend([6.0; 20]);
        let f = forecast(&v);
        let d = decide(&queueing(), &input(1, Some(&f)), &PlannerState::default());
        assert_eq!(d.terms.predictive, Some(4), "{d}");
        let p = d.planned.unwrap();
        assert_eq!(p.from, t0() + TimeDelta::minutes(3));
        assert_eq!(p.to, t0() + TimeDelta::minutes(7));
        assert!((p.work_quantile - 24.0).abs() < 1e-9, "{p:?}");
        // Two minutes on, with the allowance's worth queued (6 × 2 = 12 jobs)
        // and 4 replicas serving until new ones are ready, the window [4, 9)
        // starts with 12 + (1 + 6) - 8 = 11 jobs waiting and brings 30: 41
        // jobs in 5 + 2 minutes, 5.9/min: 6 replicas, the full rate.
        let mut i = input(4, Some(&f));
        i.now = t0() + TimeDelta::minutes(2);
        i.queue_depth = Some(12.0);
        let d = decide(&queueing(), &i, &PlannerState::default());
        assert_eq!(d.terms.predictive, Some(6), "{d}");
    }

    #[test]
    fn a_rise_right_after_start_up_is_provisioned_before_it() {
        // 6 jobs/min from minute 2, the moment a replica asked for now is
        // ready: [2, 7) holds 30 jobs within 5 + 2 minutes: 30/7 = 4.3/min,
        // 5 replicas now (the rest by the next decisions).
        let mut v = vec![0.0; 2];
        v.extend([6.0; 20]);
        let f = forecast(&v);
        let d = decide(&queueing(), &input(1, Some(&f)), &PlannerState::default());
        assert_eq!((d.desired, d.term), (5, Term::Predictive), "{d}");
    }

    #[test]
    fn the_maximum_binds_and_says_so() {
        let f = forecast(&[30.0; 20]);
        let p = queueing().max(8);
        let mut i = input(8, Some(&f));
        i.queue_depth = Some(50.0);
        let d = decide(&p, &i, &PlannerState::default());
        assert_eq!((d.recommended, d.desired), (8, 8));
        assert_eq!(d.limit, Some(Limit::MaxReplicas));
    }

    #[test]
    fn a_late_queue_beyond_the_planned_one_is_drained_within_the_slo() {
        // 30 jobs queued while 1 job/min arrives and the plan lets 2 minutes
        // of arrivals wait: 30 - 2 = 28 jobs are backlog, to start within
        // the remaining 5 - 2 = 3 minutes while arrivals go on:
        // 28/3 + 1 = 10.33 jobs/min, 11 replicas.
        let f = forecast(&[1.0; 20]);
        let mut i = input(1, Some(&f));
        i.queue_depth = Some(30.0);
        i.arrival_rate = Some(1.0 / 60.0);
        let d = decide(&queueing(), &i, &PlannerState::default());
        assert_eq!(d.terms.backlog, Some(11), "{d}");
        // The queue the plan itself lets wait is not backlog.
        i.queue_depth = Some(2.0);
        let d = decide(&queueing(), &i, &PlannerState::default());
        assert_eq!(d.terms.backlog, Some(0), "{d}");
    }

    #[test]
    fn the_window_quantile_is_of_summed_work_not_summed_step_quantiles() {
        // Poisson work (linear spread 1): 2 jobs/min over a 5-minute window
        // is 10 jobs; its p90 is about 14.4 (Wilson–Hilferty: 10 (1 - 1/90 +
        // 1.2816 / sqrt 90)^3 = 14.3), where summing five per-minute p90s of
        // Poisson(2) (about 3.9 each) would give about 19.5.
        let v = vec![2.0; 30];
        let mut f = certain(Grid::new(t0(), 60, v.len()), &v);
        f.spread = WorkSpread {
            linear: 1.0,
            quadratic: 0.0,
            windows: 100,
        };
        let q = f.work_quantile(t0(), t0() + TimeDelta::minutes(5)).unwrap();
        assert!((14.0..14.7).contains(&q), "{q}");
    }

    #[test]
    fn the_decision_does_not_depend_on_the_forecasts_step() {
        // The same expected demand (a ramp to 3 jobs/min) on a 1-minute and
        // a 5-minute grid, with the same Poisson-and-level spread: the
        // predictive term asks for the same replicas, within one.
        let per_min: Vec<f64> = (0..120).map(|i| (f64::from(i) / 20.0).min(3.0)).collect();
        let per_five: Vec<f64> = per_min.chunks(5).map(|c| c.iter().sum()).collect();
        let spread = WorkSpread {
            linear: 1.0,
            quadratic: 0.04,
            windows: 100,
        };
        let p = queueing().startup(Duration::from_mins(5));
        for now_min in [0, 20, 40, 60] {
            let mut asked = Vec::new();
            for (step, v) in [(60, &per_min), (300, &per_five)] {
                let mut f = certain(Grid::new(t0(), step, v.len()), v);
                f.spread = spread;
                let mut i = input(2, None);
                i.forecast = Some(f);
                i.now = t0() + TimeDelta::minutes(now_min);
                asked.push(
                    decide(&p, &i, &PlannerState::default())
                        .terms
                        .predictive
                        .unwrap(),
                );
            }
            assert!(
                asked[0].abs_diff(asked[1]) <= 1,
                "at minute {now_min}: {asked:?}"
            );
        }
    }

    /// Closed loop on the simulator's cluster (1-minute ticks, start-up 2
    /// ticks, 1 job/min per replica): 4 jobs/min arrive while the forecast
    /// says 2 with certainty. Returns the wait histogram.
    fn low_forecast_loop(p: &Policy, queue_metric: bool) -> crate::sim::cluster::Waits {
        use crate::sim::cluster::{Cluster, Waits};
        let f = forecast(&[2.0; 400]);
        let mut cluster = Cluster::new(2, 2);
        let mut waits = Waits::new(0);
        let mut state = PlannerState::default();
        let mut busy = 0.0;
        for k in 0..240u64 {
            let mut i = input(cluster.requested(), Some(&f));
            i.now = t0() + TimeDelta::minutes(k as i64);
            i.ready = cluster.ready(k);
            i.queue_depth = queue_metric.then(|| cluster.queue_depth());
            i.arrival_rate = Some(4.0 / 60.0);
            i.utilisation = Some(busy);
            let d = decide(p, &i, &state);
            state.record(p, &d);
            cluster.scale_to(d.desired, k);
            let o = cluster.tick(k, 4.0, 1.0, &mut waits);
            busy = if o.capacity > 0.0 {
                o.served / o.capacity
            } else {
                0.0
            };
        }
        waits
    }

    #[test]
    fn a_forecast_low_by_half_still_meets_the_slo() {
        // With the queue observed, the plan starts from the queue and the
        // backlog term drains what exceeds the planned queue: every job
        // starts within the SLO's 5 minutes.
        let waits = low_forecast_loop(&queueing(), true);
        assert!(waits.max() <= 5, "max wait {} min", waits.max());
        // With CPU alone the reactive term (the HPA formula) catches up:
        // the SLO is missed only while it does, by at most its own length.
        let waits = low_forecast_loop(&queueing(), false);
        assert!(waits.max() <= 10, "max wait {} min", waits.max());
        assert!(waits.within(5) >= 0.95, "{}", waits.within(5));
    }

    #[test]
    fn planning_for_the_attainment_sets_each_windows_level() {
        // Poisson work of 2 jobs/min, 99 % attainment: each window is planned
        // where 1 % of its expected work lies above the plan. The binding
        // window's level is said, and it is above the median.
        let v = vec![2.0; 30];
        let mut f = certain(Grid::new(t0(), 60, v.len()), &v).planning_for(0.99);
        f.spread = WorkSpread {
            linear: 1.0,
            quadratic: 0.0,
            windows: 100,
        };
        let mut i = input(1, None);
        i.forecast = Some(f);
        // A start-up the later decisions cannot make up for in time.
        let slow = queueing().startup(Duration::from_mins(3));
        let d = decide(&slow, &i, &PlannerState::default());
        let p = d.planned.unwrap();
        assert!(p.level > 0.8 && p.level < 0.99, "{p:?}");
        assert!(p.work_quantile > p.expected_work, "{p:?}");
        // Asking for every job on time plans far higher.
        let mut i = input(1, None);
        i.forecast = Some(f.planning_for(1.0));
        let strict = decide(&slow, &i, &PlannerState::default());
        assert!(
            strict.terms.predictive > d.terms.predictive,
            "{strict} vs {d}"
        );
    }

    #[test]
    fn the_quantile_work_may_use_the_whole_wait_the_expected_work_the_allowance() {
        // 5 jobs/min on a 1-minute grid, one replica serves 1 job/min; the
        // window [2, 11) min (9 minutes, 45 jobs expected), nothing waiting,
        // allowance 4 min, SLO wait 10 min, 99 % attainment.
        let v = vec![5.0; 15];
        let grid = Grid::new(t0(), 60, v.len());
        let (start, end) = (t0() + TimeDelta::minutes(2), t0() + TimeDelta::minutes(11));
        let rate = |f: &ForecastView<'_>| {
            let (r, planned) =
                rate_within_wait(f, start, end, LeadIn::default(), 240.0, Some(600.0)).unwrap();
            (r * 60.0, planned)
        };
        // Poisson counts: σ = √45 = 6.7, 1 % of 45 expected late above
        // z ≈ 1.1: Q ≈ 52.5 jobs. Q within the SLO wait needs 52.5 / 19 = 2.8
        // jobs/min; the expected 45 within the allowance 45 / 13 = 3.46: that
        // binds, 4 replicas. (Q within the allowance alone, the plan before,
        // asked 52.5 / 13 = 4.04: 5 replicas.)
        let mut f = certain(grid, &v).planning_for(0.99);
        f.spread = WorkSpread {
            linear: 1.0,
            quadratic: 0.0,
            windows: 100,
        };
        let (r, p) = rate(&f);
        assert!((r - 45.0 / 13.0).abs() < 1e-9, "{r} {p:?}");
        assert_eq!(replicas_for(r / 60.0, 1.0 / 60.0), 4);
        assert_eq!((p.provision, p.work_quantile), (Provision::Expected, 45.0));
        let (_, q) = f.planned(45.0);
        assert!((51.0..54.5).contains(&q), "{q}");
        // A forecast level 50 % uncertain (σ² = 45 + 0.25·45² = 551, σ =
        // 23.5): 1 % late above z ≈ 1.7, Q ≈ 86: 86 / 19 = 4.5 jobs/min binds
        // over the allowance's 3.46: 5 replicas (the plan before: 86 / 13 = 6.6, 7).
        f.spread.quadratic = 0.25;
        let (r, p) = rate(&f);
        assert!((4.3..4.8).contains(&r), "{r} {p:?}");
        assert!((r - p.work_quantile / 19.0).abs() < 1e-9, "{r} {p:?}");
        assert_eq!(p.provision, Provision::Quantile);
        assert_eq!(replicas_for(r / 60.0, 1.0 / 60.0), 5);
        // When a replica asked for later is still ready in time, the excess
        // is left to the later decisions: the expected work binds, 4.
        let (r, p) = rate_within_wait(&f, start, end, LeadIn::default(), 240.0, None).unwrap();
        assert!((r * 60.0 - 45.0 / 13.0).abs() < 1e-9, "{r} {p:?}");
        assert_eq!((p.provision, p.level), (Provision::Expected, 0.5));
    }

    #[test]
    fn the_quantile_is_left_to_later_decisions_only_when_they_are_in_time() {
        // SLO wait 5 min, allowance 2 min, interval 1 min: with a 2-minute
        // start-up a replica asked for once the excess queues is ready after
        // 2 + 1 + 2 = 5 min, in time; with 3 minutes it is not.
        let p = queueing();
        assert_eq!(quantile_wait(&p, 120.0), None);
        assert_eq!(
            quantile_wait(&p.clone().startup(Duration::from_mins(3)), 120.0),
            Some(300.0)
        );
        // Without a queue metric the excess would not be seen.
        assert_eq!(quantile_wait(&p, 0.0), Some(300.0));
    }
}
