//! One policy's loop: observe, fetch metrics, refresh the schedule, refit on
//! the policy's cadence, forecast, decide, act, explain.
//!
//! Failure behaviour (each has a test below):
//! - metrics unavailable: the loop holds the current replica count (clamped to
//!   the policy's bounds). It never scales down, and never scales up from a
//!   forecast fitted on data it can no longer check;
//! - schedule unavailable: the last good snapshot of appointments is used;
//! - API errors: the tick fails and the caller backs off ([`backoff`]);
//! - a person scaled the target by hand: the change is logged, and the next
//!   decision starts from the new count; planscale owns the replica count of a
//!   `scale`-mode target (as the HPA does) and sets it again. To take over,
//!   annotate the target `planscale.io/paused: "true"`: planscale then only
//!   observes and explains (as in `forecast-only`).

use std::collections::VecDeque;
use std::time::Duration as StdDuration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use super::Result;
use super::cluster::{Cluster, EventNote, Observed, TargetRef, hpa_floor};
use super::sources::{MetricSource, Observation, ScheduleSource};
use crate::forecast::{Forecaster, SeasonalProfile};
use crate::policy::{LoadedPolicy, Mode, Policy};
use crate::schedule::Appointment;
use crate::telemetry::{DecisionLabels, Metrics, PolicyLabels};

/// Everything a tick reads and writes through.
pub struct Ctx<C, M, S> {
    pub cluster: C,
    pub metrics: M,
    pub schedule: S,
    pub telemetry: Metrics,
    /// True while this replica may write.
    pub leader: watch::Receiver<bool>,
}

/// What one tick decided and did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    pub current: u32,
    pub desired: u32,
    /// The winning term's label.
    pub term: &'static str,
    /// Human-readable explanation.
    pub reason: String,
    /// What was done: `scale_up`, `scale_down`, `hold`, `would_scale`.
    pub action: &'static str,
    /// Whether this tick wrote to the cluster.
    pub wrote: bool,
    /// Forecast at the lead time at the policy's quantile, demand units per step.
    pub forecast: Option<f64>,
    pub metrics_ok: bool,
    /// Whether the schedule used was the last good snapshot (source down).
    pub schedule_stale: bool,
}

/// Inputs of one decision (the same fields as the planner's input).
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    pub now: DateTime<Utc>,
    pub current: u32,
    pub ready: u32,
    pub utilisation: Option<f64>,
    pub queue_depth: Option<f64>,
    /// Arrivals per second over the last complete step.
    pub arrival_rate: Option<f64>,
    /// Forecast quantile values over the lead window, demand units per step.
    pub forecast: Vec<f64>,
}

/// One decision: desired replicas, the winning term and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub desired: u32,
    pub term: &'static str,
    pub reason: String,
}

