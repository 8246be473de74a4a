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

use std::time::Duration as StdDuration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;

use super::Result;
use super::cluster::{Cluster, EventNote, Observed, TargetRef, hpa_floor};
use super::sources::{MetricSource, Observation, ScheduleSource};
use crate::autoscale::{self, Autoscaler};
use crate::plan::{Decision, Term};
use crate::policy::{LoadedPolicy, Mode, Policy};
use crate::schedule::{LastGood, Refresh};
use crate::telemetry::{DecisionLabels, Metrics, NoForecastLabels, PolicyLabels};

/// Concurrent model fits (the machine's cores, not the number of policies).
static FIT_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Everything a tick reads and writes through.
pub struct Ctx<C, M, S> {
    pub cluster: C,
    pub metrics: M,
    pub schedule: S,
    pub telemetry: Metrics,
    /// True while this replica may write.
    pub leader: watch::Receiver<bool>,
    /// Where `keda`-mode policies publish their decisions for the KEDA scaler.
    pub keda: crate::keda::Board,
    /// Where pipeline stages publish their completions and plans for the
    /// stages after them.
    pub pipeline: super::pipeline::Pipeline,
}

/// What a tick did with its decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ScaleUp,
    ScaleDown,
    /// Nothing to change.
    Hold,
    /// A change was decided but not written (forecast-only, follower, paused).
    WouldScale,
}

impl Action {
    /// Bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::ScaleUp => "scale_up",
            Action::ScaleDown => "scale_down",
            Action::Hold => "hold",
            Action::WouldScale => "would_scale",
        }
    }
}

/// Which appointments a tick's forecast used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleUse {
    /// The policy has no `schedule:` section.
    NoSchedule,
    /// Fetched within the source's refresh period.
    Fresh,
    /// The source is down: the last good snapshot, `age_secs` old (within the limit).
    Snapshot { age_secs: i64 },
    /// The source has been down longer than the limit (or never answered):
    /// the forecast is schedule-blind.
    Blind,
}

impl ScheduleUse {
    /// Bounded label for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ScheduleUse::NoSchedule => "none",
            ScheduleUse::Fresh => "fresh",
            ScheduleUse::Snapshot { .. } => "snapshot",
            ScheduleUse::Blind => "blind",
        }
    }
}

/// How long a last good schedule snapshot is used while its source is down,
/// unless `planscale run --schedule-max-staleness` says otherwise: two hours.
/// Most appointments are booked days ahead, so a snapshot a couple of hours
/// old misses only the day's add-ons and cancellations; after that the
/// forecast goes schedule-blind rather than keep planning on a book that may
/// have changed under it.
pub const DEFAULT_SCHEDULE_MAX_STALENESS: TimeDelta = TimeDelta::hours(2);

/// What one tick decided and did.
#[derive(Debug, Clone, PartialEq)]
pub struct TickReport {
    pub current: u32,
    pub desired: u32,
    /// The winning term.
    pub term: Term,
    /// Human-readable explanation.
    pub reason: String,
    pub action: Action,
    /// Whether this tick wrote to the cluster.
    pub wrote: bool,
    /// Forecast at the lead time at the policy's quantile, demand units per step.
    pub forecast: Option<f64>,
    pub metrics_ok: bool,
    /// Which appointments the forecast used.
    pub schedule: ScheduleUse,
    /// The planner's decision, whole.
    pub decision: Decision,
}

/// The loop state of one policy: orchestration around the [`Autoscaler`]
/// (the same step the simulator runs) — observe, decide, actuate, explain.
pub struct PolicyRunner {
    pub loaded: LoadedPolicy,
    target: TargetRef,
    /// Forecast engine, appointment types, planner memory and error ledger.
    scaler: Autoscaler,
    /// Last good appointments (the schedule source's snapshot).
    schedule: LastGood,
    /// What this runner last wrote (to notice changes made by others).
    last_written: Option<u32>,
    /// Desired count of the last forecast-only Event (to not repeat it every tick).
    last_explained: Option<u32>,
    /// The kind of the metric error of the last tick, if it failed (to log a
    /// failure when it starts or changes, not every interval).
    metrics_failing: Option<&'static str>,
    /// How long the last good schedule snapshot may be used (see [`ScheduleUse`]).
    schedule_max_staleness: TimeDelta,
    /// Whether the forecasts are schedule-blind now (to tell of a change once).
    schedule_blind: bool,
    /// The policy's calendar, with its URL source's last good closures.
    calendar: super::calendar::CalendarFeed,
    /// Why an upstream stage does not feed the forecast, as last said.
    upstream_note: Option<String>,
    /// How often the loop ticks (`run --interval`, else the policy's): what
    /// the stages after it allow before its completions are stale.
    tick: TimeDelta,
}

/// Delay before the next tick after `failures` consecutive failed ticks:
/// doubling from 2 s, capped at the interval (at least 2 s). A failing API
/// server is spared the retries of a short interval's first seconds, and one
/// that comes back (a restart, an upgrade) is used again within one interval,
/// as if nothing had failed — not minutes later.
pub fn backoff(failures: u32, interval: StdDuration) -> StdDuration {
    if failures == 0 {
        return interval;
    }
    let cap = interval.max(StdDuration::from_secs(2));
    let exp =
        StdDuration::from_secs(2u64.saturating_mul(1u64 << failures.min(20).saturating_sub(1)));
    exp.min(cap)
}

impl PolicyRunner {
    pub fn new(loaded: LoadedPolicy) -> Self {
        PolicyRunner {
            target: TargetRef::from(&loaded.policy.target),
            scaler: Autoscaler::new(loaded.policy.clone()),
            schedule: LastGood::new(),
            last_written: None,
            last_explained: None,
            metrics_failing: None,
            schedule_max_staleness: DEFAULT_SCHEDULE_MAX_STALENESS,
            schedule_blind: false,
            calendar: super::calendar::CalendarFeed::new(&loaded.policy),
            upstream_note: None,
            tick: TimeDelta::seconds(loaded.policy.scaling.interval.secs_i64().max(1)),
            loaded,
        }
    }

