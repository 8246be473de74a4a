//! No patient text in what `planscale simulate --schedule`, `planscale
//! forecast` and `planscale record` print or write. The schedule fixtures are
//! stuffed with fake names, IDs, birth dates and notes
//! (`schedule_common::PATIENT_TEXT`); each command runs on every fixture
//! format (files, and an iCalendar feed over HTTP on 127.0.0.1), lenient and
//! strict, with logging at `trace` in text and JSON, and nothing on stdout,
//! stderr or in any file it writes may contain any of them.
//!
//! Each run is checked for having done its work first (exit code, files
//! written, the schedule's appointments used by the forecast), so the leak
//! check looks at real output.

#[path = "support/prometheus.rs"]
mod prometheus_support;
mod schedule_common;

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use prometheus_support::{Gauge, Options, Prometheus, openmetrics};
use schedule_common::{TestServer, fhir_server, fixture, patient_text_in};

/// What one run printed and wrote.
struct Run {
    what: String,
    code: Option<i32>,
    /// stdout and stderr.
    output: String,
    /// `(file name, contents)` of every file the run wrote.
    files: Vec<(String, String)>,
}

impl Run {
    /// `"{word}" in {where} of {what}` for each planted word found.
    fn leaks(&self) -> Vec<String> {
        let mut found: Vec<String> = patient_text_in(&self.output)
            .into_iter()
            .map(|w| format!("{w:?} in stdout/stderr of {}", self.what))
            .collect();
        for (name, body) in &self.files {
            found.extend(
                patient_text_in(body)
                    .into_iter()
                    .map(|w| format!("{w:?} in {name} of {}", self.what)),
            );
        }
        found
    }

    fn file(&self, name: &str) -> &str {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
            .unwrap_or_else(|| panic!("{} wrote no {name}: {}", self.what, self.output))
    }
}

/// Run the binary with every log at `trace` in `log_format`; collect what it
/// printed and every file under `out_dir`.
fn run(args: &[String], log_format: &str, out_dir: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(args)
        .env("PLANSCALE_LOG", "trace")
        .env("RUST_LOG", "trace")
        .env("PLANSCALE_LOG_FORMAT", log_format)
        .env_remove("PLANSCALE_PROMETHEUS_URL")
        .output()
        .unwrap();
    let mut files = Vec::new();
    collect_files(out_dir, out_dir, &mut files);
    Run {
        what: format!("{args:?} ({log_format} logs)"),
        code: out.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        files,
    }
}

fn collect_files(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let path = e.unwrap().path();
        if path.is_dir() {
            collect_files(root, &path, files);
        } else {
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let body = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            files.push((name, body));
        }
    }
}

/// Hourly demand over `[at - 10 d, at + 10 d)`: busy in working hours.
fn write_recording(path: &Path, at: DateTime<Utc>) {
    let start = at - TimeDelta::days(10);
    let mut csv = String::from("timestamp,arrivals\n");
    for i in 0..(20 * 24) {
        let t = start + TimeDelta::hours(i);
        let busy = (7..17).contains(&t.hour());
        let v = if busy { 6 } else { 1 } + i % 3;
        csv += &format!("{},{v}\n", t.format("%Y-%m-%dT%H:%M:%SZ"));
    }
    std::fs::write(path, csv).unwrap();
}

/// A small, fast policy (hourly steps, 3 days of history, refit every 6 h)
/// with `schedule` (a YAML flow mapping) as its `schedule:` section.
fn write_policy(path: &Path, schedule: Option<&str>) {
    let mut text = String::from(
        "name: privacy
target: {kind: Deployment, namespace: planning, name: worker}
replicas: {min: 1, max: 8}
capacity: {per_replica: 2, per: 1h, startup: 3m}
demand: {arrivals: {series: arrivals, query: planning_jobs}}
slo: {max_wait: 30m}
forecast: {step: 1h, history: 3d, horizon: 1d, refit_every: 6h, seasonal_periods: [1d]}
scaling: {interval: 1h}
",
    );
    if let Some(s) = schedule {
        text += &format!("schedule: {s}\n");
    }
    std::fs::write(path, text).unwrap();
}

