//! A seeded generator of realistic radiotherapy departments: an appointment
//! book (CT and MR simulation, in the clinic's time zone, weekdays in working
//! hours, none on public holidays) and the planning work it causes, as a
//! recording of arrivals per step for each application.
//!
//! Assumptions (documented in `examples/clinic/README.md`, where the numbers
//! come from is said there):
//! - each simulation scanner works slots of fixed length in working hours;
//!   each slot is booked with a probability that depends on the weekday;
//! - a booked appointment is a no-show with a small probability (it stays in
//!   the schedule but causes no work); add-on cases (emergencies, palliative
//!   same-day cases) happen but are not in the schedule;
//! - every appointment that happens causes, per application, a Poisson number
//!   of jobs after a log-normal delay; staff-triggered work (dose calculation,
//!   optimisation) only starts in working hours, so a delay that ends outside
//!   them moves to the next working period;
//! - a small background load (re-plans, QA, research) arrives as a Poisson
//!   process with a working-hours profile.
//!
//! The same seed gives the same files, byte for byte.

use std::io::Write;

use chrono::{
    DateTime, Datelike, Duration as TimeDelta, NaiveDate, NaiveTime, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};

use crate::recording::Recording;
use crate::schedule::Appointment;
use crate::series::Grid;

/// A simulation scanner (CT1, MR1, ...) and how it is booked.
#[derive(Debug, Clone)]
pub struct Scanner {
    pub resource: &'static str,
    /// Appointment type booked on it.
    pub kind: &'static str,
    /// Slot length in minutes.
    pub slot_minutes: u32,
    /// Local opening and closing time.
    pub open: (u32, u32),
    pub close: (u32, u32),
    /// Probability that a slot is booked, Monday..Friday.
    pub fill: [f64; 5],
}

/// Work that one appointment type causes for one application.
#[derive(Debug, Clone)]
pub struct Response {
    pub kind: &'static str,
    /// Mean number of jobs per appointment that happens (Poisson).
    pub jobs: f64,
    /// Median delay from appointment start to each job, minutes.
    pub delay_median_min: f64,
    /// Spread of the delay (log-normal sigma).
    pub delay_sigma: f64,
    /// Whether the work only starts in working hours (staff-triggered).
    pub working_hours_only: bool,
}

/// One application of the department: a column of the recording.
#[derive(Debug, Clone)]
pub struct Application {
    /// Recording column name.
    pub column: &'static str,
    pub responses: Vec<Response>,
    /// Mean background jobs per hour inside working hours (Poisson).
    pub background_per_hour: f64,
}

/// A department to generate.
#[derive(Debug, Clone)]
pub struct Department {
    pub name: &'static str,
    pub timezone: Tz,
    /// First day (a Monday is natural) and number of days.
    pub start: NaiveDate,
    pub days: u32,
    /// Recording step, seconds.
    pub step_secs: i64,
    pub scanners: Vec<Scanner>,
    pub no_show_rate: f64,
    /// Mean add-on cases per working day, per appointment type (not in the schedule).
    pub add_ons_per_day: Vec<(&'static str, f64)>,
    /// Staff working hours (local), for staff-triggered work.
    pub working_hours: (u32, u32),
    pub applications: Vec<Application>,
}

/// What the generator produces.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Booked appointments (no-shows included, add-ons not).
    pub schedule: Vec<Appointment>,
    /// Arrivals per step, one column per application.
    pub recording: Recording,
    /// Counts for the README: booked, no-shows, add-ons.
    pub booked: usize,
    pub no_shows: usize,
    pub add_ons: usize,
}

