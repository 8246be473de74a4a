//! A policy's calendar URL in the controller (docs/ARCHITECTURE.md,
//! "Working time"): fetched every `calendar.source.refresh` with the
//! schedule's HTTP client, read by the schedule's iCalendar reader, merged
//! into the calendar the policy resolved at load (hours, holidays, listed
//! closures). A failing fetch keeps the last good closures and warns with the
//! policy and the source (its URL redacted); once they are older than
//! `source.stale_after` that is said once more. A source that never loaded
//! leaves the static parts only, said once. Logs carry counts, dates and
//! the redacted URL, never an event's text.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::calendar::Calendar;
use crate::calendar::spec::IcsClosures;
use crate::policy::Policy;
use crate::schedule::{self, HttpGet, redact_url};

/// What the calendar a policy plans with is made of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarUse {
    /// The policy has no `calendar:` section.
    NoCalendar,
    /// No URL source: the calendar resolved at load is the whole of it.
    Static,
    /// The URL's closures of the last fetch, which succeeded.
    Fresh,
    /// The fetch failed; the closures of the last good one (from `since`).
    LastGood { since: DateTime<Utc> },
    /// The URL never answered: the static parts only.
    StaticOnly,
}

/// The calendar of one policy and its URL source's state.
#[derive(Debug, Clone)]
pub struct CalendarFeed {
    current: Option<Calendar>,
    state: CalendarUse,
    /// The last good closures and when they were fetched.
    good: Option<(DateTime<Utc>, BTreeSet<NaiveDate>)>,
    attempted: Option<DateTime<Utc>>,
    failures: u32,
    /// The `kind()` of the last fetch's error, if it failed.
    last_error: Option<&'static str>,
    /// Whether "never loaded" or "stale" has been said (each once).
    said_never: bool,
    said_stale: bool,
}

impl CalendarFeed {
    /// The calendar `policy` resolved at load, before any fetch.
    pub fn new(policy: &Policy) -> Self {
        let state = match &policy.calendar {
            None => CalendarUse::NoCalendar,
            Some(c) if c.url().is_none() => CalendarUse::Static,
            Some(_) => CalendarUse::StaticOnly,
        };
        CalendarFeed {
            current: policy.calendar().cloned(),
            state,
            good: None,
            attempted: None,
            failures: 0,
            last_error: None,
            said_never: false,
            said_stale: false,
        }
    }

    /// The calendar to plan with: the static parts and the last good closures.
    pub fn calendar(&self) -> Option<&Calendar> {
        self.current.as_ref()
    }

    pub fn state(&self) -> CalendarUse {
        self.state
    }