    /// Give the forecaster what the upstream stages published (before the
    /// refit), and say when that changes: an upstream invalid, paused,
    /// stalled or without completions leaves this stage on its own history.
    fn feed_upstream<C, M, S>(&mut self, now: DateTime<Utc>, ctx: &Ctx<C, M, S>) {
        let p = &self.loaded.policy;
        if p.demand.upstream.is_empty() {
            return;
        }
        let feeds = p
            .demand
            .upstream
            .iter()
            .filter_map(|u| ctx.pipeline.feed(&u.policy, now))
            .collect();
        self.scaler.set_upstream(feeds);
        let note = self.scaler.upstream_note();
        if note != self.upstream_note {
            match &note {
                Some(n) => {
                    tracing::warn!(policy = %p.name, "{n}");
                    ctx.telemetry.error(&p.name, "upstream_unavailable");
                }
                None => {
                    tracing::info!(policy = %p.name, "every upstream stage feeds its completions: forecasting from them");
                }
            }
            self.upstream_note = note;
        }
    }

    /// Publish this stage's completions and plan for the stages after it,
    /// or withdraw them (paused target, no completions observed).
    fn publish_completions<C, M, S>(
        &self,
        now: DateTime<Utc>,
        observed: &Observed,
        obs: Option<&Observation>,
        ctx: &Ctx<C, M, S>,
    ) {
        let p = &self.loaded.policy;
        if p.demand.completions.is_none() {
            return;
        }
        // No data in the newest three steps: not published (a stage that
        // stopped reporting is not a stage that finished nothing).
        let recent =
            |s: &crate::series::Series| s.values.iter().rev().take(3).any(|v| v.is_finite());
        let observed_done = obs.and_then(|o| o.completions.as_ref().map(|c| (o, c)));
        match (observed_done, self.scaler.cached_forecast()) {
            // Without a forecast there is no plan: the stages after would read
            // "nothing more will finish"; they fall back instead.
            (Some((o, done)), Some(f)) if !observed.paused && recent(done) => {
                let series = super::pipeline::observed_then_planned(
                    p,
                    done,
                    Some((f.grid.start, f.mean.as_slice())),
                    o.queue_depth.unwrap_or(0.0),
                );
                let fresh_for = self.tick * 3 + TimeDelta::seconds(60);
                ctx.pipeline.publish(&p.name, series, now, fresh_for);
            }
            _ => ctx.pipeline.withdraw(&p.name),
        }
    }

    /// The loop ticks every `interval` (when `run --interval` overrides the
    /// policy's).
    pub fn with_tick_interval(mut self, interval: TimeDelta) -> Self {
        self.tick = interval;
        self
    }

    /// Use the last good schedule snapshot for at most `limit` while the
    /// source is down; schedule-blind forecasts after that.
    pub fn with_schedule_max_staleness(mut self, limit: TimeDelta) -> Self {
        self.schedule_max_staleness = limit;
        self
    }

    pub fn policy(&self) -> &Policy {
        &self.loaded.policy
    }

    /// The clinic's calendar this policy plans with: what the policy
    /// resolved at load and its URL source's last good closures.
    pub fn calendar(&self) -> Option<&crate::calendar::Calendar> {
        self.calendar.calendar()
    }

    pub fn target(&self) -> &TargetRef {
        &self.target
    }

    /// The policy's loop interval.
    pub fn interval(&self) -> StdDuration {
        StdDuration::from_secs(self.policy().scaling.interval.secs().max(1))
    }

    /// Run one iteration. An `Err` is an API failure: the caller backs off.
    #[tracing::instrument(skip(self, ctx), fields(policy = %self.loaded.policy.name))]
    pub async fn tick<C: Cluster, M: MetricSource, S: ScheduleSource>(
        &mut self,
        now: DateTime<Utc>,
        ctx: &Ctx<C, M, S>,
    ) -> Result<TickReport> {
        let name = self.policy().name.clone();
        let observed = self.observe_target(ctx).await?;
        let obs = self.observe_metrics(now, ctx).await;
        let (schedule, change) = self.refresh_schedule(now, ctx).await;
        let calendar_due = self.calendar.due(&self.loaded.policy, now);
        self.calendar
            .refresh(
                &self.loaded.policy,
                &crate::sources::schedule_http::Http,
                now,
            )
            .await;
        if let Some(kind) = self.calendar.last_error_kind().filter(|_| calendar_due) {
            ctx.telemetry.error(&name, &format!("calendar_{kind}"));
        }
        self.scaler
            .set_schedule_blind(schedule == ScheduleUse::Blind);
        self.scaler.set_calendar(self.calendar.calendar());
        self.feed_upstream(now, ctx);
        if let Some(o) = &obs {
            self.refit_if_due(o, ctx).await;
        }
        let decision = self.decide(now, &observed, obs.as_ref());
        self.publish_completions(now, &observed, obs.as_ref(), ctx);
        let reason = explain(
            &decision,
            obs.as_ref(),
            schedule,
            self.schedule_max_staleness,
            self.policy(),
        );
        let report = self
            .act(&observed, &decision, reason, obs.is_some(), schedule, ctx)
            .await?;
        if self.policy().scaling.mode == Mode::Keda {
            // A paused target is left as it is: the count it has is served.
            let replicas = if observed.paused {
                observed.replicas
            } else {
                decision.desired
            };
            ctx.keda.publish(
                &name,
                crate::keda::Served {
                    replicas,
                    forecast: decision.no_forecast.is_none(),
                    no_forecast: decision.no_forecast.map(|n| n.kind()),
                    at: std::time::Instant::now(),
                },
            );
        }
        if let Some(note) = change
            && *ctx.leader.borrow()
        {
            self.emit(&observed, note, ctx).await;
        }
        self.export(&name, &observed, &report, obs.as_ref(), ctx);
        Ok(report)
    }

