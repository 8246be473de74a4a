//! The Prometheus client, history cache and scrape source against a real
//! Prometheus server (see tests/support/prometheus.rs).

#[path = "support/prometheus.rs"]
mod prometheus_support;

use chrono::{DateTime, TimeDelta, Utc};
use planscale::series::Grid;
use planscale::sources::cache::{CacheConfig, HistoryCache};
use planscale::sources::http::BasicAuth;
use planscale::sources::prometheus::PrometheusConfig;
use planscale::sources::scrape::{ScrapeConfig, ScrapeSource, Selector};
use prometheus_support::{Gauge, Options, Prometheus, openmetrics};

/// 2026-03-02T06:00:00Z.
const T0: i64 = 1_772_431_200;
const MINUTES: i64 = 12 * 60;

/// Queue depth in minute `i`: a ramp that repeats every 45 minutes.
fn depth(i: i64) -> f64 {
    (i % 45) as f64 * 0.25
}

fn at(i: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(T0 + 60 * i, 0).unwrap()
}

fn data() -> String {
    openmetrics(&[Gauge {
        name: "contour_jobs_waiting",
        labels: r#"site="main""#,
        samples: (0..MINUTES).map(|i| (T0 + 60 * i, depth(i))).collect(),
    }])
}

fn options() -> Options {
    Options {
        openmetrics: Some(data()),
        lookback: Some("30s"),
        ..Options::default()
    }
}

#[tokio::test]
async fn instant_queries_and_the_history_cache_read_backfilled_data() {
    let prom = Prometheus::start(options());
    let client = PrometheusConfig::new(&prom.url).build().unwrap();
    assert_eq!(
        client
            .query_one("contour_jobs_waiting", at(100))
            .await
            .unwrap(),
        Some(depth(100))
    );
    assert_eq!(
        client
            .query_one("sum(contour_jobs_waiting) * 2", at(7))
            .await
            .unwrap(),
        Some(depth(7) * 2.0)
    );
    assert_eq!(
        client.query_one("absent_metric", at(7)).await.unwrap(),
        None
    );

    let mut cache = HistoryCache::new(
        "contour_jobs_waiting",
        CacheConfig {
            step_secs: 60,
            capacity: 120,
            overlap: 2,
            gap_window: 10,
        },
    );
    let r = cache.refresh(&client, at(300)).await.unwrap();
    assert!(r.full);
    let r = cache
        .refresh(&client, at(310) + TimeDelta::seconds(20))
        .await
        .unwrap();
    // The newest complete step ends at 6:10 (the minute 310); points are
    // stamped by their step's start, and the step stamped T is the sample
    // at its end, T + 1 min (docs/ARCHITECTURE.md, "Time").
    assert_eq!(r.fetched, Some(Grid::new(at(298), 60, 12)));
    let s = cache.series();
    assert_eq!(s.grid.start, at(190));
    assert_eq!(s.len(), 120);
    for (k, v) in s.values.iter().enumerate() {
        assert_eq!(*v, depth(190 + k as i64 + 1), "point {k}");
    }
    // Past the end of the data: the new points are missing, the old ones kept.
    cache.refresh(&client, at(MINUTES + 5)).await.unwrap();
    assert_eq!(cache.latest(), Some((at(MINUTES - 2), depth(MINUTES - 1))));
}

#[tokio::test]
async fn tls_with_a_custom_ca_and_basic_auth() {
    let certs = tempfile::tempdir().unwrap();
    let tls = prometheus_support::make_tls_files(certs.path());
    let prom = Prometheus::start(Options {
        web_config: Some(prometheus_support::web_config(&tls)),
        https: true,
        ..options()
    });
    let password = certs.path().join("password");
    std::fs::write(
        &password,
        format!("{}\n", prometheus_support::BASIC_AUTH_PASSWORD),
    )
    .unwrap();
    let mut config = PrometheusConfig::new(&prom.url);
    config.http.ca_file = Some(tls.ca.clone());
    config.http.basic_auth = Some(BasicAuth {
        username: prometheus_support::BASIC_AUTH_USER.into(),
        password_file: password.clone(),
    });
    config.http.retry.attempts = 1;
    let grid = Grid::new(at(0), 300, 12);
    let s = config
        .build()
        .unwrap()
        .query_range_one("contour_jobs_waiting", grid)
        .await
        .unwrap()
        .unwrap();
    for (k, v) in s.values.iter().enumerate() {
        assert_eq!(*v, depth(5 * k as i64));
    }

    // Without the CA the server's certificate is not trusted.
    let mut untrusted = config.clone();
    untrusted.http.ca_file = None;
    let e = untrusted
        .build()
        .unwrap()
        .query_range("up", grid)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "connect", "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // A wrong password is refused with HTTP 401, and not retried.
    std::fs::write(&password, "wrong").unwrap();
    let mut wrong = config.clone();
    wrong.http.retry.attempts = 3;
    let e = wrong
        .build()
        .unwrap()
        .query_range("up", grid)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "http", "{e}");
    assert!(e.to_string().contains("HTTP 401 after 1 attempt(s)"), "{e}");
}