    /// The `kind()` of the last fetch's error, if the last fetch failed (for
    /// `planscale_errors_total{kind="calendar_<kind>"}`).
    pub fn last_error_kind(&self) -> Option<&'static str> {
        self.last_error
    }

    /// Whether the URL source is due at `now` (never fetched, or `refresh` ago).
    pub fn due(&self, policy: &Policy, now: DateTime<Utc>) -> bool {
        let Some(spec) = policy.calendar.as_ref().filter(|c| c.url().is_some()) else {
            return false;
        };
        let refresh = TimeDelta::try_seconds(spec.refresh().secs_i64()).unwrap_or(TimeDelta::MAX);
        self.attempted.is_none_or(|t| (now - t).abs() >= refresh)
    }

    /// Fetch the URL source if due (blocking HTTP in `spawn_blocking`) and
    /// take the result.
    pub async fn refresh<H: HttpGet + Clone + Send + 'static>(
        &mut self,
        policy: &Policy,
        http: &H,
        now: DateTime<Utc>,
    ) -> CalendarUse {
        if !self.due(policy, now) {
            return self.state;
        }
        let Some(spec) = policy.calendar.clone() else {
            return self.state;
        };
        let http = http.clone();
        let result = tokio::task::spawn_blocking(move || spec.fetch(&http))
            .await
            .unwrap_or_else(|e| Err(schedule::Error::Spec(format!("reader task failed: {e}"))));
        self.take(policy, result, now)
    }

    /// Take one fetch's result at `now`.
    pub fn take(
        &mut self,
        policy: &Policy,
        result: schedule::Result<Option<IcsClosures>>,
        now: DateTime<Utc>,
    ) -> CalendarUse {
        let Some(spec) = policy.calendar.as_ref() else {
            return self.state;
        };
        let source = spec.url().map(redact_url).unwrap_or_default();
        let name = &policy.name;
        self.attempted = Some(now);
        match result {
            Ok(None) => {}
            Ok(Some(c)) => {
                if self.failures > 0 && self.good.is_some() {
                    tracing::info!(policy = %name, source = %source, "calendar source answers again");
                }
                tracing::info!(policy = %name, source = %source, closed_dates = c.dates.len(),
                    instances = c.instances, skipped = c.skipped, cancelled = c.cancelled,
                    "calendar closures fetched");
                if c.skipped > 0 {
                    tracing::warn!(policy = %name, source = %source, skipped = c.skipped,
                        "calendar source: bad events skipped");
                }
                self.current = spec.with_closed(&c.dates);
                self.good = Some((now, c.dates));
                self.failures = 0;
                self.last_error = None;
                self.said_stale = false;
                self.state = CalendarUse::Fresh;
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                let failures = self.failures;
                let kind = e.kind();
                self.last_error = Some(kind);
                match &self.good {
                    Some((since, _)) => {
                        let since = *since;
                        tracing::warn!(policy = %name, source = %source, failures, kind, error = %e,
                            "calendar source failed: keeping the closures fetched at {since}");
                        let stale = TimeDelta::try_seconds(spec.stale_after().secs_i64())
                            .unwrap_or(TimeDelta::MAX);
                        if now - since > stale && !self.said_stale {
                            self.said_stale = true;
                            tracing::warn!(policy = %name, source = %source, since = %since,
                                "calendar closures are stale: older than source.stale_after ({}); still using them", spec.stale_after());
                        }
                        self.state = CalendarUse::LastGood { since };
                    }
                    None => {
                        if self.said_never {
                            tracing::debug!(policy = %name, source = %source, failures, kind, error = %e,
                                "calendar source still not loaded");
                        } else {
                            self.said_never = true;
                            tracing::warn!(policy = %name, source = %source, kind, error = %e,
                                "calendar source has not loaded: planning with the calendar's hours, holidays and listed closures only until it does");
                        }
                        self.state = CalendarUse::StaticOnly;
                    }
                }
            }
        }
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::spec::IcsClosures;
    use chrono::TimeZone;

    fn policy() -> Policy {
        let mut p = Policy::test();
        p.calendar = Some(
            serde_yaml::from_str(
                "timezone: Europe/Berlin\nhours: {mon-fri: \"08:00-17:00\"}\nclosures: [2026-03-05]\nsource: {type: ics, url: 'https://cal.example/secret-token/c.ics', refresh: 10m, stale_after: 1h}\n",
            )
            .unwrap(),
        );
        assert!(p.resolve_calendar(std::path::Path::new(".")).is_empty());
        p
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn fetched(dates: &[&str]) -> schedule::Result<Option<IcsClosures>> {
        Ok(Some(IcsClosures {
            dates: dates.iter().map(|s| d(s)).collect(),
            instances: dates.len(),
            ..IcsClosures::default()
        }))
    }

    fn down() -> schedule::Result<Option<IcsClosures>> {
        Err(schedule::Error::Fetch {
            url: "https://cal.example/…".into(),
            message: "cannot connect".into(),
        })
    }

    #[test]
    fn fetched_closures_replace_the_last_ones_and_survive_failures() {
        let p = policy();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let mut f = CalendarFeed::new(&p);
        assert_eq!(f.state(), CalendarUse::StaticOnly);
        assert!(f.due(&p, t0));
        // Never loaded: the static parts.
        assert_eq!(f.take(&p, down(), t0), CalendarUse::StaticOnly);
        assert_eq!(f.last_error_kind(), Some("fetch"));
        assert!(
            f.calendar()
                .unwrap()
                .is_exceptional_closure(d("2026-03-05"))
        );
        assert!(!f.due(&p, t0 + TimeDelta::minutes(9)));
        assert!(f.due(&p, t0 + TimeDelta::minutes(10)));
        let t1 = t0 + TimeDelta::minutes(10);
        assert_eq!(f.take(&p, fetched(&["2026-03-04"]), t1), CalendarUse::Fresh);
        assert_eq!(f.last_error_kind(), None);
        let c = f.calendar().unwrap();
        assert!(
            c.is_exceptional_closure(d("2026-03-04")) && c.is_exceptional_closure(d("2026-03-05"))
        );
        // Down: the last good closures are kept.
        let t2 = t1 + TimeDelta::minutes(10);
        assert_eq!(f.take(&p, down(), t2), CalendarUse::LastGood { since: t1 });
        assert!(
            f.calendar()
                .unwrap()
                .is_exceptional_closure(d("2026-03-04"))
        );
        // Back, with a closure removed from the feed: removed here too.
        let t3 = t2 + TimeDelta::hours(2);
        assert_eq!(f.take(&p, fetched(&["2026-03-06"]), t3), CalendarUse::Fresh);
        let c = f.calendar().unwrap();
        assert!(!c.is_exceptional_closure(d("2026-03-04")));
        assert!(
            c.is_exceptional_closure(d("2026-03-06")) && c.is_exceptional_closure(d("2026-03-05"))
        );
    }

    #[test]
    fn a_policy_without_a_url_is_never_due() {
        let mut p = policy();
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        p.calendar.as_mut().unwrap().source = None;
        let f = CalendarFeed::new(&p);
        assert_eq!(f.state(), CalendarUse::Static);
        assert!(!f.due(&p, t0));
        let none = Policy::test();
        assert_eq!(CalendarFeed::new(&none).state(), CalendarUse::NoCalendar);
        assert!(CalendarFeed::new(&none).calendar().is_none());
    }
}
