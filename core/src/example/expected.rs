//! The generator's true expected arrivals given what was booked by a time
//! `t`: E[arrivals per step | the bookings known at t]. What a perfect
//! forecaster could know at `t`, for the `knowable` reference of the
//! scorecard (issue 11): the planner fed this tells the planner's gap from the
//! forecaster's.
//!
//! Analytical, not Monte Carlo: every rule of the generator has a closed-form
//! expectation, and the one that is not smooth (staff-triggered work that ends
//! outside working hours moves to the next working period's first hour, at the
//! minute of the hour it would have arrived at) is exact on a one-minute
//! lattice, because the generator's appointment starts are whole minutes. The
//! expectation is the sum of
//! - each appointment booked by `t`: (1 − no-show rate) × jobs × P(its delayed
//!   work lands in the step);
//! - each slot not booked by `t` (not in the book at `t`): the chance it is
//!   still booked after `t`, `f (1 − F) / (1 − f F)` with `f` the slot's fill
//!   probability and `F` the share of a slot's bookings made by `t`
//!   ([`Booking`](super::Booking)), times the same work; a slot that has
//!   started and is not in the book stays empty (`F` = 1);
//! - walk-in add-ons: the daily mean spread uniformly over the working
//!   minutes, no no-shows;
//! - the background rate in working steps.
//!
//! The delay of a job is log-normal in minutes and truncated to whole seconds
//! by the generator, so P(work of an appointment at `s` lands in `[u, v)`) is
//! `F_delay(v − s) − F_delay(u − s)` for whole seconds. Mass beyond the
//! delay's 1e-12 tails is left out.
//!
//! Cost: building an [`Expectation`] computes the add-on and background part
//! once (it depends on neither `t` nor the bookings); each
//! [`Expectation::arrivals`] call then goes over the slots and bookings that
//! can reach the grid asked for, a few operations per delay-minute-segment and
//! per grid step they cover.

use std::collections::HashSet;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use statrs::distribution::{ContinuousCDF, LogNormal};

use super::{Application, Department, Error, Result, Slot, local_instant};
use crate::schedule::Appointment;
use crate::series::Grid;

/// Tail mass of a delay left out on either side.
const TAIL: f64 = 1e-12;

/// Days after the generated span over which deferred work is still followed
/// (the next working period is at most a long holiday weekend away).
const AFTER_DAYS: i64 = 15;

/// One response's delay: its distribution and a per-minute table.
struct Delay {
    kind: &'static str,
    jobs: f64,
    working_hours_only: bool,
    dist: LogNormal,
    /// Delay support in whole minutes: `[lo, hi)`.
    lo: i64,
    hi: i64,
    /// `cum[j]` = P(delay < j minutes), `j` in `0..=hi`.
    cum: Vec<f64>,
    /// `strided[r][k]` = Σ of P(delay in minute `r + 60 i`) for `i < k`: the
    /// mass per minute of the hour, for work deferred to the next morning.
    strided: Vec<Vec<f64>>,
}

impl Delay {
    fn new(r: &super::Response) -> Option<Delay> {
        let dist = LogNormal::new(r.delay_median_min.ln(), r.delay_sigma).ok()?;
        let lo = (dist.inverse_cdf(TAIL).floor() as i64).max(0);
        let hi = dist.inverse_cdf(1.0 - TAIL).ceil() as i64 + 1;
        let cum: Vec<f64> = (0..=hi).map(|j| dist.cdf(j as f64)).collect();
        let strided = (0..60)
            .map(|r| {
                let mut acc = vec![0.0];
                let mut j = r;
                while j < hi {
                    let m = cum[j as usize + 1] - cum[j as usize];
                    acc.push(acc.last().copied().unwrap_or(0.0) + m);
                    j += 60;
                }
                acc
            })
            .collect();
        Some(Delay {
            kind: r.kind,
            jobs: r.jobs,
            working_hours_only: r.working_hours_only,
            dist,
            lo,
            hi,
            cum,
            strided,
        })
    }

    /// P(delay < `secs` seconds).
    fn below(&self, secs: i64) -> f64 {
        if secs <= 0 {
            0.0
        } else if secs % 60 == 0 {
            self.cum
                .get((secs / 60) as usize)
                .copied()
                .unwrap_or_else(|| self.dist.cdf(secs as f64 / 60.0))
        } else {
            self.dist.cdf(secs as f64 / 60.0)
        }
    }

