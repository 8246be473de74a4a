//! `planscale record` against a real Prometheus: known data is backfilled
//! with promtool, recorded back through the binary, and compared value by
//! value; plus the failure paths a user meets (Prometheus stopped in the
//! middle, a query with a syntax error).
//!
//! The server runs with `--query.lookback-delta=30s`, shorter than every
//! step used here, so the value Prometheus returns at a grid point is exactly
//! the sample at that instant, and a missing sample is a missing value:
//! that makes an exact comparison possible.

#[path = "support/prometheus.rs"]
mod prometheus_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use planscale::recording::Recording;
use prometheus_support::{Gauge, Options, Prometheus, Proxy, openmetrics};

/// 2026-03-02T00:00:00Z, the start of the first step (its sample is a minute later).
const T0: i64 = 1_772_409_600;
/// Eight days of one-minute samples: 11,520 points, more than the 11,000 a
/// single query_range may return.
const POINTS: i64 = 8 * 24 * 60;
/// Arrivals have no samples for these minutes (a scrape outage).
const GAP: std::ops::Range<i64> = 600..620;

fn arrivals(i: i64) -> Option<f64> {
    (!GAP.contains(&i)).then_some(((i * 7) % 13) as f64 * 0.5)
}
fn queue_dose(i: i64) -> f64 {
    (i % 17) as f64
}
fn queue_contour(i: i64) -> f64 {
    100.0 + (i % 5) as f64
}
fn cpu(i: i64) -> f64 {
    ((i * 3) % 100) as f64 / 100.0
}

fn clinic_data() -> String {
    // Minute i's value is sampled at its end, T0 + (i + 1) min: planscale
    // stamps a step by its start and reads it at its end (docs/ARCHITECTURE.md, "Time").
    let minutes = || (0..POINTS).map(|i| (i, T0 + (i + 1) * 60));
    openmetrics(&[
        Gauge {
            name: "planning_jobs_arrived",
            labels: "",
            samples: minutes()
                .filter_map(|(i, t)| arrivals(i).map(|v| (t, v)))
                .collect(),
        },
        Gauge {
            name: "planning_jobs_waiting",
            labels: r#"queue="dose""#,
            samples: minutes().map(|(i, t)| (t, queue_dose(i))).collect(),
        },
        Gauge {
            name: "planning_jobs_waiting",
            labels: r#"queue="contour""#,
            samples: minutes().map(|(i, t)| (t, queue_contour(i))).collect(),
        },
        Gauge {
            name: "planning_cpu_utilisation",
            labels: "",
            samples: minutes().map(|(i, t)| (t, cpu(i))).collect(),
        },
    ])
}

fn start_clinic() -> Prometheus {
    Prometheus::start(Options {
        openmetrics: Some(clinic_data()),
        lookback: Some("30s"),
        ..Options::default()
    })
}

fn policy(dir: &Path, arrivals_query: &str) -> PathBuf {
    let path = dir.join("dose-calc.yaml");
    std::fs::write(
        &path,
        format!(
            r#"name: dose-calc
target: {{kind: Deployment, namespace: planning, name: dose-calc}}
replicas: {{min: 1, max: 20}}
capacity: {{per_replica: 2, startup: 3m}}
demand:
  unit: jobs
  arrivals: {{series: arrivals, query: '{arrivals_query}'}}
  queue_depth: {{series: queue, query: 'planning_jobs_waiting{{queue="dose"}}'}}
  cpu: {{series: cpu, query: planning_cpu_utilisation}}
slo: {{max_wait: 10m}}
forecast: {{step: 1m}}
"#
        ),
    )
    .unwrap();
    path
}

