//! The in-cluster controller behind `planscale run`.
//!
//! Per policy, every interval: read the target (the Deployment or
//! StatefulSet, and its HPA), fetch the metrics, refresh the schedule, refit
//! on the policy's cadence, forecast, decide, act, and explain the action in
//! an Event and in `/metrics`.
//!
//! The I/O sits behind three small traits so that the per-policy loop is
//! tested with in-memory fakes: [`MetricSource`], [`ScheduleSource`] and
//! [`Cluster`] (the Kubernetes actuator and event recorder). [`KubeCluster`]
//! is the real one; it is tested against a mocked API (tower-test) and against
//! a real kube-apiserver (`tests/kube_*.rs`).
//!
//! What happens when a person scales the target by hand: see [`runner`] and
//! the "Controller" section of docs/ARCHITECTURE.md.

pub mod calendar;
pub mod cluster;
pub mod election;
pub mod memory;
pub mod pipeline;
pub mod prom;
pub mod reload;
pub mod run;
pub mod runner;
pub mod settings;
pub mod sources;

pub use cluster::{Cluster, KubeCluster, Observed, TargetRef};
pub use election::Election;
pub use run::run;
pub use runner::{PolicyRunner, TickReport};
pub use settings::Settings;
pub use sources::{MetricSource, Observation, ScheduleSource};

/// Errors of the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server answered an error (or could not be reached).
    #[error("{op} {target}: {source}")]
    Kube {
        op: &'static str,
        target: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// The target kept changing under us: every write attempt got 409 Conflict.
    #[error(
        "{op} {target}: still conflicting after {attempts} attempts (someone else keeps writing it)"
    )]
    ConflictRetriesExhausted {
        op: &'static str,
        target: String,
        attempts: u32,
    },
    /// The object read has an unexpected shape.
    #[error("{target}: expected {expected}, found {found}")]
    Unexpected {
        target: String,
        expected: &'static str,
        found: String,
    },
    /// The metric source failed.
    #[error("metrics for policy {policy}: {message}")]
    Metrics {
        policy: String,
        kind: &'static str,
        message: String,
        /// The source itself could not be reached or failed (connection,
        /// timeout, HTTP 5xx), as opposed to a query it answered with an
        /// error: an outage, which the source logs once for every policy.
        outage: bool,
    },
    /// The schedule source failed.
    #[error("schedule for policy {policy}: {message}")]
    Schedule { policy: String, message: String },
    #[error("settings: {0}")]
    Settings(String),
    #[error("leader election: {0}")]
    Election(#[from] kube_lease_manager::LeaseManagerError),
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::Error),
    #[error("cannot build a Kubernetes client: {0}")]
    Client(String),
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube { source, .. } => kube_error_kind(source),
            Error::ConflictRetriesExhausted { .. } => "conflict_retries_exhausted",
            Error::Unexpected { .. } => "unexpected_object",
            Error::Metrics { kind, .. } => kind,
            Error::Schedule { .. } => "schedule",
            Error::Settings(_) => "settings",
            Error::Election(_) => "election",
            Error::Telemetry(e) => e.kind(),
            Error::Client(_) => "client",
        }
    }

    /// Whether this is a metric source outage (see [`Error::Metrics`]).
    pub fn is_outage(&self) -> bool {
        matches!(self, Error::Metrics { outage: true, .. })
    }

    /// The HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Kube { source, .. } => match source.as_ref() {
                kube::Error::Api(s) => Some(s.code),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn kube(op: &'static str, target: impl ToString, source: kube::Error) -> Self {
        Error::Kube {
            op,
            target: target.to_string(),
            source: Box::new(source),
        }
    }
}

/// Bounded label for a kube error: by HTTP status class, else by transport.
pub fn kube_error_kind(e: &kube::Error) -> &'static str {
    match e {
        kube::Error::Api(s) => match s.code {
            401 => "api_unauthorized",
            403 => "api_forbidden",
            404 => "api_not_found",
            409 => "api_conflict",
            422 => "api_invalid",
            429 => "api_throttled",
            500..=599 => "api_server_error",
            _ => "api_other",
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => "api_unreachable",
        _ => "api_client",
    }
}

pub type Result<T> = std::result::Result<T, Error>;
