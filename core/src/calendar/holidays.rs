//! Public holidays of the built-in regional calendars: the days a clinic in
//! the region closes (the calendar's `regions`), and on which a generated
//! department's staff do not work (sessions that run on holidays say so,
//! see `Scanner::on_holidays`).

use chrono::{Datelike, Duration as TimeDelta, NaiveDate, Weekday};

/// Whose public holidays a department keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holidays {
    /// The nationwide German ones ([`is_german_public_holiday`]).
    Germany,
    /// Dutch national holidays: New Year, Easter Monday, King's Day (27 April,
    /// 26 April when the 27th is a Sunday), Liberation Day (5 May, a day off
    /// in lustrum years only: 2025, 2030), Ascension, Whit Monday, 25 and 26
    /// December. Good Friday is not a general day off in the Netherlands.
    Netherlands,
    /// What US hospitals' outpatient departments commonly close for: New
    /// Year's Day, Memorial Day, Independence Day, Labor Day, Thanksgiving and
    /// Christmas Day, a Saturday one observed on the Friday before and a
    /// Sunday one on the Monday after (as federal holidays are, 5 U.S.C. 6103).
    UnitedStates,
}

impl Holidays {
    /// Whether `date` is a public holiday.
    pub fn contains(self, date: NaiveDate) -> bool {
        match self {
            Holidays::Germany => is_german_public_holiday(date),
            Holidays::Netherlands => is_dutch_public_holiday(date),
            Holidays::UnitedStates => is_us_holiday(date),
        }
    }
}

/// Easter Sunday (Gregorian), by the anonymous Gregorian algorithm (Meeus).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

/// Whether `date` is `offset` days from Easter Sunday for one of `offsets`.
fn easter_based(date: NaiveDate, offsets: &[i64]) -> bool {
    let easter = easter_sunday(date.year());
    offsets.iter().any(|d| easter + TimeDelta::days(*d) == date)
}

/// Nationwide German public holidays (those of every federal state): New
/// Year, Good Friday, Easter Monday, Labour Day, Ascension, Whit Monday,
/// German Unity Day, Christmas Day and St Stephen's Day.
pub fn is_german_public_holiday(date: NaiveDate) -> bool {
    let fixed = [(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)];
    fixed.contains(&(date.month(), date.day())) || easter_based(date, &[-2, 1, 39, 50])
}

fn is_dutch_public_holiday(date: NaiveDate) -> bool {
    let (m, d) = (date.month(), date.day());
    let kings_day = {
        let on_27 = NaiveDate::from_ymd_opt(date.year(), 4, 27).expect("valid date");
        if on_27.weekday() == Weekday::Sun {
            26
        } else {
            27
        }
    };
    [(1, 1), (4, kings_day), (12, 25), (12, 26)].contains(&(m, d))
        || ((m, d) == (5, 5) && date.year() % 5 == 0)
        || easter_based(date, &[1, 39, 50])
}

/// The `n`-th (1-based) `weekday` of a month; `n = 0` is the last.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> Option<NaiveDate> {
    if n == 0 {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)?
        };
        let last = next.pred_opt()?;
        let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
        return Some(last - TimeDelta::days(i64::from(back)));
    }
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n as u8)
}

fn is_us_holiday(date: NaiveDate) -> bool {
    let y = date.year();
    // A fixed-date holiday and the weekday it is observed on.
    let observed = |month: u32, day: u32| {
        NaiveDate::from_ymd_opt(y, month, day).map(|d| match d.weekday() {
            Weekday::Sat => d - TimeDelta::days(1),
            Weekday::Sun => d + TimeDelta::days(1),
            _ => d,
        })
    };
    // New Year's Day of the next year can be observed on 31 December.
    let next_new_year = NaiveDate::from_ymd_opt(y + 1, 1, 1)
        .filter(|d| d.weekday() == Weekday::Sat)
        .map(|d| d - TimeDelta::days(1));
    [
        observed(1, 1),
        next_new_year,
        nth_weekday(y, 5, Weekday::Mon, 0),
        observed(7, 4),
        nth_weekday(y, 9, Weekday::Mon, 1),
        nth_weekday(y, 11, Weekday::Thu, 4),
        observed(12, 25),
    ]
    .contains(&Some(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn easter_and_german_holidays_are_right() {
        assert_eq!(easter_sunday(2026), d(2026, 4, 5));
        assert_eq!(easter_sunday(2024), d(2024, 3, 31));
        assert_eq!(easter_sunday(2000), d(2000, 4, 23));
        for h in [
            d(2026, 4, 3),
            d(2026, 4, 6),
            d(2026, 5, 1),
            d(2026, 5, 14),
            d(2026, 5, 25),
            d(2026, 10, 3),
            d(2026, 12, 25),
        ] {
            assert!(is_german_public_holiday(h), "{h}");
        }
        for w in [d(2026, 4, 2), d(2026, 4, 7), d(2026, 3, 29)] {
            assert!(!is_german_public_holiday(w), "{w}");
        }
    }

    #[test]
    fn dutch_holidays() {
        let nl = Holidays::Netherlands;
        // King's Day 2026 is a Monday; in 2025 the 27th was a Sunday.
        for h in [
            d(2026, 4, 6),
            d(2026, 4, 27),
            d(2025, 4, 26),
            d(2025, 5, 5),
            d(2026, 5, 14),
            d(2026, 5, 25),
        ] {
            assert!(nl.contains(h), "{h}");
        }
        for w in [d(2026, 4, 3), d(2026, 5, 5), d(2025, 4, 27), d(2026, 5, 1)] {
            assert!(!nl.contains(w), "{w}");
        }
    }

    #[test]
    fn us_holidays_with_observed_days() {
        let us = Holidays::UnitedStates;
        for h in [
            d(2026, 11, 26), // Thanksgiving
            d(2026, 5, 25),  // Memorial Day, the last Monday of May
            d(2026, 9, 7),   // Labor Day
            d(2026, 7, 3),   // 4 July 2026 is a Saturday
            d(2022, 12, 26), // 25 December 2022 was a Sunday
            d(2021, 12, 31), // New Year 2022 was a Saturday
        ] {
            assert!(us.contains(h), "{h}");
        }
        for w in [
            d(2026, 11, 27),
            d(2026, 7, 4),
            d(2026, 5, 18),
            d(2026, 10, 12),
        ] {
            assert!(!us.contains(w), "{w}");
        }
    }
}
