//! A scrape source: read an application's own `/metrics` endpoint (the
//! Prometheus text exposition format) for applications that expose their
//! queue depth directly, and select and aggregate samples by labels.
//!
//! Parsing is done by the prometheus-parse crate, wrapped here because of its
//! sharp edges (version 0.2.5): it silently skips lines it does not
//! understand, splits label values at `,` and `=` even inside quotes, and
//! folds histogram buckets and summary quantiles into one value. The wrapper
//! reports lines that are not exposition format by number, refuses to select a
//! metric whose label values it would mis-split, and flattens histograms and
//! summaries back into the series names of the text format (`x_bucket{le=..}`,
//! `x{quantile=..}`), so selectors read like PromQL.

use std::collections::BTreeMap;
use std::fmt;

use prometheus_parse::{LineInfo, Scrape, Value};
use serde::{Deserialize, Serialize};

use super::error::{Result, SourceError};
use super::http::{HttpClient, HttpConfig, excerpt};
use super::prometheus::{Labels, format_labels};

/// Where to scrape and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The full URL of the page, e.g. `http://dose-calc.planning:8080/metrics`.
    pub url: String,
    #[serde(default)]
    pub http: HttpConfig,
}

/// How samples are combined into one value (as the PromQL aggregation of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    #[default]
    Sum,
    Avg,
    Min,
    Max,
    Count,
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Aggregate::Sum => "sum",
            Aggregate::Avg => "avg",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Count => "count",
        })
    }
}

/// Which samples make the value: a metric name, label equality matchers, an
/// aggregation and the labels to group by (none: one value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Series name as in the text format (`jobs_waiting`, `x_bucket`, `x_count`).
    pub metric: String,
    /// Labels that must have exactly these values. `le` and `quantile` compare
    /// as numbers (`0.5` matches `0.50`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub aggregate: Aggregate,
    /// Group by these labels (like PromQL `sum by (queue)`).
    #[serde(default)]
    pub by: Vec<String>,
}

impl Selector {
    /// All samples of `metric`, summed.
    pub fn metric(name: impl Into<String>) -> Selector {
        Selector {
            metric: name.into(),
            labels: BTreeMap::new(),
            aggregate: Aggregate::Sum,
            by: Vec::new(),
        }
    }

    pub fn label(mut self, name: &str, value: &str) -> Selector {
        self.labels.insert(name.into(), value.into());
        self
    }

    pub fn aggregate(mut self, a: Aggregate) -> Selector {
        self.aggregate = a;
        self
    }

    pub fn by(mut self, labels: &[&str]) -> Selector {
        self.by = labels.iter().map(|s| s.to_string()).collect();
        self
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.aggregate)?;
        if !self.by.is_empty() {
            write!(f, " by ({})", self.by.join(", "))?;
        }
        let mut labels = self.labels.clone();
        labels.insert("__name__".into(), self.metric.clone());
        write!(f, " ({})", format_labels(&labels))
    }
}

/// One sample of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpoSample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
}

/// A parsed `/metrics` page.
#[derive(Debug, Clone)]
pub struct Exposition {
    /// Where the page came from (URL or file), for messages.
    pub source: String,
    pub samples: Vec<ExpoSample>,
    /// Metric families whose label values prometheus-parse cannot split, with
    /// the first line number of each.
    unsplittable: BTreeMap<String, usize>,
}

