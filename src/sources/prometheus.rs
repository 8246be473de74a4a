//! A client of the Prometheus HTTP API (`/api/v1/query_range`, `/api/v1/query`).
//!
//! Range queries longer than Prometheus's limit of 11,000 points per series
//! are split into several requests and merged back onto one grid. Answers are
//! checked: Prometheus's own error bodies (`errorType`, `error`) are passed on
//! with its message, a result of the wrong type is refused, and where one
//! series is expected several are refused with their labels named.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{Result, SourceError};
use super::http::{Answer, HttpClient, HttpConfig, excerpt};
use crate::series::{Grid, Series};

/// Prometheus refuses a range query whose `(end - start) / step` exceeds this
/// (`exceeded maximum resolution of 11,000 points per timeseries`, Prometheus
/// web/api/v1/api.go, checked against 2.42). A request covers at most this many
/// points, so `(end - start) / step` stays at 10,999.
pub const MAX_POINTS_PER_QUERY: usize = 11_000;

/// A series' labels, `__name__` included when Prometheus returns it.
pub type Labels = BTreeMap<String, String>;

/// Where Prometheus is and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix such
    /// as `/prometheus` is kept).
    pub url: String,
    #[serde(default)]
    pub http: HttpConfig,
}

impl PrometheusConfig {
    /// A configuration with default HTTP settings.
    pub fn new(url: impl Into<String>) -> Self {
        PrometheusConfig {
            url: url.into(),
            http: HttpConfig::default(),
        }
    }

    /// Build the runtime client.
    pub fn build(&self) -> Result<PrometheusClient> {
        PrometheusClient::new(self)
    }
}

/// A client of one Prometheus server.
#[derive(Debug)]
pub struct PrometheusClient {
    base: reqwest::Url,
    http: HttpClient,
}

/// One element of an instant-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub time: DateTime<Utc>,
    pub value: f64,
}

