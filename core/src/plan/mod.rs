//! The planner: pure decision logic, the same code in the controller and in
//! simulation. [`decide`] takes the policy, what is observed now and the
//! forecast, and returns a [`Decision`] with the winning term and the numbers
//! behind it. It performs no I/O and reads no clock.
//!
//! Terms (all in replicas):
//! 1. *predictive*: replicas to serve the forecast quantile from the moment a
//!    replica requested now is ready (`now + startup`), letting work wait up
//!    to `queue_allowance × slo.max_wait` (see [`decide`]'s comments);
//! 2. *reactive*: the HPA formula on current utilisation of ready replicas,
//!    with its tolerance; when the queue depth is observed it only holds the
//!    current count (the backlog term scales up on observed load);
//! 3. *backlog*: replicas to drain the current queue within the SLO wait while
//!    serving the current arrival rate.
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

use crate::forecast::{self, Forecast};
use crate::policy::Policy;
use crate::series::Grid;

/// A borrowed view of a forecast as the planner reads it: the whole
/// distribution the forecast carries (point and every quantile level) and
/// the level the policy provisions for.
#[derive(Debug, Clone, Copy)]
pub struct ForecastView<'a> {
    /// The grid of the forecast values (future steps).
    pub grid: Grid,
    /// Point forecast (median for counts, else mean), demand units per step.
    pub point: &'a [f64],
    /// Every quantile level of the forecast, ascending, each with one value per step.
    pub quantiles: &'a [(f64, Vec<f64>)],
    /// Forecast of the policy's quantile, demand units per step.
    pub values: &'a [f64],
    /// The quantile level of `values`.
    pub level: f64,
}

impl<'a> ForecastView<'a> {
    /// View `f` at quantile `level`; an error when the forecast lacks that level.
    pub fn of(f: &'a Forecast, level: f64) -> forecast::Result<ForecastView<'a>> {
        Ok(ForecastView {
            grid: f.grid,
            point: &f.point,
            quantiles: &f.quantiles,
            values: f.quantile(level)?,
            level,
        })
    }
}

impl ForecastView<'_> {
    /// Largest forecast rate (units per second) over steps overlapping
    /// `[from, to)`, or `None` if the forecast does not cover that window.
    pub fn max_rate(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        let step = self.grid.step_secs;
        let a = (from - self.grid.start).num_seconds();
        let b = (to - self.grid.start).num_seconds();
        if a < 0 || b <= a {
            return None;
        }
        let first = (a / step) as usize;
        let last = ((b - 1) / step) as usize;
        if last >= self.values.len().min(self.grid.len) {
            return None;
        }
        let m = self.values[first..=last]
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::NAN, f64::max);
        m.is_finite().then(|| m.max(0.0) / step as f64)
    }

    /// Forecast work (demand units) arriving in `[from, to)`, or `None` if
    /// the forecast does not cover that window. Missing or negative values
    /// count as the largest finite value of the window (no guess downwards).
    pub fn work(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        let peak = self.max_rate(from, to)?;
        let step = self.grid.step_secs;
        let a = (from - self.grid.start).num_seconds();
        let b = (to - self.grid.start).num_seconds();
        let (first, last) = ((a / step) as usize, ((b - 1) / step) as usize);
        let mut total = 0.0;
        for i in first..=last {
            let lo = (i as i64 * step).max(a);
            let hi = ((i as i64 + 1) * step).min(b);
            let v = self.values[i];
            let rate = if v.is_finite() {
                v.max(0.0) / step as f64
            } else {
                peak
            };
            total += rate * (hi - lo) as f64;
        }
        Some(total)
    }
}

