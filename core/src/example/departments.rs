//! The generator's departments. `bundled` is the example shipped in
//! `examples/clinic`; the others check that nothing is tuned to it (their
//! designs are in docs/ARCHITECTURE.md, "Example data").

use chrono::NaiveDate;

use super::{
    Application, Booking, Completions, Department, FromUpstream, Holidays, PolicyShape, Response,
    Scanner,
};

/// Responses from a table of (appointment type, mean jobs, median delay in
/// minutes, delay sigma, whether the work waits for staff hours).
fn responses(rows: &[(&'static str, f64, f64, f64, bool)]) -> Vec<Response> {
    rows.iter()
        .map(
            |&(kind, jobs, delay_median_min, delay_sigma, working_hours_only)| Response {
                kind,
                jobs,
                delay_median_min,
                delay_sigma,
                working_hours_only,
            },
        )
        .collect()
}

/// The names `planscale example --department` takes, in the order of
/// [`Department::by_name`].
pub const NAMES: [&str; 4] = ["clinic", "centre", "mrlinac", "community"];

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
            fill: [0.85, 0.8, 0.8, 0.75, 0.6, 0.0, 0.0],
            on_holidays: false,
        };
        let mr = |resource| Scanner {
            resource,
            kind: "MR-SIM",
            slot_minutes: 45,
            open: (8, 0),
            close: (16, 0),
            fill: [0.8, 0.8, 0.75, 0.75, 0.55, 0.0, 0.0],
            on_holidays: false,
        };
        Department {
            name: "clinic",
            timezone: chrono_tz::Europe::Berlin,
            holidays: Holidays::Germany,
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
            booking: Booking {
                lead_median_days: 7.0,
                lead_sigma: 0.8,
                same_day_share: 0.06,
                same_day_lead_min: (5.0, 240.0),
                reschedule_share: 0.08,
                reschedule_lead_hours: (3.0, 72.0),
            },
            no_show_rate: 0.05,
            add_ons_per_day: vec![("CT-SIM", 3.0), ("MR-SIM", 0.5)],
            working_hours: (8, 17),
            applications: vec![
                Application {
                    column: "autocontour_jobs",
                    responses: responses(&[
                        ("CT-SIM", 8.0, 20.0, 0.35, false),
                        ("MR-SIM", 12.0, 35.0, 0.35, false),
                    ]),
                    background_per_hour: 4.0,
                    upstream: None,
                    completions: Some(Completions {
                        column: "autocontour_done",
                        service_min: 4.0,
                        wait_mean_min: 1.0,
                    }),
                },
                // A pipeline: a dosimetrist approves a case's contours a
                // few working hours after they are done (noisy: 3 h median)
                // and runs its dose calculations while planning (10 per CT
                // and 12 per MR case on average, more for a case with more
                // structures); a physician approves the dose about a
                // working day later, which starts the plan optimisations
                // (3 per CT, 4 per MR case on average).
                Application {
                    column: "dosecalc_jobs",
                    responses: Vec::new(),
                    background_per_hour: 20.0,
                    upstream: Some(FromUpstream {
                        column: "autocontour_jobs",
                        per_job: vec![("CT-SIM", 1.25), ("MR-SIM", 1.0)],
                        approval_median_min: 180.0,
                        approval_sigma: 0.6,
                        spread_median_min: 30.0,
                        spread_sigma: 0.6,
                    }),
                    completions: Some(Completions {
                        column: "dosecalc_done",
                        service_min: 1.0,
                        wait_mean_min: 0.5,
                    }),
                },
                Application {
                    column: "planopt_jobs",
                    responses: Vec::new(),
                    background_per_hour: 3.0,
                    upstream: Some(FromUpstream {
                        column: "dosecalc_jobs",
                        per_job: vec![("CT-SIM", 0.3), ("MR-SIM", 1.0 / 3.0)],
                        approval_median_min: 480.0,
                        approval_sigma: 0.4,
                        spread_median_min: 20.0,
                        spread_sigma: 0.5,
                    }),
                    completions: None,
                },
            ],
            policy: PolicyShape {
                column: "autocontour_jobs",
                per_replica_per_min: 0.25,
                startup_min: 4,
                max_replicas: 24,
                max_lag_hours: 2,
            },
        }
    }

    /// A second, different department (for checking that nothing is tuned to
    /// the first): a proton and photon centre in Zurich with PET-CT and 4D-CT
    /// simulation, longer auto-contouring lags, six weeks from 2026-09-28
    /// (across the autumn DST change).
    pub fn second() -> Department {
        let scanner = |resource, kind, slot_minutes, [mo, tu, we, th, fr]: [f64; 5]| Scanner {
            resource,
            kind,
            slot_minutes,
            open: (7, 0),
            close: (17, 0),
            fill: [mo, tu, we, th, fr, 0.0, 0.0],
            on_holidays: false,
        };
        Department {
            name: "centre",
            timezone: chrono_tz::Europe::Zurich,
            // The generator's first holiday rule; the six weeks hold none of
            // the German or Swiss ones.
            holidays: Holidays::Germany,
            start: NaiveDate::from_ymd_opt(2026, 9, 28).expect("valid date"),
            days: 42,
            step_secs: 300,
            scanners: vec![
                scanner("PETCT1", "PET-CT", 60, [0.7, 0.9, 0.9, 0.9, 0.5]),
                scanner("CT4D1", "4D-CT", 30, [0.8, 0.8, 0.8, 0.8, 0.8]),
                scanner("CT4D2", "4D-CT", 30, [0.9, 0.7, 0.7, 0.6, 0.4]),
            ],
            booking: Booking {
                lead_median_days: 10.0,
                lead_sigma: 0.7,
                same_day_share: 0.04,
                same_day_lead_min: (10.0, 180.0),
                reschedule_share: 0.06,
                reschedule_lead_hours: (4.0, 96.0),
            },
            no_show_rate: 0.08,
            add_ons_per_day: vec![("4D-CT", 1.0)],
            working_hours: (7, 18),
            applications: vec![
                Application {
                    column: "autocontour_jobs",
                    responses: responses(&[
                        ("PET-CT", 15.0, 90.0, 0.3, false),
                        ("4D-CT", 10.0, 45.0, 0.3, false),
                    ]),
                    background_per_hour: 2.0,
                    upstream: None,
                    completions: Some(Completions {
                        column: "autocontour_done",
                        service_min: 4.0,
                        wait_mean_min: 1.0,
                    }),
                },
                // Staff-triggered pipeline stages, in working time (appended:
                // the auto-contouring column's draws come first and are
                // unchanged). Dose calculation once a dosimetrist has
                // approved the contours (median 3 working hours, wider than
                // the bundled clinic's); plan optimisation about a working
                // day after the dose.
                Application {
                    column: "dosecalc_jobs",
                    responses: Vec::new(),
                    background_per_hour: 12.0,
                    upstream: Some(FromUpstream {
                        column: "autocontour_jobs",
                        per_job: vec![("PET-CT", 0.8), ("4D-CT", 1.4)],
                        approval_median_min: 180.0,
                        approval_sigma: 0.7,
                        spread_median_min: 40.0,
                        spread_sigma: 0.6,
                    }),
                    completions: Some(Completions {
                        column: "dosecalc_done",
                        service_min: 1.0,
                        wait_mean_min: 0.5,
                    }),
                },
                Application {
                    column: "planopt_jobs",
                    responses: Vec::new(),
                    background_per_hour: 2.0,
                    upstream: Some(FromUpstream {
                        column: "dosecalc_jobs",
                        per_job: vec![("PET-CT", 1.0 / 3.0), ("4D-CT", 3.0 / 14.0)],
                        approval_median_min: 660.0,
                        approval_sigma: 0.35,
                        spread_median_min: 30.0,
                        spread_sigma: 0.5,
                    }),
                    completions: None,
                },
            ],
            policy: PolicyShape {
                column: "autocontour_jobs",
                per_replica_per_min: 0.25,
                startup_min: 4,
                max_replicas: 24,
                max_lag_hours: 4,
            },
        }
    }

    /// An MR-Linac department in Amsterdam doing online adaptive treatment:
    /// each adaptive fraction (`MRL-ADAPT`) causes contouring within minutes
    /// of the daily MR and an online re-optimisation while the patient is on
    /// the couch; sessions on Saturdays, Sundays and public holidays (Dutch);
    /// fractions are booked about 5 days ahead, 10 % the same day (re-booked
    /// after an interruption) and 15 % rescheduled. Six weeks from Monday
    /// 2026-03-23 (across the DST change on 03-29, Easter Monday and King's
    /// Day, 04-27).
    pub fn mr_linac() -> Department {
        let every_day = [0.9, 0.9, 0.9, 0.9, 0.85, 0.6, 0.4];
        Department {
            name: "mrlinac",
            timezone: chrono_tz::Europe::Amsterdam,
            holidays: Holidays::Netherlands,
            start: NaiveDate::from_ymd_opt(2026, 3, 23).expect("valid date"),
            days: 42,
            step_secs: 300,
            scanners: [
                // The first MR-Linac treats every day (Saturday 60 %, Sunday
                // 40 % full), holidays included.
                vec![scanner("MRL1", "MRL-ADAPT", 45, (7, 21), every_day, true)],
                weekday_scanners(&[
                    (
                        "MRL2",
                        "MRL-ADAPT",
                        45,
                        (8, 18),
                        [0.85, 0.85, 0.85, 0.8, 0.7],
                    ),
                    ("CT1", "CT-SIM", 30, (8, 16), [0.8, 0.75, 0.75, 0.7, 0.5]),
                    ("MRSIM1", "MR-SIM", 60, (8, 16), [0.75, 0.75, 0.7, 0.7, 0.5]),
                ]),
            ]
            .concat(),
            booking: Booking {
                lead_median_days: 5.0,
                lead_sigma: 0.6,
                same_day_share: 0.10,
                same_day_lead_min: (5.0, 300.0),
                reschedule_share: 0.15,
                reschedule_lead_hours: (2.0, 48.0),
            },
            no_show_rate: 0.03,
            add_ons_per_day: vec![("MRL-ADAPT", 0.5), ("CT-SIM", 1.0)],
            working_hours: (8, 17),
            applications: vec![
                Application {
                    column: "autocontour_jobs",
                    responses: responses(&[
                        ("MRL-ADAPT", 4.0, 3.0, 0.4, false),
                        ("CT-SIM", 8.0, 20.0, 0.35, false),
                        ("MR-SIM", 10.0, 30.0, 0.35, false),
                    ]),
                    background_per_hour: 2.0,
                    upstream: None,
                    completions: None,
                },
                Application {
                    column: "adaptive_dose_jobs",
                    responses: responses(&[
                        ("MRL-ADAPT", 2.0, 12.0, 0.3, false),
                        ("CT-SIM", 6.0, 300.0, 0.4, true),
                        ("MR-SIM", 6.0, 360.0, 0.4, true),
                    ]),
                    background_per_hour: 4.0,
                    upstream: None,
                    completions: None,
                },
            ],
            policy: PolicyShape {
                column: "autocontour_jobs",
                per_replica_per_min: 0.5,
                startup_min: 3,
                max_replicas: 16,
                max_lag_hours: 2,
            },
        }
    }

    /// A US community cancer centre in Chicago whose dose calculation
    /// arrives the next working morning: dosimetrists plan the day after
    /// simulation, so a CT or breath-hold (`DIBH-SIM`) simulation's dose work
    /// lands from 07:00 the next working day; weekdays only; a large
    /// late-booking share (25 % the same day, 20 % rescheduled, the rest
    /// about 3 days ahead). Six weeks from Monday 2026-10-19 (across the US
    /// DST change on 11-01 and Thanksgiving, 11-26). The policy scales dose
    /// calculation.
    pub fn community() -> Department {
        Department {
            name: "community",
            timezone: chrono_tz::America::Chicago,
            holidays: Holidays::UnitedStates,
            start: NaiveDate::from_ymd_opt(2026, 10, 19).expect("valid date"),
            days: 42,
            step_secs: 300,
            scanners: weekday_scanners(&[
                ("CT1", "CT-SIM", 30, (7, 16), [0.85, 0.85, 0.8, 0.8, 0.6]),
                ("CT2", "CT-SIM", 30, (8, 15), [0.7, 0.7, 0.7, 0.65, 0.5]),
                ("CT3", "DIBH-SIM", 45, (8, 14), [0.8, 0.8, 0.75, 0.75, 0.6]),
            ]),
            booking: Booking {
                lead_median_days: 3.0,
                lead_sigma: 0.9,
                same_day_share: 0.25,
                same_day_lead_min: (5.0, 180.0),
                reschedule_share: 0.20,
                reschedule_lead_hours: (2.0, 36.0),
            },
            no_show_rate: 0.06,
            add_ons_per_day: vec![("CT-SIM", 2.0)],
            working_hours: (7, 16),
            applications: vec![
                Application {
                    column: "dosecalc_jobs",
                    responses: responses(&[
                        ("CT-SIM", 8.0, 960.0, 0.15, true),
                        ("DIBH-SIM", 10.0, 1020.0, 0.15, true),
                    ]),
                    background_per_hour: 6.0,
                    upstream: None,
                    completions: None,
                },
                Application {
                    column: "autocontour_jobs",
                    responses: responses(&[
                        ("CT-SIM", 6.0, 15.0, 0.35, false),
                        ("DIBH-SIM", 8.0, 20.0, 0.35, false),
                    ]),
                    background_per_hour: 1.0,
                    upstream: None,
                    completions: None,
                },
            ],
            policy: PolicyShape {
                column: "dosecalc_jobs",
                per_replica_per_min: 0.5,
                startup_min: 3,
                max_replicas: 30,
                max_lag_hours: 24,
            },
        }
    }

    /// The department `planscale example --department NAME` means (see
    /// [`NAMES`]); `None` for another name.
    pub fn by_name(name: &str) -> Option<Department> {
        match name {
            "clinic" => Some(Department::bundled()),
            "centre" => Some(Department::second()),
            "mrlinac" => Some(Department::mr_linac()),
            "community" => Some(Department::community()),
            _ => None,
        }
    }
}

/// A scanner open from `open` to `close` o'clock (local) with slots of
/// `slot_minutes`, booked with probability `fill[day]` Monday..Sunday.
fn scanner(
    resource: &'static str,
    kind: &'static str,
    slot_minutes: u32,
    (open, close): (u32, u32),
    fill: [f64; 7],
    on_holidays: bool,
) -> Scanner {
    Scanner {
        resource,
        kind,
        slot_minutes,
        open: (open, 0),
        close: (close, 0),
        fill,
        on_holidays,
    }
}

/// One row of a scanner table: scanner, appointment type, slot minutes,
/// (opens, closes) in whole local hours, fill Monday..Friday.
type WeekdayScanner = (&'static str, &'static str, u32, (u32, u32), [f64; 5]);

/// Scanners closed at weekends and on holidays, from a table of them.
fn weekday_scanners(rows: &[WeekdayScanner]) -> Vec<Scanner> {
    rows.iter()
        .map(|&(resource, kind, slot, hours, [mo, tu, we, th, fr])| {
            scanner(
                resource,
                kind,
                slot,
                hours,
                [mo, tu, we, th, fr, 0.0, 0.0],
                false,
            )
        })
        .collect()
}
