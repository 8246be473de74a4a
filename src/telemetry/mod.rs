//! Telemetry of the controller: one prefixed prometheus-client registry with the
//! controller's metrics, and a small HTTP server for `/metrics`, `/healthz` and
//! `/readyz`.
//!
//! Label sets are bounded: the policy name (one per policy file), a decision's
//! winning term and action (closed sets), and an error's `kind()` string.

mod server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use server::{Health, serve};

/// Errors of the telemetry layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot encode the metrics: {0}")]
    Encode(#[from] std::fmt::Error),
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Bind { .. } => "bind",
            Error::Encode(_) => "encode",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Labels naming one policy.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    pub policy: String,
}

/// Labels of one decision: the policy, the winning term, and what was done.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub policy: String,
    /// The planner term that set the desired count (`predictive`, `reactive`, ...).
    pub term: String,
    /// `scale_up`, `scale_down`, `hold`, or `would_scale` (forecast-only / not leader).
    pub action: String,
}

/// Labels of a decision without a predictive term: the policy and why.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NoForecastLabels {
    pub policy: String,
    /// `no_model`, `metrics_unavailable`, `fit_failed`, `predict_failed`, `not_covering`.
    pub reason: String,
}

/// Labels of one error: the policy (empty for controller-wide errors) and its kind.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub policy: String,
    pub kind: String,
}

/// Labels of one KEDA scaler request: the policy (empty when the request
/// named none or an unknown one, so a client cannot add series), the RPC and
/// the gRPC status code's name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KedaLabels {
    pub policy: String,
    pub rpc: String,
    pub code: String,
}

type GaugeF = Gauge<f64, AtomicU64>;

/// The controller's metrics. Cheap to clone (every family is an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    /// Forecast demand at the lead time, at the policy's quantile (demand units per step).
    pub forecast: Family<PolicyLabels, GaugeF>,
    /// The quantile level the planner provisions for (e.g. 0.9).
    pub forecast_quantile: Family<PolicyLabels, GaugeF>,
    /// Observed demand of the last complete step (demand units per step).
    pub observed: Family<PolicyLabels, GaugeF>,
    /// What the predictive term planned for at the last decision: the work
    /// of its binding window at the plan's level, its expected work, that
    /// level, and the wait of the window's last unit.
    pub planned_work: Family<PolicyLabels, GaugeF>,
    pub planned_expected_work: Family<PolicyLabels, GaugeF>,
    pub planned_level: Family<PolicyLabels, GaugeF>,
    pub planned_wait: Family<PolicyLabels, GaugeF>,
    /// Realised forecast error at the lead time: observed − forecast made `lead` earlier.
    pub forecast_error: Family<PolicyLabels, GaugeF>,
    /// Replicas the planner wants.
    pub desired_replicas: Family<PolicyLabels, Gauge>,
    /// Replicas the target has (`spec.replicas` of the Deployment or StatefulSet).
    pub current_replicas: Family<PolicyLabels, Gauge>,
    /// Decisions, by winning term and action.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Decisions that had no predictive term, by reason.
    pub no_forecast: Family<NoForecastLabels, Counter>,
    /// Duration of one per-policy loop iteration, in seconds.
    pub loop_duration: Family<PolicyLabels, Histogram>,
    /// Duration of one forecast fit (model choice by backtest, on a blocking
    /// thread), in seconds; its count is the number of refits.
    pub fit_duration: Family<PolicyLabels, Histogram>,
    /// Errors by kind.
    pub errors: Family<ErrorLabels, Counter>,
    /// Writes to the target (or its HPA) that the API server refused with 409
    /// Conflict because someone else wrote in between; each was re-read and
    /// decided again.
    pub write_conflicts: Family<PolicyLabels, Counter>,
    /// Valid policies currently running.
    pub policies_running: Gauge,
    /// Policy files that failed to load at the last reload.
    pub policies_invalid: Gauge,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Requests to the KEDA external scaler (`--keda-listen`), by policy, RPC and status.
    pub keda_requests: Family<KedaLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            forecast: Family::default(),
            forecast_quantile: Family::default(),
            observed: Family::default(),
            planned_work: Family::default(),
            planned_expected_work: Family::default(),
            planned_level: Family::default(),
            planned_wait: Family::default(),
            forecast_error: Family::default(),
            desired_replicas: Family::default(),
            current_replicas: Family::default(),
            decisions: Family::default(),
            no_forecast: Family::default(),
            loop_duration: Family::new_with_constructor(|| {
                // 1 ms .. ~16 s: a loop is a few API calls and a forecast.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.001, 2.0, 15,
                ))
            }),
            fit_duration: Family::new_with_constructor(|| {
                // 1 ms .. ~16 s: one fit of up to weeks of history.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.001, 2.0, 15,
                ))
            }),
            errors: Family::default(),
            write_conflicts: Family::default(),
            policies_running: Gauge::default(),
            policies_invalid: Gauge::default(),
            leader: Gauge::default(),
            keda_requests: Family::default(),
        }
    }
}

