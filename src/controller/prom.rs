//! The live [`MetricSource`]: Prometheus through the metrics module's client,
//! with one incremental [`HistoryCache`] per policy for the demand history and
//! instant queries for the current utilisation and queue depth.
//!
//! An outage (no connection, timeouts, HTTP 5xx after the client's retries)
//! is logged here once, naming Prometheus, when it starts and once when
//! Prometheus answers again: not once per policy and interval. Each policy's
//! loop holds its replica count meanwhile and counts the error by kind
//! (`prometheus_connect`, `prometheus_timeout`, ...).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::sources::{MetricSource, Observation};
use super::{Error, Result};
use crate::policy::LoadedPolicy;
use crate::schedule::redact_url;
use crate::sources::cache::{CacheConfig, HistoryCache};
use crate::sources::error::SourceError;
use crate::sources::prometheus::{PrometheusClient, PrometheusConfig};

type Shared = Arc<tokio::sync::Mutex<HistoryCache>>;

/// First fetches (a policy's whole window, into an empty cache) in flight at
/// once, over all policies (a cache older than its whole window is refetched
/// whole without waiting). While one is read it holds the HTTP read buffer,
/// the body text and the parsed points (about 0.4 MB at 28 days of 5
/// minutes), and the pooled connection keeps its grown read buffer: 50
/// policies starting together took 16.6 MB of read buffers at once
/// (heaptrack), which the allocator then kept. Two fits run at a time anyway
/// (the runner's fit slots), so four fetches keep them busy.
static FULL_FETCH_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// Prometheus as the controller's metric source.
pub struct PrometheusMetrics {
    client: PrometheusClient,
    /// Per policy: the demand-history cache (rebuilt when its query or sizes change).
    caches: Mutex<HashMap<String, (String, CacheConfig, Shared)>>,
    /// Since when Prometheus has been unreachable (`None`: it answered last).
    down_since: Mutex<Option<Instant>>,
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
            down_since: Mutex::new(None),
        })
    }

    /// Note whether Prometheus answered; log the start and the end of an outage once.
    fn note(&self, result: &Result<Observation>) {
        let mut down = match self.down_since.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        match (result, *down) {
            (Err(e), None) if e.is_outage() => {
                *down = Some(Instant::now());
                tracing::warn!(prometheus = %redact_url(self.client.url().trim_end_matches('/')), error = %e,
                    "Prometheus is unavailable: every policy holds its replica count (no scale-down, no scale-up from stale data) until it answers again");
            }
            (Err(e), Some(_)) if e.is_outage() => {}
            // An answer, even a query error, means Prometheus is back.
            (_, Some(since)) => {
                *down = None;
                tracing::info!(prometheus = %redact_url(self.client.url().trim_end_matches('/')), down_for_s = since.elapsed().as_secs(),
                    "Prometheus answers again: decisions resume");
            }
            (_, None) => {}
        }
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

fn metrics_error(policy: &str, e: &SourceError) -> Error {
    Error::Metrics {
        policy: policy.to_string(),
        kind: prometheus_kind(e),
        message: e.to_string(),
        outage: e.is_transient(),
    }
}

/// The error label of a Prometheus failure: the source's kind, prefixed so
/// that `planscale_errors_total{kind}` says which dependency failed (as the
/// `api_` and `schedule_` kinds do).
pub fn prometheus_kind(e: &SourceError) -> &'static str {
    match e {
        SourceError::Config { .. } => "prometheus_config",
        SourceError::File { .. } => "prometheus_file",
        SourceError::Connect { .. } => "prometheus_connect",
        SourceError::Timeout { .. } => "prometheus_timeout",
        SourceError::Http { .. } => "prometheus_http",
        SourceError::Api { .. } => "prometheus_api",
        SourceError::Decode { .. } => "prometheus_decode",
        SourceError::ResultType { .. } => "prometheus_result_type",
        SourceError::ManySeries { .. } => "prometheus_many_series",
        SourceError::NoSeries { .. } => "prometheus_no_series",
        SourceError::Exposition { .. } => "prometheus_exposition",
        SourceError::NoMatch { .. } => "prometheus_no_match",
    }
}

impl MetricSource for PrometheusMetrics {
    async fn observe(&self, lp: &LoadedPolicy, now: DateTime<Utc>) -> Result<Observation> {
        let result = self.observe_inner(lp, now).await;
        self.note(&result);
        result
    }
}

impl PrometheusMetrics {
    async fn observe_inner(&self, lp: &LoadedPolicy, now: DateTime<Utc>) -> Result<Observation> {
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
                outage: false,
            })?;
        let cfg = CacheConfig::for_history(p.step_secs(), p.forecast.history.secs_i64());
        let cache = self.cache_for(name, query, cfg);
        let history = {
            let mut c = cache.lock().await;
            // A first (whole-window) fetch waits for one of a few slots.
            let _slot = match c.last_time() {
                None => Some(FULL_FETCH_SLOTS.acquire().await),
                Some(_) => None,
            };
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
        // The stage's completions, for the stages after it: a failure here
        // does not hold this policy's own decision (the stages after fall
        // back to their own history and say so).
        let completions = match p
            .demand
            .completions
            .as_ref()
            .and_then(|c| c.query.as_deref())
        {
            None => None,
            Some(q) => {
                let key = format!("{name}\u{0}completions");
                let cache = self.cache_for(&key, q, cfg);
                let mut c = cache.lock().await;
                match c.refresh(&self.client, now).await {
                    Ok(_) => Some(c.series()),
                    Err(e) => {
                        // Said by the stages after (their fallback note).
                        tracing::debug!(policy = %name, error = %e, "demand.completions unavailable: the stages after this one forecast without it");
                        None
                    }
                }
            }
        };
        Ok(Observation {
            history,
            utilisation,
            queue_depth,
            completions,
        })
    }
}