impl PrometheusClient {
    pub fn new(config: &PrometheusConfig) -> Result<PrometheusClient> {
        let mut text = config.url.trim().to_string();
        if !text.ends_with('/') {
            text.push('/');
        }
        let base = reqwest::Url::parse(&text).map_err(|e| SourceError::Config {
            field: "prometheus url".into(),
            message: format!("expected an http(s) URL, found {:?}: {e}", config.url),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(SourceError::Config {
                field: "prometheus url".into(),
                message: format!(
                    "expected an http or https URL, found scheme {:?}",
                    base.scheme()
                ),
            });
        }
        Ok(PrometheusClient {
            base,
            http: HttpClient::new(&config.http)?,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        self.base.as_str()
    }

    /// Evaluate `query` at every point of `grid` and return every series of
    /// the result (points without a value are `NaN`). Ranges of more than
    /// [`MAX_POINTS_PER_QUERY`] points are fetched in several requests.
    pub async fn query_range(&self, query: &str, grid: Grid) -> Result<Vec<(Labels, Series)>> {
        let mut merged: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
        for (offset, chunk) in split_grid(grid, MAX_POINTS_PER_QUERY) {
            for (labels, values) in self.query_range_chunk(query, chunk).await? {
                let column = merged
                    .entry(labels)
                    .or_insert_with(|| vec![f64::NAN; grid.len]);
                for (i, v) in values.into_iter().enumerate() {
                    if !v.is_nan() {
                        column[offset + i] = v;
                    }
                }
            }
        }
        Ok(merged
            .into_iter()
            .map(|(labels, values)| (labels, Series::new(grid, values)))
            .collect())
    }

    /// Like [`query_range`](Self::query_range) for a query that must yield one
    /// series: `None` when it yields none, an error naming the labels when it
    /// yields several.
    pub async fn query_range_one(&self, query: &str, grid: Grid) -> Result<Option<Series>> {
        let mut all = self.query_range(query, grid).await?;
        match all.len() {
            0 => Ok(None),
            1 => Ok(all.pop().map(|(_, s)| s)),
            n => Err(many_series(query, n, all.iter().map(|(l, _)| l))),
        }
    }

    /// The values of the steps of `grid`, on planscale's time convention
    /// (docs/ARCHITECTURE.md, "Time"): a point stamped `T` holds the step
    /// `[T, T + step)`. Prometheus stamps a window by its end —
    /// `increase(jobs_total[5m])` evaluated at `T` covers `(T − 5m, T]` — so
    /// the step stamped `T` is the query evaluated at `T + step` (a gauge is
    /// read at its step's end). This is the one place the two conventions
    /// meet: the history cache and `planscale record` read through it.
    pub async fn query_steps(&self, query: &str, grid: Grid) -> Result<Option<Series>> {
        let step = chrono::TimeDelta::seconds(grid.step_secs);
        let at_ends = Grid::new(grid.start + step, grid.step_secs, grid.len);
        Ok(self
            .query_range_one(query, at_ends)
            .await?
            .map(|s| Series::new(grid, s.values)))
    }

    /// The one value of `query` at `at`, for the policy field `field`: no
    /// series or several are errors naming the query (and the label sets),
    /// never a silent "missing"; a non-finite value is missing (`None`).
    pub async fn query_field(
        &self,
        query: &str,
        at: DateTime<Utc>,
        field: &str,
    ) -> Result<Option<f64>> {
        match self.query_one(query, at).await? {
            None => Err(SourceError::NoSeries {
                query: query.to_string(),
                field: field.to_string(),
                from: at.to_rfc3339(),
                to: at.to_rfc3339(),
            }),
            Some(v) => Ok(Some(v).filter(|v| v.is_finite())),
        }
    }

    /// Evaluate `query` at the instant `at`. A scalar result is one sample
    /// without labels.
    pub async fn query(&self, query: &str, at: DateTime<Utc>) -> Result<Vec<InstantSample>> {
        let url = self.endpoint("api/v1/query")?;
        let params = [
            ("query", query.to_string()),
            ("time", unix_secs(at)),
            ("timeout", self.server_timeout()),
        ];
        let data = self
            .http
            .send(
                url.as_str(),
                |c| c.post(url.clone()).form(&params),
                |a| parse_answer(url.as_str(), query, a),
            )
            .await?;
        let decode = |e: serde_json::Error| SourceError::Decode {
            url: url.to_string(),
            message: format!("query {query:?}: {e}"),
        };
        match data.result_type.as_str() {
            "vector" => {
                let rows: Vec<VectorRow> = serde_json::from_value(data.result).map_err(decode)?;
                rows.into_iter()
                    .map(|r| {
                        Ok(InstantSample {
                            time: time_of(url.as_str(), r.value.0)?,
                            value: value_of(url.as_str(), query, &r.value.1)?,
                            labels: r.metric,
                        })
                    })
                    .collect()
            }
            "scalar" => {
                let (t, v): (f64, String) = serde_json::from_value(data.result).map_err(decode)?;
                Ok(vec![InstantSample {
                    labels: Labels::new(),
                    time: time_of(url.as_str(), t)?,
                    value: value_of(url.as_str(), query, &v)?,
                }])
            }
            other => Err(SourceError::ResultType {
                query: query.to_string(),
                expected: "vector or scalar",
                found: other.to_string(),
            }),
        }
    }

    /// Like [`query`](Self::query) for a query that must yield at most one
    /// value: `None` when the result is empty.
    pub async fn query_one(&self, query: &str, at: DateTime<Utc>) -> Result<Option<f64>> {
        let mut all = self.query(query, at).await?;
        match all.len() {
            0 => Ok(None),
            1 => Ok(all.pop().map(|s| s.value)),
            n => Err(many_series(query, n, all.iter().map(|s| &s.labels))),
        }
    }

    async fn query_range_chunk(&self, query: &str, chunk: Grid) -> Result<Vec<(Labels, Vec<f64>)>> {
        let url = self.endpoint("api/v1/query_range")?;
        let params = [
            ("query", query.to_string()),
            ("start", unix_secs(chunk.start)),
            ("end", unix_secs(chunk.time(chunk.len.saturating_sub(1)))),
            ("step", chunk.step_secs.to_string()),
            ("timeout", self.server_timeout()),
        ];
        tracing::debug!(url = %url, query, start = %chunk.start, points = chunk.len, "query_range");
        let data = self
            .http
            .send(
                url.as_str(),
                |c| c.post(url.clone()).form(&params),
                |a| parse_answer(url.as_str(), query, a),
            )
            .await?;
        decode_matrix(url.as_str(), query, data, chunk)
    }

    fn endpoint(&self, path: &str) -> Result<reqwest::Url> {
        self.base.join(path).map_err(|e| SourceError::Config {
            field: "prometheus url".into(),
            message: format!("cannot append {path:?} to {}: {e}", self.base),
        })
    }

    /// The evaluation timeout sent to the server: the client's own timeout, so
    /// that Prometheus gives up on a query nobody waits for any more.
    fn server_timeout(&self) -> String {
        format!("{}s", self.http.config().timeout.secs())
    }
}

/// Split `grid` into consecutive grids of at most `max` points, each with its
/// offset in the whole.
pub fn split_grid(grid: Grid, max: usize) -> Vec<(usize, Grid)> {
    let max = max.max(1);
    (0..grid.len)
        .step_by(max)
        .map(|offset| {
            let len = max.min(grid.len - offset);
            (offset, Grid::new(grid.time(offset), grid.step_secs, len))
        })
        .collect()
}

/// Labels as PromQL writes a selector: `name{a="1", b="2"}`.
pub fn format_labels(labels: &Labels) -> String {
    let name = labels.get("__name__").map(String::as_str).unwrap_or("");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// Shown label sets in a "several series" error.
const SHOWN_SERIES: usize = 5;

fn many_series<'a>(
    query: &str,
    count: usize,
    labels: impl Iterator<Item = &'a Labels>,
) -> SourceError {
    SourceError::ManySeries {
        query: query.to_string(),
        count,
        labels: labels.take(SHOWN_SERIES).map(format_labels).collect(),
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct MatrixRow {
    #[serde(default)]
    metric: Labels,
    /// Float samples; native histograms (`histograms`) are not read.
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Debug, Deserialize)]
struct VectorRow {
    #[serde(default)]
    metric: Labels,
    value: (f64, String),
}

/// Turn an HTTP answer into the `data` of a successful API response.
fn parse_answer(url: &str, query: &str, answer: Answer) -> Result<Data> {
    let envelope: Option<Envelope> = serde_json::from_str(&answer.body).ok();
    let ok = (200..300).contains(&answer.status);
    match envelope {
        Some(e) if e.status == "error" || !ok => Err(SourceError::Api {
            url: url.to_string(),
            query: query.to_string(),
            status: answer.status,
            error_type: e.error_type.unwrap_or_else(|| "unknown".into()),
            error: e
                .error
                .unwrap_or_else(|| format!("no error message; status {:?}", e.status)),
        }),
        Some(e) if e.status == "success" => {
            for w in &e.warnings {
                tracing::warn!(url, query, warning = %w, "Prometheus warning");
            }
            e.data.ok_or_else(|| SourceError::Decode {
                url: url.to_string(),
                message: "expected a \"data\" field in a successful answer, found none".into(),
            })
        }
        Some(e) => Err(SourceError::Decode {
            url: url.to_string(),
            message: format!(
                "expected status \"success\" or \"error\", found {:?}",
                e.status
            ),
        }),
        None if !ok => Err(SourceError::Http {
            url: url.to_string(),
            status: answer.status,
            attempts: 1,
            body: excerpt(&answer.body, 300),
        }),
        None => Err(SourceError::Decode {
            url: url.to_string(),
            message: format!(
                "expected a Prometheus API JSON answer, found: {}",
                excerpt(&answer.body, 200)
            ),
        }),
    }
}

/// Decode one `query_range` answer (HTTP status and body) for the requested
/// `chunk` into each series' labels and its values on the chunk's grid
/// (missing points `NaN`). The pure part of a range query: what the client
/// does with whatever a server sends, so it is fuzzed (fuzz/) and
/// property-tested (tests/parser_props.rs) without a server. `url` and `query`
/// name the request in errors.
pub fn parse_query_range(
    url: &str,
    query: &str,
    answer: Answer,
    chunk: Grid,
) -> Result<Vec<(Labels, Vec<f64>)>> {
    let data = parse_answer(url, query, answer)?;
    decode_matrix(url, query, data, chunk)
}

fn decode_matrix(
    url: &str,
    query: &str,
    data: Data,
    chunk: Grid,
) -> Result<Vec<(Labels, Vec<f64>)>> {
    if data.result_type != "matrix" {
        return Err(SourceError::ResultType {
            query: query.to_string(),
            expected: "matrix (range vector)",
            found: data.result_type,
        });
    }
    let rows: Vec<MatrixRow> =
        serde_json::from_value(data.result).map_err(|e| SourceError::Decode {
            url: url.to_string(),
            message: format!("query {query:?}: expected a matrix of [time, \"value\"] pairs: {e}"),
        })?;
    let start_ms = chunk.start.timestamp_millis();
    let step_ms = chunk.step_secs * 1000;
    rows.into_iter()
        .map(|row| {
            let mut values = vec![f64::NAN; chunk.len];
            for (t, v) in &row.values {
                // Saturating cast; a time that far off the grid is an error, not an overflow.
                let t_ms = (t * 1000.0).round() as i64;
                let offset = t_ms.checked_sub(start_ms).unwrap_or(i64::MIN);
                let i = offset.div_euclid(step_ms);
                if offset == i64::MIN
                    || offset.rem_euclid(step_ms) != 0
                    || i < 0
                    || i as usize >= chunk.len
                {
                    return Err(SourceError::Decode {
                        url: url.to_string(),
                        message: format!(
                            "query {query:?}: a sample at {t} s is not on the requested grid ({} + k x {} s, {} points)",
                            chunk.start, chunk.step_secs, chunk.len
                        ),
                    });
                }
                values[i as usize] = value_of(url, query, v)?;
            }
            Ok((row.metric, values))
        })
        .collect()
}

/// Prometheus writes sample values as strings: numbers, `NaN`, `+Inf`, `-Inf`.
fn value_of(url: &str, query: &str, v: &str) -> Result<f64> {
    v.parse::<f64>().map_err(|_| SourceError::Decode {
        url: url.to_string(),
        message: format!("query {query:?}: expected a number as sample value, found {v:?}"),
    })
}

fn time_of(url: &str, secs: f64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis((secs * 1000.0).round() as i64).ok_or_else(|| {
        SourceError::Decode {
            url: url.to_string(),
            message: format!("expected a timestamp in seconds, found {secs}"),
        }
    })
}

/// Unix seconds with millisecond precision, as the API accepts them.
fn unix_secs(t: DateTime<Utc>) -> String {
    let ms = t.timestamp_millis();
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Duration;
    use crate::sources::fake_http::{FakeServer, Reply, Seen};
    use crate::sources::http::RetryPolicy;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn client(url: &str) -> PrometheusClient {
        let mut c = PrometheusConfig::new(url);
        c.http.retry = RetryPolicy {
            attempts: 3,
            initial_backoff_ms: 1,
            max_backoff_ms: 4,
        };
        c.build().unwrap()
    }

    fn param<'a>(s: &'a Seen, name: &str) -> &'a str {
        s.params.get(name).map(String::as_str).unwrap_or("")
    }

    /// A fake Prometheus that answers a range query with one series whose
    /// value at each point is its unix time in minutes.
    fn minutes_matrix(s: &Seen) -> Reply {
        let start: i64 = param(s, "start").parse().unwrap();
        let end: i64 = param(s, "end").parse().unwrap();
        let step: i64 = param(s, "step").parse().unwrap();
        let values: Vec<String> = (start..=end)
            .step_by(step as usize)
            .map(|t| format!("[{t},\"{}\"]", t / 60))
            .collect();
        Reply::json(
            200,
            format!(
                r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{"job":"planner"}},"values":[{}]}}]}}}}"#,
                values.join(",")
            ),
        )
    }

    #[tokio::test]
    async fn long_ranges_are_split_under_the_limit_and_merged_back() {
        let server = FakeServer::start(|s, _| minutes_matrix(s)).await;
        let grid = Grid::new(t0(), 60, 25_000);
        let series = client(&server.url)
            .query_range_one("jobs", grid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(series.grid, grid);
        for (i, v) in series.values.iter().enumerate() {
            assert_eq!(*v, (t0().timestamp() / 60 + i as i64) as f64, "point {i}");
        }
        let seen = server.seen();
        assert_eq!(seen.len(), 3);
        let mut covered = 0;
        for s in &seen {
            assert_eq!(s.method, "POST");
            assert_eq!(s.path, "/api/v1/query_range");
            assert_eq!(param(s, "query"), "jobs");
            let start: i64 = param(s, "start").parse().unwrap();
            let end: i64 = param(s, "end").parse().unwrap();
            let points = (end - start) / 60 + 1;
            assert!(points as usize <= MAX_POINTS_PER_QUERY);
            // Prometheus's own check is (end - start) / step > 11000.
            assert!((end - start) / 60 <= 11_000);
            covered += points;
        }
        assert_eq!(covered, 25_000);
    }

    #[test]
    fn split_grid_covers_the_grid_exactly() {
        let g = Grid::new(t0(), 300, 23);
        let parts = split_grid(g, 10);
        let lens: Vec<usize> = parts.iter().map(|(_, p)| p.len).collect();
        assert_eq!(lens, vec![10, 10, 3]);
        assert_eq!(parts[1].0, 10);
        assert_eq!(parts[1].1.start, g.time(10));
        assert!(split_grid(Grid::new(t0(), 300, 0), 10).is_empty());
    }

    #[tokio::test]
    async fn missing_points_nan_and_infinities_are_read() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1772409600,"1.5"],[1772409720,"NaN"],[1772409780,"+Inf"]]}]}}"#;
        let server = FakeServer::start(move |_, _| Reply::json(200, body)).await;
        let s = client(&server.url)
            .query_range_one("q", Grid::new(t0(), 60, 4))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.values[0], 1.5);
        assert!(s.values[1].is_nan(), "absent point");
        assert!(s.values[2].is_nan(), "NaN point");
        assert_eq!(s.values[3], f64::INFINITY);
    }

    #[tokio::test]
    async fn prometheus_error_bodies_are_shown_and_not_retried() {
        let body = r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:11: parse error: unclosed left parenthesis"}"#;
        let server = FakeServer::start(move |_, _| Reply::json(400, body)).await;
        let e = client(&server.url)
            .query_range("rate(jobs[5m]", Grid::new(t0(), 60, 10))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "api");
        let msg = e.to_string();
        assert!(msg.contains("bad_data"), "{msg}");
        assert!(msg.contains("unclosed left parenthesis"), "{msg}");
        assert!(msg.contains("rate(jobs[5m]"), "{msg}");
        assert_eq!(server.seen().len(), 1, "a bad query is not retried");
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let server = FakeServer::start(|s, i| {
            if i < 2 {
                Reply::text(503, "overloaded")
            } else {
                minutes_matrix(s)
            }
        })
        .await;
        let s = client(&server.url)
            .query_range_one("jobs", Grid::new(t0(), 60, 5))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.missing(), 0);
        assert_eq!(server.seen().len(), 3);

        let down = FakeServer::start(|_, _| Reply::text(502, "<html>bad gateway</html>")).await;
        let e = client(&down.url)
            .query_range("jobs", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "http");
        assert!(e.to_string().contains("HTTP 502"), "{e}");
        assert!(e.to_string().contains("3 attempt(s)"), "{e}");
        assert!(e.to_string().contains("bad gateway"), "{e}");
        assert_eq!(down.seen().len(), 3);
    }

    #[tokio::test]
    async fn connections_closed_without_an_answer_are_retried() {
        let server = FakeServer::start(|s, i| {
            if i == 0 {
                Reply::Hang
            } else {
                minutes_matrix(s)
            }
        })
        .await;
        let s = client(&server.url)
            .query_range_one("jobs", Grid::new(t0(), 60, 3))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.missing(), 0);
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn timeouts_are_retried_then_reported() {
        let server = FakeServer::start(|_, _| {
            Reply::After(
                std::time::Duration::from_secs(5),
                Box::new(Reply::json(200, "{}")),
            )
        })
        .await;
        let mut c = PrometheusConfig::new(&server.url);
        c.http.timeout = Duration::from_secs(1);
        c.http.retry = RetryPolicy {
            attempts: 2,
            initial_backoff_ms: 1,
            max_backoff_ms: 1,
        };
        let e = c
            .build()
            .unwrap()
            .query_range("jobs", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "timeout", "{e}");
        assert!(e.to_string().contains("2 attempt(s)"), "{e}");
        assert_eq!(server.seen().len(), 2);
        assert_eq!(param(&server.seen()[0], "timeout"), "1s");
    }

    #[tokio::test]
    async fn refused_connections_are_reported_with_the_url() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let url = format!("http://127.0.0.1:{port}");
        let e = client(&url)
            .query_range("jobs", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "connect");
        assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    }

    #[tokio::test]
    async fn a_result_that_is_not_a_matrix_is_refused() {
        let body =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1772409600,"1"]}}"#;
        let server = FakeServer::start(move |_, _| Reply::json(200, body)).await;
        let e = client(&server.url)
            .query_range("1", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "result_type");
        assert!(e.to_string().contains("expected a matrix"), "{e}");
        assert!(e.to_string().contains("found a scalar"), "{e}");
    }

    #[tokio::test]
    async fn several_series_where_one_was_expected_are_named_by_their_labels() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"queue_depth","queue":"contour"},"values":[[1772409600,"1"]]},
            {"metric":{"__name__":"queue_depth","queue":"dose"},"values":[[1772409600,"2"]]}]}}"#;
        let server = FakeServer::start(move |_, _| Reply::json(200, body)).await;
        let e = client(&server.url)
            .query_range_one("queue_depth", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "many_series");
        let msg = e.to_string();
        assert!(msg.contains(r#"queue_depth{queue="contour"}"#), "{msg}");
        assert!(msg.contains(r#"queue_depth{queue="dose"}"#), "{msg}");
        assert!(msg.contains("found 2"), "{msg}");
    }

    #[tokio::test]
    async fn oversized_answers_are_refused() {
        let big = "x".repeat(crate::sources::http::MAX_BODY_BYTES + 1);
        let server = FakeServer::start(move |_, _| Reply::json(200, big.clone())).await;
        let e = client(&server.url)
            .query_range("up", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "decode");
        assert!(e.to_string().contains("at most 64 MiB"), "{e}");
    }

    #[tokio::test]
    async fn non_json_answers_are_decode_errors() {
        let server = FakeServer::start(|_, _| Reply::text(200, "<html>login</html>")).await;
        let e = client(&server.url)
            .query_range("jobs", Grid::new(t0(), 60, 5))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), "decode");
        assert!(e.to_string().contains("<html>login</html>"), "{e}");
    }

    #[tokio::test]
    async fn instant_queries_read_vectors_and_scalars() {
        let server = FakeServer::start(|s, _| {
            if param(s, "query") == "scalar(1)" {
                Reply::json(200, r#"{"status":"success","data":{"resultType":"scalar","result":[1772409600,"1"]}}"#)
            } else {
                Reply::json(200, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1772409600.5,"4.25"]}]}}"#)
            }
        })
        .await;
        let c = client(&server.url);
        let at = t0() + chrono::TimeDelta::milliseconds(500);
        let v = c.query("jobs", at).await.unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].value, 4.25);
        assert_eq!(v[0].labels.get("job").unwrap(), "a");
        assert_eq!(v[0].time, at);
        assert_eq!(param(&server.seen()[0], "time"), "1772409600.500");
        assert_eq!(c.query_one("scalar(1)", t0()).await.unwrap(), Some(1.0));
    }

    #[tokio::test]
    async fn bearer_tokens_are_read_from_their_file_for_every_request() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "first\n").unwrap();
        let server = FakeServer::start(|s, _| minutes_matrix(s)).await;
        let mut cfg = PrometheusConfig::new(&server.url);
        cfg.http.bearer_token_file = Some(token.clone());
        let c = cfg.build().unwrap();
        let g = Grid::new(t0(), 60, 2);
        c.query_range("jobs", g).await.unwrap();
        std::fs::write(&token, "second").unwrap();
        c.query_range("jobs", g).await.unwrap();
        let seen = server.seen();
        assert_eq!(seen[0].headers["authorization"], "Bearer first");
        assert_eq!(seen[1].headers["authorization"], "Bearer second");
    }

    #[tokio::test]
    async fn basic_auth_sends_the_password_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let server = FakeServer::start(|s, _| minutes_matrix(s)).await;
        let mut cfg = PrometheusConfig::new(&server.url);
        cfg.http.basic_auth = Some(crate::sources::http::BasicAuth {
            username: "planscale".into(),
            password_file: pw,
        });
        cfg.build()
            .unwrap()
            .query_range("jobs", Grid::new(t0(), 60, 2))
            .await
            .unwrap();
        // base64("planscale:s3cret")
        assert_eq!(
            server.seen()[0].headers["authorization"],
            "Basic cGxhbnNjYWxlOnMzY3JldA=="
        );
    }

    #[test]
    fn path_prefixes_are_kept_and_bad_urls_refused() {
        let c = PrometheusConfig::new("http://prom.example:9090/prometheus")
            .build()
            .unwrap();
        assert_eq!(
            c.endpoint("api/v1/query").unwrap().as_str(),
            "http://prom.example:9090/prometheus/api/v1/query"
        );
        let e = PrometheusConfig::new("prom:9090").build().unwrap_err();
        assert_eq!(e.kind(), "config");
        let e = PrometheusConfig::new("not a url").build().unwrap_err();
        assert!(e.to_string().contains("not a url"), "{e}");
    }
}
