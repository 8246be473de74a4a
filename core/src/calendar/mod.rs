//! The clinic's working time: opening hours per weekday in the clinic's time
//! zone, public holidays from a built-in regional calendar, and closures (a
//! list of dates, or those read from an iCalendar file or feed).
//!
//! The forecaster uses it three ways (docs/ARCHITECTURE.md, "Working time"):
//! which steps are *busy* (open) for calibrating quantiles, which days are
//! *closed* though their weekday is normally open (a holiday must not teach
//! a weekly model that Mondays are quiet, nor be predicted like a Monday),
//! and a working-time clock, so that "the next working morning" is a short
//! lag for the schedule kernels.
//!
//! Built-in regions are the project's own rules ([`Holidays`]): no crate of
//! regional public holidays that is kept up to date was found (crates.io's
//! `holidays` 0.1.0 and `public_holidays` 0.1.2 each had one release), and
//! the rules are short, tested and documented here.

mod holidays;
pub mod spec;

pub use holidays::{Holidays, easter_sunday, is_german_public_holiday};
pub use spec::CalendarSpec;

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Tz;

use crate::series::Grid;

/// Opening hours of one weekday: local `[start, end)` in minutes since
/// midnight, sorted, not overlapping, `end ≤ 1440`. Empty: closed all day.
pub type DayHours = Vec<(u32, u32)>;

/// What kind of local date a day is in a [`Calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DayKind {
    /// Its weekday has opening hours and it is no holiday.
    Working,
    /// Its weekday has no opening hours (a closed Sunday): the ordinary week.
    Off,
    /// A holiday or closure on a weekday that normally opens.
    Closure,
}

