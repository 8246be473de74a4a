//! No patient text in anything `planscale run` says: the real binary, with
//! every log at `trace` (JSON, as in-cluster), against a real kube-apiserver
//! v1.20 (with deploy/'s RBAC) and a real Prometheus, runs one forecast-only
//! policy per schedule fixture — CSV (default and mapped columns), iCalendar
//! and FHIR, from files and over HTTP (a server on 127.0.0.1 serving the
//! fixtures), lenient and strict — and none of the fake names, IDs, birth
//! dates and notes in the fixtures (`schedule_common::PATIENT_TEXT`) may
//! appear in its log, in `/metrics`, or in any object it wrote to the API
//! server (Events, Deployments, the Lease).
//!
//! The CSV fixtures are copied with their dates moved to today and tomorrow,
//! so their appointments fall inside the policies' window and reach the
//! forecast; the others are read as they are (their entries are parsed,
//! skipped and reported, then left out of the window).

#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/planscale.rs"]
mod planscale_support;
#[path = "support/prometheus.rs"]
mod prometheus_support;
mod schedule_common;

use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use kube_support::Kube;
use planscale_support::{Planscale, message, sample, wait_for};
use prometheus_support::{Gauge, Options, Prometheus, openmetrics};
use schedule_common::{fhir_server, fixture, patient_text_in, read_fixture};
use serde_json::Value;

/// A constant 6 jobs a minute from a day ago to two hours ahead.
fn jobs_history() -> String {
    let now = Utc::now().timestamp();
    let start = now - now % 60 - 86_400;
    openmetrics(&[Gauge {
        name: "planning_jobs",
        labels: "",
        samples: (0..(1440 + 120)).map(|i| (start + 60 * i, 6.0)).collect(),
    }])
}

/// A forecast-only policy `name` for the Deployment of the same name, with
/// `schedule` (a YAML flow mapping) as its `schedule:` section.
fn policy(name: &str, schedule: &str) -> String {
    format!(
        "name: {name}
target: {{kind: Deployment, namespace: planning, name: {name}}}
replicas: {{min: 1, max: 20}}
capacity: {{per_replica: 1, per: 1m, startup: 1m}}
demand: {{arrivals: {{series: jobs, query: planning_jobs}}}}
slo: {{max_wait: 5m}}
forecast: {{step: 5m, history: 1d, horizon: 2h, refit_every: 1h, seasonal_periods: [1d]}}
scaling: {{mode: forecast-only, interval: 1m}}
schedule: {schedule}
"
    )
}

fn deployment(name: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: planning}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: w, image: worker:1}}]}}
"
    )
}

