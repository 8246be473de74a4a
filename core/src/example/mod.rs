//! A seeded generator of realistic radiotherapy departments: an appointment
//! book (simulation scanners and treatment sessions, in the clinic's time
//! zone, in opening hours, none on public holidays unless a session says so)
//! and the planning work it causes, as a recording of arrivals per step for
//! each application.
//!
//! Assumptions (the bundled department's are in `examples/clinic/README.md`,
//! where the numbers come from is said there; the others in
//! docs/ARCHITECTURE.md, "Example data"):
//! - each scanner works slots of fixed length in its opening hours; each
//!   slot is booked with a probability that depends on the weekday (0: no
//!   session that day);
//! - a booked slot has a booking time ([`Booking`]): most are booked days to
//!   weeks ahead (log-normal lead), a share the same day (same-day add-ons
//!   that are in the book, booked minutes to hours before the start) and a
//!   share are reschedules (an appointment moved into the slot, booked when
//!   it was moved, hours to days ahead);
//! - a booked appointment is a no-show with a small probability (it stays in
//!   the schedule but causes no work); walk-in add-on cases (emergencies,
//!   palliative same-day cases nobody books) happen but are not in the
//!   schedule;
//! - every appointment that happens causes, per application, a Poisson number
//!   of jobs after a log-normal delay; staff-triggered work (dose calculation,
//!   optimisation) only starts in working hours, so a delay that ends outside
//!   them moves to the next working period;
//! - a small background load (re-plans, QA, research) arrives as a Poisson
//!   process with a working-hours profile.
//!
//! The same seed gives the same files, byte for byte. Booking times come
//! from their own random stream, so adding them left every slot, no-show and
//! job of a seed as it was.
//!
//! [`Department::expected_arrivals`] is the generator's true expected demand
//! given what was booked by a time: what a perfect forecaster could know.

mod departments;
mod expected;

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

pub use crate::calendar::{Holidays, easter_sunday, is_german_public_holiday};
pub use departments::NAMES;
pub use expected::Expectation;

/// Errors of [`Department::expected_arrivals`] and [`Department::expectation`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("department {department}: no application column {column:?} (expected one of: {valid})")]
    UnknownColumn {
        department: String,
        column: String,
        valid: String,
    },
    #[error("department {department}: {message}")]
    Grid { department: String, message: String },
    #[error(
        "department {department}: {column} follows {upstream}'s completions (a pipeline stage): its expected demand has no closed form here; the expectation covers work caused by appointments directly"
    )]
    Pipeline {
        department: String,
        column: String,
        upstream: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A scanner or treatment machine (CT1, MR1, MRL1, ...) and how it is booked.
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
    /// Probability that a slot is booked, Monday..Sunday (0: no sessions).
    pub fill: [f64; 7],
    /// Whether its sessions run on public holidays too.
    pub on_holidays: bool,
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
    /// Work each appointment type causes directly.
    pub responses: Vec<Response>,
    /// Mean background jobs per hour inside working hours (Poisson).
    pub background_per_hour: f64,
    /// Work caused by an earlier stage's finished cases (a pipeline stage),
    /// besides any `responses`.
    pub upstream: Option<FromUpstream>,
    /// The recording also has this stage's finished jobs per step.
    pub completions: Option<Completions>,
}

/// When a stage's jobs finish: `arrival + service + wait`, the wait
/// exponential with mean `wait_mean_min` (the workers kept up: the
/// department's recording is of a service that met its SLO).
#[derive(Debug, Clone)]
pub struct Completions {
    /// Recording column of finished jobs per step.
    pub column: &'static str,
    /// Minutes one job takes.
    pub service_min: f64,
    pub wait_mean_min: f64,
}

