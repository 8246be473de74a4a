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
            "calendar: unknown time zone",
            format!(
                "{GOOD}calendar: {{ timezone: Europe/Springfield, hours: {{ mon-fri: \"08:00-17:00\" }} }}\n"
            ),
            "calendar.timezone",
            "IANA time zone",
        ),
        (
            "calendar: no time zone and no schedule",
            format!("{GOOD}calendar: {{ hours: {{ mon-fri: \"08:00-17:00\" }} }}\n"),
            "calendar.timezone",
            "no schedule: section",
        ),
        (
            "calendar: no hours",
            format!("{GOOD}calendar: {{ timezone: UTC }}\n"),
            "calendar",
            "missing field `hours`",
        ),
        (
            "calendar: unknown field",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, colour: blue }}\n"
            ),
            "calendar",
            "unknown field `colour`",
        ),
        (
            "calendar: bad hours",
            format!("{GOOD}calendar: {{ timezone: UTC, hours: {{ mon-fri: 8-17 }} }}\n"),
            "calendar.hours.mon-fri",
            "\"08:00-17:00\"",
        ),
        (
            "calendar: hours over midnight",
            format!("{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: \"22:00-06:00\" }} }}\n"),
            "calendar.hours.mon",
            "over midnight",
        ),
        (
            "calendar: unknown day",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ weekdays: \"08:00-17:00\" }} }}\n"
            ),
            "calendar.hours.weekdays",
            "mon-fri",
        ),
        (
            "calendar: a day twice",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon-sat: \"08:00-17:00\", sat: \"08:00-12:00\" }} }}\n"
            ),
            "calendar.hours.sat",
            "also in hours.mon-sat",
        ),
        (
            "calendar: unknown region",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, holidays: [FR] }}\n"
            ),
            "calendar.holidays[0]",
            "DE (Germany)",
        ),
        (
            "calendar: bad closure date",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, closures: [24.12.2026] }}\n"
            ),
            "calendar.closures[0]",
            "2026-12-24",
        ),
        (
            "calendar: closure range backwards",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, closures: [{{ from: 2026-12-31, to: 2026-12-27 }}] }}\n"
            ),
            "calendar.closures[0]",
            "after to",
        ),
        (
            "calendar: closure range without its end",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, closures: [{{ from: 2026-12-27 }}] }}\n"
            ),
            "calendar.closures[0]",
            "missing field `to`",
        ),
        (
            "calendar: source with path and url",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, source: {{ type: ics, path: c.ics, url: 'https://h/c.ics' }} }}\n"
            ),
            "calendar.source",
            "found both",
        ),
        (
            "calendar: refresh on a file",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, source: {{ type: ics, path: c.ics, refresh: 1h }} }}\n"
            ),
            "calendar.source.refresh",
            "only with `url`",
        ),
        (
            "calendar: unknown source type",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, source: {{ type: fhir, url: 'https://h' }} }}\n"
            ),
            "calendar.source.type",
            "unknown variant `fhir`",
        ),
        (
            "calendar: missing file",
            format!(
                "{GOOD}calendar: {{ timezone: UTC, hours: {{ mon: closed }}, source: {{ type: ics, path: no-such-closures.ics }} }}\n"
            ),
            "calendar.source.path",
            "no-such-closures.ics",
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

/// A closures file is read when the policy is loaded, relative to the
/// policy file; a bad event in it fails the policy naming the file, line and
/// UID, and nothing of the event's text.
#[test]
fn a_calendar_file_is_read_relative_to_the_policy_and_a_bad_event_named() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("cal");
    std::fs::create_dir(&sub).unwrap();
    let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:summer\nSUMMARY:Closed for Mr Example's farewell\nDTSTART;VALUE=DATE:20260803\nDTEND;VALUE=DATE:20260815\nEND:VEVENT\nEND:VCALENDAR\n";
    std::fs::write(sub.join("closures.ics"), ics).unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(
        &file,
        format!("{GOOD}calendar: {{ timezone: UTC, hours: {{ mon-fri: \"08:00-17:00\" }}, source: {{ type: ics, path: cal/closures.ics }} }}\n"),
    )
    .unwrap();
    let out = planscale().arg("validate").arg(&file).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 3 to 14 August: twelve closed dates read from the file.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("; calendar UTC: open 5 days a week, holidays none, 12 closed dates)"),
        "{stdout}"
    );
    std::fs::write(
        sub.join("closures.ics"),
        ics.replace("20260815", "2026-08-15"),
    )
    .unwrap();
    let out = planscale().arg("validate").arg(&file).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(": calendar.source.path: ")
            && stderr.contains("closures.ics:6: event UID summer: DTEND"),
        "{stderr}"
    );
    assert!(!stderr.contains("Example"), "{stderr}");
}