/// The loop state of one policy.
pub struct PolicyRunner {
    pub loaded: LoadedPolicy,
    target: TargetRef,
    model: SeasonalProfile,
    /// When the model was last fitted, and the end of the history it saw.
    fitted: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Last good appointments (the schedule source's snapshot).
    schedule: Option<Vec<Appointment>>,
    /// Forecasts waiting for their actual: (step time, forecast value).
    pending: VecDeque<(DateTime<Utc>, f64)>,
    /// Recent recommendations for the scale-down stabilisation window.
    recommendations: VecDeque<(DateTime<Utc>, u32)>,
    /// What this runner last wrote (to notice changes made by others).
    last_written: Option<u32>,
    /// Desired count of the last forecast-only Event (to not repeat it every tick).
    last_explained: Option<u32>,
}

/// Delay before the next tick after `failures` consecutive failed ticks:
/// doubling from 2 s, capped at the larger of the interval and 5 minutes.
pub fn backoff(failures: u32, interval: StdDuration) -> StdDuration {
    if failures == 0 {
        return interval;
    }
    let cap = interval.max(StdDuration::from_secs(300));
    let exp =
        StdDuration::from_secs(2u64.saturating_mul(1u64 << failures.min(20).saturating_sub(1)));
    exp.min(cap)
}

impl PolicyRunner {
    pub fn new(loaded: LoadedPolicy) -> Self {
        let target = TargetRef::from(&loaded.policy.target);
        let periods = loaded.policy.periods_in_steps();
        PolicyRunner {
            target,
            model: SeasonalProfile::new(&periods, 4),
            fitted: None,
            schedule: None,
            pending: VecDeque::new(),
            recommendations: VecDeque::new(),
            last_written: None,
            last_explained: None,
            loaded,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.loaded.policy
    }

    pub fn target(&self) -> &TargetRef {
        &self.target
    }

    /// The policy's loop interval.
    pub fn interval(&self) -> StdDuration {
        StdDuration::from_secs(self.policy().scaling.interval.secs().max(1))
    }

    /// Lead time: pod start-up plus one decision interval.
    fn lead(&self) -> TimeDelta {
        let p = self.policy();
        TimeDelta::seconds((p.capacity.startup.secs() + p.scaling.interval.secs()) as i64)
    }

    /// Run one iteration. An `Err` is an API failure: the caller backs off.
    #[tracing::instrument(skip(self, ctx), fields(policy = %self.loaded.policy.name))]
    pub async fn tick<C: Cluster, M: MetricSource, S: ScheduleSource>(
        &mut self,
        now: DateTime<Utc>,
        ctx: &Ctx<C, M, S>,
    ) -> Result<TickReport> {
        let name = self.policy().name.clone();
        let labels = PolicyLabels {
            policy: name.clone(),
        };
        let mode = self.policy().scaling.mode;
        let observed = ctx
            .cluster
            .observe(&self.target, mode == Mode::HpaFloor)
            .await?;
        if let Some(w) = self.last_written
            && w != observed.replicas
            && mode == Mode::Scale
        {
            tracing::info!(policy = %name, was = w, now = observed.replicas,
                "replica count changed outside planscale (by hand or another controller); deciding from the new count");
        }

        let obs = match ctx.metrics.observe(&self.loaded, now).await {
            Ok(o) => Some(o),
            Err(e) => {
                tracing::warn!(policy = %name, error = %e, "metrics unavailable: holding the replica count");
                ctx.telemetry.error(&name, e.kind());
                None
            }
        };
        let schedule_stale = self.refresh_schedule(now, ctx).await;

        let mut forecast_at_lead = None;
        let mut window = Vec::new();
        if let Some(o) = &obs {
            self.refit_if_due(now, o, ctx);
            self.settle_pending(o, ctx);
            if let Some((values, first)) = self.forecast_window(now) {
                forecast_at_lead = Some(first);
                self.pending
                    .push_back((self.step_time(now + self.lead()), first));
                while self.pending.len() > 10_000 {
                    self.pending.pop_front();
                }
                window = values;
            }
            if let Some(last) = o.history.values.last().filter(|v| v.is_finite()) {
                ctx.telemetry.observed.get_or_create(&labels).set(*last);
            }
        }

        let decision = match &obs {
            Some(o) => {
                let input = PlanInput {
                    now,
                    current: observed.replicas,
                    ready: observed.ready,
                    utilisation: o.utilisation,
                    queue_depth: o.queue_depth,
                    arrival_rate: o
                        .history
                        .values
                        .last()
                        .filter(|v| v.is_finite())
                        .map(|v| v / self.policy().step_secs() as f64),
                    forecast: window,
                };
                self.decide(&input)
            }
            None => {
                let p = self.policy();
                let hold = observed.replicas.clamp(p.replicas.min, p.replicas.max);
                Decision {
                    desired: hold,
                    term: "hold_no_metrics",
                    reason: format!(
                        "metrics unavailable: holding {hold} replicas (no scale-down, no scale-up from stale data)"
                    ),
                }
            }
        };

        let q = self.policy().forecast.quantile;
        let report = self
            .act(
                now,
                &observed,
                decision,
                forecast_at_lead,
                obs.is_some(),
                schedule_stale,
                ctx,
            )
            .await?;
        let m = &ctx.telemetry;
        if let Some(f) = forecast_at_lead {
            m.forecast.get_or_create(&labels).set(f);
        }
        m.forecast_quantile.get_or_create(&labels).set(q);
        m.desired_replicas
            .get_or_create(&labels)
            .set(i64::from(report.desired));
        m.current_replicas
            .get_or_create(&labels)
            .set(i64::from(observed.replicas));
        m.decisions
            .get_or_create(&DecisionLabels {
                policy: name,
                term: report.term.to_string(),
                action: report.action.to_string(),
            })
            .inc();
        Ok(report)
    }

    /// Refresh the appointments; on failure keep the last good snapshot.
    /// Returns whether the snapshot used is stale.
    async fn refresh_schedule<C, M, S: ScheduleSource>(
        &mut self,
        now: DateTime<Utc>,
        ctx: &Ctx<C, M, S>,
    ) -> bool {
        let Some(spec) = &self.policy().schedule else {
            return false;
        };
        let from = now
            - TimeDelta::seconds(self.policy().forecast.history.secs() as i64)
            - TimeDelta::seconds(spec.max_lag.secs() as i64);
        let to = now + TimeDelta::seconds(self.policy().forecast.horizon.secs() as i64);
        match ctx.schedule.appointments(&self.loaded, from, to).await {
            Ok(a) => {
                self.schedule = Some(a);
                false
            }
            Err(e) => {
                tracing::warn!(policy = %self.policy().name, error = %e,
                    have_snapshot = self.schedule.is_some(), "schedule unavailable: using the last good snapshot");
                ctx.telemetry.error(&self.policy().name, e.kind());
                true
            }
        }
    }

    fn refit_if_due<C, M, S>(&mut self, now: DateTime<Utc>, o: &Observation, ctx: &Ctx<C, M, S>) {
        let every = TimeDelta::seconds(self.policy().forecast.refit_every.secs() as i64);
        let due = match self.fitted {
            None => true,
            Some((at, _)) => now - at >= every,
        };
        if !due {
            return;
        }
        match self.model.fit(&o.history, None) {
            Ok(()) => self.fitted = Some((now, o.history.grid.end())),
            Err(e) => {
                tracing::warn!(policy = %self.policy().name, error = %e, "forecast fit failed; keeping the previous model");
                ctx.telemetry
                    .error(&self.policy().name, &format!("forecast_{}", e.kind()));
            }
        }
    }

    /// Compare forecasts whose step is now observed with the actual value.
    fn settle_pending<C, M, S>(&mut self, o: &Observation, ctx: &Ctx<C, M, S>) {
        while let Some(&(t, f)) = self.pending.front() {
            if t >= o.history.grid.end() {
                break;
            }
            self.pending.pop_front();
            if let Some(actual) = o.history.grid.index_of(t).map(|i| o.history.values[i])
                && actual.is_finite()
            {
                ctx.telemetry
                    .forecast_error
                    .get_or_create(&PolicyLabels {
                        policy: self.policy().name.clone(),
                    })
                    .set(actual - f);
            }
        }
    }

    /// The start of the forecast step containing `t` (on the fitted grid).
    fn step_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let step = self.policy().step_secs();
        let anchor = self.fitted.map(|(_, end)| end).unwrap_or(t);
        let k = (t - anchor).num_seconds().div_euclid(step);
        anchor + TimeDelta::seconds(k * step)
    }

