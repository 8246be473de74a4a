//! The live [`MetricSource`]: Prometheus through the metrics module's client,
//! with one incremental [`HistoryCache`] per policy for the demand history and
//! instant queries for the current utilisation and queue depth.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::sources::{MetricSource, Observation};
use super::{Error, Result};
use crate::policy::LoadedPolicy;
use crate::sources::cache::{CacheConfig, HistoryCache};
use crate::sources::prometheus::{PrometheusClient, PrometheusConfig};

type Shared = Arc<tokio::sync::Mutex<HistoryCache>>;

/// Prometheus as the controller's metric source.
pub struct PrometheusMetrics {
    client: PrometheusClient,
    /// Per policy: the demand-history cache (rebuilt when its query or sizes change).
    caches: Mutex<HashMap<String, (String, CacheConfig, Shared)>>,
}

impl PrometheusMetrics {
    /// A source reading the Prometheus HTTP API at `url`.
    pub fn new(url: &str) -> Result<Self> {
        let client = PrometheusConfig::new(url)
            .build()
            .map_err(|e| Error::Settings(format!("prometheus_url: {e}")))?;
        Ok(PrometheusMetrics {
            client,
            caches: Mutex::new(HashMap::new()),
        })
    }

    fn cache_for(&self, name: &str, query: &str, cfg: CacheConfig) -> Shared {
        let mut g = match self.caches.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match g.get(name) {
            Some((q, c, cache)) if q == query && *c == cfg => cache.clone(),
            _ => {
                let cache = Arc::new(tokio::sync::Mutex::new(HistoryCache::new(query, cfg)));
                g.insert(name.to_string(), (query.to_string(), cfg, cache.clone()));
                cache
            }
        }
    }

    /// The current value of an instant query (`field` names it in errors):
    /// one series or an error naming the query and what it found.
    async fn instant(
        &self,
        name: &str,
        field: &str,
        query: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<f64>> {
        let Some(q) = query else { return Ok(None) };
        self.client
            .query_field(q, now, field)
            .await
            .map_err(|e| metrics_error(name, &e))
    }
}

fn metrics_error(policy: &str, e: &crate::sources::error::SourceError) -> Error {
    Error::Metrics {
        policy: policy.to_string(),
        kind: e.kind(),
        message: e.to_string(),
    }
}

impl MetricSource for PrometheusMetrics {
    async fn observe(&self, lp: &LoadedPolicy, now: DateTime<Utc>) -> Result<Observation> {
        let p = &lp.policy;
        let name = p.name.as_str();
        let query = p
            .demand
            .arrivals
            .query
            .as_deref()
            .ok_or_else(|| Error::Metrics {
                policy: name.to_string(),
                kind: "no_query",
                message:
                    "expected demand.arrivals.query (PromQL) in the policy for live use, found none"
                        .into(),
            })?;
        let cfg = CacheConfig::for_history(p.step_secs(), p.forecast.history.secs_i64());
        let cache = self.cache_for(name, query, cfg);
        let history = {
            let mut c = cache.lock().await;
            c.refresh(&self.client, now)
                .await
                .map_err(|e| metrics_error(name, &e))?;
            c.series()
        };
        let utilisation = self
            .instant(
                name,
                "demand.cpu.query",
                p.demand.cpu.as_ref().and_then(|s| s.query.as_deref()),
                now,
            )
            .await?;
        let queue_depth = self
            .instant(
                name,
                "demand.queue_depth.query",
                p.demand
                    .queue_depth
                    .as_ref()
                    .and_then(|s| s.query.as_deref()),
                now,
            )
            .await?;
        Ok(Observation {
            history,
            utilisation,
            queue_depth,
        })
    }
}