impl Department {
    /// The bundled example: a German department with four CT and two MR
    /// simulation scanners, eight weeks from Monday 2026-03-02 (across the
    /// spring DST change and Easter) at a 5-minute step.
    pub fn bundled() -> Department {
        let ct = |resource| Scanner {
            resource,
            kind: "CT-SIM",
            slot_minutes: 20,
            open: (7, 30),
            close: (16, 30),
            fill: [0.85, 0.8, 0.8, 0.75, 0.6],
        };
        let mr = |resource| Scanner {
            resource,
            kind: "MR-SIM",
            slot_minutes: 45,
            open: (8, 0),
            close: (16, 0),
            fill: [0.8, 0.8, 0.75, 0.75, 0.55],
        };
        Department {
            name: "clinic",
            timezone: chrono_tz::Europe::Berlin,
            start: NaiveDate::from_ymd_opt(2026, 3, 2).expect("valid date"),
            days: 56,
            step_secs: 300,
            scanners: vec![
                ct("CT1"),
                ct("CT2"),
                ct("CT3"),
                ct("CT4"),
                mr("MR1"),
                mr("MR2"),
            ],
            no_show_rate: 0.05,
            add_ons_per_day: vec![("CT-SIM", 3.0), ("MR-SIM", 0.5)],
            working_hours: (8, 17),
            applications: vec![
                Application {
                    column: "autocontour_jobs",
                    responses: vec![
                        Response {
                            kind: "CT-SIM",
                            jobs: 8.0,
                            delay_median_min: 20.0,
                            delay_sigma: 0.35,
                            working_hours_only: false,
                        },
                        Response {
                            kind: "MR-SIM",
                            jobs: 12.0,
                            delay_median_min: 35.0,
                            delay_sigma: 0.35,
                            working_hours_only: false,
                        },
                    ],
                    background_per_hour: 4.0,
                },
                Application {
                    column: "dosecalc_jobs",
                    responses: vec![
                        Response {
                            kind: "CT-SIM",
                            jobs: 10.0,
                            delay_median_min: 240.0,
                            delay_sigma: 0.45,
                            working_hours_only: true,
                        },
                        Response {
                            kind: "MR-SIM",
                            jobs: 12.0,
                            delay_median_min: 300.0,
                            delay_sigma: 0.45,
                            working_hours_only: true,
                        },
                    ],
                    background_per_hour: 20.0,
                },
                Application {
                    column: "planopt_jobs",
                    responses: vec![
                        Response {
                            kind: "CT-SIM",
                            jobs: 3.0,
                            delay_median_min: 1440.0,
                            delay_sigma: 0.25,
                            working_hours_only: true,
                        },
                        Response {
                            kind: "MR-SIM",
                            jobs: 4.0,
                            delay_median_min: 1560.0,
                            delay_sigma: 0.25,
                            working_hours_only: true,
                        },
                    ],
                    background_per_hour: 3.0,
                },
            ],
        }
    }

    /// A second, different department (for checking that nothing is tuned to
    /// the first): a proton and photon centre in Zurich with PET-CT and 4D-CT
    /// simulation, longer auto-contouring lags, six weeks from 2026-09-28
    /// (across the autumn DST change).
    pub fn second() -> Department {
        let scanner = |resource, kind, slot_minutes, fill| Scanner {
            resource,
            kind,
            slot_minutes,
            open: (7, 0),
            close: (17, 0),
            fill,
        };
        Department {
            name: "centre",
            timezone: chrono_tz::Europe::Zurich,
            start: NaiveDate::from_ymd_opt(2026, 9, 28).expect("valid date"),
            days: 42,
            step_secs: 300,
            scanners: vec![
                scanner("PETCT1", "PET-CT", 60, [0.7, 0.9, 0.9, 0.9, 0.5]),
                scanner("CT4D1", "4D-CT", 30, [0.8, 0.8, 0.8, 0.8, 0.8]),
                scanner("CT4D2", "4D-CT", 30, [0.9, 0.7, 0.7, 0.6, 0.4]),
            ],
            no_show_rate: 0.08,
            add_ons_per_day: vec![("4D-CT", 1.0)],
            working_hours: (7, 18),
            applications: vec![Application {
                column: "autocontour_jobs",
                responses: vec![
                    Response {
                        kind: "PET-CT",
                        jobs: 15.0,
                        delay_median_min: 90.0,
                        delay_sigma: 0.3,
                        working_hours_only: false,
                    },
                    Response {
                        kind: "4D-CT",
                        jobs: 10.0,
                        delay_median_min: 45.0,
                        delay_sigma: 0.3,
                        working_hours_only: false,
                    },
                ],
                background_per_hour: 2.0,
            }],
        }
    }

