//! Working time for the forecaster: a clock that runs only while the clinic
//! is open, and the schedule regression on that clock.
//!
//! Work that staff trigger (a dose calculation once contours are approved, a
//! plan optimisation the next working day) follows the appointment after a
//! delay in *working* time: a scan on Friday afternoon produces its dose
//! calculations on Monday morning, one before Easter on Tuesday. On the wall
//! clock that lag varies from hours to four days; on the working clock it is
//! short and steady, so a kernel of a few working hours captures it.
//!
//! [`WorkingClock`] maps each step of a grid to a slot of the working clock:
//! each working day (a local date with opening hours that is not a holiday)
//! gets `day_len` consecutive slots, its open steps in order; shorter days
//! leave their last slots empty (missing in the regression). Closed steps
//! have no slot: appointments in them count at the next open slot (the work
//! they cause can start no earlier), and the demand in them is forecast by a
//! closed-time profile (what the history shows at that time of week while
//! closed: zero for work done only in working hours).
//!
//! [`WorkingRegression`] is [`ScheduleRegression`] fitted on the slots, with a
//! daily baseline (`day_len` slots); the engine backtests it as one more
//! candidate (`schedule-working-time`) beside the wall-clock regression, so a
//! department whose work follows the wall clock (auto-contouring minutes after
//! the scan, at any hour) keeps that one.

use super::kernel::ScheduleRegression;
use crate::calendar::Calendar;
use crate::series::Grid;

/// Name of the working-time schedule regression in reports.
pub const WORKING_MODEL: &str = "schedule-working-time";

/// No slot: the step is closed.
const CLOSED: u32 = u32::MAX;

/// The working clock over a grid (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingClock {
    /// Per step: its slot, or [`CLOSED`].
    slot: Vec<u32>,
    /// Slots per working day.
    pub day_len: usize,
}

impl WorkingClock {
    /// The clock over `grid` by `calendar`.
    pub fn new(calendar: &Calendar, grid: &Grid) -> WorkingClock {
        let days = calendar.open_days(grid);
        // Slots per day: the most open steps any working day has.
        let mut day_len = 0usize;
        let mut run = 0usize;
        let mut last: Option<u32> = None;
        for d in days.iter().flatten() {
            if Some(*d) == last {
                run += 1;
            } else {
                run = 1;
                last = Some(*d);
            }
            day_len = day_len.max(run);
        }
        let mut slot = vec![CLOSED; days.len()];
        let (mut rank, mut k) = (0usize, 0usize);
        let mut last: Option<u32> = None;
        for (s, d) in slot.iter_mut().zip(&days) {
            let Some(d) = d else { continue };
            match last {
                Some(l) if l == *d => k += 1,
                Some(_) => {
                    rank += 1;
                    k = 0;
                }
                None => k = 0,
            }
            last = Some(*d);
            *s = u32::try_from(rank * day_len + k).unwrap_or(CLOSED);
        }
        WorkingClock { slot, day_len }
    }

    /// Steps covered.
    pub fn len(&self) -> usize {
        self.slot.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot.is_empty()
    }

    /// Whether step `i` is open.
    pub fn is_open(&self, i: usize) -> bool {
        self.slot.get(i).is_some_and(|s| *s != CLOSED)
    }

    /// The slots steps `0..to` reach: one past the slot of the last open step
    /// before `to` (0 when none is open).
    fn slots_before(&self, to: usize) -> usize {
        self.slot[..to.min(self.slot.len())]
            .iter()
            .rev()
            .find(|s| **s != CLOSED)
            .map_or(0, |s| *s as usize + 1)
    }

