//! The one step from history to a replica decision, used by `planscale
//! simulate` (the predictive strategy, every mode), `planscale run` (the
//! controller's per-policy loop) and `planscale forecast`. Nothing else calls
//! [`plan::decide`]: what is simulated is what runs.
//!
//! An [`Autoscaler`] owns, for one policy, the forecast engine, the
//! appointment types its fit uses, the planner's memory and the
//! forecast-error ledger. Its two calls:
//! - [`Autoscaler::refit`] (or [`Autoscaler::refit_job`] to fit off the async
//!   workers) on the demand history, when [`Autoscaler::refit_due`] says so —
//!   after `forecast.refit_every` of new history, judged by the history's own
//!   grid, so the simulator and the controller refit at the same steps;
//! - [`Autoscaler::decide`] at every interval, with what is observed now and
//!   the appointments known now.
//!
//! Time convention (docs/ARCHITECTURE.md, "Time"): a point of a series
//! stamped `T` holds the step `[T, T + step)`. The history passed in ends with
//! the newest *complete* step, so a forecast starts at the step containing
//! `now`.

use std::collections::VecDeque;

use chrono::{DateTime, TimeDelta, Utc};

use crate::forecast::{self, Engine, Forecast, Forecaster, engine_for};
use crate::plan::{self, Decision, ForecastView, Input, NoForecast, PlannerState};
use crate::policy::Policy;
use crate::schedule::{self, Appointment};
use crate::series::{self, Covariates, Grid, Series, SeriesView};

/// What is observed at decision time.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    /// Replicas requested (spec.replicas).
    pub current: u32,
    /// Replicas ready to serve.
    pub ready: u32,
    /// Busy fraction of the ready replicas' capacity, if measured.
    pub utilisation: Option<f64>,
    /// Work waiting, demand units, if measured.
    pub queue_depth: Option<f64>,
    /// Demand per step on the policy's step, ending with the newest complete
    /// step. `None`: the metrics are unavailable, and the decision holds.
    pub history: Option<SeriesView<'a>>,
}

/// A fit prepared by [`Autoscaler::refit_job`]: owns its inputs and the
/// engine (moved out, not copied: at 1-minute steps an engine holds tens of
/// megabytes of backtest residuals), so it can run on another thread.
pub struct RefitJob {
    engine: Engine,
    history: Series,
    covariates: Option<Covariates>,
    types: Vec<String>,
    schedule_warning: Option<String>,
    /// The model's grid and types before this fit, restored if it fails.
    prior: Option<(Grid, Vec<String>)>,
}

/// The result of a [`RefitJob`], for [`Autoscaler::apply`].
pub struct Refitted {
    engine: Engine,
    result: forecast::Result<()>,
    grid: Grid,
    types: Vec<String>,
    schedule_warning: Option<String>,
    prior: Option<(Grid, Vec<String>)>,
}

impl RefitJob {
    /// Fit (model choice by backtest when due): CPU-bound.
    pub fn run(mut self) -> Refitted {
        let grid = self.history.grid;
        // A failed fit leaves the engine as it was (Engine::fit checks its
        // input before it changes anything), so the previous model survives.
        let result = self.engine.fit(&self.history, self.covariates.as_ref());
        Refitted {
            engine: self.engine,
            result,
            grid,
            types: self.types,
            schedule_warning: self.schedule_warning,
            prior: self.prior,
        }
    }
}

/// The forecast made from the current fit, and the booked appointments
/// inside its horizon that it used.
#[derive(Clone)]
struct Cached {
    generation: u64,
    booked: Vec<Appointment>,
    /// The upstream rows over the horizon it used.
    upstream: Vec<Vec<f64>>,
    /// Made without the schedule ([`Autoscaler::set_schedule_blind`]).
    blind: bool,
    forecast: Forecast,
}

/// What a stage plans to finish per step from the step of `now` on, for the
/// stages after it (a pipeline): the work `queued` now, served over one
/// job's service time, then the forecast `mean` arrivals, each finished one
/// service time after it arrives. The same in `simulate` and `run`.
pub fn planned_completions(policy: &Policy, mean: &[f64], queued: f64) -> Vec<f64> {
    let lag = policy.service_in(policy.step_secs()).min(mean.len());
    let spread = lag.max(1);
    let mut plan = vec![0.0; mean.len() + lag];
    for v in plan.iter_mut().take(spread) {
        *v += queued.max(0.0) / spread as f64;
    }
    for (j, m) in mean.iter().enumerate() {
        plan[j + lag] += m.max(0.0);
    }
    plan.truncate(mean.len());
    plan
}