/// A pipeline stage's work: a case (one appointment that happened, or a
/// walk-in) whose jobs in the upstream stage have all finished is approved
/// by staff after a log-normal delay counted in working time, and then
/// causes a Poisson number of jobs with mean `per_job` × the case's
/// upstream jobs (a case with more structures to contour has more dose
/// calculations), each after a further log-normal delay in working time
/// (the person runs them while planning). A case with no upstream jobs
/// causes none.
#[derive(Debug, Clone)]
pub struct FromUpstream {
    /// The upstream application's column (it must have `completions`).
    pub column: &'static str,
    /// Mean jobs per upstream job of an approved case, by appointment type.
    pub per_job: Vec<(&'static str, f64)>,
    /// Median working minutes from the case's last upstream job finishing to
    /// its approval, and the log-normal sigma.
    pub approval_median_min: f64,
    pub approval_sigma: f64,
    /// Median working minutes from approval to each job, and the sigma.
    pub spread_median_min: f64,
    pub spread_sigma: f64,
}

/// When booked slots were booked. Shares are of booked slots; the rest are
/// booked ahead.
#[derive(Debug, Clone)]
pub struct Booking {
    /// Median lead (days before the start) of a slot booked ahead (log-normal).
    pub lead_median_days: f64,
    /// Spread of that lead (log-normal sigma).
    pub lead_sigma: f64,
    /// Share booked the same day: same-day add-ons that are in the book.
    pub same_day_share: f64,
    /// Their lead, minutes before the start: uniform in this range.
    pub same_day_lead_min: (f64, f64),
    /// Share holding a rescheduled appointment: moved into the slot from an
    /// earlier booking, and booked (into this slot) when it was moved.
    pub reschedule_share: f64,
    /// Their lead, hours before the start: uniform in this range.
    pub reschedule_lead_hours: (f64, f64),
}

/// How a booked slot was booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Late {
    Ahead,
    SameDay,
    Rescheduled,
}

impl Booking {
    /// A booking time for a slot starting at `start`, and how it was booked.
    fn draw(&self, rng: &mut ChaCha8Rng, start: DateTime<Utc>) -> (DateTime<Utc>, Late) {
        let uniform = |rng: &mut ChaCha8Rng, (a, b): (f64, f64), unit: f64| {
            (a + (b - a) * rng.random::<f64>()) * unit
        };
        let u: f64 = rng.random();
        let (lead_secs, how) = if u < self.same_day_share {
            (uniform(rng, self.same_day_lead_min, 60.0), Late::SameDay)
        } else if u < self.same_day_share + self.reschedule_share {
            (
                uniform(rng, self.reschedule_lead_hours, 3600.0),
                Late::Rescheduled,
            )
        } else {
            let lead = LogNormal::new((self.lead_median_days * 86_400.0).ln(), self.lead_sigma)
                .expect("valid log-normal parameters");
            (lead.sample(rng), Late::Ahead)
        };
        (start - TimeDelta::seconds(lead_secs as i64), how)
    }

    /// P(a booked slot was booked at least `lead_secs` before its start):
    /// the share of a slot's bookings known `lead_secs` ahead. The draw
    /// truncates the lead to whole seconds, so for whole seconds this is
    /// exact.
    fn known_ahead(&self, lead_secs: f64) -> f64 {
        if lead_secs <= 0.0 {
            return 1.0;
        }
        let uniform_beyond = |(a, b): (f64, f64), unit: f64| {
            let (a, b) = (a * unit, b * unit);
            if lead_secs <= a {
                1.0
            } else if lead_secs >= b {
                0.0
            } else {
                (b - lead_secs) / (b - a)
            }
        };
        let ahead = statrs::distribution::LogNormal::new(
            (self.lead_median_days * 86_400.0).ln(),
            self.lead_sigma,
        )
        .map_or(1.0, |d| {
            1.0 - statrs::distribution::ContinuousCDF::cdf(&d, lead_secs)
        });
        let late = self.same_day_share + self.reschedule_share;
        self.same_day_share * uniform_beyond(self.same_day_lead_min, 60.0)
            + self.reschedule_share * uniform_beyond(self.reschedule_lead_hours, 3600.0)
            + (1.0 - late) * ahead
    }
}

