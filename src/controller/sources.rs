//! Where the per-policy loop gets its inputs: a [`MetricSource`] (demand
//! history and current metrics) and a [`ScheduleSource`] (appointments).
//! Small traits so that tests use in-memory fakes.

use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::{Error, Result};
use crate::policy::LoadedPolicy;
use crate::schedule::{self, Appointment, Loaded};
use crate::series::Series;

/// What the metric source observed for one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Work arriving per step, on the policy's forecast step, each point
    /// stamped by its step's start, ending with the newest complete step: the
    /// one that ends at or before now (`NaN` = missing).
    pub history: Series,
    /// Current CPU utilisation of the workload as a fraction, if measured.
    pub utilisation: Option<f64>,
    /// Current queue depth in demand units, if measured.
    pub queue_depth: Option<f64>,
    /// Work this stage finished per step, on the history's grid, when the
    /// policy declares `demand.completions` (what the stages after it read).
    pub completions: Option<Series>,
}

/// A source of demand history and current metrics.
pub trait MetricSource: Send + Sync + 'static {
    fn observe(
        &self,
        policy: &LoadedPolicy,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Observation>> + Send;
}

/// A source of appointments.
pub trait ScheduleSource: Send + Sync + 'static {
    /// Appointments starting in `[from, to)` for the policy's schedule, as
    /// known at `now`.
    fn appointments(
        &self,
        policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = schedule::Result<Loaded>> + Send;
}

/// Loads the schedule named in the policy (file or URL, any supported format)
/// on every call with [`schedule::load`], so a refreshed export is picked up.
/// `planscale run` wraps it in a [`SharedSchedule`].
#[derive(Debug, Clone, Default)]
pub struct PolicySchedule;