impl Exposition {
    /// Parse a page in the text exposition format; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Exposition> {
        let mut unsplittable = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let bad = |message: String| SourceError::Exposition {
                url: source.to_string(),
                line: line_no,
                message,
            };
            match LineInfo::parse(trimmed) {
                LineInfo::Sample {
                    metric_name,
                    labels,
                    value,
                    ..
                } => {
                    if parse_go_float(value).is_none() {
                        return Err(bad(format!(
                            "expected a number as the value of {metric_name}, found {value:?}"
                        )));
                    }
                    // The crate's regex ends the label set at the first '}'.
                    let raw = raw_label_set(trimmed, metric_name.len());
                    if labels.is_some() && raw.is_some_and(|r| !labels_split_cleanly(r)) {
                        unsplittable.entry(family(metric_name)).or_insert(line_no);
                    }
                }
                _ => {
                    return Err(bad(format!(
                        "expected `name{{label=\"value\", ...}} value [timestamp]`, found {:?}",
                        excerpt(trimmed, 80)
                    )));
                }
            }
        }
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).map_err(|e| {
            SourceError::Exposition {
                url: source.to_string(),
                line: 0,
                message: e.to_string(),
            }
        })?;
        let mut samples = Vec::with_capacity(scrape.samples.len());
        for s in scrape.samples {
            let labels: Labels = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match s.value {
                Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => {
                    samples.push(ExpoSample {
                        name: s.metric,
                        labels,
                        value: v,
                    })
                }
                Value::Histogram(buckets) => {
                    for b in buckets {
                        let mut l = labels.clone();
                        l.insert("le".into(), go_float(b.less_than));
                        samples.push(ExpoSample {
                            name: format!("{}_bucket", s.metric),
                            labels: l,
                            value: b.count,
                        });
                    }
                }
                Value::Summary(quantiles) => {
                    for q in quantiles {
                        let mut l = labels.clone();
                        l.insert("quantile".into(), go_float(q.quantile));
                        samples.push(ExpoSample {
                            name: s.metric.clone(),
                            labels: l,
                            value: q.count,
                        });
                    }
                }
            }
        }
        Ok(Exposition {
            source: source.to_string(),
            samples,
            unsplittable,
        })
    }

    /// The selected samples, aggregated per group of the `by` labels.
    pub fn select(&self, sel: &Selector) -> Result<Vec<(Labels, f64)>> {
        if let Some(line) = self.unsplittable.get(&family(&sel.metric)) {
            return Err(SourceError::Exposition {
                url: self.source.clone(),
                line: *line,
                message: format!(
                    "a label value of {} contains ',', '=', '\\' or '}}', which the exposition parser (prometheus-parse 0.2) cannot split; select another metric or query it through Prometheus",
                    sel.metric
                ),
            });
        }
        let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.name == sel.metric) {
            if !sel
                .labels
                .iter()
                .all(|(k, want)| s.labels.get(k).is_some_and(|have| label_eq(k, have, want)))
            {
                continue;
            }
            let key: Labels = sel
                .by
                .iter()
                .filter_map(|k| s.labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            groups.entry(key).or_default().push(s.value);
        }
        if groups.is_empty() {
            let mut selector = sel.to_string();
            if self
                .samples
                .iter()
                .any(|s| s.name == format!("{}_count", sel.metric))
            {
                selector.push_str(&format!(
                    " ({0} is a histogram or summary: select {0}_count, {0}_sum or {0}_bucket)",
                    sel.metric
                ));
            }
            return Err(SourceError::NoMatch {
                url: self.source.clone(),
                selector,
            });
        }
        Ok(groups
            .into_iter()
            .map(|(k, vs)| (k, aggregate(sel.aggregate, &vs)))
            .collect())
    }

    /// The one value of a selector without `by`.
    pub fn value(&self, sel: &Selector) -> Result<f64> {
        let mut groups = self.select(sel)?;
        match groups.len() {
            1 => Ok(groups.pop().map_or(f64::NAN, |(_, v)| v)),
            n => Err(SourceError::ManySeries {
                query: sel.to_string(),
                count: n,
                labels: groups
                    .iter()
                    .take(5)
                    .map(|(l, _)| format_labels(l))
                    .collect(),
            }),
        }
    }
}

/// A scrape source built from a [`ScrapeConfig`].
#[derive(Debug)]
pub struct ScrapeSource {
    url: reqwest::Url,
    http: HttpClient,
}

impl ScrapeSource {
    pub fn new(config: &ScrapeConfig) -> Result<ScrapeSource> {
        let url = reqwest::Url::parse(config.url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| SourceError::Config {
                field: "scrape url".into(),
                message: format!("expected an http(s) URL, found {:?}", config.url),
            })?;
        Ok(ScrapeSource {
            url,
            http: HttpClient::new(&config.http)?,
        })
    }