/// Service rate (units per second) that, starting at `start` with `queue`
/// units already waiting, serves every unit of the forecast work arriving in
/// `[start, end)` within `allow` seconds of its arrival: the largest
/// `work(a, b) / (b - a + allow)` over sub-windows (the queue counts as work
/// arriving at `start`). The rate is piecewise constant per forecast step, so
/// the maximum is at step boundaries. With `allow` 0 and no queue this is the
/// largest step rate of the window. `None` if the forecast does not cover it.
fn rate_within_wait(
    f: &ForecastView<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    queue: f64,
    allow: f64,
) -> Option<f64> {
    f.max_rate(start, end)?;
    let step = TimeDelta::seconds(f.grid.step_secs);
    // Breakpoints: the window's ends and the step boundaries inside it.
    let mut points = vec![start];
    let offset = (start - f.grid.start).num_seconds();
    let mut t =
        f.grid.start + TimeDelta::seconds((offset / f.grid.step_secs + 1) * f.grid.step_secs);
    while t < end {
        points.push(t);
        t += step;
    }
    points.push(end);
    let segments = points
        .windows(2)
        .map(|w| f.work(w[0], w[1]))
        .collect::<Option<Vec<f64>>>()?;
    let mut best: f64 = 0.0;
    for (i, &a) in points.iter().enumerate() {
        let mut acc = if i == 0 { queue.max(0.0) } else { 0.0 };
        for (&b, work) in points[i + 1..].iter().zip(&segments[i..]) {
            acc += work;
            let span = (b - a).num_milliseconds() as f64 / 1000.0 + allow;
            if span > 0.0 {
                best = best.max(acc / span);
            }
        }
    }
    Some(best)
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
    rate_within_wait(f, from, to, queue.unwrap_or(0.0), allow)
        .map(|r| replicas_for(r, policy.capacity.per_second()))
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
    let queue_depth = input.queue_depth.filter(|q| q.is_finite() && *q >= 0.0);
    let allow = if queue_depth.is_some() {
        w.allowance_secs
    } else {
        0.0
    };
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
    let predictive = input.forecast.and_then(|f| {
        // Work still queued when the new replicas are ready: what waits now,
        // plus what the forecast brings until then, less what the replicas
        // serving meanwhile (between ready and requested) can do.
        let queue_then = planned_queue.map_or(0.0, |q| {
            let meanwhile = f.work(now, now + startup).unwrap_or(0.0);
            let serving = (f64::from(input.ready) + f64::from(current.max(input.ready))) / 2.0;
            (q + meanwhile - serving * per * startup.num_seconds() as f64).max(0.0)
        });
        let provision = |end| rate_within_wait(&f, now + startup, end, queue_then, allow);
        // When the lookahead runs past the forecast, the window alone.
        provision(now + startup + interval + lookahead)
            .or_else(|| provision(now + startup + interval))
            .map(|r| replicas_for(r, per))
    });

    // 2. Reactive floor: the HPA formula on utilisation of ready replicas.
    // With a queue metric the formula only holds the current count: a queue
    // worker is fully busy whenever work waits, so its utilisation says
    // "busy", not how many more replicas the work needs; the backlog term
    // sizes that from the queue and the SLO.
    let reactive = input
        .utilisation
        .filter(|u| u.is_finite() && *u >= 0.0)
        .map(|u| {
            let ratio = u / s.reactive_target;
            if (ratio - 1.0).abs() <= s.tolerance {
                current
            } else {
                let n = (f64::from(input.ready) * ratio - 1e-9).ceil();
                let n = n.clamp(0.0, f64::from(u32::MAX)) as u32;
                if queue_depth.is_some() {
                    n.min(current)
                } else {
                    n
                }
            }
        });

    // 3. Backlog: drain the queue within the SLO wait while serving arrivals.
    let wait = policy.slo.max_wait.secs().max(1) as f64;
    let backlog = queue_depth.map(|q| {
        let rate_now = input.arrival_rate.filter(|r| r.is_finite()).unwrap_or(0.0);
        if q <= 0.0 {
            0
        } else {
            replicas_for(q / wait + rate_now.max(0.0), per)
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
            if let Some(rate) = input.forecast.and_then(|f| {
                let queue = planned_queue.unwrap_or(0.0);
                rate_within_wait(&f, now, now + startup + interval, queue, allow)
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

    fn input<'a>(current: u32, f: Option<&'a (Grid, Vec<f64>)>) -> Input<'a> {
        Input {
            now: t0(),
            current,
            ready: current,
            utilisation: Some(0.8),
            queue_depth: Some(0.0),
            arrival_rate: Some(0.0),
            forecast: f.map(|(g, v)| ForecastView {
                grid: *g,
                point: v,
                quantiles: &[],
                values: v,
                level: 0.9,
            }),
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
    fn with_a_queue_metric_utilisation_holds_and_the_backlog_scales_up() {
        let f = forecast(&[1.0; 10]);
        let mut i = input(4, Some(&f));
        i.utilisation = Some(1.0);
        // Busy but nothing waits: no scale-up, and no scale-down either.
        i.queue_depth = Some(0.0);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.terms.reactive, Some(4));
        assert_eq!(d.desired, 4);
        // Work waits: the backlog term sizes the scale-up: 40/5 + 2 = 10 per
        // minute is 10 replicas, 8 after the scale-up rate limit (4 + 4).
        i.queue_depth = Some(40.0);
        i.arrival_rate = Some(2.0 / 60.0);
        let d = decide(&policy(), &i, &PlannerState::default());
        assert_eq!(d.terms.reactive, Some(4));
        assert_eq!((d.desired, d.term), (8, Term::Backlog));
        // Utilisation below the target still lowers the reactive term.
        i.queue_depth = Some(0.0);
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
        let f = ForecastView {
            grid: g,
            point: &v,
            quantiles: &[],
            values: &v,
            level: 0.9,
        };
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
}