impl Metrics {
    /// Register every metric in `registry` (which should carry the `planscale` prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "forecast",
            "Forecast demand at the lead time at the policy's quantile, demand units per step",
            self.forecast.clone(),
        );
        registry.register(
            "forecast_quantile",
            "Quantile level of the forecast the planner provisions for",
            self.forecast_quantile.clone(),
        );
        registry.register(
            "observed_demand",
            "Observed demand of the last complete step, demand units per step",
            self.observed.clone(),
        );
        registry.register(
            "planned_work",
            "Work the predictive term planned for in its binding window (queued plus arriving, at the plan's level), demand units",
            self.planned_work.clone(),
        );
        registry.register(
            "planned_expected_work",
            "Work expected in the predictive term's binding window (queued plus arriving), demand units",
            self.planned_expected_work.clone(),
        );
        registry.register(
            "planned_level",
            "Quantile level of summed work the binding window was planned at",
            self.planned_level.clone(),
        );
        registry.register(
            "planned_wait_seconds",
            "Wait of the binding window's last unit of work if it arrives at the planned level, with the replicas asked for",
            self.planned_wait.clone(),
        );
        registry.register(
            "forecast_error",
            "Realised forecast error at the lead time: observed minus the forecast made one lead time earlier, demand units per step",
            self.forecast_error.clone(),
        );
        registry.register(
            "desired_replicas",
            "Replicas the planner wants for the target",
            self.desired_replicas.clone(),
        );
        registry.register(
            "current_replicas",
            "Replicas the target has (spec.replicas of the Deployment or StatefulSet)",
            self.current_replicas.clone(),
        );
        registry.register(
            "decisions",
            "Decisions by winning planner term and action",
            self.decisions.clone(),
        );
        registry.register(
            "decisions_without_forecast",
            "Decisions that had no predictive term, by reason",
            self.no_forecast.clone(),
        );
        registry.register(
            "loop_duration_seconds",
            "Duration of one per-policy loop iteration",
            self.loop_duration.clone(),
        );
        registry.register(
            "fit_duration_seconds",
            "Duration of one forecast fit (a refit); the count is the number of refits",
            self.fit_duration.clone(),
        );
        registry.register("errors", "Errors by kind", self.errors.clone());
        registry.register(
            "write_conflicts",
            "Writes refused with 409 Conflict (another writer changed the object between planscale's read and write), each re-read and decided again",
            self.write_conflicts.clone(),
        );
        registry.register(
            "policies_running",
            "Valid policies currently running",
            self.policies_running.clone(),
        );
        registry.register(
            "policies_invalid",
            "Policy files that failed to load at the last reload",
            self.policies_invalid.clone(),
        );
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease, else 0",
            self.leader.clone(),
        );
        registry.register(
            "keda_requests",
            "Requests to the KEDA external scaler, by policy (empty when unknown), RPC and gRPC status",
            self.keda_requests.clone(),
        );
    }

    /// Count one error of `kind` for `policy` (empty for controller-wide errors).
    pub fn error(&self, policy: &str, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                policy: policy.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// Count the 409 Conflicts a write met (nothing when there were none).
    pub fn conflicts(&self, policy: &str, n: u32) {
        if n > 0 {
            self.write_conflicts
                .get_or_create(&PolicyLabels {
                    policy: policy.to_string(),
                })
                .inc_by(u64::from(n));
        }
    }

    /// Remove every per-policy series of a policy that went away.
    pub fn forget_policy(&self, policy: &str) {
        let l = PolicyLabels {
            policy: policy.to_string(),
        };
        for f in [
            &self.forecast,
            &self.forecast_quantile,
            &self.observed,
            &self.planned_work,
            &self.planned_expected_work,
            &self.planned_level,
            &self.planned_wait,
            &self.forecast_error,
        ] {
            f.remove(&l);
        }
        self.desired_replicas.remove(&l);
        self.current_replicas.remove(&l);
        self.loop_duration.remove(&l);
        self.fit_duration.remove(&l);
    }
}