/// What `planscale example` writes as the department's policy: the bundled
/// auto-contouring policy with these changed (and the department's time
/// zone, types and step).
#[derive(Debug, Clone)]
pub struct PolicyShape {
    /// The application column the policy scales (its arrivals series).
    pub column: &'static str,
    /// Jobs one ready replica finishes per minute.
    pub per_replica_per_min: f64,
    /// Minutes before a new replica serves.
    pub startup_min: u32,
    pub max_replicas: u32,
    /// `schedule.max_lag`, hours: the longest appointment-to-work delay the
    /// forecaster's kernels span.
    pub max_lag_hours: u32,
}

/// A department to generate.
#[derive(Debug, Clone)]
pub struct Department {
    /// The name `planscale example --department` takes.
    pub name: &'static str,
    pub timezone: Tz,
    /// Public holidays: staff off, scanners closed (unless `on_holidays`).
    pub holidays: Holidays,
    /// First day (a Monday is natural) and number of days.
    pub start: NaiveDate,
    pub days: u32,
    /// Recording step, seconds.
    pub step_secs: i64,
    pub scanners: Vec<Scanner>,
    pub booking: Booking,
    pub no_show_rate: f64,
    /// Mean walk-in add-on cases per working day, per appointment type (not in the schedule).
    pub add_ons_per_day: Vec<(&'static str, f64)>,
    /// Staff working hours (local), for staff-triggered work.
    pub working_hours: (u32, u32),
    pub applications: Vec<Application>,
    pub policy: PolicyShape,
}

/// What the generator produces.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Booked appointments (no-shows included, walk-in add-ons not), each
    /// with its booking time.
    pub schedule: Vec<Appointment>,
    /// Arrivals per step, one column per application.
    pub recording: Recording,
    /// Counts for the README: booked, no-shows, walk-in add-ons, and of the
    /// booked those booked the same day and those rescheduled.
    pub booked: usize,
    pub no_shows: usize,
    pub add_ons: usize,
    pub same_day: usize,
    pub rescheduled: usize,
}

/// One slot of a department's book.
#[derive(Debug, Clone, Copy)]
struct Slot {
    scanner: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// Probability that it is booked.
    fill: f64,
}

impl Department {
    /// The generated grid: local midnight of the first day to local midnight
    /// after the last, at the department's step.
    pub fn grid(&self) -> Grid {
        let start = local_instant(self.timezone, self.start, 0, 0);
        let end = local_instant(
            self.timezone,
            self.start + TimeDelta::days(i64::from(self.days)),
            0,
            0,
        );
        let len = ((end - start).num_seconds() / self.step_secs) as usize;
        Grid::new(start, self.step_secs, len)
    }

    /// The slots of one day, scanner by scanner, in time order: the order the
    /// generator draws them in.
    fn day_slots(&self, date: NaiveDate) -> Vec<Slot> {
        let day = date.weekday().num_days_from_monday() as usize;
        let holiday = self.holidays.contains(date);
        let mut out = Vec::new();
        for (i, s) in self.scanners.iter().enumerate() {
            let fill = s.fill[day];
            if fill <= 0.0 || (holiday && !s.on_holidays) {
                continue;
            }
            let tz = self.timezone;
            let open = local_instant(tz, date, s.open.0, s.open.1);
            let close = local_instant(tz, date, s.close.0, s.close.1);
            let slot = TimeDelta::minutes(i64::from(s.slot_minutes));
            let mut t = open;
            while t + slot <= close {
                out.push(Slot {
                    scanner: i,
                    start: t,
                    end: t + slot,
                    fill,
                });
                t += slot;
            }
        }
        out
    }