/// The `schedule:` section of the fixture policy `name`, with its source's
/// relative `path` made absolute, or replaced by `url` when one is given.
fn fixture_schedule(name: &str, url: Option<&str>) -> String {
    let policy: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    let mut schedule = policy["schedule"].clone();
    let source = schedule["source"].as_mapping_mut().unwrap();
    let path = source.remove("path");
    match (url, path) {
        (Some(u), _) => {
            source.insert("url".into(), u.into());
        }
        (None, Some(p)) => {
            let abs = fixture(p.as_str().unwrap()).display().to_string();
            source.insert("path".into(), abs.into());
        }
        (None, None) => {}
    }
    // JSON is YAML's flow style: one line.
    serde_json::to_string(&schedule).unwrap()
}

/// One fixture under `simulate` and `forecast`.
struct Case {
    name: &'static str,
    /// The policy's `schedule:` section, if any.
    schedule: Option<String>,
    /// `--schedule FILE`, if any.
    file: Option<&'static str>,
    /// The first day of the fixture's appointments (the forecast is made at
    /// its start, the recording spans ten days either side).
    at: &'static str,
    /// Whether the commands succeed (malformed fixtures in strict mode do not).
    ok: bool,
}

fn case(name: &'static str, file: Option<&'static str>, at: &'static str, ok: bool) -> Case {
    Case {
        name,
        schedule: None,
        file,
        at,
        ok,
    }
}

fn with_schedule(mut c: Case, schedule: String) -> Case {
    c.schedule = Some(schedule);
    c
}

