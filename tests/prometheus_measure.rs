//! A measurement, not a test (ignored; it asserts no times): `planscale
//! record` of a 28-day, 1-minute history (40,320 points per series, three
//! series) from a real Prometheus on this machine. It prints the wall time,
//! the points fetched per second and the peak resident memory of the record
//! process (`/usr/bin/time -f "%e %M"`).
//!
//! `cargo test --release --test prometheus_measure -- --ignored --nocapture`
//! (docs/PERFORMANCE.md has the figures).

#[path = "support/prometheus.rs"]
mod prometheus_support;

use std::process::Command;

use planscale::recording::Recording;
use prometheus_support::{Gauge, Options, Prometheus, openmetrics};

/// 2026-03-02T00:00:00Z, the first sample.
const T0: i64 = 1_772_409_600;
/// 28 days of one-minute samples.
const POINTS: i64 = 28 * 24 * 60;

#[test]
#[ignore = "a measurement: run with --ignored --nocapture"]
fn record_28_days_at_one_minute() {
    let minutes = || (0..POINTS).map(|i| (i, T0 + i * 60));
    let text = openmetrics(&[
        Gauge {
            name: "planning_jobs_arrived",
            labels: "",
            samples: minutes().map(|(i, t)| (t, ((i * 7) % 13) as f64)).collect(),
        },
        Gauge {
            name: "planning_jobs_waiting",
            labels: "",
            samples: minutes().map(|(i, t)| (t, (i % 17) as f64)).collect(),
        },
        Gauge {
            name: "planning_cpu_utilisation",
            labels: "",
            samples: minutes()
                .map(|(i, t)| (t, ((i * 3) % 100) as f64 / 100.0))
                .collect(),
        },
    ]);
    let prom = Prometheus::start(Options {
        openmetrics: Some(text),
        lookback: Some("30s"),
        ..Options::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.yaml");
    std::fs::write(
        &policy,
        r#"name: measure
target: {kind: Deployment, namespace: planning, name: worker}
replicas: {min: 1, max: 20}
capacity: {per_replica: 2, startup: 3m}
demand:
  unit: jobs
  arrivals: {series: arrivals, query: planning_jobs_arrived}
  queue_depth: {series: queue, query: planning_jobs_waiting}
  cpu: {series: cpu, query: planning_cpu_utilisation}
slo: {max_wait: 10m}
forecast: {step: 1m}
"#,
    )
    .unwrap();
    let out = dir.path().join("history.csv");
    let run = Command::new("/usr/bin/time")
        .args(["-f", "%e %M"])
        .arg(env!("CARGO_BIN_EXE_planscale"))
        .args(["record", "--prometheus", &prom.url, "--policy"])
        .arg(&policy)
        .args([
            "--from",
            "2026-03-02T00:00:00Z",
            "--to",
            "2026-03-30T00:00:00Z",
            "--step",
            "1m",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("/usr/bin/time (Debian package `time`) runs planscale record");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "record failed: {stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    let mut f = last.split_whitespace();
    let secs: f64 = f.next().and_then(|v| v.parse().ok()).expect("wall time");
    let kib: f64 = f.next().and_then(|v| v.parse().ok()).expect("max RSS");
    let rec = Recording::read(&out).expect("the recording reads back");
    let points = rec.grid.len * rec.columns.len();
    assert_eq!(points as i64, 3 * POINTS);
    println!(
        "record: {} series x {} steps = {points} points in {secs:.2} s wall: {:.0} points/s; \
         peak RSS {:.1} MiB; file {} bytes",
        rec.columns.len(),
        rec.grid.len,
        points as f64 / secs.max(1e-3),
        kib / 1024.0,
        std::fs::metadata(&out).unwrap().len()
    );
}