/// One policy's forecast-to-decision step. See the module documentation.
#[derive(Clone)]
pub struct Autoscaler {
    policy: Policy,
    engine: Engine,
    /// Appointment types of the current fit (fixed between refits).
    types: Vec<String>,
    /// The grid of the history the current model was fitted on.
    fitted: Option<Grid>,
    /// Whether the last fit failed (with no model before it).
    fit_failed: bool,
    /// Counts fits, so a cached forecast belongs to one.
    generation: u64,
    cached: Option<Cached>,
    state: PlannerState,
    /// Forecasts at the lead time waiting for their actual: (step, value).
    ledger: VecDeque<(DateTime<Utc>, f64)>,
    realised_error: Option<f64>,
    last_error: Option<forecast::Error>,
    /// Why the schedule gave the last fit nothing, if it did.
    schedule_warning: Option<String>,
    /// Forecast without the booked appointments (their source has been down
    /// too long to trust the last snapshot): see [`Autoscaler::set_schedule_blind`].
    blind: bool,
    /// The upstream stages' completions this policy's forecast reads
    /// ([`Autoscaler::set_upstream`]).
    upstream: Vec<UpstreamFeed>,
}

/// An upstream stage's completions, as a downstream policy's forecast reads
/// them: observed up to now, then planned (its queue and its forecast
/// arrivals, each finished one service time later: [`planned_completions`]),
/// per step on the downstream policy's step.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamFeed {
    /// The upstream policy's name (as in `demand.upstream`).
    pub policy: String,
    /// Completions per step; `NaN`: not known.
    pub completions: Series,
}

impl UpstreamFeed {
    /// The covariate row on `grid` (0 where the feed does not say).
    fn row(&self, grid: &Grid) -> Vec<f64> {
        let c = &self.completions;
        (0..grid.len)
            .map(|i| {
                c.grid
                    .index_of(grid.time(i))
                    .and_then(|k| c.values.get(k).copied())
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0)
            })
            .collect()
    }
}

/// Whether two lists of booked appointments give the same start counts: the
/// forecast reads only each appointment's start and type
/// ([`schedule::start_counts`]), so a change of room, end or booking time
/// keeps the cached forecast (and the comparison at every decision skips
/// those strings).
fn same_starts(a: &[Appointment], b: &[Appointment]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.start == y.start && x.kind == y.kind)
}

/// Ledger entries kept at most (a forecast whose step never arrives).
const LEDGER_CAP: usize = 10_000;

impl Autoscaler {
    /// An autoscaler for `policy` with the engine the policy asks for.
    pub fn new(policy: Policy) -> Autoscaler {
        Autoscaler {
            engine: engine_for(&policy),
            policy,
            types: Vec::new(),
            fitted: None,
            fit_failed: false,
            generation: 0,
            cached: None,
            state: PlannerState::default(),
            ledger: VecDeque::new(),
            realised_error: None,
            last_error: None,
            schedule_warning: None,
            blind: false,
            upstream: Vec::new(),
        }
    }

    /// The upstream stages' completions (observed, then planned) to forecast
    /// with, for the policy's `demand.upstream`; call before
    /// [`Autoscaler::refit_due`] at every interval. A feed whose step is not
    /// this policy's, or whose stage the policy does not name, is left out.
    /// When the stages fed differ from those of the current fit (an
    /// upstream became invalid, paused or ran out of data, or came back),
    /// the model is dropped and a refit is due now: the forecast falls back
    /// to this policy's own history (and schedule), and
    /// [`Autoscaler::upstream_note`] says so.
    pub fn set_upstream(&mut self, feeds: Vec<UpstreamFeed>) {
        let step = self.policy.step_secs();
        let names = self.policy.upstream_names();
        // Each feed with its place in `demand.upstream`, in that order, once.
        let mut feeds: Vec<(usize, UpstreamFeed)> = feeds
            .into_iter()
            .filter(|f| f.completions.grid.step_secs == step)
            .filter_map(|f| names.iter().position(|n| *n == f.policy).map(|k| (k, f)))
            .collect();
        feeds.sort_by_key(|(k, _)| *k);
        feeds.dedup_by_key(|(k, _)| *k);
        let feeds: Vec<UpstreamFeed> = feeds.into_iter().map(|(_, f)| f).collect();
        let now_fed: Vec<String> = feeds
            .iter()
            .map(|f| series::upstream_type(&f.policy))
            .collect();
        let fitted_fed = self.types.iter().filter(|t| series::is_upstream(t));
        if self.fitted.is_some() && !fitted_fed.eq(now_fed.iter()) {
            self.fitted = None;
            self.cached = None;
        }
        self.upstream = feeds;
    }