    /// `values` (on the clock's grid, first `values.len()` steps) on the
    /// slots: open steps at their slot, empty slots `NaN`.
    fn on_slots(&self, values: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; self.slots_before(values.len())];
        for (v, s) in values.iter().zip(&self.slot) {
            if *s != CLOSED {
                out[*s as usize] = *v;
            }
        }
        out
    }

    /// Appointment counts on the slots: those in closed steps added to the
    /// next open slot (or dropped past the clock's last one).
    fn counts_on_slots(&self, counts: &[f64], slots: usize) -> Vec<f64> {
        let mut out = vec![0.0; slots];
        let mut pending = 0.0;
        for (c, s) in counts.iter().zip(&self.slot) {
            let c = if c.is_finite() { *c } else { 0.0 };
            if *s == CLOSED {
                pending += c;
            } else if let Some(o) = out.get_mut(*s as usize) {
                *o += c + pending;
                pending = 0.0;
            }
        }
        out
    }
}

/// The schedule regression on the working clock, with a closed-time profile.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingRegression {
    model: ScheduleRegression,
    /// Demand while closed, by absolute phase of `closed_period` steps.
    closed: Vec<f64>,
}

impl WorkingRegression {
    /// Fits on the first `n = y.len()` steps of `clock` (`y` repaired, no
    /// NaN; `counts[type]` covering at least those steps). `phase0` is the
    /// absolute step of `y[0]`; `period` the closed profile's period (a week
    /// when two weeks exist, else a day, in steps).
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        clock: &WorkingClock,
        y: &[f64],
        counts: &[Vec<f64>],
        phase0: usize,
        period: usize,
        bins: &[(usize, usize)],
        ridge: f64,
    ) -> WorkingRegression {
        let n = y.len().min(clock.len());
        let yc = clock.on_slots(&y[..n]);
        let slots = yc.len();
        let cc: Vec<Vec<f64>> = counts
            .iter()
            .map(|c| clock.counts_on_slots(&c[..n.min(c.len())], slots))
            .collect();
        let model = ScheduleRegression::fit(&yc, &cc, 0, clock.day_len.max(1), 0, bins, ridge);
        let closed = phase_means(&y[..n], phase0, period, |t| !clock.is_open(t));
        WorkingRegression { model, closed }
    }

    /// The forecast at steps `from..to` of `clock`'s grid, where `counts`
    /// covers steps `0..to` (history and booked future) and `phase0` is the
    /// absolute step of step 0.
    pub fn predict(
        &self,
        clock: &WorkingClock,
        counts: &[Vec<f64>],
        phase0: usize,
        from: usize,
        to: usize,
    ) -> Vec<f64> {
        let to = to.min(clock.len());
        let slots = clock.slots_before(to);
        let cc: Vec<Vec<f64>> = counts
            .iter()
            .map(|c| clock.counts_on_slots(&c[..to.min(c.len())], slots))
            .collect();
        let first = clock.slots_before(from);
        let effect = if slots > first {
            self.model.predict(&cc, 0, first, slots)
        } else {
            Vec::new()
        };
        let period = self.closed.len().max(1);
        (from..to)
            .map(|t| {
                if clock.is_open(t) {
                    effect
                        .get(clock.slot[t] as usize - first)
                        .copied()
                        .unwrap_or(0.0)
                } else {
                    self.closed[(phase0 + t) % period]
                }
            })
            .collect()
    }
}