    /// Σ P(delay in minute j) over `j` in `[a, b)` with `j ≡ r (mod 60)`.
    fn minutes_at(&self, a: i64, b: i64, r: i64) -> f64 {
        let table = &self.strided[r as usize];
        // How many of r, r + 60, ... are below `x`.
        let count = |x: i64| -> usize {
            if x <= r {
                0
            } else {
                (((x - r) + 59) / 60).min(table.len() as i64 - 1) as usize
            }
        };
        let (ka, kb) = (count(a.max(0)), count(b.max(0)));
        if kb > ka { table[kb] - table[ka] } else { 0.0 }
    }
}

/// A stretch of time, in Unix seconds: working (work lands when it arrives)
/// or not (staff work that arrives then starts in the first hour of `next`).
#[derive(Debug, Clone, Copy)]
struct Segment {
    from: i64,
    to: i64,
    /// `None`: working time. Else the start of the next working period
    /// (equal to `from` when there is none within reach: left where it is).
    next: Option<i64>,
}

/// A grid in Unix seconds, for the inner loops.
#[derive(Debug, Clone, Copy)]
struct Steps {
    start: i64,
    step: i64,
    len: usize,
}

impl Steps {
    fn of(g: &Grid) -> Steps {
        Steps {
            start: g.start.timestamp(),
            step: g.step_secs,
            len: g.len,
        }
    }

    fn end(&self) -> i64 {
        self.start + self.step * self.len as i64
    }

    fn index_of(&self, t: i64) -> Option<usize> {
        (t >= self.start && t < self.end()).then(|| ((t - self.start) / self.step) as usize)
    }
}

/// The generator's expected arrivals for one application column: built once
/// by [`Department::expectation`], asked by [`Expectation::arrivals`].
pub struct Expectation<'d> {
    dep: &'d Department,
    app: &'d Application,
    delays: Vec<Delay>,
    /// Every slot of the book, in start order.
    slots: Vec<Slot>,
    segments: Vec<Segment>,
    /// The department's grid, extended by [`AFTER_DAYS`].
    span: Grid,
    /// Expected walk-in add-on and background work per step of `span`.
    fixed: Vec<f64>,
    /// Longest reach of an appointment's work past its start.
    reach: TimeDelta,
}