fn record(
    url: &str,
    policy: &Path,
    from: &str,
    to: &str,
    step: &str,
    out: &Path,
    extra: &[&str],
) -> Output {
    Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(["record", "--prometheus", url, "--policy"])
        .arg(policy)
        .args(["--from", from, "--to", to, "--step", step, "--out"])
        .arg(out)
        .args(extra)
        .output()
        .expect("run planscale")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_same(column: &str, point: usize, got: f64, want: Option<f64>) {
    match want {
        Some(w) => assert_eq!(
            got.to_bits(),
            w.to_bits(),
            "{column} point {point}: got {got}, want {w}"
        ),
        None => assert!(
            got.is_nan(),
            "{column} point {point}: got {got}, want missing"
        ),
    }
}

#[test]
fn record_writes_back_every_backfilled_value_over_more_than_11000_steps() {
    let prom = start_clinic();
    let work = tempfile::tempdir().unwrap();
    let policy = policy(work.path(), "planning_jobs_arrived");
    let out = work.path().join("dose-calc.csv");
    let run = record(
        &prom.url,
        &policy,
        "2026-03-02T00:00:00Z",
        "2026-03-10T00:00:00Z",
        "1m",
        &out,
        &[],
    );
    assert!(
        run.status.success(),
        "stderr: {}\nprometheus log:\n{}",
        text(&run.stderr),
        prom.log()
    );
    let stdout = text(&run.stdout);
    assert!(stdout.contains("11520 points"), "{stdout}");
    assert!(
        stdout.contains("arrivals (demand.arrivals): 20 missing"),
        "{stdout}"
    );

    let rec = Recording::read(&out).unwrap();
    assert_eq!(rec.names(), vec!["arrivals", "queue", "cpu"]);
    assert_eq!(rec.grid.start.timestamp(), T0);
    assert_eq!(rec.grid.step_secs, 60);
    assert_eq!(rec.grid.len, POINTS as usize);
    let (a, q, c) = (&rec.columns[0].1, &rec.columns[1].1, &rec.columns[2].1);
    for i in 0..POINTS {
        let k = i as usize;
        assert_same("arrivals", k, a[k], arrivals(i));
        assert_same("queue", k, q[k], Some(queue_dose(i)));
        assert_same("cpu", k, c[k], Some(cpu(i)));
    }

    // A sub-range at a coarser step reads the samples at the 5-minute points.
    let out5 = work.path().join("dose-calc-5m.csv");
    let run = record(
        &prom.url,
        &policy,
        "2026-03-02T09:00:00Z",
        "2026-03-02T12:00:00Z",
        "5m",
        &out5,
        &[],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let rec = Recording::read(&out5).unwrap();
    assert_eq!(rec.grid.len, 36);
    for (k, v) in rec.columns[0].1.iter().enumerate() {
        // The 5-minute step from 09:00 + 5k is read at its end: minute 9:00 + 5k + 4's sample.
        let i = 9 * 60 + 5 * k as i64 + 4;
        assert_same("arrivals", k, *v, arrivals(i));
    }
}

#[test]
fn prometheus_stopped_in_the_middle_fails_clearly_and_leaves_no_recording() {
    let prom = Arc::new(Mutex::new(start_clinic()));
    let port = prom.lock().unwrap().port;
    let pid = prom.lock().unwrap().pid().unwrap();
    // The whole range takes two requests per series; Prometheus is killed
    // when the second request (arrivals' second half) arrives.
    let killer = prom.clone();
    let proxy = Proxy::start(port, 2, move || killer.lock().unwrap().stop());
    let work = tempfile::tempdir().unwrap();
    let policy = policy(work.path(), "planning_jobs_arrived");
    let out = work.path().join("dose-calc.csv");
    let run = record(
        &proxy.url,
        &policy,
        "2026-03-02T00:00:00Z",
        "2026-03-10T00:00:00Z",
        "1m",
        &out,
        &["--attempts", "2", "--timeout", "10s"],
    );
    assert!(
        prom.lock().unwrap().pid().is_none(),
        "prometheus (pid {pid}) was stopped"
    );
    assert!(!run.status.success(), "stdout: {}", text(&run.stdout));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("error: cannot reach"), "{stderr}");
    assert!(
        stderr.contains("/api/v1/query_range after 2 attempt(s)"),
        "{stderr}"
    );
    assert!(!out.exists(), "no recording may be left behind");
    assert_eq!(files_in(work.path()), vec!["dose-calc.yaml"]);
}

#[test]
fn a_query_with_a_syntax_error_shows_prometheus_own_message() {
    let prom = start_clinic();
    let work = tempfile::tempdir().unwrap();
    let policy = policy(work.path(), "sum(rate(planning_jobs_arrived[5m])");
    let out = work.path().join("dose-calc.csv");
    let run = record(
        &prom.url,
        &policy,
        "2026-03-02T00:00:00Z",
        "2026-03-03T00:00:00Z",
        "1m",
        &out,
        &[],
    );
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(stderr.contains("bad_data"), "{stderr}");
    assert!(stderr.contains("parse error"), "{stderr}");
    assert!(
        stderr.contains("sum(rate(planning_jobs_arrived[5m])"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn several_series_where_one_is_needed_are_named_and_an_unknown_metric_is_an_error() {
    let prom = start_clinic();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("dose-calc.csv");
    let run = record(
        &prom.url,
        &policy(work.path(), "planning_jobs_waiting"),
        "2026-03-02T00:00:00Z",
        "2026-03-02T01:00:00Z",
        "1m",
        &out,
        &[],
    );
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(
        stderr.contains(r#"planning_jobs_waiting{queue="contour"}"#),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"planning_jobs_waiting{queue="dose"}"#),
        "{stderr}"
    );

    let run = record(
        &prom.url,
        &policy(work.path(), "planning_jobs_arived"),
        "2026-03-02T00:00:00Z",
        "2026-03-02T01:00:00Z",
        "1m",
        &out,
        &[],
    );
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    assert!(stderr.contains("demand.arrivals"), "{stderr}");
    assert!(stderr.contains("found none"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn record_then_simulate_end_to_end_on_the_backfilled_data() {
    let prom = start_clinic();
    let work = tempfile::tempdir().unwrap();
    // The same policy at the default forecast step of 5m: `record` takes its
    // step from the policy when --step is not given.
    let policy = policy(work.path(), "planning_jobs_arrived");
    let yaml = std::fs::read_to_string(&policy)
        .unwrap()
        .replace("step: 1m", "step: 5m");
    std::fs::write(&policy, yaml).unwrap();
    let recording = work.path().join("dose-calc.csv");
    let run = Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(["record", "--prometheus", &prom.url, "--policy"])
        .arg(&policy)
        .args(["--from", "2026-03-02", "--to", "2026-03-10", "--out"])
        .arg(&recording)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).contains("2304 points"),
        "{}",
        text(&run.stdout)
    );

    let report_dir = work.path().join("report");
    let run = Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(["simulate", "--policy"])
        .arg(&policy)
        .arg("--recording")
        .arg(&recording)
        .args([
            "--warmup",
            "2d",
            "--strategies",
            "predictive,hpa,static:match,oracle",
            "--out",
        ])
        .arg(&report_dir)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.join("report.json")).unwrap()).unwrap();
    // The work the simulation replays after the 2-day warm-up is the
    // backfilled arrivals read at the 5-minute steps' ends (the sample of
    // minute 5k + 4 for the step stamped 5k), all of them.
    let expected: f64 = (2 * 24 * 60 + 4..POINTS)
        .step_by(5)
        .filter_map(arrivals)
        .sum();
    let work = report["work_total"].as_f64().unwrap();
    assert!(
        (work - expected).abs() < 1e-3,
        "work_total {work}, backfilled {expected}"
    );
    let strategies = report["strategies"].as_array().unwrap();
    assert_eq!(strategies.len(), 4, "{report}");
    let hours = |s: &serde_json::Value| s["replica_hours"].as_f64().unwrap();
    let oracle = strategies
        .iter()
        .find(|s| s["name"] == "oracle")
        .unwrap_or_else(|| panic!("no oracle in {report}"));
    for s in strategies {
        assert!(hours(s) > 0.0, "{s}");
        assert!(hours(s) >= hours(oracle), "oracle is the lower bound: {s}");
        let attainment = s["slo_attainment"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&attainment), "{s}");
    }
}