/// A fixture with its dates moved: each `(from, to)` replaced everywhere.
fn shifted(dir: &Path, name: &str, moves: &[(&str, String)]) -> String {
    let mut text = read_fixture(name);
    for (from, to) in moves {
        text = text.replace(from, to);
    }
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn path_of(name: &str) -> String {
    fixture(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_never_logs_exposes_or_writes_patient_text() {
    let k = Kube::start();
    k.install_rbac_for_limited_user();
    k.kubectl_ok(&["create", "namespace", "planning"]);
    let prom = Prometheus::start(Options {
        openmetrics: Some(jobs_history()),
        lookback: Some("30s"),
        ..Options::default()
    });
    let server = fhir_server();
    let data = tempfile::tempdir().unwrap();
    let (today, tomorrow) = (Utc::now(), Utc::now() + TimeDelta::days(1));
    let iso = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    let german = |t: chrono::DateTime<Utc>| t.format("%d.%m.%Y").to_string();
    let csv = shifted(
        data.path(),
        "extra-columns.csv",
        &[("2026-03-02", iso(today)), ("2026-03-03", iso(tomorrow))],
    );
    let aria = shifted(
        data.path(),
        "aria-export.csv",
        &[
            ("27.03.2026", german(today)),
            ("30.03.2026", german(tomorrow)),
        ],
    );
    let malformed_csv = shifted(data.path(), "malformed.csv", &[("2026-03-02", iso(today))]);
    let aria_columns = "{date: Datum, start: Uhrzeit, end: null, duration: Dauer (min), type: Terminart, resource: Gerät, format: '%d.%m.%Y %H:%M', delimiter: ';'}";
    let policies: Vec<(&str, String)> = vec![
        (
            "p-csv",
            format!("{{timezone: Europe/Berlin, source: {{type: csv, path: '{csv}'}}}}"),
        ),
        (
            "p-aria",
            format!(
                "{{timezone: Europe/Berlin, mode: strict, type_map: {{CT Simulation: CT-SIM, MR Simulation: MR-SIM}}, source: {{type: csv, path: '{aria}', columns: {aria_columns}}}}}"
            ),
        ),
        (
            "p-exchange",
            format!(
                "{{timezone: Europe/Berlin, source: {{type: ics, path: '{}'}}}}",
                path_of("exchange.ics")
            ),
        ),
        (
            "p-google",
            format!(
                "{{timezone: Europe/Berlin, source: {{type: ics, url: '{}/cal/google.ics', summary_types: [{{contains: PET/CT, type: PET-CT}}, {{contains: CT planning, type: CT-SIM}}]}}}}",
                server.base
            ),
        ),
        (
            "p-fhir",
            format!(
                "{{timezone: Europe/Berlin, type_map: {{'http://snomed.info/sct|241615005': MR-SIM}}, source: {{type: fhir, url: '{}/fhir'}}}}",
                server.base
            ),
        ),
        (
            "p-malformed-csv",
            format!("{{timezone: Europe/Berlin, source: {{type: csv, path: '{malformed_csv}'}}}}"),
        ),
        (
            "p-malformed-ics",
            format!(
                "{{timezone: Europe/Berlin, source: {{type: ics, path: '{}'}}}}",
                path_of("malformed.ics")
            ),
        ),
        (
            "p-strict",
            format!(
                "{{timezone: Europe/Berlin, mode: strict, source: {{type: fhir, path: '{}'}}}}",
                path_of("malformed.json")
            ),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, schedule) in &policies {
        k.apply(&deployment(name));
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            policy(name, schedule),
        )
        .unwrap();
    }

    let mut ps = Planscale::start_leader_logging(
        k.dir.path(),
        &k.limited_kubeconfig,
        dir.path(),
        &["--prometheus-url", &prom.url],
        "trace",
    );
    let decisions = |log: &[Value], p: &str| -> Vec<Value> {
        log.iter()
            .filter(|l| message(l) == "decision" && l["fields"]["policy"] == p)
            .cloned()
            .collect()
    };
    wait_for(
        "three decisions of every policy and an Event for each",
        Duration::from_secs(180),
        || async {
            let log = ps.log();
            let all = policies.iter().all(|(p, _)| decisions(&log, p).len() >= 3);
            let events = k.kubectl_ok(&[
                "get",
                "events.events.k8s.io",
                "-n",
                "planning",
                "-o",
                "json",
            ]);
            let noted = policies
                .iter()
                .all(|(p, _)| events.contains(&format!("\"name\": \"{p}\"")));
            (all && noted).then_some(())
        },
    )
    .await;
    let page = ps.metrics().await;
    let log = ps.log_text();
    let objects = k.kubectl_ok(&[
        "get",
        "events.events.k8s.io,events,deployments,leases",
        "-A",
        "-o",
        "json",
    ]);
    ps.terminate(Duration::from_secs(30));

    // What the checks below read is real output: trace logging, schedules
    // read (fresh) and used, the strict policy's error logged, counted and
    // named in its Event, HTTP sources fetched.
    assert!(log.contains("\"level\":\"TRACE\""), "no trace lines");
    let json_log: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for (p, _) in &policies {
        let d = decisions(&json_log, p);
        let want = if *p == "p-strict" { "blind" } else { "fresh" };
        assert!(
            d.iter().all(|l| l["fields"]["schedule"] == want),
            "{p}: {:?}",
            d.iter()
                .map(|l| &l["fields"]["schedule"])
                .collect::<Vec<_>>()
        );
    }
    assert!(
        log.contains("Appointment/m-2"),
        "the strict FHIR error is logged"
    );
    assert!(
        log.contains("skipping a bad schedule entry"),
        "lenient skips are logged"
    );
    assert!(objects.contains("WouldScale"), "{objects}");
    assert!(objects.contains("schedule source unavailable"), "{objects}");
    let strict_errors = page
        .lines()
        .filter(|l| l.starts_with(r#"planscale_errors_total{policy="p-strict",kind="schedule_"#))
        .filter_map(|l| sample(&page, l.rsplit_once(' ')?.0))
        .sum::<f64>();
    assert!(strict_errors >= 1.0, "{page}");
    let gets = server.requests();
    assert!(gets.iter().any(|r| r == "/cal/google.ics"), "{gets:?}");
    assert!(
        gets.iter()
            .any(|r| r.starts_with("/fhir/Appointment?date=")),
        "{gets:?}"
    );

    let mut leaks = Vec::new();
    for (what, text) in [
        ("the log", &log),
        ("/metrics", &page),
        ("the API objects", &objects),
    ] {
        for w in patient_text_in(text) {
            leaks.push(format!("{w:?} in {what}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "patient text leaked:\n{}",
        leaks.join("\n")
    );
}