impl Department {
    /// The expectation for `column` (see [`Expectation`]).
    pub fn expectation(&self, column: &str) -> Result<Expectation<'_>> {
        let app = self
            .applications
            .iter()
            .find(|a| a.column == column)
            .ok_or_else(|| Error::UnknownColumn {
                department: self.name.to_string(),
                column: column.to_string(),
                valid: self
                    .applications
                    .iter()
                    .map(|a| a.column)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if let Some(up) = &app.upstream {
            return Err(Error::Pipeline {
                department: self.name.to_string(),
                column: column.to_string(),
                upstream: up.column.to_string(),
            });
        }
        let delays = app
            .responses
            .iter()
            .map(|r| {
                Delay::new(r).ok_or_else(|| Error::Grid {
                    department: self.name.to_string(),
                    message: format!(
                        "{column}: the {} response's delay (median {} min, sigma {}) is not a log-normal",
                        r.kind, r.delay_median_min, r.delay_sigma
                    ),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let grid = self.grid();
        let after = (AFTER_DAYS * 86_400 / self.step_secs) as usize;
        let span = Grid::new(grid.start, grid.step_secs, grid.len + after);
        let longest = delays.iter().map(|d| d.hi).max().unwrap_or(0);
        let deferral = if delays.iter().any(|d| d.working_hours_only) {
            TimeDelta::days(AFTER_DAYS)
        } else {
            TimeDelta::zero()
        };
        let mut e = Expectation {
            dep: self,
            app,
            delays,
            slots: self.dates().flat_map(|d| self.day_slots(d)).collect(),
            segments: self.segments(grid.start - TimeDelta::days(1), span.end()),
            span,
            fixed: vec![0.0; span.len],
            reach: TimeDelta::minutes(longest) + deferral,
        };
        e.slots.sort_by_key(|s| s.start);
        let mut fixed = vec![0.0; span.len];
        let per_step = app.background_per_hour * self.step_secs as f64 / 3600.0;
        for (i, v) in fixed.iter_mut().enumerate().take(grid.len) {
            if self.is_working_time(grid.time(i)) {
                *v += per_step;
            }
        }
        let (h0, h1) = self.working_hours;
        let minutes = f64::from((h1 - h0) * 60);
        for date in self.dates().filter(|d| self.is_working_day(*d)) {
            for (kind, mean) in &self.add_ons_per_day {
                for start in self.add_on_minutes(date) {
                    e.add(kind, start, mean / minutes, Steps::of(&span), &mut fixed);
                }
            }
        }
        e.fixed = fixed;
        Ok(e)
    }

    /// The generator's expected arrivals per step of `grid` for `column`,
    /// given the appointments of `booked` booked by `known_at` (those with a
    /// later booking time are left out here; an unknown booking time counts
    /// as booked). See [`Expectation`]; for many calls build it once with
    /// [`Department::expectation`].
    pub fn expected_arrivals(
        &self,
        column: &str,
        grid: &Grid,
        known_at: DateTime<Utc>,
        booked: &[Appointment],
    ) -> Result<Vec<f64>> {
        self.expectation(column)?.arrivals(grid, known_at, booked)
    }

    /// Working and non-working stretches from `from` to `to` (local days).
    fn segments(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Segment> {
        let tz = self.timezone;
        let (h0, h1) = self.working_hours;
        let mut day = from.with_timezone(&tz).date_naive();
        let mut raw: Vec<(i64, i64, bool)> = Vec::new();
        let mut push = |a: DateTime<Utc>, b: DateTime<Utc>, working: bool| {
            let (a, b) = (a.timestamp(), b.timestamp());
            if a >= b {
                return;
            }
            match raw.last_mut() {
                Some(last) if !last.2 && !working && last.1 == a => last.1 = b,
                _ => raw.push((a, b, working)),
            }
        };
        while local_instant(tz, day, 0, 0) < to + TimeDelta::days(AFTER_DAYS) {
            let midnight = local_instant(tz, day, 0, 0);
            let next = local_instant(tz, day + TimeDelta::days(1), 0, 0);
            if self.is_working_day(day) {
                let (open, close) = (local_instant(tz, day, h0, 0), local_instant(tz, day, h1, 0));
                push(midnight, open, false);
                push(open, close, true);
                push(close, next, false);
            } else {
                push(midnight, next, false);
            }
            day += TimeDelta::days(1);
        }
        let mut out: Vec<Segment> = Vec::with_capacity(raw.len());
        for (i, (a, b, working)) in raw.iter().enumerate() {
            let next = if *working {
                None
            } else {
                Some(raw.get(i + 1).filter(|r| r.2).map_or(*a, |r| r.0))
            };
            out.push(Segment {
                from: *a,
                to: *b,
                next,
            });
        }
        out
    }
}

impl Expectation<'_> {
    /// The application column this is the expectation of.
    pub fn column(&self) -> &str {
        self.app.column
    }

    /// Expected arrivals per step of `grid`, given the appointments of
    /// `booked` booked by `known_at`. `grid` must be on the department's
    /// step and aligned with its grid; steps outside the generated span get
    /// the work of appointments inside it that lands there (the generator
    /// itself records nothing there).
    pub fn arrivals(
        &self,
        grid: &Grid,
        known_at: DateTime<Utc>,
        booked: &[Appointment],
    ) -> Result<Vec<f64>> {
        let step = self.dep.step_secs;
        let offset = (grid.start - self.span.start).num_seconds();
        if grid.step_secs != step || offset.rem_euclid(step) != 0 {
            return Err(Error::Grid {
                department: self.dep.name.to_string(),
                message: format!(
                    "expected a grid of {step}-second steps aligned with the department's (from {}), found {}-second steps from {}",
                    self.span.start, grid.step_secs, grid.start
                ),
            });
        }
        let mut out: Vec<f64> = (0..grid.len)
            .map(|i| {
                self.span
                    .index_of(grid.time(i))
                    .map_or(0.0, |k| self.fixed[k])
            })
            .collect();
        let steps = Steps::of(grid);
        let reaches = |start: DateTime<Utc>| start < grid.end() && start + self.reach >= grid.start;
        let show = 1.0 - self.dep.no_show_rate;
        let mut taken: HashSet<(i64, &str)> = HashSet::new();
        for a in booked.iter().filter(|a| a.known_at(known_at)) {
            if let Some(r) = &a.resource {
                taken.insert((a.start.timestamp(), r.as_str()));
            }
            if reaches(a.start) {
                self.add(&a.kind, a.start, show, steps, &mut out);
            }
        }
        let booking = &self.dep.booking;
        let first = self
            .slots
            .partition_point(|s| s.start + self.reach < grid.start);
        let slots = self.slots[first..]
            .iter()
            .take_while(|s| s.start < grid.end());
        for slot in slots {
            let resource = self.dep.scanners[slot.scanner].resource;
            if taken.contains(&(slot.start.timestamp(), resource)) {
                continue;
            }
            let lead = (slot.start - known_at).num_seconds() as f64;
            let known = booking.known_ahead(lead).clamp(0.0, 1.0);
            let f = slot.fill;
            let still = if known >= 1.0 {
                0.0
            } else {
                f * (1.0 - known) / (1.0 - f * known)
            };
            if still > 0.0 {
                let kind = self.dep.scanners[slot.scanner].kind;
                self.add(kind, slot.start, still * show, steps, &mut out);
            }
        }
        Ok(out)
    }

    /// Add the expected work of `weight` appointments of `kind` starting at
    /// `start` to the steps of `grid`.
    fn add(&self, kind: &str, start: DateTime<Utc>, weight: f64, grid: Steps, out: &mut [f64]) {
        let start = start.timestamp();
        for d in self.delays.iter().filter(|d| d.kind == kind) {
            let w = weight * d.jobs;
            if w == 0.0 {
                continue;
            }
            let (lo, hi) = (start + 60 * d.lo, start + 60 * d.hi);
            if !d.working_hours_only {
                land(d, start, lo, hi, w, grid, out);
                continue;
            }
            let first = self.segments.partition_point(|s| s.to <= lo);
            for seg in self.segments[first..].iter().take_while(|s| s.from < hi) {
                let (a, b) = (seg.from.max(lo), seg.to.min(hi));
                match seg.next {
                    Some(next) if next != seg.from => defer(d, start, (a, b), next, w, grid, out),
                    _ => land(d, start, a, b, w, grid, out),
                }
            }
        }
    }
}

/// Add `w` × P(the work of an appointment at `start` arrives in `[a, b)`)
/// to the steps of `grid` it covers (work that lands when it arrives). All
/// times in Unix seconds.
fn land(d: &Delay, start: i64, a: i64, b: i64, w: f64, grid: Steps, out: &mut [f64]) {
    let (a, b) = (a.max(grid.start), b.min(grid.end()));
    if a >= b {
        return;
    }
    let mut i = ((a - grid.start) / grid.step) as usize;
    let mut u = a;
    let mut below_u = d.below(u - start);
    while u < b && i < grid.len {
        let v = (grid.start + (i as i64 + 1) * grid.step).min(b);
        let below_v = d.below(v - start);
        out[i] += w * (below_v - below_u);
        (u, below_u) = (v, below_v);
        i += 1;
    }
}

/// Add `w` × P(the work of an appointment at `start` arrives in the
/// non-working `[a, b)`): the generator moves it to the first hour of the
/// next working period `next`, at the minute of the hour it arrived at.
fn defer(
    d: &Delay,
    start: i64,
    (a, b): (i64, i64),
    next: i64,
    w: f64,
    grid: Steps,
    out: &mut [f64],
) {
    let s_min = start.div_euclid(60);
    let (ja, jb) = ((a - start).div_euclid(60), (b - start).div_euclid(60));
    for m in 0..60 {
        let mass = d.minutes_at(ja, jb, (m - s_min).rem_euclid(60));
        if mass > 0.0
            && let Some(i) = grid.index_of(next + 60 * m)
        {
            out[i] += w * mass;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule;
    use chrono::NaiveDate;

    /// Residuals (generated − expected) summed over seeds, per hour of a
    /// window, with the expectation.
    #[derive(Default)]
    struct Residuals {
        n: f64,
        sum: Vec<f64>,
        sq: Vec<f64>,
        expected: Vec<f64>,
    }

    impl Residuals {
        fn add(&mut self, residual: &[f64], expected: &[f64]) {
            if self.sum.is_empty() {
                self.sum = vec![0.0; residual.len()];
                self.sq = vec![0.0; residual.len()];
                self.expected = vec![0.0; residual.len()];
            }
            for (k, r) in residual.iter().enumerate() {
                self.sum[k] += r;
                self.sq[k] += r * r;
                self.expected[k] += expected[k];
            }
            self.n += 1.0;
        }

        /// Mean residual of bucket `k` and its standard error. The variance
        /// is the seeds' sample variance, but at least the mean expectation:
        /// a count of work is at least as variable as a Poisson count of its
        /// mean given the book, and in hours where work is rare (the evening
        /// tail of the day) every seed can show 0, a sample variance of 0.
        fn mean_se(&self, k: usize) -> (f64, f64) {
            let mean = self.sum[k] / self.n;
            let sample = (self.sq[k] / self.n - mean * mean) * self.n / (self.n - 1.0);
            let var = sample.max(self.expected[k] / self.n);
            (mean, (var / self.n).sqrt())
        }
    }

    /// Per hour from step `from`: the sums of `v`.
    fn per_hour(v: &[f64], from: usize, hours: usize, per: usize) -> Vec<f64> {
        (0..hours)
            .map(|h| v[from + h * per..from + (h + 1) * per].iter().sum())
            .collect()
    }

    fn minus(a: &[f64], b: &[f64]) -> Vec<f64> {
        a.iter().zip(b).map(|(x, y)| x - y).collect()
    }

    /// Residuals of one column over the seeds: per hour, in total, and of
    /// the control that forgets the bookings not yet made.
    #[derive(Default)]
    struct Column {
        hours: Residuals,
        total: Residuals,
        control: Residuals,
    }

    /// The tolerance: with N seeds the mean residual of an hour is about
    /// normal with the standard error estimated from the seeds (see
    /// [`Residuals::mean_se`]); |z| ≤ 4.5 for each of ~100 hours fails by
    /// chance with probability about 100 × 7e-6 < 1e-3 (and the seeds are
    /// fixed, so the outcome is too). The total over the window must be
    /// within 4 standard errors and 2 % of the expectation. An error in the
    /// expectation's rules moves whole hours by far more; to show the test can
    /// tell, a control that forgets the bookings still to come after
    /// `known_at` must be rejected at z > 6.
    fn assert_close(dep: &Department, columns: &[&str], known_at: DateTime<Utc>, hours: usize) {
        let seeds = 100;
        let grid = dep.grid();
        let per = (3600 / grid.step_secs) as usize;
        let from = grid.index_of(known_at).unwrap();
        let later = grid.end() + TimeDelta::days(365);
        let expectations: Vec<Expectation<'_>> = columns
            .iter()
            .map(|c| dep.expectation(c).unwrap())
            .collect();
        let mut stats: Vec<Column> = columns.iter().map(|_| Column::default()).collect();
        let sum = |v: &[f64]| [v.iter().sum::<f64>()];
        for seed in 0..seeds {
            let g = dep.generate(1000 + seed);
            let known = schedule::known_at(&g.schedule, known_at);
            for (e, st) in expectations.iter().zip(&mut stats) {
                let hourly = |v: &[f64]| per_hour(v, from, hours, per);
                let actual = hourly(&g.recording.series(e.column()).unwrap().values);
                let expected = hourly(&e.arrivals(&grid, known_at, &g.schedule).unwrap());
                st.hours.add(&minus(&actual, &expected), &expected);
                st.total
                    .add(&sum(&minus(&actual, &expected)), &sum(&expected));
                // As if every booking not in the book at `known_at` would never come.
                let blind = hourly(&e.arrivals(&grid, later, &known).unwrap());
                st.control.add(&sum(&minus(&actual, &blind)), &sum(&blind));
            }
        }
        for (column, st) in columns.iter().zip(&stats) {
            let z: Vec<f64> = (0..hours)
                .map(|k| {
                    let (m, se) = st.hours.mean_se(k);
                    if se > 0.0 { m / se } else { 0.0 }
                })
                .collect();
            let worst = z.iter().fold(0.0f64, |a, b| a.max(b.abs()));
            assert!(
                worst <= 4.5,
                "{} {column}: an hour's mean residual is {worst:.1} standard errors off: {z:?}",
                dep.name
            );
            let (mean, se) = st.total.mean_se(0);
            let expected = st.total.expected[0] / st.total.n;
            assert!(
                mean.abs() <= 4.0 * se && mean.abs() < 0.02 * expected,
                "{} {column}: total residual {mean:.2} ± {se:.2} of {expected:.1} expected",
                dep.name
            );
            let (c_mean, c_se) = st.control.mean_se(0);
            assert!(
                c_mean > 6.0 * c_se,
                "{} {column}: the control that forgets later bookings is not rejected ({c_mean:.2} ± {c_se:.2}): the test has no power",
                dep.name
            );
        }
    }

    fn local(dep: &Department, day: i64, hour: u32) -> DateTime<Utc> {
        local_instant(dep.timezone, dep.start + TimeDelta::days(day), hour, 0)
    }

    #[test]
    fn the_bundled_departments_generated_work_averages_to_the_expectation() {
        let mut dep = Department::bundled();
        dep.days = 12;
        // Tuesday of the second week, 10:00: the next three days.
        let t = local(&dep, 8, 10);
        assert_close(&dep, &["autocontour_jobs"], t, 72);
        // Its dose and plan work follow the stage before (a pipeline): no
        // closed form, said so rather than a wrong expectation.
        let e = dep.expectation("dosecalc_jobs").err().unwrap().to_string();
        assert!(
            e.contains("dosecalc_jobs follows autocontour_jobs's completions"),
            "{e}"
        );
    }

    #[test]
    fn next_morning_dose_work_and_weekend_adaptive_sessions_average_to_the_expectation() {
        // Across the US DST change (1 November) and a weekend's deferral.
        let mut dep = Department::community();
        dep.start = NaiveDate::from_ymd_opt(2026, 10, 26).unwrap();
        dep.days = 14;
        let t = local(&dep, 4, 9); // Friday 09:00: the weekend and Monday morning after.
        assert_close(&dep, &["dosecalc_jobs"], t, 96);
        // Saturday and Sunday MR-Linac sessions, across the Dutch DST change.
        let mut dep = Department::mr_linac();
        dep.days = 14;
        let t = local(&dep, 5, 7); // Saturday 28 March 07:00.
        assert_close(&dep, &["autocontour_jobs", "adaptive_dose_jobs"], t, 72);
    }

    #[test]
    fn nothing_known_is_the_unconditional_mean_and_errors_name_the_column() {
        let mut dep = Department::bundled();
        dep.days = 7;
        let grid = dep.grid();
        let long_before = grid.start - TimeDelta::days(365);
        let e = dep.expectation("autocontour_jobs").unwrap();
        let seeds = 100;
        let mut mean = vec![0.0; grid.len];
        for seed in 0..seeds {
            let g = dep.generate(seed);
            let v = &g.recording.series("autocontour_jobs").unwrap().values;
            mean.iter_mut()
                .zip(v)
                .for_each(|(m, x)| *m += x / seeds as f64);
        }
        // The book does not matter when nothing in it is known yet.
        let a = e.arrivals(&grid, long_before, &[]).unwrap();
        let b = e
            .arrivals(&grid, long_before, &dep.generate(1).schedule)
            .unwrap();
        assert_eq!(a, b);
        let (got, want): (f64, f64) = (mean.iter().sum(), a.iter().sum());
        // About 5 working days × ~800 jobs; the mean of 100 seeds has a
        // standard error of about 0.4 %.
        assert!((got - want).abs() < 0.015 * want, "{got} vs {want}");
        // A sub-grid is the same numbers.
        let sub = Grid::new(grid.time(300), grid.step_secs, 500);
        let s = e.arrivals(&sub, long_before, &[]).unwrap();
        assert_eq!(s, a[300..800].to_vec());

        let err = dep
            .expected_arrivals("contouring", &grid, long_before, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"contouring\"")
                && err.contains("autocontour_jobs, dosecalc_jobs, planopt_jobs"),
            "{err}"
        );
        let odd = Grid::new(grid.start + TimeDelta::seconds(60), grid.step_secs, 10);
        let err = e.arrivals(&odd, long_before, &[]).unwrap_err().to_string();
        assert!(err.contains("aligned"), "{err}");
    }
}