/// Mean of the finite `y[t]` with `keep(t)` by phase `(phase0 + t) % period`
/// (0 for a phase with none): a profile of part of a history, e.g. its
/// closed steps.
pub(crate) fn phase_means(
    y: &[f64],
    phase0: usize,
    period: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<f64> {
    let period = period.max(1);
    let (mut sums, mut cnt) = (vec![0.0; period], vec![0usize; period]);
    for (t, v) in y.iter().enumerate() {
        if keep(t) && v.is_finite() {
            let ph = (phase0 + t) % period;
            sums[ph] += v;
            cnt[ph] += 1;
        }
    }
    sums.iter()
        .zip(&cnt)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Holidays;
    use chrono::{TimeZone, Utc};

    /// Hourly from Monday 2026-03-23 00:00 local (Berlin, UTC+1): 23 days.
    fn setup() -> (Calendar, Grid) {
        let cal = Calendar::weekdays(chrono_tz::Europe::Berlin, (8, 17), vec![Holidays::Germany]);
        let g = Grid::new(
            Utc.with_ymd_and_hms(2026, 3, 22, 23, 0, 0).unwrap(),
            3600,
            21 * 24,
        );
        (cal, g)
    }

    #[test]
    fn the_clock_counts_working_hours_only_in_local_time() {
        let (cal, g) = setup();
        let c = WorkingClock::new(&cal, &g);
        assert_eq!(c.day_len, 9);
        // Monday 08:00 local = 07:00 UTC = step 8.
        assert!(!c.is_open(7) && c.is_open(8) && c.is_open(16) && !c.is_open(17));
        assert_eq!((c.slot[8], c.slot[16]), (0, 8));
        // Tuesday 08:00 is slot 9.
        assert_eq!(c.slot[24 + 8], 9);
        // After the DST change (Sunday 03-29), Monday 03-30 08:00 local is 06:00 UTC:
        // step 7 * 24 + 7; five working days before it.
        assert_eq!(c.slot[7 * 24 + 7], 45);
        assert!(!c.is_open(7 * 24 + 6));
        // Good Friday 04-03 and Easter Monday 04-06 have no slots: Thursday
        // 04-02 is the 9th working day, Tuesday 04-07 the 10th.
        assert!(!c.is_open(11 * 24 + 10) && !c.is_open(14 * 24 + 10));
        assert_eq!(c.slot[10 * 24 + 7], 8 * 9);
        assert_eq!(c.slot[15 * 24 + 7], 9 * 9);
    }

    #[test]
    fn next_working_morning_work_is_a_short_lag_across_weekends_and_holidays() {
        let (cal, _) = setup();
        // Hourly from Monday 2026-03-30 00:00 local (CEST, after the change):
        // Good Friday and Easter Monday in the history.
        let g = Grid::new(
            Utc.with_ymd_and_hms(2026, 3, 29, 22, 0, 0).unwrap(),
            3600,
            23 * 24,
        );
        let clock = WorkingClock::new(&cal, &g);
        // One appointment at 10:00 local every working day; each causes 3 jobs
        // at the next working day's 09:00 (the demand only in working hours).
        let n = g.len;
        let mut counts = vec![0.0; n];
        let mut y = vec![0.0; n];
        let open_days: Vec<usize> = (0..23).filter(|d| clock.is_open(d * 24 + 9)).collect();
        // Counts that vary from day to day (a daily-periodic book would be
        // explained as well by the baseline as by the kernel).
        for (i, w) in open_days.windows(2).enumerate() {
            let c = 1.0 + (i % 3) as f64;
            counts[w[0] * 24 + 9] = c;
            y[w[1] * 24 + 8] = 3.0 * c;
        }
        let h = 6 * 24;
        let fit_n = n - h;
        let bins: Vec<(usize, usize)> = (0..=12).map(|l| (l, l + 1)).collect();
        let m = WorkingRegression::fit(&clock, &y[..fit_n], &[counts.clone()], 0, 24, &bins, 1e-6);
        let p = m.predict(&clock, &[counts.clone()], 0, fit_n, n);
        let err = p
            .iter()
            .zip(&y[fit_n..])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(err < 0.15, "max error {err}: {p:?}");
        // Every arrival in the horizon found, the one after the weekend too
        // (71 h on the wall clock, 8 slots on the working clock).
        let arrivals = y[fit_n..].iter().filter(|v| **v > 0.0).count();
        assert!(arrivals >= 3);
        assert_eq!(p.iter().filter(|v| **v > 2.5).count(), arrivals);
        assert!((m.model.kernel.per_lag[0][8] - 3.0).abs() < 0.2);
    }
}
