//! Every generated department as a new user meets it: `planscale example`
//! writes a recording, a schedule with booking times and a policy;
//! `planscale validate` accepts the policy; `planscale simulate` replays it
//! with the schedule beside it.

#[path = "support/cli.rs"]
mod cli;
use cli::{ok, planscale};

#[test]
fn every_further_department_generates_validates_and_simulates() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["mrlinac", "community"] {
        let out = dir.path().join(name);
        let o = out.to_str().unwrap();
        let said = ok(&planscale(
            &["example", "--department", name, "--days", "12", "--out", o],
            dir.path(),
        ));
        assert!(said.contains("booked the same day"), "{said}");
        let schedule = std::fs::read_to_string(out.join("schedule.csv")).unwrap();
        assert!(schedule.starts_with("start,end,type,resource,booked_at\n"));
        let policy = out.join("policy.yaml");
        let said = ok(&planscale(
            &["validate", policy.to_str().unwrap()],
            dir.path(),
        ));
        assert!(said.starts_with("ok "), "{said}");
        ok(&planscale(
            &[
                "simulate",
                "--policy",
                policy.to_str().unwrap(),
                "--recording",
                out.join("recording.csv").to_str().unwrap(),
                "--warmup",
                "6d",
                "--strategies",
                "predictive,hpa,oracle",
                "--out",
                out.join("report").to_str().unwrap(),
            ],
            dir.path(),
        ));
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("report/report.json")).unwrap())
                .unwrap();
        let strategies = report["strategies"].as_array().unwrap();
        assert_eq!(strategies.len(), 3, "{name}");
        let pred = &strategies[0];
        assert!(
            pred["replica_hours"].as_f64().unwrap() > 0.0,
            "{name}: {pred}"
        );
        // The predictive strategy read the department's own book: a schedule
        // model (on the wall clock or, with the policy's calendar, on the
        // working clock) was chosen, and it was never schedule-blind.
        let notes = pred["notes"].to_string();
        assert!(
            (notes.contains("schedule-regression") || notes.contains("schedule-working-time"))
                && !notes.contains("schedule-blind"),
            "{name}: {notes}"
        );
    }
}

#[test]
fn an_unknown_department_is_an_error_listing_the_valid_names() {
    let dir = tempfile::tempdir().unwrap();
    let out = planscale(
        &["example", "--department", "radiology", "--out", "x"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("\"radiology\"") && stderr.contains("clinic, centre, mrlinac, community"),
        "{stderr}"
    );
    assert!(!dir.path().join("x").exists());
}
