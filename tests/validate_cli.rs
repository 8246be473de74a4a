//! `planscale validate` as a user runs it: the shipped policies pass, and each
//! kind of broken policy fails with the file and the field named.

use std::path::Path;
use std::process::Command;

fn planscale() -> Command {
    Command::new(env!("CARGO_BIN_EXE_planscale"))
}

#[test]
fn shipped_policies_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let out = planscale().arg("validate").arg(&dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["auto-contouring", "dose-calculation", "plan-optimisation"] {
        assert!(stdout.contains(name), "{name} missing from: {stdout}");
    }
}

const GOOD: &str = "name: dose
target: { kind: Deployment, namespace: planning, name: dosecalc }
replicas: { min: 1, max: 10 }
capacity: { per_replica: 1, per: 1m, startup: 2m }
demand: { arrivals: { series: jobs } }
slo: { max_wait: 5m }
";

/// Each case: what is changed, and (field, words) the error must contain.
fn cases() -> Vec<(&'static str, String, &'static str, &'static str)> {
    let edit = |from: &str, to: &str| GOOD.replace(from, to);
    vec![
        (
            "unknown field",
            format!("{GOOD}colour: blue\n"),
            "",
            "unknown field `colour`",
        ),
        (
            "min above max",
            edit("min: 1, max: 10", "min: 5, max: 3"),
            "replicas.min",
            "min <= max",
        ),
        (
            "zero max",
            edit("min: 1, max: 10", "min: 0, max: 0"),
            "replicas.max",
            "at least 1",
        ),
        (
            "quantile above 1",
            format!("{GOOD}forecast: {{ quantile: 1.5 }}\n"),
            "forecast.quantile",
            "between 0 and 1",
        ),
        (
            "quantile zero",
            format!("{GOOD}forecast: {{ quantile: 0 }}\n"),
            "forecast.quantile",
            "between 0 and 1",
        ),
        (
            "zero capacity",
            edit("per_replica: 1", "per_replica: 0"),
            "capacity.per_replica",
            "positive number",
        ),
        (
            "unknown time zone",
            format!(
                "{GOOD}schedule: {{ source: {{ type: csv, path: s.csv }}, timezone: Europe/Springfield }}\n"
            ),
            "schedule.timezone",
            "IANA time zone",
        ),
        (
            "missing target",
            GOOD.lines()
                .filter(|l| !l.starts_with("target"))
                .collect::<Vec<_>>()
                .join("\n"),
            "",
            "missing field `target`",
        ),
        (
            "bad duration",
            edit("startup: 2m", "startup: 2 minutes"),
            "capacity.startup",
            "invalid duration",
        ),
        (
            "bare number duration",
            edit("max_wait: 5m", "max_wait: 300"),
            "slo.max_wait",
            "has no unit",
        ),
        (
            "unknown kind",
            edit("kind: Deployment", "kind: DaemonSet"),
            "target.kind",
            "unknown variant",
        ),
        (
            "unknown mode",
            format!("{GOOD}scaling: {{ mode: yolo }}\n"),
            "scaling.mode",
            "unknown variant",
        ),
        (
            "hpa-floor without hpa",
            format!("{GOOD}scaling: {{ mode: hpa-floor }}\n"),
            "target.hpa",
            "HorizontalPodAutoscaler",
        ),
        (
            "horizon shorter than lead",
            format!("{GOOD}forecast: {{ horizon: 1m }}\n"),
            "forecast.horizon",
            "capacity.startup",
        ),
        (
            "period not a multiple of step",
            format!("{GOOD}forecast: {{ step: 7m, seasonal_periods: [1d] }}\n"),
            "forecast.seasonal_periods[0]",
            "whole multiple",
        ),
        (
            "bad name",
            edit("name: dose", "name: Dose_Calc"),
            "name",
            "DNS label",
        ),
        (
            "reactive target above 1",
            format!("{GOOD}scaling: {{ reactive_target: 80 }}\n"),
            "scaling.reactive_target",
            "(0, 1]",
        ),
        (
            "queue allowance of the whole SLO",
            format!("{GOOD}scaling: {{ queue_allowance: 1.0 }}\n"),
            "scaling.queue_allowance",
            "[0, 1)",
        ),
        (
            "wrong type",
            edit("min: 1, max: 10", "min: one, max: 10"),
            "replicas.min",
            "invalid type",
        ),
        (
            "not yaml",
            "name: a: b\n".to_string(),
            "",
            "mapping values are not allowed",
        ),
    ]
}

#[test]
fn every_kind_of_broken_policy_fails_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    assert!(cases.len() >= 10);
    for (i, (what, text, field, words)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("case{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = planscale().arg("validate").arg(&file).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
        let shown = file.display().to_string();
        assert!(stderr.contains(&shown), "{what}: file not named: {stderr}");
        if !field.is_empty() {
            assert!(
                stderr.contains(&format!(": {field}: ")),
                "{what}: field {field} not named: {stderr}"
            );
        }
        assert!(
            stderr.contains(words),
            "{what}: expected {words:?} in: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[test]
fn all_errors_of_a_file_are_reported_and_good_files_still_listed() {
    let dir = tempfile::tempdir().unwrap();
    let bad = GOOD
        .replace("min: 1, max: 10", "min: 5, max: 3")
        .replace("per_replica: 1", "per_replica: -2");
    std::fs::write(dir.path().join("bad.yaml"), bad).unwrap();
    std::fs::write(dir.path().join("good.yaml"), GOOD).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let out = planscale()
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("replicas.min") && stderr.contains("capacity.per_replica"),
        "{stderr}"
    );
    assert!(stdout.contains("good.yaml"), "{stdout}");
}

#[test]
fn duplicate_names_and_toml_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), GOOD).unwrap();
    std::fs::write(dir.path().join("b.yaml"), GOOD).unwrap();
    let out = planscale()
        .arg("validate")
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("b.yaml: name: expected a unique policy name"),
        "{stderr}"
    );

    let toml = "name = \"dose\"\n[target]\nkind = \"Deployment\"\nnamespace = \"planning\"\nname = \"dosecalc\"\n\
                [replicas]\nmin = 1\nmax = 10\n[capacity]\nper_replica = 1.0\nstartup = \"2m\"\n\
                [demand.arrivals]\nseries = \"jobs\"\n[slo]\nmax_wait = \"5m\"\n";
    let file = dir.path().join("dose.toml");
    std::fs::write(&file, toml).unwrap();
    let out = planscale().arg("validate").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&file, toml.replace("max = 10", "max = 0")).unwrap();
    let out = planscale().arg("validate").arg(&file).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("dose.toml: replicas.max"));
}
