//! No patient text anywhere: the binary is run on fixtures stuffed with fake
//! names, IDs and notes — every format, lenient and strict, text and JSON
//! output, files and HTTP sources — with logging at `trace`, and nothing it
//! prints (stdout or stderr) may contain any of them.

mod schedule_common;

use std::process::Command;

use schedule_common::{PATIENT_TEXT, fhir_server, fixture, patient_text_in};

struct Run {
    args: Vec<String>,
    code: Option<i32>,
    output: String,
}

fn run(args: &[&str], log_format: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(args)
        .env("PLANSCALE_LOG", "trace")
        .env("RUST_LOG", "trace")
        .env("PLANSCALE_LOG_FORMAT", log_format)
        .output()
        .unwrap();
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

#[test]
fn no_patient_text_in_any_output_at_trace_level() {
    let server = fhir_server();
    let fhir_url = format!("{}/fhir", server.base);
    let ics_url = format!("{}/cal/google.ics", server.base);
    let (google_policy, aria_policy, fhir_policy) = (
        path("google-policy.yaml"),
        path("aria-policy.yaml"),
        path("fhir-policy.yaml"),
    );
    let files = [
        ("exchange.ics", None),
        ("google.ics", Some(&google_policy)),
        ("extra-columns.csv", None),
        ("aria-export.csv", Some(&aria_policy)),
        ("fhir-page1.json", Some(&fhir_policy)),
        ("fhir-page2.json", Some(&fhir_policy)),
        ("malformed.csv", None),
        ("malformed.ics", None),
        ("malformed.json", None),
        ("malformed-syntax.json", None),
    ];
    let mut runs = Vec::new();
    for (name, policy) in files {
        let file = path(name);
        for extra in [
            &[][..],
            &["--json"][..],
            &["--strict"][..],
            &["--json", "--strict"][..],
        ] {
            let mut args = vec![
                "schedule",
                "summarize",
                file.as_str(),
                "--timezone",
                "Europe/Berlin",
            ];
            if let Some(p) = policy {
                args.extend(["--policy", p.as_str()]);
            }
            args.extend(extra);
            for log_format in ["text", "json"] {
                runs.push(run(&args, log_format));
            }
        }
    }
    for log_format in ["text", "json"] {
        runs.push(run(
            &[
                "schedule",
                "summarize",
                &fhir_url,
                "--format",
                "fhir",
                "--from",
                "2026-03-02",
                "--to",
                "2026-03-08",
                "--policy",
                &fhir_policy,
            ],
            log_format,
        ));
        runs.push(run(
            &[
                "schedule",
                "summarize",
                &ics_url,
                "--policy",
                &google_policy,
                "--json",
            ],
            log_format,
        ));
    }

    // The runs did what they should, so the check below looked at real output.
    assert_eq!(runs.len(), 84);
    let strict_failures = runs.iter().filter(|r| r.code == Some(2)).count();
    // malformed.{csv,ics,json} and fhir-page2 (appt-1007) fail in their 2 strict
    // variants, the syntax error in all 4: (4 × 2 + 4) × 2 log formats.
    let failed: Vec<&Vec<String>> = runs
        .iter()
        .filter(|r| r.code == Some(2))
        .map(|r| &r.args)
        .collect();
    assert_eq!(strict_failures, 24, "{failed:#?}");
    assert!(runs.iter().all(|r| r.code == Some(0) || r.code == Some(2)));
    assert!(
        runs.iter()
            .any(|r| r.output.contains("event UID bad-dtstart-1"))
    );
    assert!(runs.iter().any(|r| r.output.contains("Appointment/m-2")));
    assert!(runs.iter().any(|r| r.output.contains("malformed.csv:3")));
    assert!(
        runs.iter()
            .any(|r| r.output.contains("\"type\": \"CT-SIM\""))
    );
    // Trace logging was on, including the HTTP client's own logs.
    assert!(
        runs.iter()
            .any(|r| r.output.contains("DEBUG") && r.output.contains("schedule read"))
    );
    assert!(
        runs.iter()
            .any(|r| r.output.contains("TRACE") || r.output.contains("\"level\":\"TRACE\""))
    );
    assert!(server.requests().len() >= 6, "{:?}", server.requests());

    let mut leaks = Vec::new();
    for r in &runs {
        for word in patient_text_in(&r.output) {
            leaks.push(format!("{word:?} in the output of {:?}", r.args));
        }
    }
    assert!(
        leaks.is_empty(),
        "patient text leaked:\n{}",
        leaks.join("\n")
    );
}

#[test]
fn the_fake_patient_text_is_really_in_the_fixtures() {
    // Guards the list above against typos: each entry must occur in some fixture.
    let all: String = std::fs::read_dir(fixture(""))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase();
    let missing: Vec<&&str> = PATIENT_TEXT
        .iter()
        .filter(|w| !all.contains(&w.to_lowercase()))
        .collect();
    assert!(missing.is_empty(), "not in any fixture: {missing:?}");
}