    /// Read the target; note a count changed by someone else.
    async fn observe_target<C: Cluster, M, S>(&self, ctx: &Ctx<C, M, S>) -> Result<Observed> {
        let mode = self.policy().scaling.mode;
        let observed = ctx
            .cluster
            .observe(&self.target, mode == Mode::HpaFloor)
            .await?;
        if let Some(w) = self.last_written
            && w != observed.replicas
            && mode == Mode::Scale
        {
            tracing::info!(policy = %self.policy().name, was = w, now = observed.replicas,
                "replica count changed outside planscale (by hand or another controller); deciding from the new count");
        }
        Ok(observed)
    }

    /// The metrics now, or `None` (counted, and logged when the failure
    /// starts or changes) when unavailable. An outage of the source is
    /// logged by the source, once for every policy.
    async fn observe_metrics<C, M: MetricSource, S>(
        &mut self,
        now: DateTime<Utc>,
        ctx: &Ctx<C, M, S>,
    ) -> Option<Observation> {
        match ctx.metrics.observe(&self.loaded, now).await {
            Ok(o) => {
                if self.metrics_failing.take().is_some() {
                    tracing::info!(policy = %self.policy().name, "metrics available again: deciding from them");
                }
                Some(o)
            }
            Err(e) => {
                let kind = e.kind();
                ctx.telemetry.error(&self.policy().name, kind);
                if e.is_outage() || self.metrics_failing == Some(kind) {
                    tracing::debug!(policy = %self.policy().name, error = %e, "metrics unavailable: holding the replica count");
                } else {
                    tracing::warn!(policy = %self.policy().name, error = %e, "metrics unavailable: holding the replica count until they are back");
                }
                self.metrics_failing = Some(kind);
                None
            }
        }
    }

    /// The planner's decision through the autoscaler: the one step the
    /// simulator runs too.
    fn decide(
        &mut self,
        now: DateTime<Utc>,
        observed: &Observed,
        obs: Option<&Observation>,
    ) -> Decision {
        let input = autoscale::Observation {
            current: observed.replicas,
            ready: observed.ready,
            utilisation: obs.and_then(|o| o.utilisation),
            queue_depth: obs.and_then(|o| o.queue_depth),
            history: obs.map(|o| o.history.view()),
        };
        let appointments = self.schedule.appointments().unwrap_or(&[]);
        let d = self.scaler.decide(now, &input, appointments);
        if let Some(e) = self
            .scaler
            .last_error()
            .filter(|_| d.no_forecast == Some(crate::plan::NoForecast::PredictFailed))
        {
            tracing::warn!(policy = %self.policy().name, error = %e, "forecast failed; deciding without it");
        }
        d
    }

    /// Per-policy metrics of this tick.
    fn export<C, M, S>(
        &self,
        name: &str,
        observed: &Observed,
        report: &TickReport,
        obs: Option<&Observation>,
        ctx: &Ctx<C, M, S>,
    ) {
        let m = &ctx.telemetry;
        let labels = PolicyLabels {
            policy: name.to_string(),
        };
        if let Some(last) = obs
            .and_then(|o| o.history.values.last().copied())
            .filter(|v| v.is_finite())
        {
            m.observed.get_or_create(&labels).set(last);
        }
        if let Some(f) = report.forecast {
            m.forecast.get_or_create(&labels).set(f);
        }
        if let Some(p) = &report.decision.planned {
            m.planned_work
                .get_or_create(&labels)
                .set(p.queued + p.work_quantile);
            m.planned_expected_work
                .get_or_create(&labels)
                .set(p.queued + p.expected_work);
            m.planned_level.get_or_create(&labels).set(p.level);
            m.planned_wait.get_or_create(&labels).set(p.wait_secs);
        }
        if let Some(e) = self.scaler.realised_error() {
            m.forecast_error.get_or_create(&labels).set(e);
        }
        if let Some(n) = report.decision.no_forecast {
            m.no_forecast
                .get_or_create(&NoForecastLabels {
                    policy: name.to_string(),
                    reason: n.kind().to_string(),
                })
                .inc();
        }
        m.forecast_quantile
            .get_or_create(&labels)
            .set(self.policy().forecast.quantile);
        m.desired_replicas
            .get_or_create(&labels)
            .set(i64::from(report.desired));
        m.current_replicas
            .get_or_create(&labels)
            .set(i64::from(observed.replicas));
        m.decisions
            .get_or_create(&DecisionLabels {
                policy: name.to_string(),
                term: report.term.kind().to_string(),
                action: report.action.kind().to_string(),
            })
            .inc();
    }