    /// The upstream stages the policy names that feed no completions now:
    /// "upstream dose-calculation has no completions (invalid, paused or no
    /// data): forecasting from this policy's own history". `None` when every
    /// one is fed (or the policy names none).
    pub fn upstream_note(&self) -> Option<String> {
        let mut missing = self.policy.upstream_names();
        missing.retain(|name| !self.upstream.iter().any(|f| f.policy == *name));
        (!missing.is_empty()).then(|| {
            format!(
                "upstream {} {} no completions (invalid, paused or no data): forecasting from this policy's own history",
                missing.join(", "),
                if missing.len() == 1 { "has" } else { "have" }
            )
        })
    }

    /// The rows of the `upstream:` types among `types` on `grid`, in order
    /// (0 where a stage feeds nothing).
    fn upstream_rows(&self, grid: &Grid, types: &[String]) -> Vec<Vec<f64>> {
        types
            .iter()
            .filter_map(|t| t.strip_prefix(series::UPSTREAM_PREFIX))
            .map(|name| {
                self.upstream
                    .iter()
                    .find(|f| f.policy == name)
                    .map_or_else(|| vec![0.0; grid.len], |f| f.row(grid))
            })
            .collect()
    }

    /// The covariates on `grid`: booked starts per appointment type, and
    /// `rows` ([`Autoscaler::upstream_rows`]) for the `upstream:` types.
    fn covariates_with(
        grid: &Grid,
        booked: &[Appointment],
        types: &[String],
        rows: Vec<Vec<f64>>,
    ) -> Covariates {
        let mut c = schedule::start_counts(booked, grid, types);
        let slots = types
            .iter()
            .enumerate()
            .filter(|(_, t)| series::is_upstream(t));
        for ((k, _), row) in slots.zip(rows) {
            c.values[k] = row;
        }
        c
    }

    /// Forecast without the schedule (`true`) or with it again (`false`).
    /// For when the appointments known are too old to trust (the source has
    /// been down longer than the controller allows): the engine is given no
    /// future appointments, so a schedule model hands over to the best
    /// schedule-blind one — not a forecast of "nothing booked", which would
    /// be far too low. Fits are unchanged (the appointments that took place
    /// are still the ones the snapshot has).
    pub fn set_schedule_blind(&mut self, blind: bool) {
        self.blind = blind;
    }

