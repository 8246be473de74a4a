//! Real-looking exports parse to the appointments counted by hand.

mod schedule_common;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use planscale::policy::Policy;
use planscale::schedule::{
    self, Appointment, DayCount, Error, LastGood, Loaded, Options, ParseMode, Refresh,
    ScheduleSpec, SourceSpec, fhir, ics,
};
use schedule_common::{fhir_server, fixture, read_fixture};

/// `(local date, type, count)` rows of a summary in Berlin.
fn counts(appts: &[Appointment]) -> Vec<(String, String, usize)> {
    schedule::summarize(appts, Berlin)
        .into_iter()
        .map(|DayCount { date, kind, count }| (date.to_string(), kind, count))
        .collect()
}

fn rows(r: &[(&str, &str, usize)]) -> Vec<(String, String, usize)> {
    r.iter()
        .map(|(d, t, n)| (d.to_string(), t.to_string(), *n))
        .collect()
}

fn local(a: &Appointment) -> String {
    a.start
        .with_timezone(&Berlin)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
}

fn policy_schedule(name: &str) -> (ScheduleSpec, std::path::PathBuf) {
    let lp = Policy::load(&fixture(name)).unwrap();
    let dir = lp.path.parent().unwrap().to_path_buf();
    (lp.policy.schedule.unwrap(), dir)
}

#[test]
fn exchange_ics_with_windows_zone_rrule_exdate_and_a_moved_instance() {
    let mut opts = Options::new(Berlin);
    opts.location_as_resource = true;
    let l = ics::parse(&read_fixture("exchange.ics"), "exchange.ics", &opts).unwrap();
    assert_eq!((l.skipped, l.dropped), (0, 1), "{:?}", l.problems);
    assert_eq!(
        counts(&l.appointments),
        rows(&[
            ("2026-03-16", "CT-SIM", 2),
            ("2026-03-17", "MR-SIM", 1),
            ("2026-03-23", "CT-SIM", 1), // the 07:30 one is an EXDATE, the 08:00 series stays
            ("2026-03-24", "CT-SIM", 1),
            ("2026-03-25", "CT-SIM", 1),
            ("2026-03-26", "CT-SIM", 1),
            ("2026-03-30", "CT-SIM", 1), // moved to 10:00 by RECURRENCE-ID
            ("2026-04-06", "CT-SIM", 1),
            ("2026-04-13", "CT-SIM", 1), // UNTIL is inclusive
        ])
    );
    let weekly: Vec<String> = l
        .appointments
        .iter()
        .filter(|a| a.resource.as_deref() == Some("CT1") && local(a).ends_with(":30"))
        .map(local)
        .collect();
    assert_eq!(
        weekly,
        vec!["2026-03-16 07:30", "2026-04-06 07:30", "2026-04-13 07:30"]
    );
    // 07:30 local is 06:30Z in winter and 05:30Z in summer.
    assert!(
        l.appointments
            .iter()
            .any(|a| a.start == utc(2026, 3, 16, 6, 30))
    );
    assert!(
        l.appointments
            .iter()
            .any(|a| a.start == utc(2026, 4, 6, 5, 30))
    );
    let moved = l
        .appointments
        .iter()
        .find(|a| local(a).starts_with("2026-03-30"))
        .unwrap();
    assert_eq!(local(moved), "2026-03-30 10:00");
    assert_eq!((moved.end - moved.start).num_minutes(), 30);
    let daily = l
        .appointments
        .iter()
        .find(|a| local(a) == "2026-03-24 14:00")
        .unwrap();
    assert_eq!((daily.end - daily.start).num_minutes(), 20); // DURATION:PT20M
    assert_eq!(daily.resource, None);
}

#[test]
fn google_ics_typed_by_summary_rules_from_the_policy() {
    let (spec, dir) = policy_schedule("google-policy.yaml");
    let l = schedule::load(&spec, &dir, None, &planscale::sources::schedule_http::Http).unwrap();
    // Dropped: the all-day event, the cancelled one, and the lunch (no rule matches).
    assert_eq!((l.skipped, l.dropped), (0, 3), "{:?}", l.problems);
    assert_eq!(
        counts(&l.appointments),
        rows(&[
            ("2026-10-19", "CT-SIM", 1),
            ("2026-10-20", "MR-SIM", 1),
            ("2026-10-22", "CT-SIM", 1), // 23:00Z on the 21st is 01:00 on the 22nd in Berlin
            ("2026-10-22", "PET-CT", 1),
            ("2026-10-23", "PET-CT", 1),
            ("2026-10-24", "PET-CT", 1), // UNTIL=20261024 (a DATE) includes that day
            ("2026-10-26", "CT-SIM", 1),
            ("2026-11-02", "CT-SIM", 1),
        ])
    );
    let weekly: Vec<String> = l
        .appointments
        .iter()
        .filter(|a| a.kind == "CT-SIM" && local(a).ends_with("07:30"))
        .map(local)
        .collect();
    assert_eq!(
        weekly,
        vec!["2026-10-19 07:30", "2026-10-26 07:30", "2026-11-02 07:30"]
    );
}