/// The clinic's working time (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub timezone: Tz,
    /// Opening hours per weekday, Monday first.
    pub hours: [DayHours; 7],
    /// Built-in regional public holidays the clinic keeps.
    pub regions: Vec<Holidays>,
    /// Further closed local dates: closures, and holidays from a list or an
    /// iCalendar source.
    pub closed: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Open from `open` to `close` (whole local hours) Monday to Friday.
    pub fn weekdays(timezone: Tz, (open, close): (u32, u32), regions: Vec<Holidays>) -> Self {
        let day = vec![(open * 60, close * 60)];
        let mut hours: [DayHours; 7] = Default::default();
        for h in hours.iter_mut().take(5) {
            *h = day.clone();
        }
        Calendar {
            timezone,
            hours,
            regions,
            closed: BTreeSet::new(),
        }
    }

    /// Whether `date` is a public holiday or a closure.
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.closed.contains(&date) || self.regions.iter().any(|r| r.contains(date))
    }

    /// Whether the clinic opens at all on `date`.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        !self.day_hours(date).is_empty() && !self.is_holiday(date)
    }

    /// Whether `date` is closed though its weekday normally opens: a holiday
    /// or closure on a working weekday (what the forecaster must treat
    /// specially; a closed Sunday is already in the weekly cycle).
    pub fn is_exceptional_closure(&self, date: NaiveDate) -> bool {
        !self.day_hours(date).is_empty() && self.is_holiday(date)
    }

    fn day_hours(&self, date: NaiveDate) -> &DayHours {
        &self.hours[date.weekday().num_days_from_monday() as usize]
    }

    /// Whether the clinic is open at `t`.
    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.timezone);
        let date = local.date_naive();
        if self.is_holiday(date) {
            return false;
        }
        let minute = local.hour() * 60 + local.minute();
        self.day_hours(date)
            .iter()
            .any(|&(a, b)| minute >= a && minute < b)
    }

    /// Per step of `grid`: whether the clinic is open during any part of it
    /// (`[t, t + step)` meets an opening interval). O(days + steps): the
    /// opening intervals are converted to UTC once per local date.
    pub fn open_mask(&self, grid: &Grid) -> Vec<bool> {
        self.open_days(grid).iter().map(Option::is_some).collect()
    }

    /// Per step of `grid`: the local working date whose opening hours it
    /// meets (as days from the Common Era, [`Datelike::num_days_from_ce`]),
    /// `None` while closed. A step meeting two dates' hours takes the first.
    pub fn open_days(&self, grid: &Grid) -> Vec<Option<u32>> {
        let mut out = vec![None; grid.len];
        if grid.len == 0 {
            return out;
        }
        let step = grid.step_secs.max(1);
        let t0 = grid.start.timestamp();
        for (date, a, b) in self.open_intervals(grid.start, grid.end()) {
            let day = u32::try_from(date.num_days_from_ce()).ok();
            // Steps i with t0 + i·step < b and t0 + (i + 1)·step > a.
            let (a, b) = (a.timestamp() - t0, b.timestamp() - t0);
            let first = ((a - step).div_euclid(step) + 1).max(0) as usize;
            let last = (b - 1).div_euclid(step).min(grid.len as i64 - 1);
            if last < 0 {
                continue;
            }
            for o in out.iter_mut().take(last as usize + 1).skip(first) {
                if o.is_none() {
                    *o = day;
                }
            }
        }
        out
    }

    /// The opening intervals `[start, end)` in UTC that meet `[from, to)`,
    /// in order, each with its local date.
    pub fn open_intervals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        if to <= from {
            return out;
        }
        // From the day before: hours past midnight reach into `from`'s date.
        let Some(first) = from.with_timezone(&self.timezone).date_naive().pred_opt() else {
            return out;
        };
        for date in self.local_dates(first, to) {
            if !self.is_holiday(date) {
                for &(a, b) in self.day_hours(date) {
                    let at = |m: u32| {
                        let day = if m >= 1440 { date.succ_opt()? } else { date };
                        let m = m % 1440;
                        crate::schedule::local_to_utc(
                            day.and_hms_opt(m / 60, m % 60, 0)?,
                            self.timezone,
                        )
                    };
                    if let (Some(s), Some(e)) = (at(a), at(b))
                        && e > from
                        && s < to
                        && e > s
                    {
                        out.push((date, s, e));
                    }
                }
            }
        }
        out
    }

    /// The local dates from `first` to `to`'s local date, inclusive.
    fn local_dates(&self, first: NaiveDate, to: DateTime<Utc>) -> impl Iterator<Item = NaiveDate> {
        let last = to.with_timezone(&self.timezone).date_naive();
        std::iter::successors(Some(first), |d| d.succ_opt()).take_while(move |d| *d <= last)
    }

    /// The instant local midnight starts `date` in the clinic's zone.
    fn local_midnight(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        crate::schedule::local_to_utc(date.and_hms_opt(0, 0, 0)?, self.timezone)
    }

    /// Per step of `grid`: what kind of local date its start falls on.
    /// O(days + steps): each local midnight is converted to UTC once.
    pub fn day_kinds(&self, grid: &Grid) -> Vec<DayKind> {
        let mut out = Vec::with_capacity(grid.len);
        if grid.len == 0 {
            return out;
        }
        let step = grid.step_secs.max(1);
        let t0 = grid.start.timestamp();
        let mut date = grid.start.with_timezone(&self.timezone).date_naive();
        let midnight = |d: NaiveDate| self.local_midnight(d).map(|t| t.timestamp());
        while out.len() < grid.len {
            let kind = self.day_kind(date);
            let next = date.succ_opt();
            // Steps starting before the next local midnight are on `date`.
            let end = match next.and_then(midnight) {
                Some(m) => {
                    ((m - t0 + step - 1).div_euclid(step)).clamp(0, grid.len as i64) as usize
                }
                None => grid.len,
            };
            let end = end.max(out.len());
            out.resize(end, kind);
            match next {
                Some(d) => date = d,
                None => {
                    out.resize(grid.len, kind);
                    break;
                }
            }
        }
        out
    }

    /// What kind of day `date` is.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        match (self.day_hours(date).is_empty(), self.is_holiday(date)) {
            (false, false) => DayKind::Working,
            (false, true) => DayKind::Closure,
            (true, _) => DayKind::Off,
        }
    }

    /// The closed periods between `from` and `to` that are not part of the
    /// ordinary week: each exceptional closure's local date with its UTC
    /// start and end (for `planscale forecast` and the report).
    pub fn closures_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        if to <= from {
            return out;
        }
        let first = from.with_timezone(&self.timezone).date_naive();
        for date in self.local_dates(first, to) {
            if self.is_exceptional_closure(date) {
                let start = self.local_midnight(date);
                let end = crate::schedule::end_of_local_day(date, self.timezone);
                if let (Some(s), Some(e)) = (start, end) {
                    out.push((date, s, e));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn berlin() -> Calendar {
        Calendar::weekdays(chrono_tz::Europe::Berlin, (8, 17), vec![Holidays::Germany])
    }

    #[test]
    fn open_hours_are_local_and_holidays_close() {
        let c = berlin();
        // Tuesday 2026-03-31, after the spring change: 08:00 local is 06:00 UTC.
        assert!(c.is_open(Utc.with_ymd_and_hms(2026, 3, 31, 6, 0, 0).unwrap()));
        assert!(!c.is_open(Utc.with_ymd_and_hms(2026, 3, 31, 5, 59, 0).unwrap()));
        // Before it, 08:00 local was 07:00 UTC.
        assert!(!c.is_open(Utc.with_ymd_and_hms(2026, 3, 24, 6, 30, 0).unwrap()));
        assert!(c.is_open(Utc.with_ymd_and_hms(2026, 3, 24, 7, 0, 0).unwrap()));
        // Easter Monday 2026-04-06 and Good Friday 04-03 are closed, a Saturday too.
        assert!(!c.is_open(Utc.with_ymd_and_hms(2026, 4, 6, 10, 0, 0).unwrap()));
        assert!(!c.is_open(Utc.with_ymd_and_hms(2026, 4, 3, 10, 0, 0).unwrap()));
        assert!(!c.is_open(Utc.with_ymd_and_hms(2026, 4, 4, 10, 0, 0).unwrap()));
        assert!(c.is_exceptional_closure(NaiveDate::from_ymd_opt(2026, 4, 6).unwrap()));
        assert!(!c.is_exceptional_closure(NaiveDate::from_ymd_opt(2026, 4, 4).unwrap()));
        assert!(c.is_working_day(NaiveDate::from_ymd_opt(2026, 4, 7).unwrap()));
    }

    #[test]
    fn day_kinds_and_open_steps_match_a_per_step_reading_across_dst() {
        let mut c = berlin();
        c.hours[5] = vec![(8 * 60, 12 * 60 + 30)];
        // 5-minute steps over the spring and autumn changes and Easter.
        for (start, days) in [((2026, 3, 25), 16), ((2026, 10, 21), 10)] {
            let t = Utc
                .with_ymd_and_hms(start.0, start.1, start.2, 13, 2, 0)
                .unwrap();
            let g = Grid::new(t, 300, days * 288);
            let kinds = c.day_kinds(&g);
            let open = c.open_mask(&g);
            for i in 0..g.len {
                let at = g.time(i);
                let date = at.with_timezone(&c.timezone).date_naive();
                assert_eq!(kinds[i], c.day_kind(date), "step {i} at {at}");
                let any = (0..5).any(|m| c.is_open(at + chrono::TimeDelta::minutes(m)));
                assert_eq!(open[i], any, "step {i} at {at}");
            }
        }
    }

    #[test]
    fn masks_follow_the_grid() {
        let mut c = berlin();
        c.closed
            .insert(NaiveDate::from_ymd_opt(2026, 4, 8).unwrap());
        // Hourly from Tuesday 2026-04-07 00:00 UTC, three days.
        let g = Grid::new(Utc.with_ymd_and_hms(2026, 4, 7, 0, 0, 0).unwrap(), 3600, 72);
        let open = c.open_mask(&g);
        // CEST: open 06:00–15:00 UTC on Tuesday; the Wednesday closure; Thursday again.
        let open_hours: Vec<usize> = (0..72).filter(|&i| open[i]).collect();
        assert_eq!(
            open_hours,
            [
                6, 7, 8, 9, 10, 11, 12, 13, 14, 54, 55, 56, 57, 58, 59, 60, 61, 62
            ]
        );
        let closed: Vec<bool> = c
            .day_kinds(&g)
            .into_iter()
            .map(|k| k == DayKind::Closure)
            .collect();
        // Wednesday local is 2026-04-07 22:00 UTC to 04-08 22:00 UTC.
        let closed_hours: Vec<usize> = (0..72).filter(|&i| closed[i]).collect();
        assert_eq!(closed_hours, (22..46).collect::<Vec<_>>());
        let list = c.closures_between(g.start, g.time(71));
        assert_eq!(list.len(), 1);
        assert_eq!(
            list[0].1,
            Utc.with_ymd_and_hms(2026, 4, 7, 22, 0, 0).unwrap()
        );
        // A 5-minute grid: a step that starts at 05:55 UTC is closed, 06:00 open.
        let g5 = Grid::new(Utc.with_ymd_and_hms(2026, 4, 7, 5, 55, 0).unwrap(), 300, 2);
        assert_eq!(c.open_mask(&g5), [false, true]);
    }
}
