//! The `knowable` reference (issue 11): the predictive strategy's planner fed
//! the generator's true expected demand given what was booked by each
//! decision, instead of a forecast. What a perfect forecaster could have
//! known; its cost against the oracle is the planner's gap, and predictive's
//! cost against it the forecaster's.
//!
//! Only a generated department has a true expectation
//! ([`crate::example::Expectation`] implements [`KnownDemand`]), so the
//! strategy is not one `planscale simulate` offers for a recording; the
//! scorecard runs it through [`super::simulate_known`].
//!
//! The expectation is computed for hour-long blocks of decisions (a grid of
//! the policy's horizon plus an hour from the block's start, given the book
//! at the block's first decision) and again whenever a booking becomes known
//! within the block: a slot's chance of still being booked drifts little
//! within an hour, and every booking that arrives is seen at once.
//!
//! Its spread (how far the work summed over a window falls from its
//! expectation) is measured as the engine measures a model's
//! ([`WorkSpread::estimate`] on the planner's window lengths), on the warm-up
//! weeks only: each day's expectation given the book at the day's start
//! against what arrived.

use chrono::{DateTime, Utc};

use super::Ticks;
use crate::forecast::{EngineConfig, Forecast, WorkSpread, spread};
use crate::policy::Policy;
use crate::schedule::Appointment;
use crate::series::Grid;

/// A true expected demand, as a generator knows it.
pub trait KnownDemand: Sync {
    /// Expected work per step of `grid` given the appointments of `booked`
    /// booked by `known_at`, or why it cannot say.
    fn expected(
        &self,
        grid: &Grid,
        known_at: DateTime<Utc>,
        booked: &[Appointment],
    ) -> Result<Vec<f64>, String>;
}

impl KnownDemand for crate::example::Expectation<'_> {
    fn expected(
        &self,
        grid: &Grid,
        known_at: DateTime<Utc>,
        booked: &[Appointment],
    ) -> Result<Vec<f64>, String> {
        self.arrivals(grid, known_at, booked)
            .map_err(|e| e.to_string())
    }
}

/// The knowable strategy's source of forecasts (see the module).
pub(super) struct Known<'a> {
    demand: &'a dyn KnownDemand,
    spread: WorkSpread,
    /// Forecast steps and quantile level of the policy.
    horizon: usize,
    level: f64,
    /// Steps per block of decisions sharing one expectation.
    block: usize,
    /// The current block: its first step, how many bookings were known, and
    /// the expectation over `horizon + block` steps from its start.
    cached: Option<(usize, usize, Vec<f64>)>,
}

impl<'a> Known<'a> {
    pub(super) fn new(
        demand: &'a dyn KnownDemand,
        p: &Policy,
        t: &Ticks,
        arrivals: &[f64],
        schedule: &[Appointment],
    ) -> Known<'a> {
        let step = t.grid.step_secs.max(1);
        let horizon = (p.forecast.horizon.secs_i64() / step).max(1) as usize;
        Known {
            demand,
            spread: measure_spread(demand, p, t, arrivals, schedule),
            horizon,
            level: p.forecast.quantile,
            block: (3_600 / step).max(1) as usize,
            cached: None,
        }
    }

    /// The forecast for the steps from `i` (the step containing `now`), with
    /// `booked` the appointments known at `now`.
    pub(super) fn forecast(
        &mut self,
        g: &Grid,
        i: usize,
        now: DateTime<Utc>,
        booked: &[Appointment],
    ) -> Result<Forecast, String> {
        let b = i - i % self.block;
        let fresh = self
            .cached
            .as_ref()
            .is_some_and(|(start, n, _)| *start == b && *n == booked.len());
        if !fresh {
            let grid = Grid::new(g.time(b), g.step_secs, self.horizon + self.block);
            let values = self.demand.expected(&grid, now, booked)?;
            self.cached = Some((b, booked.len(), values));
        }
        let values = self.cached.as_ref().map_or(&[][..], |(_, _, v)| &v[..]);
        let from = (i - b).min(values.len());
        let mean: Vec<f64> = values[from..]
            .iter()
            .take(self.horizon)
            .map(|v| v.max(0.0))
            .collect();
        let z = spread::normal_quantile(self.level);
        let q = mean.iter().map(|m| self.spread.quantile(*m, z)).collect();
        Ok(Forecast {
            grid: Grid::new(g.time(i), g.step_secs, mean.len()),
            point: mean.clone(),
            mean,
            spread: self.spread,
            quantiles: vec![(self.level, q)],
            model: "knowable".into(),
            note: "the generator's expected demand given the book".into(),
        })
    }

    pub(super) fn spread(&self) -> WorkSpread {
        self.spread
    }
}

/// The spread of the true expectation's window sums, measured on the
/// warm-up's days (see the module).
fn measure_spread(
    demand: &dyn KnownDemand,
    p: &Policy,
    t: &Ticks,
    arrivals: &[f64],
    schedule: &[Appointment],
) -> WorkSpread {
    let lengths = EngineConfig::for_policy(p).spread_windows;
    let step = t.grid.step_secs.max(1);
    let day = (86_400 / step).max(1) as usize;
    let warmup = ((t.measure_from_tick as i64 * t.tick_secs) / step) as usize;
    let warmup = warmup.min(arrivals.len());
    let mut pairs = Vec::new();
    let mut from = 0;
    while from + day <= warmup {
        let grid = Grid::new(t.grid.time(from), step, day);
        if let Ok(expected) = demand.expected(&grid, grid.start, schedule) {
            let actual: Vec<f64> = arrivals[from..from + day]
                .iter()
                .map(|v| if v.is_finite() { *v } else { 0.0 })
                .collect();
            spread::window_pairs(&expected, &actual, &lengths, &mut pairs);
        }
        from += day;
    }
    WorkSpread::estimate(&pairs, WorkSpread::default())
}