#[test]
fn csv_with_extra_columns_in_another_order() {
    let spec: ScheduleSpec = serde_yaml::from_str(
        "source: {type: csv, path: extra-columns.csv}\ntimezone: Europe/Berlin\n",
    )
    .unwrap();
    let l = schedule::load(
        &spec,
        &fixture(""),
        None,
        &planscale::sources::schedule_http::Http,
    )
    .unwrap();
    assert_eq!((l.skipped, l.dropped), (0, 0), "{:?}", l.problems);
    assert_eq!(
        counts(&l.appointments),
        rows(&[
            ("2026-03-02", "CT-SIM", 1),
            ("2026-03-02", "MR-SIM", 1),
            ("2026-03-03", "CT-SIM", 2), // 23:30Z on the 2nd is 00:30 on the 3rd in Berlin
            ("2026-03-03", "MR-SIM", 1),
        ])
    );
    let resources: Vec<Option<&str>> = l
        .appointments
        .iter()
        .map(|a| a.resource.as_deref())
        .collect();
    assert_eq!(
        resources,
        vec![Some("CT1"), Some("MR1"), Some("CT1"), None, Some("MR1")]
    );
    // The lead's entry point still reads the default layout.
    assert_eq!(
        schedule::read_csv(&fixture("extra-columns.csv"))
            .unwrap()
            .len(),
        5
    );
}

#[test]
fn oncology_export_through_a_column_mapping() {
    let (spec, dir) = policy_schedule("aria-policy.yaml");
    assert_eq!(spec.mode, ParseMode::Strict);
    let l = schedule::load(&spec, &dir, None, &planscale::sources::schedule_http::Http).unwrap();
    assert_eq!(
        counts(&l.appointments),
        rows(&[
            ("2026-03-27", "CT-SIM", 1),
            ("2026-03-27", "MR-SIM", 1),
            ("2026-03-30", "CT-SIM", 2),
            ("2026-03-30", "MR-SIM", 1),
        ])
    );
    // 07:30 local before and after the change to summer time.
    assert_eq!(l.appointments[0].start, utc(2026, 3, 27, 6, 30));
    assert_eq!(l.appointments[2].start, utc(2026, 3, 30, 5, 30));
    assert_eq!(
        (l.appointments[1].end - l.appointments[1].start).num_minutes(),
        45
    );
}

fn fhir_spec(url: &str) -> ScheduleSpec {
    let (mut spec, _) = policy_schedule("fhir-policy.yaml");
    spec.source = SourceSpec::Fhir {
        path: None,
        url: Some(url.into()),
    };
    spec
}

fn week() -> (DateTime<Utc>, DateTime<Utc>) {
    (utc(2026, 3, 2, 0, 0), utc(2026, 3, 9, 0, 0))
}

#[test]
fn fhir_search_follows_the_next_link_over_two_pages() {
    let server = fhir_server();
    let spec = fhir_spec(&format!("{}/fhir/", server.base));
    let l = schedule::load(
        &spec,
        &fixture(""),
        Some(week()),
        &planscale::sources::schedule_http::Http,
    )
    .unwrap();
    assert_eq!(
        server.requests(),
        vec![
            "/fhir/Appointment?date=ge2026-03-02T00:00:00Z&date=lt2026-03-09T00:00:00Z&_count=100"
                .to_string(),
            "/fhir/Appointment?_getpages=c2f1d9a0&_getpagesoffset=4&_count=4".into(),
        ]
    );
    // cancelled, noshow, entered-in-error are dropped; appt-1007 has no end.
    assert_eq!((l.dropped, l.skipped), (3, 1));
    assert!(
        l.problems[0].contains("Appointment/appt-1007: expected end or minutesDuration"),
        "{:?}",
        l.problems
    );
    assert_eq!(
        counts(&l.appointments),
        rows(&[
            ("2026-03-02", "CT-SIM", 1),
            ("2026-03-02", "MR-SIM", 1),
            ("2026-03-03", "CT-SIM", 1),
        ])
    );
    let mr = l.appointments.iter().find(|a| a.kind == "MR-SIM").unwrap();
    assert_eq!(mr.resource.as_deref(), Some("MR1"));
    assert_eq!((mr.end - mr.start).num_minutes(), 45);

    let mut strict = spec.clone();
    strict.mode = ParseMode::Strict;
    let e = schedule::load(
        &strict,
        &fixture(""),
        Some(week()),
        &planscale::sources::schedule_http::Http,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "resource");
    assert!(
        e.to_string().contains("(page 2): Appointment/appt-1007"),
        "{e}"
    );
}

#[test]
fn fhir_bundle_file_and_window() {
    let (spec, _) = policy_schedule("fhir-policy.yaml");
    let mut opts = spec.options();
    let text = read_fixture("fhir-page1.json");
    let l = fhir::parse_bundle(&text, "page1.json", &opts).unwrap();
    assert_eq!(l.appointments.len(), 2);
    assert_eq!(l.appointments[0].kind, "CT-SIM");
    opts.window = Some((utc(2026, 3, 2, 8, 0), utc(2026, 3, 3, 0, 0)));
    let l = fhir::parse_bundle(&text, "page1.json", &opts).unwrap();
    assert_eq!(
        l.appointments.len(),
        1,
        "only the 10:00 (09:00Z) one starts in the window"
    );
}

