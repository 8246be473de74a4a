//! A pipeline as a user replays it: the shipped three policies
//! (auto-contouring → dose calculation → plan optimisation) on a generated
//! department's recording with `planscale simulate --policies DIR`, and the
//! errors a broken pipeline gets.

use std::path::Path;

#[path = "support/cli.rs"]
mod cli;
use cli::{ok, planscale};

/// The repository's `policies/` copied to `dir/policies`, reading the
/// schedule beside them in `dir`.
fn shipped_policies(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let to = dir.join("policies");
    std::fs::create_dir_all(&to).unwrap();
    for name in [
        "auto-contouring.yaml",
        "dose-calculation.yaml",
        "plan-optimisation.yaml",
    ] {
        let text = std::fs::read_to_string(root.join("policies").join(name)).unwrap();
        let text = text.replace("../examples/clinic/schedule.csv", "../schedule.csv");
        std::fs::write(to.join(name), text).unwrap();
    }
    to
}

#[test]
fn the_shipped_pipeline_replays_each_stage_reading_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(&planscale(
        &[
            "example",
            "--department",
            "clinic",
            "--days",
            "10",
            "--out",
            d.to_str().unwrap(),
        ],
        d,
    ));
    let header = std::fs::read_to_string(d.join("recording.csv")).unwrap();
    assert!(
        header.starts_with(
            "timestamp,autocontour_jobs,dosecalc_jobs,planopt_jobs,autocontour_done,dosecalc_done\n"
        ),
        "{}",
        &header[..100]
    );
    let policies = shipped_policies(d);
    let said = ok(&planscale(&["validate", policies.to_str().unwrap()], d));
    assert_eq!(said.matches("ok ").count(), 3, "{said}");
    assert!(
        said.contains("dose-calculation (Deployment planning/dosecalc, mode forecast-only; after auto-contouring;"),
        "{said}"
    );
    let said = ok(&planscale(
        &[
            "simulate",
            "--policies",
            policies.to_str().unwrap(),
            "--recording",
            "recording.csv",
            "--warmup",
            "5d",
            "--strategies",
            "hpa,oracle",
            "--out",
            "report",
        ],
        d,
    ));
    let stages: Vec<&str> = said.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(
        stages,
        [
            "== auto-contouring ==",
            "== dose-calculation ==",
            "== plan-optimisation =="
        ],
        "{said}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("report/report.json")).unwrap())
            .unwrap();
    let entries = report["policies"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (e, (name, up)) in entries.iter().zip([
        ("auto-contouring", vec![]),
        ("dose-calculation", vec!["auto-contouring"]),
        ("plan-optimisation", vec!["dose-calculation"]),
    ]) {
        assert_eq!(e["policy"], name);
        assert_eq!(e["upstream"], serde_json::json!(up));
        let names: Vec<&str> = e["strategies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        // predictive always runs in a pipeline: the stages after read it.
        assert_eq!(names, ["predictive", "hpa", "oracle"], "{name}");
        let notes = e["strategies"][0]["notes"].to_string();
        if let Some(u) = up.first() {
            assert!(
                notes.contains(&format!(
                    "pipeline: the forecast read {u}'s simulated completions"
                )),
                "{name}: {notes}"
            );
        }
        // Each stage's full single-policy report in its folder.
        let single: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(d.join("report").join(name).join("report.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(single["policy"], name);
        assert!(d.join("report").join(name).join("report.html").is_file());
    }
    let chart = std::fs::read_to_string(d.join("report/chart.svg")).unwrap();
    assert_eq!(chart.matches("<svg").count(), 4, "one figure per stage");
    assert_eq!(chart.matches("</svg>").count(), 4);
    let md = std::fs::read_to_string(d.join("report/report.md")).unwrap();
    for name in ["auto-contouring", "dose-calculation", "plan-optimisation"] {
        assert!(md.contains(&format!("## {name}")), "{md}");
    }
}

#[test]
fn a_cycle_or_an_unknown_upstream_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let policies = shipped_policies(d);
    // auto-contouring now waits on plan optimisation: a cycle.
    let ac = policies.join("auto-contouring.yaml");
    let text = std::fs::read_to_string(&ac).unwrap();
    let text = text.replace(
        "  completions:",
        "  upstream: [{ policy: plan-optimisation }]\n  completions:",
    );
    std::fs::write(&ac, text).unwrap();
    std::fs::write(d.join("recording.csv"), "timestamp,autocontour_jobs\n").unwrap();
    let out = planscale(
        &[
            "simulate",
            "--policies",
            "policies",
            "--recording",
            "recording.csv",
        ],
        d,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auto-contouring.yaml: demand.upstream[0].policy: expected a pipeline without cycles, found the cycle auto-contouring -> upstream plan-optimisation -> upstream dose-calculation -> upstream auto-contouring"),
        "{err}"
    );
    // plan optimisation names a stage that is not there.
    std::fs::remove_file(&ac).unwrap();
    let out = planscale(&["validate", "policies"], d);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dose-calculation.yaml: demand.upstream[0].policy: expected the name of a policy loaded with this one, found \"auto-contouring\" (loaded: dose-calculation, plan-optimisation)"),
        "{err}"
    );
}