    /// Refresh the appointments; on failure keep the last good snapshot for
    /// at most the staleness limit, then forecast without the schedule.
    /// Returns what the forecast uses, and the Event to record when the
    /// forecast goes schedule-blind or comes back.
    async fn refresh_schedule<C, M, S: ScheduleSource>(
        &mut self,
        now: DateTime<Utc>,
        ctx: &Ctx<C, M, S>,
    ) -> (ScheduleUse, Option<EventNote>) {
        let Some(spec) = &self.policy().schedule else {
            return (ScheduleUse::NoSchedule, None);
        };
        let from = now
            - TimeDelta::seconds(self.policy().forecast.history.secs() as i64)
            - TimeDelta::seconds(spec.max_lag.secs() as i64);
        let to = now + TimeDelta::seconds(self.policy().forecast.horizon.secs() as i64);
        let result = ctx.schedule.appointments(&self.loaded, from, to, now).await;
        let limit = self.schedule_max_staleness;
        let (using, failing) = match self.schedule.refresh(result, now) {
            Refresh::Fresh => (ScheduleUse::Fresh, None),
            Refresh::Stale {
                since,
                consecutive_failures,
                error_kind,
            } => {
                let age = now - since;
                let using = if age <= limit {
                    ScheduleUse::Snapshot {
                        age_secs: age.num_seconds(),
                    }
                } else {
                    ScheduleUse::Blind
                };
                (using, Some((Some(since), consecutive_failures, error_kind)))
            }
            Refresh::Unavailable {
                consecutive_failures,
                error_kind,
            } => (
                ScheduleUse::Blind,
                Some((None, consecutive_failures, error_kind)),
            ),
        };
        if let Some((_, _, kind)) = failing {
            ctx.telemetry
                .error(&self.policy().name, &format!("schedule_{kind}"));
        }
        let blind = using == ScheduleUse::Blind;
        if blind == self.schedule_blind {
            return (using, None);
        }
        self.schedule_blind = blind;
        let name = &self.loaded.policy.name;
        let note = match failing {
            Some((since, failures, kind)) if blind => {
                let had = match since {
                    Some(t) => format!(
                        "the last good snapshot ({}) is older than the {} allowed",
                        t.format("%Y-%m-%d %H:%M:%SZ"),
                        crate::policy::Duration::from_secs(limit.num_seconds().max(0) as u64)
                    ),
                    None => "no snapshot was ever loaded".to_string(),
                };
                let note = format!(
                    "schedule source unavailable ({failures} failed fetches, last error {kind}); {had}: forecasting without the schedule until it answers"
                );
                tracing::warn!(policy = %name, "{note}");
                EventNote {
                    reason: "ScheduleUnavailable".into(),
                    action: "Forecast".into(),
                    note,
                    warning: true,
                }
            }
            _ => {
                let note =
                    "schedule source answers again: forecasting with the schedule".to_string();
                tracing::info!(policy = %name, "{note}");
                EventNote {
                    reason: "ScheduleRestored".into(),
                    action: "Forecast".into(),
                    note,
                    warning: false,
                }
            }
        };
        (using, Some(note))
    }