#[test]
fn ics_over_http_and_the_last_good_snapshot_when_the_source_goes_down() {
    let server = fhir_server();
    let (mut spec, dir) = policy_schedule("google-policy.yaml");
    if let SourceSpec::Ics { path, url, .. } = &mut spec.source {
        *path = None;
        *url = Some(format!("{}/cal/google.ics", server.base));
    }
    let now = utc(2026, 10, 18, 12, 0);
    let mut last = LastGood::new();
    let first = schedule::load(&spec, &dir, None, &planscale::sources::schedule_http::Http);
    assert_eq!(last.refresh(first, now), Refresh::Fresh);
    assert_eq!(last.appointments().unwrap().len(), 8);
    drop(server); // the calendar server goes away
    let second = schedule::load(&spec, &dir, None, &planscale::sources::schedule_http::Http);
    let kind = second.as_ref().map(|_| "ok").unwrap_or_else(Error::kind);
    assert_eq!(kind, "fetch");
    assert!(matches!(last.refresh(second, now), Refresh::Stale { since, .. } if since == now));
    assert_eq!(last.appointments().unwrap().len(), 8);
}

#[test]
fn fhir_server_errors_say_what_and_where() {
    let server = schedule_common::TestServer::start(|_| {
        vec![schedule_common::Route {
            prefix: "/".into(),
            status: 503,
            body: "{\"resourceType\":\"OperationOutcome\"}".into(),
        }]
    });
    let e = schedule::load(
        &fhir_spec(&format!("{}/fhir", server.base)),
        &fixture(""),
        Some(week()),
        &planscale::sources::schedule_http::Http,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("expected HTTP 2xx, found 503"), "{e}");
    assert!(
        !e.contains("date=ge"),
        "the URL is shown without its path and query: {e}"
    );
    let e = schedule::load(
        &fhir_spec(&format!("{}/fhir", server.base)),
        &fixture(""),
        None,
        &planscale::sources::schedule_http::Http,
    )
    .unwrap_err();
    assert_eq!(e.kind(), "spec");
}

#[test]
fn lenient_counts_and_strict_fails_with_the_place() {
    let mut opts = Options::new(Berlin);
    let csv = read_fixture("malformed.csv");
    let l: Loaded =
        schedule::parse_csv_with(&csv, "malformed.csv", &opts, &Default::default()).unwrap();
    assert_eq!(l.appointments.len(), 2);
    assert_eq!(l.skipped, 4, "{:?}", l.problems);
    assert!(
        l.problems[0].starts_with("malformed.csv:3: column \"start\""),
        "{:?}",
        l.problems
    );
    let text = read_fixture("malformed.ics");
    let l = ics::parse(&text, "malformed.ics", &opts).unwrap();
    assert_eq!(l.appointments.len(), 1, "{:?}", l.problems);
    assert_eq!(l.skipped, 5, "{:?}", l.problems);
    assert!(
        l.problems
            .iter()
            .any(|p| p.starts_with("malformed.ics:13: event UID bad-dtstart-1: DTSTART")),
        "{:?}",
        l.problems
    );
    opts.mode = ParseMode::Strict;
    let e = ics::parse(&text, "malformed.ics", &opts).unwrap_err();
    assert_eq!(e.kind(), "event");
    let e =
        schedule::parse_csv_with(&csv, "malformed.csv", &opts, &Default::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed.csv:3: column \"start\": expected an RFC 3339 time with offset (2026-03-02T08:00:00+01:00) or a local time such as 2026-03-02 08:00"
    );
}

#[test]
fn summarize_json_matches_the_hand_count() {
    use clap::Parser;
    let cli = planscale::cli::Cli::try_parse_from([
        "planscale",
        "schedule",
        "summarize",
        fixture("exchange.ics").to_str().unwrap(),
        "--timezone",
        "Europe/Berlin",
        "--json",
        "--from",
        "2026-03-17",
        "--to",
        "2026-03-30",
    ])
    .unwrap();
    let planscale::cli::Command::Schedule(args) = cli.command else {
        panic!("expected the schedule subcommand");
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = planscale::cli::schedule::run(&args, &mut out, &mut err).unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let want = serde_json::json!([
        {"date": "2026-03-17", "type": "MR-SIM", "count": 1},
        {"date": "2026-03-23", "type": "CT-SIM", "count": 1},
        {"date": "2026-03-24", "type": "CT-SIM", "count": 1},
        {"date": "2026-03-25", "type": "CT-SIM", "count": 1},
        {"date": "2026-03-26", "type": "CT-SIM", "count": 1},
        {"date": "2026-03-30", "type": "CT-SIM", "count": 1}
    ]);
    assert_eq!(got, want);
    let err = String::from_utf8(err).unwrap();
    assert!(
        err.starts_with("appointments: 6; bad entries skipped: 0;"),
        "{err}"
    );
}