    /// The local dates generated.
    fn dates(&self) -> impl Iterator<Item = NaiveDate> + '_ {
        (0..self.days).map(|d| self.start + TimeDelta::days(i64::from(d)))
    }

    /// The department's working time as a policy's calendar states it:
    /// staff hours Monday to Friday in its zone, its public holidays closed.
    pub fn calendar(&self) -> crate::calendar::Calendar {
        crate::calendar::Calendar::weekdays(self.timezone, self.working_hours, vec![self.holidays])
    }

    /// Whether staff work on `date` (a weekday that is not a holiday).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        weekday_index(date).is_some() && !self.holidays.contains(date)
    }

    /// The local start of each walk-in add-on minute of a working day, with
    /// its probability: add-ons start uniformly in the working hours.
    fn add_on_minutes(&self, date: NaiveDate) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        let (h0, h1) = self.working_hours;
        (0..(h1 - h0) * 60).map(move |m| local_instant(self.timezone, date, h0 + m / 60, m % 60))
    }

    /// Generate the schedule and the recording with a seeded RNG.
    pub fn generate(&self, seed: u64) -> Generated {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Booking times on their own stream: the slots, no-shows and work of
        // a seed do not depend on them.
        let mut booking_rng = ChaCha8Rng::seed_from_u64(seed);
        booking_rng.set_stream(1);
        let tz = self.timezone;
        let grid = self.grid();
        let len = grid.len;

        let mut schedule = Vec::new();
        let mut happened: Vec<(DateTime<Utc>, &'static str)> = Vec::new();
        let (mut booked, mut no_shows, mut add_ons) = (0, 0, 0);
        let (mut same_day, mut rescheduled) = (0, 0);
        for date in self.dates() {
            for slot in self.day_slots(date) {
                let s = &self.scanners[slot.scanner];
                if rng.random::<f64>() < slot.fill {
                    booked += 1;
                    let (booked_at, how) = self.booking.draw(&mut booking_rng, slot.start);
                    same_day += usize::from(how == Late::SameDay);
                    rescheduled += usize::from(how == Late::Rescheduled);
                    schedule.push(Appointment {
                        start: slot.start,
                        end: slot.end,
                        kind: s.kind.to_string(),
                        resource: Some(s.resource.to_string()),
                        booked_at: Some(booked_at),
                    });
                    if rng.random::<f64>() < self.no_show_rate {
                        no_shows += 1;
                    } else {
                        happened.push((slot.start, s.kind));
                    }
                }
            }
            if !self.is_working_day(date) {
                continue;
            }
            // Walk-in add-on cases: same-day, in working hours, not in the book.
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
        // Completions (and the pipeline's cases) on their own stream: the
        // arrivals of a stage that feeds nothing are drawn as before.
        let mut done_rng = ChaCha8Rng::seed_from_u64(seed);
        done_rng.set_stream(2);
        let mut done_columns = Vec::new();
        // Per application, when each case's last job finished (by `happened` index).
        // and how many jobs it had there.
        type Cases = Vec<Option<(DateTime<Utc>, u64)>>;
        let mut case_done: Vec<(&'static str, Cases)> = Vec::new();
        for app in &self.applications {
            let mut values = vec![0.0; len];
            // Every job's arrival, and its case (None: background).
            let mut jobs: Vec<(DateTime<Utc>, Option<usize>)> = Vec::new();
            for (case, (at, kind)) in happened.iter().enumerate() {
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
                        jobs.push((when, Some(case)));
                    }
                }
            }
            if let Some(up) = &app.upstream {
                let done = case_done
                    .iter()
                    .find(|(c, _)| *c == up.column)
                    .map(|(_, d)| d.as_slice())
                    .unwrap_or(&[]);
                let approval = LogNormal::new(up.approval_median_min.ln(), up.approval_sigma)
                    .expect("valid log-normal parameters");
                let spread = LogNormal::new(up.spread_median_min.ln(), up.spread_sigma)
                    .expect("valid log-normal parameters");
                for (case, finished) in done.iter().enumerate() {
                    let (Some((finished, n)), Some((_, kind))) = (finished, happened.get(case))
                    else {
                        continue;
                    };
                    let Some(&(_, ratio)) = up.per_job.iter().find(|(k, _)| k == kind) else {
                        continue;
                    };
                    let approved = self.add_working_minutes(*finished, approval.sample(&mut rng));
                    for _ in 0..poisson(&mut rng, ratio * *n as f64) {
                        let when = self.add_working_minutes(approved, spread.sample(&mut rng));
                        if let Some(i) = grid.index_of(when) {
                            values[i] += 1.0;
                        }
                        jobs.push((when, Some(case)));
                    }
                }
            }
            // Background: Poisson per step inside working hours.
            let per_step = app.background_per_hour * self.step_secs as f64 / 3600.0;
            for (i, v) in values.iter_mut().enumerate() {
                let t = grid.time(i);
                if self.is_working_time(t) {
                    let n = poisson(&mut rng, per_step);
                    *v += n as f64;
                    if app.completions.is_some() {
                        for k in 0..n {
                            // Spread over the step, as the arrivals' minute is not drawn.
                            let at = t + TimeDelta::seconds(self.step_secs * k as i64 / n as i64);
                            jobs.push((at, None));
                        }
                    }
                }
            }
            if let Some(c) = &app.completions {
                let wait = rand_distr::Exp::new(1.0 / c.wait_mean_min.max(1e-9))
                    .expect("valid exponential rate");
                let mut done = vec![0.0; len];
                let mut cases: Cases = vec![None; happened.len()];
                for (at, case) in jobs {
                    let minutes = c.service_min + wait.sample(&mut done_rng);
                    let end = at + TimeDelta::seconds((minutes * 60.0) as i64);
                    if let Some(i) = grid.index_of(end) {
                        done[i] += 1.0;
                    }
                    if let Some(k) = case {
                        cases[k] = Some(cases[k].map_or((end, 1), |(e, n)| (e.max(end), n + 1)));
                    }
                }
                done_columns.push((c.column.to_string(), done));
                case_done.push((app.column, cases));
            }
            columns.push((app.column.to_string(), values));
        }
        columns.extend(done_columns);
        Generated {
            schedule,
            recording: Recording { grid, columns },
            booked,
            no_shows,
            add_ons,
            same_day,
            rescheduled,
        }
    }

    /// Whether `t` is inside staff working hours on a working day.
    pub fn is_working_time(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.timezone);
        let date = local.date_naive();
        self.is_working_day(date)
            && local.hour() >= self.working_hours.0
            && local.hour() < self.working_hours.1
    }

    /// `t` plus `minutes` of working time: the clock runs only in staff
    /// hours on working days (work approved at 16:50 with 30 minutes to go
    /// lands at 08:20 the next working day, at 08:00-17:00).
    pub fn add_working_minutes(&self, t: DateTime<Utc>, minutes: f64) -> DateTime<Utc> {
        let tz = self.timezone;
        let (h0, h1) = self.working_hours;
        let mut left = (minutes.max(0.0) * 60.0) as i64;
        let mut t = t;
        // A year of days at most (a department always has working days).
        for _ in 0..370 {
            let date = t.with_timezone(&tz).date_naive();
            let (open, close) = (
                local_instant(tz, date, h0, 0),
                local_instant(tz, date, h1, 0),
            );
            let next_open = local_instant(tz, date + TimeDelta::days(1), h0, 0);
            if !self.is_working_day(date) || t >= close {
                t = next_open;
                continue;
            }
            let from = t.max(open);
            let available = (close - from).num_seconds();
            if left < available {
                return from + TimeDelta::seconds(left);
            }
            left -= available;
            t = next_open;
        }
        t
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
            if self.is_working_day(date) {
                // Spread the morning's catch-up over the first hour.
                let jitter = (t.timestamp().rem_euclid(3600)) / 60;
                return local_instant(self.timezone, date, self.working_hours.0, jitter as u32);
            }
            date += TimeDelta::days(1);
        }
        t
    }
}

