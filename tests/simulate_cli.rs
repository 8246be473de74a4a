//! `planscale simulate` end to end, as a new user runs it.

use std::path::Path;
use std::process::Command;

fn planscale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planscale"))
}

fn strategies(report: &serde_json::Value) -> Vec<serde_json::Value> {
    report["strategies"].as_array().unwrap().clone()
}

fn field(s: &serde_json::Value, k: &str) -> f64 {
    s[k].as_f64()
        .unwrap_or_else(|| panic!("{k} missing in {s}"))
}

#[test]
fn bundled_example_meets_the_acceptance_figures_and_is_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        let out = planscale()
            .arg("simulate")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            table.contains("predictive") && table.contains("oracle"),
            "{table}"
        );
        std::fs::read(dir.path().join("planscale-report/report.json")).unwrap()
    };
    let first = run();
    let second = run();
    assert!(first == second, "report.json differs between two runs");
    for f in ["report.md", "chart.svg", "report.html"] {
        let p = dir.path().join("planscale-report").join(f);
        assert!(std::fs::metadata(&p).unwrap().len() > 100, "{f} is empty");
    }
    let svg = std::fs::read_to_string(dir.path().join("planscale-report/chart.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("predictive"));

    let report: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let all = strategies(&report);
    let by = |prefix: &str| {
        all.iter()
            .find(|s| s["name"].as_str().unwrap().starts_with(prefix))
            .unwrap()
    };
    let (pred, hpa, stat, oracle) = (by("predictive"), by("hpa"), by("static:"), by("oracle"));
    for s in &all {
        for k in [
            "slo_attainment",
            "p95_wait_seconds",
            "max_wait_seconds",
            "replica_hours",
            "scale_events",
            "peak_replicas",
            "cost_vs_oracle",
        ] {
            assert!(s.get(k).is_some(), "{k} missing in {s}");
        }
        // The oracle is the cheapest way to meet the SLO; a strategy that
        // misses it (keda at its default threshold) may cost less.
        if field(s, "slo_attainment") >= field(oracle, "slo_attainment") {
            assert!(
                field(s, "replica_hours") >= field(oracle, "replica_hours"),
                "oracle not lowest: {s}"
            );
        }
    }
    assert!(
        field(pred, "slo_attainment") > field(hpa, "slo_attainment"),
        "{pred} vs {hpa}"
    );
    assert!(field(stat, "slo_attainment") >= field(pred, "slo_attainment"));
    assert!(
        field(pred, "replica_hours") < field(stat, "replica_hours"),
        "{pred} vs {stat}"
    );
    assert_eq!(field(oracle, "cost_vs_oracle"), 1.0);
}

#[test]
fn a_malformed_recording_names_the_line_and_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.csv");
    std::fs::write(
        &rec,
        "timestamp,autocontour_jobs\n2026-03-02T08:00:00Z,1\n2026-03-02T08:05:00Z,one\n",
    )
    .unwrap();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/auto-contouring.yaml");
    let out = planscale()
        .args(["simulate", "--policy"])
        .arg(&policy)
        .arg("--recording")
        .arg(&rec)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("rec.csv:3: column \"autocontour_jobs\""),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert!(!dir.path().join("out/report.json").exists());
}

#[test]
fn a_recording_without_the_policys_series_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec.csv");
    std::fs::write(
        &rec,
        "timestamp,other\n2026-03-02T08:00:00Z,1\n2026-03-02T08:05:00Z,2\n",
    )
    .unwrap();
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/auto-contouring.yaml");
    let out = planscale()
        .args(["simulate", "--warmup", "0s", "--policy"])
        .arg(&policy)
        .arg("--recording")
        .arg(&rec)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("no column \"autocontour_jobs\"") && stderr.contains("other"),
        "{stderr}"
    );
}