    /// Refit when the autoscaler says so. Fitting (model choice by backtest)
    /// is CPU-bound: it runs off the async workers so Lease renewals and
    /// probes are never starved, at most FIT_SLOTS at a time; a failed fit
    /// keeps the old model.
    async fn refit_if_due<C, M, S>(&mut self, o: &Observation, ctx: &Ctx<C, M, S>) {
        if !self.scaler.refit_due(&o.history.view()) {
            return;
        }
        let appointments = self.schedule.appointments().unwrap_or(&[]);
        let job = self.scaler.refit_job(o.history.view(), appointments);
        let _slot = FIT_SLOTS.acquire().await;
        let fit_duration = ctx
            .telemetry
            .fit_duration
            .get_or_create(&PolicyLabels {
                policy: self.policy().name.clone(),
            })
            .clone();
        let done = match tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let done = job.run();
            fit_duration.observe(started.elapsed().as_secs_f64());
            done
        })
        .await
        {
            Ok(done) => done,
            Err(join) => {
                tracing::warn!(policy = %self.policy().name, error = %join, "fit task failed; keeping the previous model");
                ctx.telemetry.error(&self.policy().name, "forecast_invalid");
                return;
            }
        };
        let warned_before = self.scaler.schedule_warning().is_some();
        if let Err(e) = self.scaler.apply(done) {
            tracing::warn!(policy = %self.policy().name, error = %e, "forecast fit failed; keeping the previous model");
            ctx.telemetry
                .error(&self.policy().name, &format!("forecast_{}", e.kind()));
        }
        match self.scaler.schedule_warning() {
            Some(w) if !warned_before => {
                tracing::warn!(policy = %self.policy().name, "{w}");
                ctx.telemetry
                    .error(&self.policy().name, "schedule_no_types");
            }
            None if warned_before => {
                tracing::info!(policy = %self.policy().name, "the schedule has the policy's appointment types again");
            }
            _ => {}
        }
    }

    /// Apply the decision as the mode says, with an Event for each write.
    async fn act<C: Cluster, M, S>(
        &mut self,
        observed: &Observed,
        d: &Decision,
        reason: String,
        metrics_ok: bool,
        schedule: ScheduleUse,
        ctx: &Ctx<C, M, S>,
    ) -> Result<TickReport> {
        let mode = self.policy().scaling.mode;
        let leader = *ctx.leader.borrow();
        let mut report = TickReport {
            current: observed.replicas,
            desired: d.desired,
            term: d.term,
            reason: reason.clone(),
            action: Action::Hold,
            wrote: false,
            forecast: d.forecast_at_lead,
            metrics_ok,
            schedule,
            decision: d.clone(),
        };
        let may_write = leader && !observed.paused;
        match mode {
            Mode::Scale if d.desired != observed.replicas && may_write => {
                let applied = ctx.cluster.set_replicas(&self.target, d.desired).await?;
                ctx.telemetry
                    .conflicts(&self.policy().name, applied.conflicts);
                self.last_written = Some(d.desired);
                report.wrote = applied.attempts > 0;
                report.action = if d.desired > applied.from {
                    Action::ScaleUp
                } else {
                    Action::ScaleDown
                };
                if report.wrote {
                    let event_reason = if report.action == Action::ScaleUp {
                        "ScaledUp"
                    } else {
                        "ScaledDown"
                    };
                    let note = format!("{} -> {}: {}", applied.from, applied.to, reason);
                    self.emit(
                        observed,
                        EventNote::normal(event_reason, "Scale", note),
                        ctx,
                    )
                    .await;
                }
            }
            Mode::HpaFloor if may_write => {
                if let Some(h) = observed.hpa {
                    let floor = hpa_floor(d.desired, h.original_min.unwrap_or(h.min), h.max);
                    if floor != h.min {
                        let applied = ctx.cluster.set_hpa_floor(&self.target, d.desired).await?;
                        ctx.telemetry
                            .conflicts(&self.policy().name, applied.conflicts);
                        report.wrote = applied.attempts > 0;
                        report.action = if applied.to > applied.from {
                            Action::ScaleUp
                        } else {
                            Action::ScaleDown
                        };
                        if report.wrote {
                            let event_reason = if applied.to > applied.from {
                                "RaisedHpaFloor"
                            } else {
                                "LoweredHpaFloor"
                            };
                            let note = format!(
                                "HPA minReplicas {} -> {}: {}",
                                applied.from, applied.to, reason
                            );
                            self.emit(
                                observed,
                                EventNote::normal(event_reason, "SetHpaFloor", note),
                                ctx,
                            )
                            .await;
                        }
                    }
                }
            }
            _ => {
                if d.desired != observed.replicas {
                    report.action = Action::WouldScale;
                    // Explain once per new desired count, not every interval.
                    if leader && self.last_explained != Some(d.desired) {
                        self.last_explained = Some(d.desired);
                        let event = if mode == Mode::Keda && !observed.paused {
                            let note = format!(
                                "serving {} replicas to KEDA (the target has {}): {}",
                                d.desired, observed.replicas, reason
                            );
                            EventNote::normal("ServedToKeda", "Recommend", note)
                        } else {
                            let why = if observed.paused {
                                "target paused by annotation"
                            } else if mode == Mode::ForecastOnly {
                                "forecast-only mode"
                            } else {
                                "not the leader"
                            };
                            let note = format!(
                                "would scale {} -> {} ({why}): {}",
                                observed.replicas, d.desired, reason
                            );
                            EventNote::normal("WouldScale", "Recommend", note)
                        };
                        self.emit(observed, event, ctx).await;
                    }
                }
            }
        }
        tracing::info!(policy = %self.policy().name, mode = %mode, current = observed.replicas,
            desired = d.desired, term = d.term.kind(), action = report.action.kind(), wrote = report.wrote,
            schedule = schedule.kind(), reason = %reason, "decision");
        Ok(report)
    }

    /// Record an Event; a failure to record is counted and logged, not fatal.
    async fn emit<C: Cluster, M, S>(&self, observed: &Observed, e: EventNote, ctx: &Ctx<C, M, S>) {
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

/// The decision in words, with what the loop knows beside it.
fn explain(
    d: &Decision,
    obs: Option<&Observation>,
    schedule: ScheduleUse,
    limit: TimeDelta,
    p: &Policy,
) -> String {
    let mut reason = d.to_string();
    let step = p.step_secs() as f64;
    if let Some(r) = obs
        .and_then(|o| o.history.values.last().copied())
        .filter(|v| v.is_finite())
    {
        reason.push_str(&format!("; current arrivals {:.3}/min", r / step * 60.0));
    }
    if obs.is_none() {
        reason.push_str(
            "; metrics unavailable: holding (no scale-down, no scale-up from stale data)",
        );
    }
    match schedule {
        ScheduleUse::Snapshot { age_secs } => reason.push_str(&format!(
            "; schedule source unavailable: last good snapshot used ({} old)",
            crate::policy::Duration::from_secs(age_secs.max(0) as u64)
        )),
        ScheduleUse::Blind => reason.push_str(&format!(
            "; schedule source unavailable and no snapshot younger than {}: forecast without the schedule",
            crate::policy::Duration::from_secs(limit.num_seconds().max(0) as u64)
        )),
        ScheduleUse::NoSchedule | ScheduleUse::Fresh => {}
    }
    reason
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::controller::cluster::HpaObserved;
    use crate::controller::memory::MemoryCluster;
    use crate::controller::sources::{MemoryMetrics, MemorySchedule};
    use crate::policy::Policy;
    use crate::series::{Grid, Series};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 6, 0, 0).unwrap()
    }

    /// 14 days of 5-minute history: 1 job/step at night, 30 jobs/step from 08:00 to 12:00.
    fn spiky_history(end: DateTime<Utc>) -> Series {
        let step = 300;
        let n = 14 * 288;
        let start = end - TimeDelta::seconds(step * n as i64);
        let grid = Grid::new(start, step, n);
        let values = (0..n)
            .map(|i| {
                let h = grid
                    .time(i)
                    .format("%H")
                    .to_string()
                    .parse::<u32>()
                    .unwrap();
                if (8..12).contains(&h) { 30.0 } else { 1.0 }
            })
            .collect();
        Series::new(grid, values)
    }

    fn policy(mode: Mode) -> LoadedPolicy {
        let mut p = Policy::test().min(1).max(20).per_replica(1.0);
        p.scaling.mode = mode;
        p.capacity.startup = crate::policy::Duration::from_mins(30);
        p.forecast.seasonal_periods = vec![crate::policy::Duration::from_days(1)];
        if mode == Mode::HpaFloor {
            p.target.hpa = Some("worker".into());
        }
        LoadedPolicy {
            path: "/p/test.yaml".into(),
            policy: p,
        }
    }

    fn ctx(
        cluster: MemoryCluster,
        leader: bool,
    ) -> (
        Ctx<MemoryCluster, MemoryMetrics, MemorySchedule>,
        watch::Sender<bool>,
    ) {
        let (tx, rx) = watch::channel(leader);
        let metrics = MemoryMetrics::default();
        (
            Ctx {
                cluster,
                metrics,
                schedule: MemorySchedule::default(),
                telemetry: crate::telemetry::Metrics::default(),
                leader: rx,
                keda: crate::keda::Board::default(),
                pipeline: Default::default(),
            },
            tx,
        )
    }

    /// `planscale_errors_total{policy, kind}` so far.
    fn errors<C, M, S>(ctx: &Ctx<C, M, S>, policy: &str, kind: &str) -> u64 {
        ctx.telemetry
            .errors
            .get_or_create(&crate::telemetry::ErrorLabels {
                policy: policy.into(),
                kind: kind.into(),
            })
            .get()
    }

    /// 07:40: the spike starts at 08:00 and a pod needs 30 min: scale now.
    fn before_spike() -> DateTime<Utc> {
        t0() + TimeDelta::minutes(100)
    }

    fn observation(now: DateTime<Utc>) -> Observation {
        Observation {
            history: spiky_history(now - TimeDelta::seconds(now.timestamp() % 300)),
            utilisation: Some(0.5),
            queue_depth: Some(0.0),
            completions: None,
        }
    }

    #[tokio::test]
    async fn scale_mode_scales_ahead_of_the_forecast_spike_and_explains() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        let mut r = PolicyRunner::new(policy(Mode::Scale));
        let rep = r.tick(now, &ctx).await.unwrap();
        assert_eq!(rep.term, Term::Predictive, "{rep:?}");
        assert!(rep.desired > 1 && rep.wrote, "{rep:?}");
        assert_eq!(cluster.state().writes, vec![rep.desired]);
        let ev = &cluster.state().events[0];
        assert_eq!(ev.reason, "ScaledUp");
        assert!(
            ev.note.contains("predictive term") && ev.note.contains("forecast p90"),
            "{}",
            ev.note
        );
        assert!(ev.note.contains("utilisation 50%"), "{}", ev.note);
        // The Event and /metrics say what the plan assumed.
        // (at the quantile, "planned p.. work", or the expected work binding)
        assert!(ev.note.contains("; planned "), "{}", ev.note);
        let labels = crate::telemetry::PolicyLabels {
            policy: "test".into(),
        };
        let m = &ctx.telemetry;
        let (work, expected) = (
            m.planned_work.get_or_create(&labels).get(),
            m.planned_expected_work.get_or_create(&labels).get(),
        );
        assert!(work >= expected && expected > 0.0, "{work} {expected}");
        let level = m.planned_level.get_or_create(&labels).get();
        // 0.5 when the expected work within the allowance binds.
        assert!((0.5..1.0).contains(&level), "{level}");
        // The first tick fitted the model once; the fit is timed and counted.
        let mut registry = prometheus_client::registry::Registry::default();
        m.register(&mut registry);
        let mut page = String::new();
        prometheus_client::encoding::text::encode(&mut page, &registry).unwrap();
        assert!(
            page.contains("fit_duration_seconds_count{policy=\"test\"} 1\n"),
            "{page}"
        );
    }

    #[tokio::test]
    async fn forecast_only_writes_nothing_but_explains_once() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        let mut r = PolicyRunner::new(policy(Mode::ForecastOnly));
        let rep = r.tick(now, &ctx).await.unwrap();
        assert_eq!(rep.action, Action::WouldScale);
        assert!(!rep.wrote && rep.desired > 1);
        r.tick(now + TimeDelta::minutes(1), &ctx).await.unwrap();
        let st = cluster.state();
        assert!(st.writes.is_empty());
        assert_eq!(st.events.len(), 1, "one explanation per new desired count");
        assert_eq!(st.events[0].reason, "WouldScale");
    }

    #[tokio::test]
    async fn a_follower_does_not_write() {
        let cluster = MemoryCluster::with(1);
        let (ctx, tx) = ctx(cluster.clone(), false);
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        let mut r = PolicyRunner::new(policy(Mode::Scale));
        let rep = r.tick(now, &ctx).await.unwrap();
        assert!(!rep.wrote && rep.action == Action::WouldScale);
        assert!(cluster.state().writes.is_empty() && cluster.state().events.is_empty());
        tx.send(true).unwrap();
        let rep = r.tick(now + TimeDelta::minutes(1), &ctx).await.unwrap();
        assert!(rep.wrote);
    }

    #[tokio::test]
    async fn a_downstream_stage_reads_its_upstreams_completions_and_falls_back_when_it_pauses() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let now = before_spike();
        let mut up = policy(Mode::ForecastOnly);
        up.policy.name = "contour".into();
        up.policy.demand.completions = Some(crate::policy::SeriesRef {
            series: "done".into(),
            query: None,
        });
        let mut down = policy(Mode::ForecastOnly);
        down.policy.name = "dose".into();
        down.policy.demand.upstream = vec![crate::policy::Upstream {
            policy: "contour".into(),
            max_lag: crate::policy::Duration::from_hours(2),
        }];
        let mut o = observation(now);
        o.completions = Some(o.history.clone());
        ctx.metrics.set("contour", o.clone());
        ctx.metrics.set("dose", observation(now));
        let (mut ru, mut rd) = (PolicyRunner::new(up), PolicyRunner::new(down));
        ru.tick(now, &ctx).await.unwrap();
        let feed = ctx.pipeline.feed("contour", now).unwrap();
        // What it finished, then what it plans (from its forecast).
        assert_eq!(
            feed.completions.values[..o.history.len()],
            o.history.values[..]
        );
        assert!(feed.completions.len() > o.history.len(), "a plan follows");
        rd.tick(now, &ctx).await.unwrap();
        assert_eq!(rd.scaler.types(), ["upstream:contour"]);
        assert_eq!(rd.upstream_note, None);
        // Completions without data: not published.
        let mut gone = o.clone();
        gone.completions.as_mut().unwrap().values.fill(f64::NAN);
        ctx.metrics.set("contour", gone);
        ru.tick(now, &ctx).await.unwrap();
        assert!(ctx.pipeline.feed("contour", now).is_none());
        ctx.metrics.set("contour", o.clone());
        ru.tick(now, &ctx).await.unwrap();
        assert!(ctx.pipeline.feed("contour", now).is_some());
        // Paused: the upstream withdraws; the downstream refits on its own
        // history at once, says so and counts it.
        cluster.state().observed.paused = true;
        let later = now + TimeDelta::minutes(1);
        ru.tick(later, &ctx).await.unwrap();
        assert!(ctx.pipeline.feed("contour", later).is_none());
        rd.tick(later, &ctx).await.unwrap();
        assert!(rd.scaler.types().is_empty());
        assert!(
            rd.upstream_note
                .as_deref()
                .unwrap()
                .contains("upstream contour has no completions"),
            "{:?}",
            rd.upstream_note
        );
        let errors = errors(&ctx, "dose", "upstream_unavailable");
        assert_eq!(errors, 1, "counted when it starts");
    }

    #[tokio::test]
    async fn paused_target_is_left_to_the_person() {
        let cluster = MemoryCluster::with(1);
        cluster.state().observed.paused = true;
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        let mut r = PolicyRunner::new(policy(Mode::Scale));
        let rep = r.tick(now, &ctx).await.unwrap();
        assert!(!rep.wrote);
        assert!(cluster.state().writes.is_empty());
        assert!(cluster.state().events[0].note.contains("paused"));
    }

    #[tokio::test]
    async fn metrics_down_holds_no_scale_down_and_no_scale_up_from_stale_data() {
        let cluster = MemoryCluster::with(8);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut r = PolicyRunner::new(policy(Mode::Scale));
        // Night: with metrics the planner would go down from 8 eventually ...
        let night = t0() - TimeDelta::hours(4);
        ctx.metrics.set("test", observation(night));
        r.tick(night, &ctx).await.unwrap();
        let held = cluster.state().observed.replicas;
        cluster.state().writes.clear();
        // ... and before the spike it would go up; with Prometheus down it holds both ways.
        ctx.metrics.set_down(true);
        for (i, now) in [night + TimeDelta::hours(1), before_spike()]
            .into_iter()
            .enumerate()
        {
            let rep = r.tick(now, &ctx).await.unwrap();
            assert!(!rep.metrics_ok);
            assert_eq!(rep.desired, held, "tick {i}: {rep:?}");
            assert!(rep.reason.contains("metrics unavailable"), "{}", rep.reason);
        }
        assert!(cluster.state().writes.is_empty());
        assert_eq!(cluster.state().observed.replicas, held);
    }

    #[tokio::test]
    async fn a_decision_without_a_predictive_term_says_why_and_is_counted() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut r = PolicyRunner::new(policy(Mode::Scale));
        ctx.metrics.set_down(true);
        let rep = r.tick(before_spike(), &ctx).await.unwrap();
        assert_eq!(
            rep.decision.no_forecast,
            Some(crate::plan::NoForecast::MetricsUnavailable)
        );
        assert!(
            rep.reason
                .contains("no predictive term: metrics unavailable"),
            "{}",
            rep.reason
        );
        let labels = crate::telemetry::NoForecastLabels {
            policy: "test".into(),
            reason: "metrics_unavailable".into(),
        };
        assert_eq!(ctx.telemetry.no_forecast.get_or_create(&labels).get(), 1);
        // With metrics back the forecast is there and nothing more is counted.
        ctx.metrics.set_down(false);
        ctx.metrics.set("test", observation(before_spike()));
        let rep = r.tick(before_spike(), &ctx).await.unwrap();
        assert_eq!(rep.decision.no_forecast, None, "{}", rep.reason);
        assert!(rep.decision.terms.predictive.is_some());
        assert_eq!(ctx.telemetry.no_forecast.get_or_create(&labels).get(), 1);
    }

    #[tokio::test]
    async fn schedule_down_uses_the_snapshot_up_to_the_limit_then_forecasts_blind_and_says_so() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut lp = policy(Mode::ForecastOnly);
        lp.policy.schedule = Some(
            serde_yaml::from_str("source: {type: csv, path: book.csv}\ntimezone: Europe/Berlin\n")
                .unwrap(),
        );
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        let mut r = PolicyRunner::new(lp).with_schedule_max_staleness(TimeDelta::minutes(30));
        let at = |m| now + TimeDelta::minutes(m);
        let schedule_events = |c: &MemoryCluster| {
            c.state()
                .events
                .iter()
                .filter(|e| e.reason.starts_with("Schedule"))
                .map(|e| (e.reason.clone(), e.warning))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            r.tick(at(0), &ctx).await.unwrap().schedule,
            ScheduleUse::Fresh
        );
        ctx.schedule.set_down(true);
        let rep = r.tick(at(10), &ctx).await.unwrap();
        assert_eq!(rep.schedule, ScheduleUse::Snapshot { age_secs: 600 });
        assert!(
            rep.reason.contains("last good snapshot used (10m old)"),
            "{}",
            rep.reason
        );
        assert!(r.schedule.appointments().is_some(), "the snapshot is kept");
        let rep = r.tick(at(30), &ctx).await.unwrap();
        assert_eq!(rep.schedule, ScheduleUse::Snapshot { age_secs: 1800 });
        assert!(schedule_events(&cluster).is_empty());
        // Past the limit: schedule-blind, said once with a Warning Event.
        let rep = r.tick(at(31), &ctx).await.unwrap();
        assert_eq!(rep.schedule, ScheduleUse::Blind);
        assert!(
            rep.reason
                .contains("no snapshot younger than 30m: forecast without the schedule"),
            "{}",
            rep.reason
        );
        assert!(rep.decision.terms.predictive.is_some(), "{}", rep.reason);
        r.tick(at(32), &ctx).await.unwrap();
        assert_eq!(
            schedule_events(&cluster),
            vec![("ScheduleUnavailable".to_string(), true)]
        );
        let warning = cluster.state().events.last().unwrap().note.clone();
        assert!(
            warning.contains("older than the 30m allowed") && warning.contains("last error fetch"),
            "{warning}"
        );
        // Back: schedule-aware again, said once.
        ctx.schedule.set_down(false);
        assert_eq!(
            r.tick(at(33), &ctx).await.unwrap().schedule,
            ScheduleUse::Fresh
        );
        r.tick(at(34), &ctx).await.unwrap();
        assert_eq!(
            schedule_events(&cluster),
            vec![
                ("ScheduleUnavailable".to_string(), true),
                ("ScheduleRestored".to_string(), false)
            ]
        );
        let errors = errors(&ctx, "test", "schedule_fetch");
        assert_eq!(errors, 4, "one per failed refresh");
    }

    #[tokio::test]
    async fn a_schedule_that_never_loaded_is_blind_from_the_start() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut lp = policy(Mode::ForecastOnly);
        lp.policy.schedule =
            Some(serde_yaml::from_str("source: {type: csv, path: book.csv}\n").unwrap());
        ctx.metrics.set("test", observation(before_spike()));
        ctx.schedule.set_down(true);
        let mut r = PolicyRunner::new(lp);
        let rep = r.tick(before_spike(), &ctx).await.unwrap();
        assert_eq!(rep.schedule, ScheduleUse::Blind);
        let e = cluster.state().events.iter().find(|e| e.warning).cloned();
        assert!(
            e.as_ref()
                .is_some_and(|e| e.note.contains("no snapshot was ever loaded")),
            "{e:?}"
        );
    }

    /// A calendar URL nothing answers (a closed loopback port): the runner
    /// plans with the calendar's static parts and counts one
    /// `calendar_fetch` error per fetch (once per `source.refresh`), not per tick.
    #[tokio::test]
    async fn a_calendar_url_that_never_answers_leaves_the_static_calendar_and_counts_fetches() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut lp = policy(Mode::ForecastOnly);
        // A port that was free a moment ago: connections are refused.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        lp.policy.calendar = Some(
            serde_yaml::from_str(&format!(
                "timezone: Europe/Berlin\nhours: {{mon-fri: \"08:00-17:00\"}}\nclosures: [2026-03-04]\nsource: {{type: ics, url: 'http://127.0.0.1:{port}/c.ics', refresh: 10m}}\n"
            ))
            .unwrap(),
        );
        assert!(
            lp.policy
                .resolve_calendar(std::path::Path::new("."))
                .is_empty()
        );
        ctx.metrics.set("test", observation(before_spike()));
        let mut r = PolicyRunner::new(lp);
        let t0 = before_spike();
        for m in [0, 1, 2, 10] {
            r.tick(t0 + TimeDelta::minutes(m), &ctx).await.unwrap();
        }
        let date = chrono::NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        assert!(r.calendar().unwrap().is_exceptional_closure(date));
        let errors = errors(&ctx, "test", "calendar_fetch");
        assert_eq!(errors, 2, "one per fetch: at 0 and 10 minutes");
    }

    #[tokio::test]
    async fn api_errors_fail_the_tick_so_the_caller_backs_off() {
        let cluster = MemoryCluster::with(1);
        cluster.state().fail_observe = true;
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut r = PolicyRunner::new(policy(Mode::Scale));
        let e = r.tick(before_spike(), &ctx).await.unwrap_err();
        assert_eq!(e.kind(), "api_server_error");
        let i = StdDuration::from_secs(60);
        assert_eq!(backoff(0, i), i);
        assert_eq!(backoff(1, i), StdDuration::from_secs(2));
        assert_eq!(backoff(3, i), StdDuration::from_secs(8));
        assert_eq!(backoff(6, i), i, "never longer than the interval");
        assert_eq!(backoff(30, i), i);
        let short = StdDuration::from_secs(1);
        assert_eq!(backoff(1, short), StdDuration::from_secs(2));
        assert_eq!(backoff(5, short), StdDuration::from_secs(2));
    }

    #[tokio::test]
    async fn hpa_floor_raises_ahead_of_the_spike_and_lowers_after() {
        let cluster = MemoryCluster::with(2);
        cluster.state().observed.hpa = Some(HpaObserved {
            min: 2,
            max: 10,
            original_min: None,
        });
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut r = PolicyRunner::new(policy(Mode::HpaFloor));
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        let rep = r.tick(now, &ctx).await.unwrap();
        assert!(rep.wrote, "{rep:?}");
        let raised = *cluster.state().floors.last().unwrap();
        assert!(raised > 2 && raised <= 10, "{raised}");
        assert!(
            cluster.state().writes.is_empty(),
            "hpa-floor never touches the scale subresource"
        );
        assert_eq!(cluster.state().events[0].reason, "RaisedHpaFloor");
        // Afternoon, long after the spike: the floor comes down, never below the HPA's own 2.
        cluster.state().observed.replicas = raised;
        let mut later = now + TimeDelta::hours(6);
        for _ in 0..40 {
            ctx.metrics.set("test", observation(later));
            r.tick(later, &ctx).await.unwrap();
            later += TimeDelta::minutes(1);
            let f = cluster.state().observed.hpa.unwrap().min;
            cluster.state().observed.replicas = f;
        }
        let floors = cluster.state().floors.clone();
        assert!(*floors.last().unwrap() < raised, "{floors:?}");
        assert!(floors.iter().all(|f| *f >= 2), "{floors:?}");
        assert!(
            cluster
                .state()
                .events
                .iter()
                .any(|e| e.reason == "LoweredHpaFloor")
        );
    }

    #[tokio::test]
    async fn realised_forecast_error_is_exported_once_the_step_is_observed() {
        let cluster = MemoryCluster::with(1);
        let (ctx, _tx) = ctx(cluster.clone(), true);
        let mut r = PolicyRunner::new(policy(Mode::ForecastOnly));
        let now = before_spike();
        ctx.metrics.set("test", observation(now));
        r.tick(now, &ctx).await.unwrap();
        let later = now + TimeDelta::minutes(40);
        ctx.metrics.set("test", observation(later));
        r.tick(later, &ctx).await.unwrap();
        let l = crate::telemetry::PolicyLabels {
            policy: "test".into(),
        };
        let err = ctx.telemetry.forecast_error.get_or_create(&l).get();
        // The profile is exact on this periodic history: the error is small.
        assert!(err.abs() < 5.0, "{err}");
        assert!(
            r.scaler
                .pending()
                .all(|(t, _)| *t >= later - TimeDelta::minutes(10))
        );
    }
}
