//! The last good schedule: when the source is down, the controller keeps
//! planning with the appointments it last read (DESIGN: "an unreachable
//! schedule source falls back to the last good snapshot, then to history
//! alone").

use chrono::{DateTime, TimeDelta, Utc};

use super::{Appointment, Loaded, Result};

/// Keeps the most recent successful load.
#[derive(Debug, Clone, Default)]
pub struct LastGood {
    current: Option<Loaded>,
    fetched_at: Option<DateTime<Utc>>,
    failures: u32,
    last_error: Option<&'static str>,
}

/// What one refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The fetch succeeded; the snapshot is new.
    Fresh,
    /// The fetch failed; the previous snapshot (from `since`) is kept.
    Stale {
        since: DateTime<Utc>,
        consecutive_failures: u32,
        error_kind: &'static str,
    },
    /// The fetch failed and there has never been a good snapshot.
    Unavailable {
        consecutive_failures: u32,
        error_kind: &'static str,
    },
}

impl LastGood {
    pub fn new() -> Self {
        Self::default()
    }

    /// Take a fetch result at `now`: a success replaces the snapshot, a
    /// failure keeps the previous one (and is logged by its message, which
    /// never holds patient text).
    pub fn refresh(&mut self, result: Result<Loaded>, now: DateTime<Utc>) -> Refresh {
        match result {
            Ok(l) => {
                self.current = Some(l);
                self.fetched_at = Some(now);
                self.failures = 0;
                self.last_error = None;
                Refresh::Fresh
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                self.last_error = Some(e.kind());
                tracing::warn!(
                    kind = e.kind(),
                    failures = self.failures,
                    "schedule refresh failed, keeping the last good snapshot: {e}"
                );
                match self.fetched_at {
                    Some(since) => Refresh::Stale {
                        since,
                        consecutive_failures: self.failures,
                        error_kind: e.kind(),
                    },
                    None => Refresh::Unavailable {
                        consecutive_failures: self.failures,
                        error_kind: e.kind(),
                    },
                }
            }
        }
    }

    /// The last good appointments, if any load ever succeeded.
    pub fn appointments(&self) -> Option<&[Appointment]> {
        self.current.as_ref().map(|l| l.appointments.as_slice())
    }

    /// The last good load (with its skipped and dropped counts).
    pub fn loaded(&self) -> Option<&Loaded> {
        self.current.as_ref()
    }

    /// How old the snapshot is at `now`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        self.fetched_at.map(|t| now - t)
    }

    /// Failed refreshes since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.failures
    }

    /// The `kind()` of the last failure since the last success.
    pub fn last_error_kind(&self) -> Option<&'static str> {
        self.last_error
    }
}

#[cfg(test)]
mod tests {
    use super::super::Error;
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn keeps_the_last_good_snapshot_when_the_source_fails() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let down = || {
            Err(Error::Fetch {
                url: "https://fhir.example".into(),
                message: "cannot connect".into(),
            })
        };
        let mut s = LastGood::new();
        assert_eq!(
            s.refresh(down(), t0),
            Refresh::Unavailable {
                consecutive_failures: 1,
                error_kind: "fetch"
            }
        );
        assert!(s.appointments().is_none());
        let good = Loaded {
            appointments: vec![Appointment {
                start: t0,
                end: t0 + TimeDelta::minutes(30),
                kind: "CT".into(),
                resource: None,
                booked_at: None,
            }],
            ..Loaded::default()
        };
        assert_eq!(s.refresh(Ok(good.clone()), t0), Refresh::Fresh);
        let later = t0 + TimeDelta::minutes(10);
        assert_eq!(
            s.refresh(down(), later),
            Refresh::Stale {
                since: t0,
                consecutive_failures: 1,
                error_kind: "fetch"
            }
        );
        assert_eq!(s.appointments(), Some(good.appointments.as_slice()));
        assert_eq!(s.age(later), Some(TimeDelta::minutes(10)));
        assert_eq!(s.last_error_kind(), Some("fetch"));
    }
}