    /// Forecast quantile values over `[now + lead, now + lead + interval]`,
    /// and the value at the lead time.
    fn forecast_window(&self, now: DateTime<Utc>) -> Option<(Vec<f64>, f64)> {
        let (_, end) = self.fitted?;
        let p = self.policy();
        let step = p.step_secs();
        let from = now + self.lead();
        let to = from + TimeDelta::seconds(p.scaling.interval.secs() as i64);
        let lo = ((from - end).num_seconds().div_euclid(step)).max(0) as usize;
        let hi = ((to - end).num_seconds().div_euclid(step)).max(0) as usize;
        let f = self
            .model
            .predict(hi + 1, &[p.forecast.quantile], None)
            .ok()?;
        let values: Vec<f64> = f.quantile(p.forecast.quantile)[lo..=hi]
            .iter()
            .map(|v| v.max(0.0))
            .collect();
        let first = *values.first()?;
        Some((values, first))
    }

    /// The planner step (until `plan::decide` lands: predictive, reactive and
    /// backlog terms, bounds, scale-up limit, scale-down stabilisation).
    fn decide(&mut self, input: &PlanInput) -> Decision {
        let p = &self.loaded.policy;
        let per_step = p.capacity.per_second() * p.step_secs() as f64;
        let peak = input.forecast.iter().copied().fold(f64::NAN, f64::max);
        let predictive =
            (peak.is_finite() && per_step > 0.0).then(|| (peak / per_step).ceil() as u32);
        let reactive = input.utilisation.map(|u| {
            let ratio = u / p.scaling.reactive_target;
            if (ratio - 1.0).abs() <= p.scaling.tolerance {
                input.current
            } else {
                (f64::from(input.current) * ratio).ceil() as u32
            }
        });
        let backlog = input.queue_depth.map(|q| {
            let drain = p.capacity.per_second() * p.slo.max_wait.secs() as f64;
            if drain > 0.0 {
                (q / drain).ceil() as u32
            } else {
                0
            }
        });
        let mut best = (p.replicas.min, "min");
        for (v, term) in [
            (predictive, "predictive"),
            (reactive, "reactive"),
            (backlog, "backlog"),
        ] {
            if let Some(v) = v
                && v > best.0
            {
                best = (v, term);
            }
        }
        let (mut desired, mut term) = (best.0.min(p.replicas.max), best.1);
        if best.0 > p.replicas.max {
            term = "max";
        }
        let up_cap = input
            .current
            .saturating_add(p.scaling.scale_up.max_change(input.current));
        if desired > up_cap {
            desired = up_cap;
            term = "scale_up_limit";
        }
        let window = TimeDelta::seconds(p.scaling.stabilization.secs() as i64);
        self.recommendations.push_back((input.now, desired));
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| input.now - *t > window)
        {
            self.recommendations.pop_front();
        }
        if desired < input.current {
            let held = self
                .recommendations
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(desired);
            let down_cap = input
                .current
                .saturating_sub(p.scaling.scale_down.max_change(input.current));
            let d = held.min(input.current).max(down_cap).max(p.replicas.min);
            if d != desired {
                term = "stabilization";
                desired = d;
            }
        }
        let q = p.forecast.quantile;
        let reason = format!(
            "{term} term won: desired {desired} (current {}, ready {}); p{:.0} forecast peak {} {} per step over the lead window; predictive {}, reactive {}, backlog {}; current arrivals {} /s, utilisation {}, queue {}",
            input.current,
            input.ready,
            q * 100.0,
            fmt_opt(peak.is_finite().then_some(peak)),
            p.demand.unit,
            fmt_u(predictive),
            fmt_u(reactive),
            fmt_u(backlog),
            fmt_opt(input.arrival_rate),
            fmt_opt(input.utilisation),
            fmt_opt(input.queue_depth),
        );
        Decision {
            desired,
            term,
            reason,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn act<C: Cluster, M, S>(
        &mut self,
        now: DateTime<Utc>,
        observed: &Observed,
        d: Decision,
        forecast: Option<f64>,
        metrics_ok: bool,
        schedule_stale: bool,
        ctx: &Ctx<C, M, S>,
    ) -> Result<TickReport> {
        let _ = now;
        let mode = self.policy().scaling.mode;
        let leader = *ctx.leader.borrow();
        let mut report = TickReport {
            current: observed.replicas,
            desired: d.desired,
            term: d.term,
            reason: d.reason.clone(),
            action: "hold",
            wrote: false,
            forecast,
            metrics_ok,
            schedule_stale,
        };
        let may_write = leader && !observed.paused;
        match mode {
            Mode::Scale if d.desired != observed.replicas && may_write => {
                let applied = ctx.cluster.set_replicas(&self.target, d.desired).await?;
                self.last_written = Some(d.desired);
                report.wrote = applied.attempts > 0;
                report.action = if d.desired > applied.from {
                    "scale_up"
                } else {
                    "scale_down"
                };
                if report.wrote {
                    let reason = if report.action == "scale_up" {
                        "ScaledUp"
                    } else {
                        "ScaledDown"
                    };
                    let note = format!("{} -> {}: {}", applied.from, applied.to, d.reason);
                    self.emit(observed, reason, "Scale", note, ctx).await;
                }
            }
            Mode::HpaFloor if may_write => {
                if let Some(h) = observed.hpa {
                    let floor = hpa_floor(d.desired, h.original_min.unwrap_or(h.min), h.max);
                    if floor != h.min {
                        let applied = ctx.cluster.set_hpa_floor(&self.target, d.desired).await?;
                        report.wrote = applied.attempts > 0;
                        report.action = if applied.to > applied.from {
                            "scale_up"
                        } else {
                            "scale_down"
                        };
                        if report.wrote {
                            let reason = if applied.to > applied.from {
                                "RaisedHpaFloor"
                            } else {
                                "LoweredHpaFloor"
                            };
                            let note = format!(
                                "HPA minReplicas {} -> {}: {}",
                                applied.from, applied.to, d.reason
                            );
                            self.emit(observed, reason, "SetHpaFloor", note, ctx).await;
                        }
                    }
                }
            }
            _ => {
                if d.desired != observed.replicas {
                    report.action = "would_scale";
                    // Explain once per new desired count, not every interval.
                    if leader && self.last_explained != Some(d.desired) {
                        self.last_explained = Some(d.desired);
                        let why = if observed.paused {
                            "target paused by annotation"
                        } else if mode == Mode::ForecastOnly {
                            "forecast-only mode"
                        } else {
                            "not the leader"
                        };
                        let note = format!(
                            "would scale {} -> {} ({why}): {}",
                            observed.replicas, d.desired, d.reason
                        );
                        self.emit(observed, "WouldScale", "Recommend", note, ctx)
                            .await;
                    }
                }
            }
        }
        tracing::info!(policy = %self.policy().name, mode = %mode, current = observed.replicas,
            desired = d.desired, term = d.term, action = report.action, wrote = report.wrote,
            reason = %d.reason, "decision");
        Ok(report)
    }

    /// Record an Event; a failure to record is counted and logged, not fatal.
    async fn emit<C: Cluster, M, S>(
        &self,
        observed: &Observed,
        reason: &str,
        action: &str,
        note: String,
        ctx: &Ctx<C, M, S>,
    ) {
        let e = EventNote {
            reason: reason.into(),
            action: action.into(),
            note,
            warning: false,
        };
        if let Err(err) = ctx
            .cluster
            .event(&self.target, observed.uid.clone(), &e)
            .await
        {
            tracing::warn!(policy = %self.policy().name, error = %err, "could not record the Event");
            ctx.telemetry.error(&self.policy().name, err.kind());
        }
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "n/a".into())
}

fn fmt_u(v: Option<u32>) -> String {
    v.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
}