/// The registry and metrics of one controller process.
#[derive(Clone)]
pub struct Telemetry {
    pub metrics: Metrics,
    pub registry: Arc<Registry>,
    pub health: Health,
}

impl Telemetry {
    /// A `planscale`-prefixed registry with the controller's metrics registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("planscale");
        let metrics = Metrics::default();
        metrics.register(&mut registry);
        Telemetry {
            metrics,
            registry: Arc::new(registry),
            health: Health::default(),
        }
    }

    /// The registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// A flag shared between the loop and the HTTP server.
#[derive(Debug, Clone, Default)]
pub struct Flag(Arc<AtomicBool>);

impl Flag {
    pub fn set(&self, v: bool) {
        self.0.store(v, Ordering::Release);
    }
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_exposes_prefixed_metrics_with_help() {
        let t = Telemetry::new();
        let l = PolicyLabels {
            policy: "dose".into(),
        };
        t.metrics.desired_replicas.get_or_create(&l).set(6);
        t.metrics.forecast.get_or_create(&l).set(12.5);
        t.metrics
            .decisions
            .get_or_create(&DecisionLabels {
                policy: "dose".into(),
                term: "predictive".into(),
                action: "scale_up".into(),
            })
            .inc();
        t.metrics.error("dose", "prometheus_unreachable");
        t.metrics.loop_duration.get_or_create(&l).observe(0.003);
        let text = t.encode().unwrap();
        assert!(
            text.contains("planscale_desired_replicas{policy=\"dose\"} 6"),
            "{text}"
        );
        assert!(
            text.contains("planscale_forecast{policy=\"dose\"} 12.5"),
            "{text}"
        );
        assert!(
            text.contains(
                "planscale_decisions_total{policy=\"dose\",term=\"predictive\",action=\"scale_up\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("# HELP planscale_loop_duration_seconds"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn forgetting_a_policy_removes_its_series() {
        let t = Telemetry::new();
        let l = PolicyLabels {
            policy: "gone".into(),
        };
        t.metrics.current_replicas.get_or_create(&l).set(3);
        t.metrics.forget_policy("gone");
        assert!(!t.encode().unwrap().contains("policy=\"gone\""));
    }

    #[test]
    fn the_shipped_dashboard_queries_only_metrics_we_export() {
        let dash: serde_json::Value = serde_json::from_str(include_str!(
            "../../deploy/base/grafana/planscale-dashboard.json"
        ))
        .unwrap();
        let t = Telemetry::new();
        let l = PolicyLabels { policy: "p".into() };
        let m = &t.metrics;
        for f in [
            &m.forecast,
            &m.forecast_quantile,
            &m.observed,
            &m.forecast_error,
        ] {
            f.get_or_create(&l).set(1.0);
        }
        m.desired_replicas.get_or_create(&l).set(1);
        m.current_replicas.get_or_create(&l).set(1);
        m.loop_duration.get_or_create(&l).observe(0.01);
        m.error("p", "x");
        m.decisions
            .get_or_create(&DecisionLabels {
                policy: "p".into(),
                term: "t".into(),
                action: "a".into(),
            })
            .inc();
        let exported = t.encode().unwrap();
        let mut checked = 0;
        for panel in dash["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("planscale_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        exported
                            .lines()
                            .any(|line| line.starts_with(&format!("{name}{{"))
                                || line.starts_with(&format!("{name} "))),
                        "panel {:?} queries {name}, which is not exported",
                        panel["title"]
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 10, "{checked}");
    }
}