/// Write `schedule.csv` (`start,end,type,resource,booked_at`, UTC RFC 3339;
/// an unknown booking time is an empty cell).
pub fn write_schedule_csv(appointments: &[Appointment], w: &mut dyn Write) -> std::io::Result<()> {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    writeln!(w, "start,end,type,resource,booked_at")?;
    for a in appointments {
        writeln!(
            w,
            "{},{},{},{},{}",
            time(&a.start),
            time(&a.end),
            a.kind,
            a.resource.as_deref().unwrap_or(""),
            a.booked_at.as_ref().map(time).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn working_minutes_run_only_in_staff_hours() {
        let d = Department::bundled(); // 08:00-17:00 Berlin, German holidays
        let at = |y, m, day, h, min| {
            local_instant(
                d.timezone,
                NaiveDate::from_ymd_opt(y, m, day).unwrap(),
                h,
                min,
            )
        };
        for (from, minutes, to, why) in [
            (
                (3, 2, 16, 50),
                30.0,
                (3, 3, 8, 20),
                "Monday 16:50: Tuesday 08:20",
            ),
            ((3, 2, 9, 0), 45.0, (3, 2, 9, 45), "within the day"),
            (
                (3, 2, 6, 0),
                10.0,
                (3, 2, 8, 10),
                "before opening: from 08:00",
            ),
            (
                (3, 6, 16, 0),
                120.0,
                (3, 9, 9, 0),
                "Friday 16:00: Monday 09:00",
            ),
            (
                (4, 2, 16, 0),
                540.0,
                (4, 7, 16, 0),
                "Maundy Thursday: Tuesday after Easter",
            ),
        ] {
            let at = |(m, day, h, min)| at(2026, m, day, h, min);
            assert_eq!(d.add_working_minutes(at(from), minutes), at(to), "{why}");
        }
    }

    #[test]
    fn a_pipeline_stage_follows_the_completions_of_the_one_before() {
        let d = Department::bundled();
        let g = d.generate(5);
        let col = |c| g.recording.series(c).unwrap().values;
        let (contour, contour_done) = (col("autocontour_jobs"), col("autocontour_done"));
        let (dose, dose_done) = (col("dosecalc_jobs"), col("dosecalc_done"));
        // Completions conserve the work (the last minutes' may end past the grid).
        let sum = |v: &[f64]| v.iter().sum::<f64>();
        assert!(sum(&contour_done) <= sum(&contour) && sum(&contour_done) > sum(&contour) - 20.0);
        assert!(sum(&dose_done) <= sum(&dose) && sum(&dose_done) > sum(&dose) - 20.0);
        // Every job finishes after it arrives: cumulative completions never lead.
        let mut lead = 0.0f64;
        for (a, c) in contour.iter().zip(&contour_done) {
            lead += a - c;
            assert!(lead >= -1e-9, "a completion before its arrival");
        }
        // Dose work only in staff hours, and none before the first contours are done.
        let grid = g.recording.grid;
        let first_done = contour_done.iter().position(|v| *v > 0.0).unwrap();
        for (i, v) in dose.iter().enumerate() {
            if *v > 0.0 {
                assert!(
                    d.is_working_time(grid.time(i)),
                    "dose work at {}",
                    grid.time(i)
                );
            }
        }
        let background_free =
            (0..first_done).all(|i| dose[i] == 0.0 || d.is_working_time(grid.time(i)));
        assert!(background_free);
        // About 1.25 dose jobs per CT contour job and 1 per MR one, plus
        // 20 background jobs per working hour.
        let working_hours = (0..grid.len)
            .filter(|i| d.is_working_time(grid.time(*i)))
            .count() as f64
            / 12.0;
        let caused = sum(&dose) - 20.0 * working_hours;
        let ratio = caused / sum(&contour_done);
        assert!((0.95..1.3).contains(&ratio), "{ratio}");
        // The other departments have no completions columns (nothing changed there).
        let names = Department::mr_linac()
            .generate(1)
            .recording
            .names()
            .join(",");
        assert!(!names.contains("_done"), "{names}");
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
