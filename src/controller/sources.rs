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
    /// Appointments starting in `[from, to)` for the policy's schedule.
    fn appointments(
        &self,
        policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> impl Future<Output = schedule::Result<Loaded>> + Send;
}

/// Loads the schedule named in the policy (file or URL, any supported format)
/// on every call with [`schedule::load`], so a refreshed export is picked up.
#[derive(Debug, Clone, Default)]
pub struct PolicySchedule;

impl ScheduleSource for PolicySchedule {
    async fn appointments(
        &self,
        policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
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

/// An in-memory schedule source that can be switched off.
#[derive(Debug, Clone, Default)]
pub struct MemorySchedule {
    inner: Arc<Mutex<(Vec<Appointment>, bool)>>,
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
}

impl ScheduleSource for MemorySchedule {
    async fn appointments(
        &self,
        _policy: &LoadedPolicy,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> schedule::Result<Loaded> {
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