    /// Fetch and parse the page (with the retries of the HTTP settings).
    pub async fn scrape(&self) -> Result<Exposition> {
        let url = self.url.clone();
        let text = self
            .http
            .send(
                url.as_str(),
                |c| {
                    c.get(url.clone())
                        .header("accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
                },
                |a| {
                    if (200..300).contains(&a.status) {
                        Ok(a.body)
                    } else {
                        Err(SourceError::Http {
                            url: url.to_string(),
                            status: a.status,
                            attempts: 1,
                            body: excerpt(&a.body, 300),
                        })
                    }
                },
            )
            .await?;
        Exposition::parse(&text, url.as_str())
    }

    /// Scrape once and return the selector's one value.
    pub async fn value(&self, sel: &Selector) -> Result<f64> {
        self.scrape().await?.value(sel)
    }
}

fn aggregate(a: Aggregate, vs: &[f64]) -> f64 {
    match a {
        Aggregate::Sum => vs.iter().sum(),
        Aggregate::Avg => vs.iter().sum::<f64>() / vs.len() as f64,
        Aggregate::Min => vs.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Count => vs.len() as f64,
    }
}

/// `le` and `quantile` are numbers written in several ways (`1`, `1.0`, `+Inf`).
fn label_eq(name: &str, have: &str, want: &str) -> bool {
    if have == want {
        return true;
    }
    matches!(name, "le" | "quantile")
        && matches!((parse_go_float(have), parse_go_float(want)), (Some(a), Some(b)) if a == b)
}

/// Go's float syntax as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, `1e-05`).
fn parse_go_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

fn go_float(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// The family of a series name: histogram and summary parts share their base.
fn family(name: &str) -> String {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(base) = name.strip_suffix(suffix) {
            return base.to_string();
        }
    }
    name.to_string()
}

/// The text between `{` and the matching `}` after the metric name, reading
/// quoted values properly (so a `}` inside quotes does not end it).
fn raw_label_set(line: &str, name_len: usize) -> Option<&str> {
    let rest = &line[name_len..];
    let rest = rest.strip_prefix('{')?;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

/// Whether no quoted label value holds a character prometheus-parse 0.2
/// mis-splits (`,` `=` `\` `}`).
fn labels_split_cleanly(raw: &str) -> bool {
    let mut in_quotes = false;
    for c in raw.chars() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' | '=' | '\\' | '}' if in_quotes => return false,
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::fake_http::{FakeServer, Reply};
    use crate::sources::http::RetryPolicy;

    const PAGE: &str = r#"# HELP planning_jobs_waiting Jobs waiting in the queue.
# TYPE planning_jobs_waiting gauge
planning_jobs_waiting{queue="contour",site="main"} 4
planning_jobs_waiting{queue="dose",site="main"} 7
planning_jobs_waiting{queue="dose",site="annex"} 2.5
# TYPE planning_job_seconds histogram
planning_job_seconds_bucket{queue="dose",le="0.5"} 1
planning_job_seconds_bucket{queue="dose",le="1.0"} 3
planning_job_seconds_bucket{queue="dose",le="+Inf"} 4
planning_job_seconds_sum{queue="dose"} 3.5
planning_job_seconds_count{queue="dose"} 4
# TYPE rpc_seconds summary
rpc_seconds{quantile="0.5"} 0.2
rpc_seconds{quantile="0.99"} 0.9
rpc_seconds_sum 12
rpc_seconds_count 40
up 1
"#;

    fn page() -> Exposition {
        Exposition::parse(PAGE, "test").unwrap()
    }

    #[test]
    fn selects_and_aggregates_by_labels() {
        let p = page();
        assert_eq!(
            p.value(&Selector::metric("planning_jobs_waiting")).unwrap(),
            13.5
        );
        assert_eq!(
            p.value(&Selector::metric("planning_jobs_waiting").label("queue", "dose"))
                .unwrap(),
            9.5
        );
        let m = Selector::metric("planning_jobs_waiting");
        assert_eq!(p.value(&m.clone().aggregate(Aggregate::Max)).unwrap(), 7.0);
        assert_eq!(p.value(&m.clone().aggregate(Aggregate::Min)).unwrap(), 2.5);
        assert_eq!(
            p.value(&m.clone().aggregate(Aggregate::Count)).unwrap(),
            3.0
        );
        assert_eq!(p.value(&m.clone().aggregate(Aggregate::Avg)).unwrap(), 4.5);
        let by = p.select(&m.clone().by(&["queue"])).unwrap();
        let by: Vec<(String, f64)> = by
            .into_iter()
            .map(|(l, v)| (l["queue"].clone(), v))
            .collect();
        assert_eq!(by, vec![("contour".into(), 4.0), ("dose".into(), 9.5)]);
        assert_eq!(p.value(&Selector::metric("up")).unwrap(), 1.0);
    }

    #[test]
    fn histograms_and_summaries_read_as_in_the_text_format() {
        let p = page();
        let b = Selector::metric("planning_job_seconds_bucket").label("le", "1");
        assert_eq!(p.value(&b).unwrap(), 3.0);
        let inf = Selector::metric("planning_job_seconds_bucket").label("le", "+Inf");
        assert_eq!(p.value(&inf).unwrap(), 4.0);
        assert_eq!(
            p.value(&Selector::metric("planning_job_seconds_count"))
                .unwrap(),
            4.0
        );
        let q = Selector::metric("rpc_seconds").label("quantile", "0.99");
        assert_eq!(p.value(&q).unwrap(), 0.9);
        let e = p
            .value(&Selector::metric("planning_job_seconds"))
            .unwrap_err();
        assert_eq!(e.kind(), "no_match");
        assert!(
            e.to_string().contains("select planning_job_seconds_count"),
            "{e}"
        );
    }

    #[test]
    fn several_groups_where_one_was_expected_are_named() {
        let e = page()
            .value(&Selector::metric("planning_jobs_waiting").by(&["site"]))
            .unwrap_err();
        assert_eq!(e.kind(), "many_series");
        assert!(e.to_string().contains(r#"{site="annex"}"#), "{e}");
    }

    #[test]
    fn lines_that_are_not_exposition_format_are_named() {
        let e = Exposition::parse("up 1\n<html>\n", "http://x/metrics").unwrap_err();
        assert_eq!(e.kind(), "exposition");
        assert!(e.to_string().contains("http://x/metrics line 2"), "{e}");
        let e = Exposition::parse("# TYPE up gauge\nup one\n", "p").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        assert!(e.to_string().contains("\"one\""), "{e}");
    }

    #[test]
    fn label_values_the_parser_would_mis_split_are_refused() {
        let text = "jobs{path=\"/a,b\"} 1\nother{x=\"y\"} 2\n";
        let p = Exposition::parse(text, "p").unwrap();
        let e = p.value(&Selector::metric("jobs")).unwrap_err();
        assert_eq!(e.kind(), "exposition");
        assert!(e.to_string().contains("line 1"), "{e}");
        // Other metrics on the same page stay usable.
        assert_eq!(p.value(&Selector::metric("other")).unwrap(), 2.0);
    }

    #[tokio::test]
    async fn scrapes_over_http_with_retries() {
        let server = FakeServer::start(|_, i| {
            if i == 0 {
                Reply::text(503, "starting")
            } else {
                Reply::text(200, PAGE)
            }
        })
        .await;
        let mut cfg = ScrapeConfig {
            url: format!("{}metrics", server.url),
            http: HttpConfig::default(),
        };
        cfg.http.retry = RetryPolicy {
            attempts: 2,
            initial_backoff_ms: 1,
            max_backoff_ms: 1,
        };
        let src = ScrapeSource::new(&cfg).unwrap();
        let v = src
            .value(&Selector::metric("planning_jobs_waiting").label("queue", "dose"))
            .await
            .unwrap();
        assert_eq!(v, 9.5);
        let seen = server.seen();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].path, "/metrics");
        assert!(seen[1].headers["accept"].starts_with("text/plain"));
    }

    #[tokio::test]
    async fn a_missing_page_is_an_http_error() {
        let server = FakeServer::start(|_, _| Reply::text(404, "not found")).await;
        let src = ScrapeSource::new(&ScrapeConfig {
            url: format!("{}metrics", server.url),
            http: HttpConfig::default(),
        })
        .unwrap();
        let e = src.scrape().await.unwrap_err();
        assert_eq!(e.kind(), "http");
        assert!(e.to_string().contains("HTTP 404"), "{e}");
        assert_eq!(server.seen().len(), 1, "a 404 is not retried");
    }
}