impl ScheduleSource for PolicySchedule {
    async fn appointments(
        &self,
        policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> schedule::Result<Loaded> {
        let Some(spec) = policy.policy.schedule.clone() else {
            return Ok(Loaded::default());
        };
        let base = policy.resolve(std::path::Path::new("."));
        tokio::task::spawn_blocking(move || {
            schedule::load(
                &spec,
                &base,
                Some((from, to)),
                &crate::sources::schedule_http::Http,
            )
        })
        .await
        .map_err(|e| schedule::Error::Spec(format!("reader task failed: {e}")))?
    }
}

/// One fetch per schedule source and refresh period, shared by every policy
/// that names the same source: a paged FHIR search or a large calendar feed
/// is read once per `refresh`, not once per policy and interval.
///
/// Policies share a fetch when their `schedule:` sections read the same
/// thing: the same `source`, `timezone`, `type_map` and `mode`, relative paths
/// resolved from the same folder (`types` and `max_lag` only select from what
/// was read). A fetch covers the union of the windows its policies ask for
/// (how far back and ahead of now each reaches), plus one refresh period
/// either side (the windows move with the clock, and a policy's tick may have
/// begun just before the fetch it waited for), and each policy gets the
/// appointments of its own window. A failed
/// fetch is also kept for the refresh period (each policy's loop then uses
/// its last good snapshot), so a source that is down is asked once per
/// period too.
pub struct SharedSchedule<S> {
    inner: S,
    refresh: chrono::TimeDelta,
    entries: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<Shared>>>>,
}

/// One fetch: when it was made, the window `[from, to)` it covers, and what it gave.
struct Fetch {
    at: DateTime<Utc>,
    window: (DateTime<Utc>, DateTime<Utc>),
    result: schedule::Result<Loaded>,
}

/// One source's last fetch.
#[derive(Default)]
struct Shared {
    last: Option<Fetch>,
    /// The farthest any policy has asked for, behind and ahead of its now.
    back: chrono::TimeDelta,
    ahead: chrono::TimeDelta,
}

impl<S: ScheduleSource> SharedSchedule<S> {
    /// Share `inner`'s fetches for `refresh` (at least 1 s; at most a year,
    /// which keeps the window arithmetic inside the calendar).
    pub fn new(inner: S, refresh: std::time::Duration) -> Self {
        let refresh = refresh.clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(366 * 86_400),
        );
        SharedSchedule {
            inner,
            refresh: chrono::TimeDelta::from_std(refresh).unwrap_or(chrono::TimeDelta::days(366)),
            entries: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn entry(&self, key: String) -> Arc<tokio::sync::Mutex<Shared>> {
        let mut g = match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        g.entry(key).or_default().clone()
    }
}

/// What makes two policies read the same schedule.
fn share_key(policy: &LoadedPolicy) -> Option<String> {
    let spec = policy.policy.schedule.as_ref()?;
    let base = policy.resolve(std::path::Path::new("."));
    serde_json::to_string(&(
        &spec.source,
        &spec.timezone,
        &spec.type_map,
        &spec.mode,
        base,
    ))
    .ok()
}

/// The appointments of `loaded` starting in `[from, to)` (they are sorted by start).
fn within(loaded: &Loaded, from: DateTime<Utc>, to: DateTime<Utc>) -> Loaded {
    let a = loaded.appointments.partition_point(|x| x.start < from);
    let b = loaded.appointments.partition_point(|x| x.start < to).max(a);
    Loaded {
        appointments: loaded.appointments[a..b].to_vec(),
        skipped: loaded.skipped,
        dropped: loaded.dropped,
        problems: loaded.problems.clone(),
    }
}

/// A copy of a schedule error with the same kind and message (the type holds
/// an `io::Error`, which cannot be cloned).
fn copy_error(e: &schedule::Error) -> schedule::Error {
    use schedule::Error as E;
    match e {
        E::Io { file, source } => E::Io {
            file: file.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        E::Line {
            file,
            line,
            message,
        } => E::Line {
            file: file.clone(),
            line: *line,
            message: message.clone(),
        },
        E::Event {
            file,
            uid,
            line,
            message,
        } => E::Event {
            file: file.clone(),
            uid: uid.clone(),
            line: *line,
            message: message.clone(),
        },
        E::Resource { file, id, message } => E::Resource {
            file: file.clone(),
            id: id.clone(),
            message: message.clone(),
        },
        E::File { file, message } => E::File {
            file: file.clone(),
            message: message.clone(),
        },
        E::Fetch { url, message } => E::Fetch {
            url: url.clone(),
            message: message.clone(),
        },
        E::Spec(m) => E::Spec(m.clone()),
    }
}

impl<S: ScheduleSource> ScheduleSource for SharedSchedule<S> {
    async fn appointments(
        &self,
        policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> schedule::Result<Loaded> {
        let Some(key) = share_key(policy) else {
            return Ok(Loaded::default());
        };
        let entry = self.entry(key);
        // Policies of one source wait for one fetch, not each for its own.
        let mut e = entry.lock().await;
        e.back = e.back.max(now - from);
        e.ahead = e.ahead.max(to - now);
        // Within a refresh period of the fetch, either way: a policy whose
        // tick began just before the fetch it waited for is served by it.
        if let Some(f) = &e.last
            && (now - f.at).abs() < self.refresh
        {
            match &f.result {
                Ok(l) if f.window.0 <= from && to <= f.window.1 => return Ok(within(l, from, to)),
                Ok(_) => {} // a wider window than fetched: fetch again
                Err(err) => return Err(copy_error(err)),
            }
        }
        let window = (now - e.back - self.refresh, now + e.ahead + self.refresh);
        let result = self
            .inner
            .appointments(policy, window.0, window.1, now)
            .await;
        let answer = match &result {
            Ok(l) => Ok(within(l, from, to)),
            Err(err) => Err(copy_error(err)),
        };
        e.last = Some(Fetch {
            at: now,
            window,
            result,
        });
        answer
    }
}

/// An in-memory metric source: a fixed observation per policy, or an error
/// (to play "Prometheus is down"). For tests and dry runs.
#[derive(Debug, Clone, Default)]
pub struct MemoryMetrics {
    inner: Arc<Mutex<MemoryInner>>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    by_policy: std::collections::HashMap<String, Observation>,
    down: bool,
}

impl MemoryMetrics {
    /// Serve `obs` for the policy named `policy`.
    pub fn set(&self, policy: &str, obs: Observation) {
        if let Ok(mut g) = self.inner.lock() {
            g.by_policy.insert(policy.to_string(), obs);
        }
    }

    /// Make every call fail (true) or succeed again (false).
    pub fn set_down(&self, down: bool) {
        if let Ok(mut g) = self.inner.lock() {
            g.down = down;
        }
    }
}

impl MetricSource for MemoryMetrics {
    async fn observe(&self, policy: &LoadedPolicy, _now: DateTime<Utc>) -> Result<Observation> {
        let name = &policy.policy.name;
        let g = self.inner.lock().map_err(|_| Error::Metrics {
            policy: name.clone(),
            kind: "metrics_internal",
            message: "memory source lock poisoned".into(),
            outage: false,
        })?;
        if g.down {
            return Err(Error::Metrics {
                policy: name.clone(),
                kind: "metrics_unreachable",
                message: "metric source is down".into(),
                outage: true,
            });
        }
        g.by_policy
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Metrics {
                policy: name.clone(),
                kind: "metrics_no_data",
                message: "expected a series for this policy, found none".into(),
                outage: false,
            })
    }
}

/// An in-memory schedule source that can be switched off, and counts the
/// fetches it answers (successful or not).
#[derive(Debug, Clone, Default)]
pub struct MemorySchedule {
    inner: Arc<Mutex<(Vec<Appointment>, bool)>>,
    fetches: Arc<std::sync::atomic::AtomicUsize>,
}

impl MemorySchedule {
    pub fn set(&self, appointments: Vec<Appointment>) {
        if let Ok(mut g) = self.inner.lock() {
            g.0 = appointments;
        }
    }

    pub fn set_down(&self, down: bool) {
        if let Ok(mut g) = self.inner.lock() {
            g.1 = down;
        }
    }

    /// Fetches answered so far.
    pub fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl ScheduleSource for MemorySchedule {
    async fn appointments(
        &self,
        _policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        _now: DateTime<Utc>,
    ) -> schedule::Result<Loaded> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let g = self
            .inner
            .lock()
            .map_err(|_| schedule::Error::Spec("memory source lock poisoned".into()))?;
        if g.1 {
            return Err(schedule::Error::Fetch {
                url: "memory".into(),
                message: "schedule source is down".into(),
            });
        }
        // Sorted by start, as every loader returns them (`Loaded`'s contract).
        let mut appointments: Vec<Appointment> =
            g.0.iter()
                .filter(|a| a.start >= from && a.start < to)
                .cloned()
                .collect();
        appointments.sort();
        Ok(Loaded {
            appointments,
            ..Loaded::default()
        })
    }
}

/// No metric source configured: every observation fails, so every policy holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl MetricSource for NoMetrics {
    async fn observe(&self, policy: &LoadedPolicy, _now: DateTime<Utc>) -> Result<Observation> {
        Err(Error::Metrics {
            policy: policy.policy.name.clone(),
            kind: "metrics_not_configured",
            message: "no prometheus_url is configured".into(),
            outage: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::policy::Policy;

    fn policy(name: &str, schedule: &str) -> LoadedPolicy {
        let mut p = Policy::test();
        p.name = name.into();
        p.schedule = Some(serde_yaml::from_str(schedule).unwrap());
        LoadedPolicy {
            path: format!("/p/{name}.yaml").into(),
            policy: p,
        }
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
    }

    fn hourly(n: i64) -> Vec<Appointment> {
        (-n..n)
            .map(|h| Appointment {
                start: t0() + TimeDelta::hours(h),
                end: t0() + TimeDelta::hours(h) + TimeDelta::minutes(30),
                kind: "CT".into(),
                resource: None,
                booked_at: None,
            })
            .collect()
    }

    const BOOK: &str = "source: {type: ics, url: 'https://cal.example/book.ics'}\n";

    #[tokio::test]
    async fn one_fetch_per_source_and_refresh_period_serves_every_policy_its_window() {
        let src = MemorySchedule::default();
        src.set(hourly(48));
        let shared = SharedSchedule::new(src.clone(), std::time::Duration::from_secs(300));
        // Same source, other types and lags: one fetch.
        let a = policy("a", BOOK);
        let b = policy("b", &format!("{BOOK}types: [CT]\nmax_lag: 4h\n"));
        let now = t0();
        let h = TimeDelta::hours;
        let got_a = shared
            .appointments(&a, now - h(2), now + h(1), now)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 1);
        assert_eq!(got_a.appointments.len(), 3, "a's own window");
        let got_b = shared
            .appointments(&b, now - h(1), now + h(1), now)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 1, "shared");
        assert_eq!(got_b.appointments.len(), 2);
        // A tick that began a moment before the fetch it waited for.
        let earlier = now - TimeDelta::seconds(1);
        shared
            .appointments(&b, earlier - h(2), earlier + h(1), earlier)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 1, "served by the same fetch");
        // Later in the period, the windows have moved with the clock: still covered.
        let later = now + TimeDelta::minutes(4);
        shared
            .appointments(&a, later - h(2), later + h(1), later)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 1);
        // A wider window than fetched is fetched.
        shared
            .appointments(&b, later - h(10), later + h(1), later)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 2);
        // Another source is its own fetch.
        let c = policy(
            "c",
            "source: {type: ics, url: 'https://cal.example/other.ics'}\n",
        );
        shared
            .appointments(&c, now - h(1), now + h(1), later)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 3);
        // The next period fetches again.
        let next = later + TimeDelta::minutes(5);
        shared
            .appointments(&a, next - h(2), next + h(1), next)
            .await
            .unwrap();
        assert_eq!(src.fetches(), 4);
    }

    #[tokio::test]
    async fn a_failed_fetch_is_kept_for_the_period_with_its_kind() {
        let src = MemorySchedule::default();
        let shared = SharedSchedule::new(src.clone(), std::time::Duration::from_secs(60));
        let (a, b) = (policy("a", BOOK), policy("b", BOOK));
        let now = t0();
        let w = (now - TimeDelta::hours(1), now + TimeDelta::hours(1));
        src.set_down(true);
        let e = shared.appointments(&a, w.0, w.1, now).await.unwrap_err();
        assert_eq!(e.kind(), "fetch");
        let e = shared.appointments(&b, w.0, w.1, now).await.unwrap_err();
        assert_eq!(e.kind(), "fetch", "the same failure, not a second fetch");
        assert_eq!(src.fetches(), 1);
        src.set_down(false);
        let next = now + TimeDelta::seconds(60);
        assert!(
            shared
                .appointments(&b, w.0, w.1 + TimeDelta::minutes(1), next)
                .await
                .is_ok()
        );
        assert_eq!(src.fetches(), 2);
    }

    #[test]
    fn a_copied_error_keeps_its_kind_and_message() {
        let io = schedule::Error::Io {
            file: "book.csv".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        };
        let c = copy_error(&io);
        assert_eq!((c.kind(), c.to_string()), (io.kind(), io.to_string()));
        let spec = schedule::Error::Spec("x".into());
        assert_eq!(copy_error(&spec).to_string(), spec.to_string());
    }
}