    /// The clinic's calendar to forecast with (the policy's static calendar
    /// with the closures its URL source last gave); a change forces model
    /// choice at the next refit, which is made due now.
    pub fn set_calendar(&mut self, calendar: Option<&crate::calendar::Calendar>) {
        if self.engine.set_calendar(calendar) {
            self.fitted = None;
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The appointment types the current fit uses as covariates.
    pub fn types(&self) -> &[String] {
        &self.types
    }

    /// The grid of the history the current model was fitted on.
    pub fn fitted(&self) -> Option<Grid> {
        self.fitted
    }

    /// The newest realised forecast error: observed minus the forecast made
    /// one lead time earlier, for the newest step that has been observed.
    pub fn realised_error(&self) -> Option<f64> {
        self.realised_error
    }

    /// When the last fit found none of the policy's appointment types in the
    /// schedule over its history and horizon: what the schedule holds and
    /// what the policy asked for (the forecast is then schedule-blind there).
    pub fn schedule_warning(&self) -> Option<&str> {
        self.schedule_warning.as_deref()
    }

    /// The engine's current model choice, with every candidate's backtest
    /// score (after a fit).
    pub fn choice(&self) -> Option<&forecast::Choice> {
        self.engine.choice()
    }

    /// The error of the last fit or prediction, if it failed.
    pub fn last_error(&self) -> Option<&forecast::Error> {
        self.last_error.as_ref()
    }

    /// Whether a refit is due for `history`: it holds a value, and there is
    /// no model yet or `forecast.refit_every` of new history since the last
    /// fit (judged by the history's grid, not the wall clock, so a replay
    /// refits at the same steps as the live loop).
    pub fn refit_due(&self, history: &SeriesView<'_>) -> bool {
        let every = TimeDelta::seconds(self.policy.forecast.refit_every.secs_i64());
        let due = self
            .fitted
            .is_none_or(|f| history.grid.end() - f.end() >= every);
        due && history.values.iter().rev().any(|v| v.is_finite())
    }

    /// Which appointment types a fit on `grid` uses: the policy's list, else
    /// every type booked from `max_lag` before the history to the horizon's
    /// end; none without a `schedule:` section.
    fn types_for(&self, grid: &Grid, appointments: &[Appointment]) -> Vec<String> {
        let mut types = match &self.policy.schedule {
            None => Vec::new(),
            Some(spec) if !spec.types.is_empty() => spec.types.clone(),
            Some(spec) => {
                let from = grid.start - TimeDelta::seconds(spec.max_lag.secs_i64());
                let to = grid.end() + TimeDelta::seconds(self.policy.forecast.horizon.secs_i64());
                schedule::types_of(starting_in(appointments, from, to))
            }
        };
        // Then the upstream stages fed now, in the policy's order.
        types.extend(
            self.upstream
                .iter()
                .map(|f| series::upstream_type(&f.policy)),
        );
        types
    }

    /// Prepare a fit on `history` with the appointments known now (sorted by
    /// start, as every schedule loader returns them). The engine moves into
    /// the job; [`Autoscaler::apply`] moves it back. Until then there is no
    /// model (a job that is lost, e.g. a panicked thread, leaves none, and
    /// the next call refits).
    pub fn refit_job(&mut self, history: SeriesView<'_>, appointments: &[Appointment]) -> RefitJob {
        let types = self.types_for(&history.grid, appointments);
        let covariates = (!types.is_empty()).then(|| {
            let g = history.grid;
            let rows = self.upstream_rows(&g, &types);
            Self::covariates_with(
                &g,
                starting_in(appointments, g.start, g.end()),
                &types,
                rows,
            )
        });
        let schedule_warning = self.schedule_warning_for(&history.grid, appointments, &types);
        let fresh = Engine::new(self.engine.config().clone());
        let prior = self
            .fitted
            .take()
            .map(|g| (g, std::mem::take(&mut self.types)));
        RefitJob {
            engine: std::mem::replace(&mut self.engine, fresh),
            history: history.to_series(),
            covariates,
            types,
            schedule_warning,
            prior,
        }
    }

    /// A warning when the policy has a schedule but none of its types is
    /// booked from the history's start to the horizon's end.
    fn schedule_warning_for(
        &self,
        grid: &Grid,
        appointments: &[Appointment],
        types: &[String],
    ) -> Option<String> {
        let spec = self.policy.schedule.as_ref()?;
        let horizon = TimeDelta::seconds(self.policy.forecast.horizon.secs_i64());
        let (from, to) = (grid.start, grid.end() + horizon);
        let window = starting_in(appointments, from, to);
        let wanted = |a: &&Appointment| types.is_empty() || types.contains(&a.kind);
        if window.iter().any(|a| wanted(&a)) {
            return None;
        }
        let asked = if spec.types.is_empty() {
            "any type".to_string()
        } else {
            format!("types [{}]", spec.types.join(", "))
        };
        let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let holds = match (appointments.first(), appointments.last()) {
            (Some(a), Some(b)) => format!(
                "it holds {} appointments of types [{}] from {} to {}",
                appointments.len(),
                schedule::types_of(appointments).join(", "),
                day(a.start),
                day(b.start)
            ),
            _ => "it holds no appointments".to_string(),
        };
        Some(format!(
            "the schedule has no appointments of {asked} from {} to {} (the history and the forecast horizon); {holds}: the forecast there is schedule-blind",
            day(from),
            day(to)
        ))
    }

    /// Take a finished fit; a failed one keeps the previous model.
    pub fn apply(&mut self, r: Refitted) -> forecast::Result<()> {
        self.schedule_warning = r.schedule_warning;
        self.engine = r.engine;
        match r.result {
            Ok(()) => {
                self.fitted = Some(r.grid);
                self.types = r.types;
                self.fit_failed = false;
                self.generation += 1;
                self.cached = None;
                self.last_error = None;
                Ok(())
            }
            Err(e) => {
                if let Some((grid, types)) = r.prior {
                    self.fitted = Some(grid);
                    self.types = types;
                }
                self.fit_failed = self.fitted.is_none();
                self.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Fit on `history` now (the simulator and the CLI; the controller runs
    /// [`Autoscaler::refit_job`] on a blocking thread instead).
    pub fn refit(
        &mut self,
        history: SeriesView<'_>,
        appointments: &[Appointment],
    ) -> forecast::Result<()> {
        let job = self.refit_job(history, appointments);
        self.apply(job.run())
    }

    /// The forecast of the current fit over the policy's horizon, with the
    /// appointments known now. Predicted once per fit and again only when the
    /// booked appointments inside the horizon change: the models' forecasts
    /// for the first `k` steps do not depend on how many steps follow, so
    /// this equals predicting just as far as a decision needs.
    pub fn forecast(
        &mut self,
        appointments: &[Appointment],
    ) -> std::result::Result<&Forecast, NoForecast> {
        let Some(grid) = self.fitted else {
            return Err(if self.fit_failed {
                NoForecast::FitFailed
            } else {
                NoForecast::NoModel
            });
        };
        let p = &self.policy;
        let horizon = p.horizon_steps();
        let future_grid = grid.following(horizon);
        let with_schedule = !self.types.is_empty() && !self.blind;
        let booked = if with_schedule {
            starting_in(appointments, future_grid.start, future_grid.end())
        } else {
            &[][..]
        };
        let upstream: Vec<Vec<f64>> = if with_schedule {
            self.upstream_rows(&future_grid, &self.types)
        } else {
            Vec::new()
        };
        let fresh = self.cached.as_ref().is_some_and(|c| {
            c.generation == self.generation
                && same_starts(&c.booked, booked)
                && c.blind == self.blind
                && c.upstream == upstream
        });
        if !fresh {
            let future = with_schedule.then(|| {
                Self::covariates_with(&future_grid, booked, &self.types, upstream.clone())
            });
            match self
                .engine
                .predict(horizon, &[p.forecast.quantile], future.as_ref())
            {
                Ok(forecast) => {
                    self.cached = Some(Cached {
                        generation: self.generation,
                        booked: booked.to_vec(),
                        upstream,
                        blind: self.blind,
                        forecast,
                    });
                }
                Err(e) => {
                    self.cached = None;
                    self.last_error = Some(e);
                    return Err(NoForecast::PredictFailed);
                }
            }
        }
        self.cached
            .as_ref()
            .map(|c| &c.forecast)
            .ok_or(NoForecast::PredictFailed)
    }

    /// The forecast the next decision uses, if one is made and still
    /// current (after [`Autoscaler::forecast`] or a decision).
    pub fn cached_forecast(&self) -> Option<&Forecast> {
        self.cached
            .as_ref()
            .filter(|c| c.generation == self.generation)
            .map(|c| &c.forecast)
    }

    /// Decide the replica count at `now`. With the metrics unavailable the
    /// planner gets neither metrics nor a forecast (fitted on data it can no
    /// longer check): it holds.
    pub fn decide(
        &mut self,
        now: DateTime<Utc>,
        obs: &Observation<'_>,
        appointments: &[Appointment],
    ) -> Decision {
        let missing = match obs.history {
            None => Some(NoForecast::MetricsUnavailable),
            Some(_) => self.forecast(appointments).err(),
        };
        // The cached forecast is lent to the decision and put back.
        let cached = self.cached.take();
        let forecast = match missing {
            None => cached
                .as_ref()
                .map(|c| &c.forecast)
                .ok_or(NoForecast::PredictFailed),
            Some(m) => Err(m),
        };
        let d = self.decide_given(now, obs, forecast);
        self.cached = cached;
        d
    }

    /// [`Autoscaler::decide`] on a forecast made elsewhere instead of this
    /// autoscaler's own fit: the scorecard's `knowable` reference, the same
    /// planner fed a generator's true expected demand. Everything else (the
    /// planner's memory, the terms, the ledger) is as in `decide`; without
    /// metrics it holds as `decide` does; `None`: the forecast could not be
    /// made (decided as on a failed prediction).
    pub fn decide_on(
        &mut self,
        now: DateTime<Utc>,
        obs: &Observation<'_>,
        forecast: Option<&Forecast>,
    ) -> Decision {
        let forecast = match (obs.history, forecast) {
            (None, _) => Err(NoForecast::MetricsUnavailable),
            (Some(_), Some(f)) => Ok(f),
            (Some(_), None) => Err(NoForecast::PredictFailed),
        };
        self.decide_given(now, obs, forecast)
    }

    fn decide_given(
        &mut self,
        now: DateTime<Utc>,
        obs: &Observation<'_>,
        forecast: std::result::Result<&Forecast, NoForecast>,
    ) -> Decision {
        let step = self.policy.step_secs();
        if let Some(h) = &obs.history {
            self.settle(h);
        }
        let lead = self.policy.windows().lead;
        let level = self.policy.forecast.quantile;
        let attainment = self.policy.slo.attainment;
        let (view, no_forecast, view_error) = match forecast
            .map(|f| ForecastView::of(f, level).map(|v| v.planning_for(attainment)))
        {
            Ok(Ok(v)) => (Some(v), None, None),
            Ok(Err(e)) => (None, Some(NoForecast::PredictFailed), Some(e)),
            Err(missing) => (None, Some(missing), None),
        };
        // The recent arrival rate the backlog term serves while it drains:
        // the mean over the last SLO wait (at least one step), so that it
        // does not depend on the recording's step (a 1-minute step's last
        // value is mostly 0 or a burst).
        let arrival_rate = obs.history.and_then(|h| {
            let wait = self.policy.slo.max_wait.secs_i64().max(step);
            let k = ((wait + step - 1) / step).max(1) as usize;
            let recent = &h.values[h.values.len().saturating_sub(k)..];
            let (sum, n) = recent
                .iter()
                .filter(|v| v.is_finite())
                .fold((0.0, 0_i64), |(s, n), v| (s + v, n + 1));
            (n > 0).then(|| sum / (n * step) as f64)
        });
        let input = Input {
            now,
            current: obs.current,
            ready: obs.ready,
            utilisation: obs.history.and(obs.utilisation),
            queue_depth: obs.history.and(obs.queue_depth),
            arrival_rate,
            forecast: view,
            no_forecast,
        };
        let decision = plan::decide(&self.policy, &input, &self.state);
        self.state.record(&self.policy, &decision);
        if let Some(e) = view_error {
            self.last_error = Some(e);
        }
        // The forecast at the lead time waits in the ledger for its actual.
        if let (Some(v), Some(value)) = (view, decision.forecast_at_lead)
            && let Some(k) = v.grid.index_of(now + lead)
        {
            self.ledger.push_back((v.grid.time(k), value));
            while self.ledger.len() > LEDGER_CAP {
                self.ledger.pop_front();
            }
        }
        decision
    }

    /// Compare forecasts whose step the history now holds with the actual.
    fn settle(&mut self, h: &SeriesView<'_>) {
        while let Some(&(t, f)) = self.ledger.front() {
            if t >= h.grid.end() {
                break;
            }
            self.ledger.pop_front();
            if let Some(actual) = h.grid.index_of(t).map(|i| h.values[i])
                && actual.is_finite()
            {
                self.realised_error = Some(actual - f);
            }
        }
    }

    /// Forecasts waiting for their actual (for tests and telemetry).
    pub fn pending(&self) -> impl Iterator<Item = &(DateTime<Utc>, f64)> {
        self.ledger.iter()
    }
}

/// The appointments (sorted by start) starting in `[from, to)`.
fn starting_in(
    appointments: &[Appointment],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> &[Appointment] {
    debug_assert!(
        appointments.is_sorted_by_key(|a| a.start),
        "appointments must be sorted by start"
    );
    let a = appointments.partition_point(|x| x.start < from);
    let b = appointments.partition_point(|x| x.start < to).max(a);
    &appointments[a..b]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::duration::Duration;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    /// Two days of 5-minute counts: 4 jobs an hour after each CT-SIM booking.
    fn history(appts: &[Appointment]) -> Series {
        let grid = Grid::new(t0(), 300, 2 * 288);
        let mut v = vec![0.0; grid.len];
        for a in appts {
            if let Some(i) = grid.index_of(a.start + TimeDelta::hours(1)) {
                v[i] += 4.0;
            }
        }
        Series::new(grid, v)
    }

    fn booking(kind: &str, at: DateTime<Utc>) -> Appointment {
        Appointment {
            start: at,
            end: at + TimeDelta::minutes(30),
            kind: kind.into(),
            resource: None,
            booked_at: None,
        }
    }

    #[test]
    fn an_upstream_feed_is_a_covariate_and_its_loss_forces_a_refit_said_so() {
        let mut p = Policy::test();
        // A horizon no longer than the lag: every step of it follows a
        // completion already observed (beyond it the backtest reads only
        // what the upstream planned).
        p.forecast.horizon = Duration::from_hours(1);
        p.demand.upstream = vec![crate::policy::Upstream {
            policy: "contour".into(),
            max_lag: Duration::from_hours(2),
        }];
        // Downstream work: half of each upstream completion an hour later.
        // Ending at 10:00 on day 6: the hour forecast is in the working day.
        let grid = Grid::new(t0(), 300, 5 * 288 + 120);
        // Completions from 08:00 to 16:40, differing step by step and day by day.
        let done: Vec<f64> = (0..grid.len + 72)
            .map(|i| {
                if i % 288 >= 96 && i % 288 < 200 {
                    ((i * 7919) % 7) as f64
                } else {
                    0.0
                }
            })
            .collect();
        let y: Vec<f64> = (0..grid.len)
            .map(|i| if i >= 12 { done[i - 12] / 2.0 } else { 0.0 })
            .collect();
        let history = Series::new(grid, y);
        let feed = UpstreamFeed {
            policy: "contour".into(),
            completions: Series::new(Grid::new(t0(), 300, 0), done.clone()),
        };
        let mut a = Autoscaler::new(p.clone());
        assert!(
            a.upstream_note()
                .unwrap()
                .contains("upstream contour has no completions")
        );
        a.set_upstream(vec![
            feed.clone(),
            UpstreamFeed {
                policy: "unnamed".into(),
                ..feed.clone()
            },
        ]);
        assert_eq!(a.upstream_note(), None);
        a.refit(history.view(), &[]).unwrap();
        assert_eq!(
            a.types(),
            ["upstream:contour"],
            "the unnamed feed is left out"
        );
        let f = a.forecast(&[]).unwrap().clone();
        assert!(
            f.model.starts_with("schedule"),
            "{} {:?} {}",
            f.model,
            a.choice(),
            f.note
        );
        // The forecast follows the feed an hour on (nothing before 09:00).
        let n = grid.len;
        for j in 0..12 {
            let want = if n + j >= 12 {
                done[n + j - 12] / 2.0
            } else {
                0.0
            };
            assert!(
                (f.mean[j] - want).abs() < 0.6,
                "step {j}: {} vs {want}",
                f.mean[j]
            );
        }
        // A new plan from the feed changes the forecast.
        let mut more = feed.clone();
        more.completions
            .values
            .iter_mut()
            .skip(grid.len)
            .for_each(|v| *v *= 3.0);
        a.set_upstream(vec![more]);
        let g = a.forecast(&[]).unwrap().clone();
        assert!(
            g.mean.iter().sum::<f64>() >= f.mean.iter().sum::<f64>(),
            "{:?} vs {:?}",
            g.mean,
            f.mean
        );
        // The upstream gone: no model until the refit, which is due now and
        // forecasts from the own history; the note says why.
        a.set_upstream(Vec::new());
        assert!(a.forecast(&[]).is_err());
        assert!(a.refit_due(&history.view()));
        assert!(
            a.upstream_note()
                .unwrap()
                .contains("forecasting from this policy's own history")
        );
        a.refit(history.view(), &[]).unwrap();
        assert!(a.types().is_empty());
        assert!(a.forecast(&[]).is_ok());
    }

    #[test]
    fn a_cached_forecast_is_kept_only_while_starts_and_types_are() {
        let book = vec![
            booking("CT-SIM", t0()),
            booking("MR-SIM", t0() + TimeDelta::hours(2)),
        ];
        let mut other = book.clone();
        other[0].resource = Some("CT2".into());
        other[1].end += TimeDelta::hours(1);
        other[1].booked_at = Some(t0());
        assert!(same_starts(&book, &other), "room, end and booking time");
        let mut moved = book.clone();
        moved[1].start += TimeDelta::minutes(5);
        assert!(!same_starts(&book, &moved), "a start moved");
        let mut retyped = book.clone();
        retyped[0].kind = "PET-SIM".into();
        assert!(!same_starts(&book, &retyped), "a type changed");
        assert!(!same_starts(&book, &book[..1]), "one fewer");
        assert!(same_starts(&[], &[]));
    }

    fn policy() -> Policy {
        let mut p = Policy::test();
        p.forecast.step = Duration::from_mins(5);
        p.forecast.horizon = Duration::from_hours(12);
        p.schedule = Some(
            serde_yaml::from_str("source: {type: csv, path: book.csv}\ntypes: [CT-SIM]\n").unwrap(),
        );
        p
    }

    #[test]
    fn a_schedule_without_the_policys_types_is_named_with_what_it_holds() {
        let mut a = Autoscaler::new(policy());
        let other_year: Vec<Appointment> = (0..20)
            .map(|d| booking("LINAC", t0() - TimeDelta::days(400) + TimeDelta::days(d)))
            .collect();
        let h = history(&[]);
        a.refit(h.view(), &other_year).unwrap();
        let w = a.schedule_warning().expect("a warning");
        assert!(w.contains("types [CT-SIM]"), "{w}");
        assert!(w.contains("20 appointments of types [LINAC]"), "{w}");
        assert!(w.contains("2025-01-26 to 2025-02-14"), "{w}");
        assert!(w.contains("2026-03-02 to 2026-03-04"), "{w}");

        let booked: Vec<Appointment> = (0..40)
            .map(|k| booking("CT-SIM", t0() + TimeDelta::hours(k)))
            .collect();
        a.refit(history(&booked).view(), &booked).unwrap();
        assert_eq!(a.schedule_warning(), None);
    }

    #[test]
    fn a_blind_forecast_ignores_the_book_and_sight_comes_back() {
        // Four days in which every CT-SIM (at irregular times) causes 4 jobs
        // an hour later; ahead, one CT-SIM at +3 h. With the schedule the
        // forecast has the jobs at +4 h; blind (the source down too long) it
        // is the best schedule-blind model's; sighted again, as before.
        let past: Vec<Appointment> = (0..55)
            .map(|k| booking("CT-SIM", t0() + TimeDelta::minutes(97 * k + (k * k) % 41)))
            .collect();
        let grid = Grid::new(t0(), 300, 4 * 288);
        let mut v = vec![0.0; grid.len];
        for b in &past {
            if let Some(i) = grid.index_of(b.start + TimeDelta::hours(1)) {
                v[i] += 4.0;
            }
        }
        let h = Series::new(grid, v);
        let mut p = policy();
        p.schedule.as_mut().unwrap().max_lag = Duration::from_hours(2);
        let mut a = Autoscaler::new(p);
        a.refit(h.view(), &past).unwrap();
        let end = h.grid.end();
        let mut book = past.clone();
        book.push(booking("CT-SIM", end + TimeDelta::hours(3)));
        let sighted = a.forecast(&book).unwrap().clone();
        a.set_schedule_blind(true);
        let blind = a.forecast(&book).unwrap().clone();
        let k = sighted.grid.index_of(end + TimeDelta::hours(4)).unwrap();
        assert!(
            sighted.mean[k] > blind.mean[k] + 1.0,
            "{} {} vs {} {}",
            sighted.model,
            sighted.mean[k],
            blind.model,
            blind.mean[k]
        );
        a.set_schedule_blind(false);
        assert_eq!(a.forecast(&book).unwrap().mean, sighted.mean);
    }

    #[test]
    fn refits_follow_the_history_not_the_clock() {
        let mut a = Autoscaler::new(policy());
        let h = history(&[]);
        let empty = SeriesView::new(h.grid, &[]);
        assert!(!a.refit_due(&empty), "nothing to fit");
        let all_nan = vec![f64::NAN; 10];
        assert!(!a.refit_due(&SeriesView::new(h.grid, &all_nan)));
        assert!(a.refit_due(&h.view()));
        a.refit(h.view(), &[]).unwrap();
        assert!(!a.refit_due(&h.view()));
        // Refit every hour of new history (the policy's refit_every).
        let longer = Series::new(h.grid, [h.values.clone(), vec![0.0; 11]].concat());
        assert!(!a.refit_due(&longer.view()));
        let hour = Series::new(h.grid, [h.values.clone(), vec![0.0; 12]].concat());
        assert!(a.refit_due(&hour.view()));
    }

    #[test]
    fn a_failed_refit_keeps_the_previous_model() {
        let mut a = Autoscaler::new(policy());
        let h = history(&[]);
        a.refit(h.view(), &[]).unwrap();
        let before = a.forecast(&[]).unwrap().clone();
        // An hour later the history holds an infinite value: the fit fails.
        let mut bad = h.values.clone();
        bad.extend(vec![0.0; 12]);
        bad[100] = f64::INFINITY;
        let bad = Series::new(h.grid, bad);
        assert!(a.refit(bad.view(), &[]).is_err());
        assert_eq!(a.fitted(), Some(h.grid));
        assert_eq!(a.forecast(&[]).unwrap(), &before);
        // A job that never comes back leaves no model, and the next call refits.
        let lost = a.refit_job(h.view(), &[]);
        drop(lost);
        assert_eq!(a.fitted(), None);
        assert!(a.refit_due(&h.view()));
    }

    #[test]
    fn without_metrics_there_is_no_forecast_and_the_decision_says_so() {
        let mut a = Autoscaler::new(policy());
        let h = history(&[]);
        a.refit(h.view(), &[]).unwrap();
        let obs = Observation {
            current: 3,
            ready: 3,
            utilisation: Some(0.2),
            queue_depth: Some(0.0),
            history: None,
        };
        let d = a.decide(h.grid.end(), &obs, &[]);
        assert_eq!(d.no_forecast, Some(NoForecast::MetricsUnavailable));
        assert_eq!(d.desired, 3, "holds: {d}");
        assert_eq!((d.utilisation, d.queue_depth), (None, None));
    }
}