#[tokio::test]
async fn scrape_of_prometheus_own_metrics() {
    let prom = Prometheus::start(Options::default());
    let client = PrometheusConfig::new(&prom.url).build().unwrap();
    for _ in 0..3 {
        client.query("up", Utc::now()).await.unwrap();
    }
    let source = ScrapeSource::new(&ScrapeConfig {
        url: format!("{}/metrics", prom.url),
        http: Default::default(),
    })
    .unwrap();
    let page = source.scrape().await.unwrap();
    assert!(page.samples.len() > 100, "{} samples", page.samples.len());
    assert_eq!(
        page.value(&Selector::metric("prometheus_build_info"))
            .unwrap(),
        1.0
    );
    let queries =
        Selector::metric("prometheus_http_requests_total").label("handler", "/api/v1/query");
    assert_eq!(page.value(&queries).unwrap(), 3.0);
    // The histogram's +Inf bucket counts every request, as its _count does.
    let count = page
        .value(
            &Selector::metric("prometheus_http_request_duration_seconds_count")
                .label("handler", "/api/v1/query"),
        )
        .unwrap();
    let inf = page
        .value(
            &Selector::metric("prometheus_http_request_duration_seconds_bucket")
                .label("handler", "/api/v1/query")
                .label("le", "+Inf"),
        )
        .unwrap();
    assert_eq!(count, 3.0);
    assert_eq!(inf, count);
    let by_handler = page
        .select(&Selector::metric("prometheus_http_requests_total").by(&["handler"]))
        .unwrap();
    let query_group = by_handler
        .iter()
        .find(|(l, _)| l["handler"] == "/api/v1/query");
    assert_eq!(query_group.map(|(_, v)| *v), Some(3.0), "{by_handler:?}");
}

/// The live metric source's instant queries: several series or none where one
/// is needed are errors naming the query (and the label sets), counted by
/// kind, and the policy holds as for missing metrics — never a silent "missing"
/// that switches off the reactive and backlog terms.
#[tokio::test]
async fn an_instant_query_with_several_series_or_none_is_an_error_naming_it() {
    use planscale::controller::MetricSource;
    use planscale::controller::prom::PrometheusMetrics;
    use planscale::policy::{LoadedPolicy, Policy};

    let mut series = vec![Gauge {
        name: "contour_jobs_waiting",
        labels: r#"site="main""#,
        samples: (0..MINUTES).map(|i| (T0 + 60 * i, depth(i))).collect(),
    }];
    series.push(Gauge {
        name: "contour_jobs_waiting",
        labels: r#"site="annex""#,
        samples: (0..MINUTES).map(|i| (T0 + 60 * i, 1.0)).collect(),
    });
    let prom = Prometheus::start(Options {
        openmetrics: Some(openmetrics(&series)),
        lookback: Some("30s"),
        ..Options::default()
    });
    let source = PrometheusMetrics::new(&prom.url).unwrap();
    let loaded = |queue: &str| {
        let mut p = Policy::test();
        p.forecast.step = planscale::duration::Duration::from_mins(1);
        p.forecast.history = planscale::duration::Duration::from_hours(2);
        p.demand.arrivals.query = Some(r#"contour_jobs_waiting{site="main"}"#.into());
        p.demand.queue_depth = Some(planscale::policy::SeriesRef {
            series: "queue".into(),
            query: Some(queue.into()),
        });
        LoadedPolicy {
            path: "/p/test.yaml".into(),
            policy: p,
        }
    };
    let now = at(300);
    // One series: its value.
    let o = source
        .observe(&loaded(r#"contour_jobs_waiting{site="main"}"#), now)
        .await
        .unwrap();
    assert_eq!(o.queue_depth, Some(depth(300)));
    // Two series: an error naming the query and both label sets.
    let e = source
        .observe(&loaded("contour_jobs_waiting"), now)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), "prometheus_many_series", "{text}");
    assert!(
        text.contains(r#"site="main""#) && text.contains(r#"site="annex""#),
        "{text}"
    );
    // None: an error naming the query and the policy field.
    let e = source
        .observe(&loaded("contour_jobs_waitin"), now)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), "prometheus_no_series", "{text}");
    assert!(
        text.contains("contour_jobs_waitin") && text.contains("demand.queue_depth.query"),
        "{text}"
    );
}