    /// Generate the schedule and the recording with a seeded RNG.
    pub fn generate(&self, seed: u64) -> Generated {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let tz = self.timezone;
        let start = local_instant(tz, self.start, 0, 0);
        let end = local_instant(tz, self.start + TimeDelta::days(i64::from(self.days)), 0, 0);
        let len = ((end - start).num_seconds() / self.step_secs) as usize;
        let grid = Grid::new(start, self.step_secs, len);

        let mut schedule = Vec::new();
        let mut happened: Vec<(DateTime<Utc>, &'static str)> = Vec::new();
        let (mut booked, mut no_shows, mut add_ons) = (0, 0, 0);
        for day in 0..self.days {
            let date = self.start + TimeDelta::days(i64::from(day));
            let Some(weekday) = weekday_index(date) else {
                continue;
            };
            if is_german_public_holiday(date) {
                continue;
            }
            for s in &self.scanners {
                let open = local_instant(tz, date, s.open.0, s.open.1);
                let close = local_instant(tz, date, s.close.0, s.close.1);
                let slot = TimeDelta::minutes(i64::from(s.slot_minutes));
                let mut t = open;
                while t + slot <= close {
                    if rng.random::<f64>() < s.fill[weekday] {
                        booked += 1;
                        schedule.push(Appointment {
                            start: t,
                            end: t + slot,
                            kind: s.kind.to_string(),
                            resource: Some(s.resource.to_string()),
                        });
                        if rng.random::<f64>() < self.no_show_rate {
                            no_shows += 1;
                        } else {
                            happened.push((t, s.kind));
                        }
                    }
                    t += slot;
                }
            }
            // Add-on cases: same-day, in working hours, not in the book.
            for (kind, mean) in &self.add_ons_per_day {
                let n = poisson(&mut rng, *mean);
                for _ in 0..n {
                    let (h0, h1) = self.working_hours;
                    let minute = rng.random_range(0..(h1 - h0) * 60);
                    happened.push((local_instant(tz, date, h0 + minute / 60, minute % 60), kind));
                    add_ons += 1;
                }
            }
        }
        schedule.sort();
        happened.sort();

        let mut columns = Vec::new();
        for app in &self.applications {
            let mut values = vec![0.0; len];
            for (at, kind) in &happened {
                for r in app.responses.iter().filter(|r| r.kind == *kind) {
                    let delay = LogNormal::new(r.delay_median_min.ln(), r.delay_sigma)
                        .expect("valid log-normal parameters");
                    for _ in 0..poisson(&mut rng, r.jobs) {
                        let minutes = delay.sample(&mut rng);
                        let mut when = *at + TimeDelta::seconds((minutes * 60.0) as i64);
                        if r.working_hours_only {
                            when = self.next_working_time(when);
                        }
                        if let Some(i) = grid.index_of(when) {
                            values[i] += 1.0;
                        }
                    }
                }
            }
            // Background: Poisson per step inside working hours.
            let per_step = app.background_per_hour * self.step_secs as f64 / 3600.0;
            for (i, v) in values.iter_mut().enumerate() {
                let t = grid.time(i);
                if self.is_working_time(t) {
                    *v += poisson(&mut rng, per_step) as f64;
                }
            }
            columns.push((app.column.to_string(), values));
        }
        Generated {
            schedule,
            recording: Recording { grid, columns },
            booked,
            no_shows,
            add_ons,
        }
    }

    /// Whether `t` is inside staff working hours on a working day.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.timezone);
        let date = local.date_naive();
        weekday_index(date).is_some()
            && !is_german_public_holiday(date)
            && local.hour() >= self.working_hours.0
            && local.hour() < self.working_hours.1
    }

    /// `t` if it is working time, else the start of the next working period.
    fn next_working_time(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_working_time(t) {
            return t;
        }
        let local = t.with_timezone(&self.timezone);
        let mut date = local.date_naive();
        if local.hour() >= self.working_hours.0 {
            date += TimeDelta::days(1);
        }
        for _ in 0..14 {
            if weekday_index(date).is_some() && !is_german_public_holiday(date) {
                // Spread the morning's catch-up over the first hour.
                let jitter = (t.timestamp().rem_euclid(3600)) / 60;
                return local_instant(self.timezone, date, self.working_hours.0, jitter as u32);
            }
            date += TimeDelta::days(1);
        }
        t
    }
}

/// Write `schedule.csv` (`start,end,type,resource`, UTC RFC 3339).
pub fn write_schedule_csv(appointments: &[Appointment], w: &mut dyn Write) -> std::io::Result<()> {
    writeln!(w, "start,end,type,resource")?;
    for a in appointments {
        writeln!(
            w,
            "{},{},{},{}",
            a.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            a.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            a.kind,
            a.resource.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Monday = 0 .. Friday = 4; `None` at weekends.
fn weekday_index(date: NaiveDate) -> Option<usize> {
    match date.weekday() {
        Weekday::Sat | Weekday::Sun => None,
        d => Some(d.num_days_from_monday() as usize),
    }
}

/// The instant of a local wall-clock time (the earlier one if ambiguous, the
/// time after the gap if it does not exist).
fn local_instant(tz: Tz, date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let naive = date.and_time(NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN));
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
        chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(naive + TimeDelta::hours(1)))
            .earliest()
            .map_or_else(|| Utc.from_utc_datetime(&naive), |t| t.with_timezone(&Utc)),
    }
}

fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    Poisson::new(mean).map_or(0, |p| p.sample(rng) as u64)
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

/// Nationwide German public holidays (those of every federal state): New
/// Year, Good Friday, Easter Monday, Labour Day, Ascension, Whit Monday,
/// German Unity Day, Christmas Day and St Stephen's Day.
pub fn is_german_public_holiday(date: NaiveDate) -> bool {
    let fixed = [(1, 1), (5, 1), (10, 3), (12, 25), (12, 26)];
    if fixed.contains(&(date.month(), date.day())) {
        return true;
    }
    let easter = easter_sunday(date.year());
    [-2, 1, 39, 50]
        .iter()
        .any(|d| easter + TimeDelta::days(*d) == date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easter_and_holidays_are_right() {
        assert_eq!(
            easter_sunday(2026),
            NaiveDate::from_ymd_opt(2026, 4, 5).unwrap()
        );
        assert_eq!(
            easter_sunday(2024),
            NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()
        );
        assert_eq!(
            easter_sunday(2000),
            NaiveDate::from_ymd_opt(2000, 4, 23).unwrap()
        );
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        for h in [
            d(4, 3),
            d(4, 6),
            d(5, 1),
            d(5, 14),
            d(5, 25),
            d(10, 3),
            d(12, 25),
        ] {
            assert!(is_german_public_holiday(h), "{h}");
        }
        for w in [d(4, 2), d(4, 7), d(3, 29)] {
            assert!(!is_german_public_holiday(w), "{w}");
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_data() {
        let mut dep = Department::bundled();
        dep.days = 7;
        let a = dep.generate(7);
        let b = dep.generate(7);
        let c = dep.generate(8);
        assert_eq!(a.schedule, b.schedule);
        assert_eq!(format!("{:?}", a.recording), format!("{:?}", b.recording));
        assert_ne!(a.schedule, c.schedule);
    }

    #[test]
    fn no_appointments_at_weekends_holidays_or_outside_hours() {
        let g = Department::bundled().generate(1);
        let tz = chrono_tz::Europe::Berlin;
        assert!(g.booked > 1000, "{}", g.booked);
        for a in &g.schedule {
            let local = a.start.with_timezone(&tz);
            let date = local.date_naive();
            assert!(weekday_index(date).is_some(), "weekend {local}");
            assert!(!is_german_public_holiday(date), "holiday {local}");
            let hm = (local.hour(), local.minute());
            assert!(((7, 30)..(16, 30)).contains(&hm), "hours {local}");
        }
        // After the DST change (2026-03-29) the first CT slot is still 07:30 local.
        let after: Vec<_> = g
            .schedule
            .iter()
            .filter(|a| {
                a.start.with_timezone(&tz).date_naive()
                    == NaiveDate::from_ymd_opt(2026, 3, 30).unwrap()
            })
            .map(|a| a.start.with_timezone(&tz).time())
            .collect();
        assert!(
            after
                .iter()
                .any(|t| *t == NaiveTime::from_hms_opt(7, 30, 0).unwrap())
        );
    }

    #[test]
    fn work_follows_appointments() {
        let g = Department::bundled().generate(3);
        let auto = g.recording.series("autocontour_jobs").unwrap();
        let tz = chrono_tz::Europe::Berlin;
        let (mut weekday, mut weekend) = (0.0, 0.0);
        for (i, v) in auto.values.iter().enumerate() {
            let local = auto.grid.time(i).with_timezone(&tz);
            if weekday_index(local.date_naive()).is_some() {
                weekday += v;
            } else {
                weekend += v;
            }
        }
        assert!(weekend == 0.0, "auto-contouring at the weekend: {weekend}");
        // About (booked - no-shows + add-ons) x ~8.5 jobs + background.
        let cases = (g.booked - g.no_shows + g.add_ons) as f64;
        assert!(
            weekday > cases * 6.0 && weekday < cases * 14.0,
            "{weekday} for {cases} cases"
        );
    }
}