fn strict(file: &str, kind: &str) -> String {
    let path = fixture(file).display().to_string();
    format!("{{mode: strict, timezone: Europe/Berlin, source: {{type: {kind}, path: '{path}'}}}}")
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

#[test]
fn simulate_and_forecast_never_print_or_write_patient_text() {
    let server = fhir_server();
    let ics_url = format!("{}/cal/google.ics", server.base);
    let fhir_url = format!("{}/fhir", server.base);
    let cases = [
        case(
            "extra-columns",
            Some("extra-columns.csv"),
            "2026-03-02",
            true,
        ),
        case("exchange", Some("exchange.ics"), "2026-03-16", true),
        with_schedule(
            case("google", None, "2026-10-19", true),
            fixture_schedule("google-policy.yaml", None),
        ),
        with_schedule(
            case("google-file", Some("google.ics"), "2026-10-19", true),
            fixture_schedule("google-policy.yaml", None),
        ),
        // The fetch path: the feed over HTTP.
        with_schedule(
            case("google-http", None, "2026-10-19", true),
            fixture_schedule("google-policy.yaml", Some(&ics_url)),
        ),
        with_schedule(
            case("aria", None, "2026-03-27", true),
            fixture_schedule("aria-policy.yaml", None),
        ),
        with_schedule(
            case("fhir-page1", Some("fhir-page1.json"), "2026-03-02", true),
            fixture_schedule("fhir-policy.yaml", None),
        ),
        // A FHIR server search needs a window, which simulate does not give: an error.
        with_schedule(
            case("fhir-http", None, "2026-03-02", false),
            fixture_schedule("fhir-policy.yaml", Some(&fhir_url)),
        ),
        case("malformed-csv", Some("malformed.csv"), "2026-03-02", true),
        case("malformed-ics", Some("malformed.ics"), "2026-03-02", true),
        case("malformed-json", Some("malformed.json"), "2026-03-02", true),
        case(
            "malformed-syntax",
            Some("malformed-syntax.json"),
            "2026-03-02",
            false,
        ),
        with_schedule(
            case("strict-csv", None, "2026-03-02", false),
            strict("malformed.csv", "csv"),
        ),
        with_schedule(
            case("strict-ics", None, "2026-03-02", false),
            strict("malformed.ics", "ics"),
        ),
        with_schedule(
            case("strict-fhir", None, "2026-03-02", false),
            strict("malformed.json", "fhir"),
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let dir = tmp.path().join(c.name);
        std::fs::create_dir_all(&dir).unwrap();
        let at: DateTime<Utc> = format!("{}T00:00:00Z", c.at).parse().unwrap();
        let (policy, recording) = (dir.join("policy.yaml"), dir.join("recording.csv"));
        write_policy(&policy, c.schedule.as_deref());
        write_recording(&recording, at);
        let mut inputs = s(&["--policy", policy.to_str().unwrap()]);
        inputs.extend(s(&["--recording", recording.to_str().unwrap()]));
        if let Some(f) = c.file {
            inputs.extend(s(&["--schedule", fixture(f).to_str().unwrap()]));
        }
        // Simulation is the slow one: text and JSON logs on alternate cases.
        let out = dir.join("sim");
        let mut sim = s(&["simulate", "--out", out.to_str().unwrap()]);
        sim.extend(inputs.clone());
        sim.extend(s(&["--warmup", "7d", "--strategies", "predictive,hpa"]));
        let r = run(&sim, ["text", "json"][i % 2], &out);
        if c.ok {
            assert_eq!(r.code, Some(0), "{}: {}", r.what, r.output);
            for f in ["report.json", "report.md", "report.html", "chart.svg"] {
                assert!(!r.file(f).is_empty(), "{}: {f} is empty", r.what);
            }
        } else {
            assert_eq!(r.code, Some(2), "{}: {}", r.what, r.output);
            assert!(r.output.contains("error: "), "{}: {}", r.what, r.output);
        }
        runs.push(r);

        let fc_dir = dir.join("forecast");
        std::fs::create_dir_all(&fc_dir).unwrap();
        for (json, log_format) in [(false, "text"), (true, "json")] {
            let svg = fc_dir.join(format!("forecast-{json}.svg"));
            let mut fc = s(&["forecast", "--at", &at.to_rfc3339()]);
            fc.extend(inputs.clone());
            fc.extend(s(&["--out", svg.to_str().unwrap()]));
            if json {
                fc.push("--json".into());
            }
            let r = run(&fc, log_format, &fc_dir);
            if c.ok {
                assert_eq!(r.code, Some(0), "{}: {}", r.what, r.output);
                assert!(!r.file(&format!("forecast-{json}.svg")).is_empty());
                // The fixture's appointments reached the forecast: the
                // forecast at their first day has no "schedule holds none" warning.
                assert!(
                    !r.output.contains("the schedule has no appointments"),
                    "{}: {}",
                    r.what,
                    r.output
                );
                if json {
                    let body = &r.output[r.output.find('{').unwrap()..];
                    let v: serde_json::Value = serde_json::Deserializer::from_str(body)
                        .into_iter()
                        .next()
                        .unwrap()
                        .unwrap_or_else(|e| panic!("{}: {e}: {}", r.what, r.output));
                    assert!(v["desired_replicas"].as_u64().is_some(), "{v}");
                }
            } else {
                assert_eq!(r.code, Some(2), "{}: {}", r.what, r.output);
            }
            runs.push(r);
        }
    }
    assert_eq!(runs.len(), 3 * cases.len());
    // The runs' errors and warnings name where the problem is.
    let all: String = runs.iter().map(|r| r.output.as_str()).collect();
    for want in [
        "malformed.csv:3",
        "event UID bad-dtstart-1",
        "Appointment/m-2",
        "needs a time window",
        "bad schedule entries skipped",
    ] {
        assert!(all.contains(want), "no run said {want:?}");
    }
    // Trace logging was on (the HTTP client's own logs among them).
    assert!(all.contains("TRACE") || all.contains("\"level\":\"TRACE\""));
    assert!(
        server.requests().iter().any(|r| r == "/cal/google.ics"),
        "{:?}",
        server.requests()
    );

    let leaks: Vec<String> = runs.iter().flat_map(Run::leaks).collect();
    assert!(
        leaks.is_empty(),
        "patient text leaked:\n{}",
        leaks.join("\n")
    );
}

/// `record` reads Prometheus only: a policy whose schedule names patient-rich
/// files and a feed over HTTP records its series without reading either, and
/// prints and writes nothing of them.
#[test]
fn record_never_reads_or_prints_the_schedule() {
    let now = Utc::now().timestamp();
    let start = now - now % 3600 - 6 * 3600;
    let prom = Prometheus::start(Options {
        openmetrics: Some(openmetrics(&[Gauge {
            name: "planning_jobs",
            labels: "",
            samples: (0..=6 * 60).map(|i| (start + 60 * i, 3.0)).collect(),
        }])),
        ..Options::default()
    });
    let feed = TestServer::start(|_| {
        vec![schedule_common::Route {
            prefix: "/cal/".into(),
            status: 200,
            body: schedule_common::read_fixture("google.ics"),
        }]
    });
    let tmp = tempfile::tempdir().unwrap();
    let from = DateTime::from_timestamp(start, 0).unwrap().to_rfc3339();
    let to = DateTime::from_timestamp(start + 5 * 3600, 0)
        .unwrap()
        .to_rfc3339();
    let sources = [
        fixture_schedule("aria-policy.yaml", None),
        fixture_schedule(
            "google-policy.yaml",
            Some(&format!("{}/cal/g.ics", feed.base)),
        ),
        strict("malformed.csv", "csv"),
    ];
    let mut runs = Vec::new();
    for (i, schedule) in sources.iter().enumerate() {
        for log_format in ["text", "json"] {
            let dir = tmp.path().join(format!("{i}-{log_format}"));
            std::fs::create_dir_all(&dir).unwrap();
            let policy = tmp.path().join(format!("policy-{i}-{log_format}.yaml"));
            write_policy(&policy, Some(schedule));
            let out = dir.join("recording.csv");
            let args = s(&[
                "record",
                "--prometheus",
                &prom.url,
                "--policy",
                policy.to_str().unwrap(),
                "--from",
                &from,
                "--to",
                &to,
                "--out",
                out.to_str().unwrap(),
            ]);
            let r = run(&args, log_format, &dir);
            assert_eq!(r.code, Some(0), "{}: {}", r.what, r.output);
            assert!(r.output.contains("wrote "), "{}", r.output);
            // Five hourly points of 3 jobs per hour: the recording is real.
            let csv = r.file("recording.csv");
            assert_eq!(csv.lines().count(), 6, "{csv}");
            assert!(csv.lines().nth(1).unwrap().ends_with(",3"), "{csv}");
            runs.push(r);
        }
    }
    assert!(feed.requests().is_empty(), "{:?}", feed.requests());
    let leaks: Vec<String> = runs.iter().flat_map(Run::leaks).collect();
    assert!(
        leaks.is_empty(),
        "patient text leaked:\n{}",
        leaks.join("\n")
    );
}

/// The helpers above find what they look for: a planted name in a file or on
/// stderr is reported (the leak checks can fail).
#[test]
fn the_leak_check_finds_a_planted_name_in_output_and_files() {
    let r = Run {
        what: "x".into(),
        code: Some(0),
        output: "note: appointment of KRAWUTTKE".into(),
        files: vec![("report.html".into(), "<p>MRN-7723401</p>".into())],
    };
    assert_eq!(
        r.leaks(),
        vec![
            "\"Krawuttke\" in stdout/stderr of x".to_string(),
            "\"MRN-77234\" in report.html of x".to_string()
        ]
    );
}
