//! Property tests that feed the three schedule parsers arbitrary input and
//! structured mutations of the real-looking fixtures. They run in CI; the
//! longer coverage-guided runs are `fuzz/` (cargo-fuzz, nightly), see
//! docs/ARCHITECTURE.md "Schedule". A parser may reject input, never panic,
//! and what it returns must be well-formed.

#[path = "support/mutate.rs"]
mod mutate;
mod schedule_common;

use chrono::TimeZone;
use mutate::{apply, edit};
use planscale::schedule::{Format, Loaded, Options, ParseMode, Result, SummaryRule, parse};
use proptest::prelude::*;
use schedule_common::read_fixture;

fn options(strict: bool, window: bool) -> Options {
    let mut o = Options::new(chrono_tz::Europe::Berlin);
    o.mode = if strict {
        ParseMode::Strict
    } else {
        ParseMode::Lenient
    };
    if window {
        o.window = Some((
            chrono::Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            chrono::Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
        ));
    }
    o.summary_types = vec![SummaryRule {
        contains: "CT".into(),
        kind: "CT-SIM".into(),
    }];
    o
}

/// What every successful parse must satisfy.
fn well_formed(r: &Result<Loaded>, opts: &Options) {
    let Ok(l) = r else { return };
    assert!(l.appointments.windows(2).all(|w| w[0] <= w[1]), "sorted");
    for a in &l.appointments {
        assert!(a.end >= a.start);
        assert!(!a.kind.is_empty());
        if let Some((from, to)) = opts.window {
            assert!(from <= a.start && a.start < to);
        }
    }
    assert!(l.problems.len() <= l.skipped);
    if opts.mode == ParseMode::Strict {
        assert_eq!(l.skipped, 0);
    }
}

/// Fragments the parsers care about, and some noise.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("BEGIN:VEVENT".to_string()),
        Just("END:VEVENT".to_string()),
        Just("END:VCALENDAR".to_string()),
        Just("BEGIN:VALARM".to_string()),
        Just("RRULE:FREQ=SECONDLY;BYSECOND=0,30".to_string()),
        Just("RRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=SU".to_string()),
        Just("RRULE:FREQ=DAILY;UNTIL=99991231".to_string()),
        Just("EXDATE;TZID=Europe/Berlin:20260329T023000,20261025T023000".to_string()),
        Just("RDATE;VALUE=PERIOD:20260301T000000Z/PT1H".to_string()),
        Just("DTSTART;TZID=\"W. Europe Standard Time\":20260329T023000".to_string()),
        Just("DTSTART:99991231T235959Z".to_string()),
        Just("DTSTART;VALUE=DATE:00000101".to_string()),
        Just("DURATION:P9999999999W".to_string()),
        Just("RECURRENCE-ID:20260316T063000Z".to_string()),
        Just("\"start\":\"+275760-09-13T00:00:00Z\"".to_string()),
        Just("\"minutesDuration\":18446744073709551615".to_string()),
        Just("{\"resourceType\":\"Appointment\",\"status\":\"booked\"}".to_string()),
        Just("\"link\":[{\"relation\":\"next\",\"url\":7}]".to_string()),
        Just("2026-03-29 02:30,2026-03-29 02:45,CT".to_string()),
        Just("\"unterminated,quote".to_string()),
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

const FIXTURES: [(&str, Format); 8] = [
    ("exchange.ics", Format::Ics),
    ("google.ics", Format::Ics),
    ("malformed.ics", Format::Ics),
    ("extra-columns.csv", Format::Csv),
    ("malformed.csv", Format::Csv),
    ("fhir-page1.json", Format::Fhir),
    ("fhir-page2.json", Format::Fhir),
    ("malformed.json", Format::Fhir),
];

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Csv), Just(Format::Ics), Just(Format::Fhir)]
}

proptest! {
    // 512 cases per property in CI; longer runs: PROPTEST_CASES=N.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), f in format(), strict: bool, window: bool) {
        let text = String::from_utf8_lossy(&bytes);
        let opts = options(strict, window);
        well_formed(&parse(f, &text, "fuzz", &opts), &opts);
    }

    #[test]
    fn arbitrary_token_soup_never_panics(parts in proptest::collection::vec(token(), 0..40), f in format(), strict: bool) {
        let head = match f {
            Format::Ics => "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n",
            Format::Csv => "start,end,type\n",
            Format::Fhir => "",
        };
        let text = format!("{head}{}", parts.join("\r\n"));
        let opts = options(strict, false);
        well_formed(&parse(f, &text, "fuzz", &opts), &opts);
    }

    #[test]
    fn mutated_fixtures_never_panic(which in 0usize..FIXTURES.len(), edits in proptest::collection::vec(edit(token()), 1..8), strict: bool, window: bool) {
        let (name, f) = FIXTURES[which];
        let text = apply(&read_fixture(name), &edits, "\r\n");
        let opts = options(strict, window);
        well_formed(&parse(f, &text, name, &opts), &opts);
    }
}

/// Inputs that once panicked (date arithmetic past chrono's last year, the
/// rrule crate on non-ASCII rules), kept as regression cases.
#[test]
fn inputs_that_once_panicked_are_rejected() {
    let opts = options(false, false);
    let cases = [
        (Format::Csv, "start,end,type\n+262142-12-31 23:59,,CT\n"),
        (
            Format::Csv,
            "start,duration,type\n+262142-12-31 23:59,600,CT\n",
        ),
        (
            Format::Fhir,
            r#"{"resourceType":"Appointment","id":"x","status":"booked","start":"+262142-12-31T23:59:00Z","minutesDuration":600,"serviceType":[{"coding":[{"code":"ct"}]}]}"#,
        ),
        (
            Format::Ics,
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:+2621421231T235900Z\nDURATION:PT10H\nRRULE:FREQ=DAILY\nCATEGORIES:CT\nEND:VEVENT\nEND:VCALENDAR\n",
        ),
        (
            Format::Ics,
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:2621421231T235900Z\nDURATION:PT10H\nCATEGORIES:CT\nEND:VEVENT\nEND:VCALENDAR\n",
        ),
        // Found by cargo-fuzz (schedule_ics, first minute): the rrule crate
        // slices BYDAY values at byte offsets and panics on non-ASCII text.
        (
            Format::Ics,
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260316T073000Z\nRRULE:FREQ=WEEKLY;BYDAY=\u{e9}a\nCATEGORIES:CT\nEND:VEVENT\nEND:VCALENDAR\n",
        ),
        // Found by mutated_fixtures_never_panic (PROPTEST_CASES=20000, case 13,753):
        // a duration of ~190 million years overflowed start + duration.
        (
            Format::Ics,
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:20260316T073000Z\nDURATION:P9999999999W\nCATEGORIES:CT\nEND:VEVENT\nEND:VCALENDAR\n",
        ),
    ];
    for (f, text) in cases {
        well_formed(&parse(f, text, "edge", &opts), &opts);
    }
    let cols = planscale::schedule::CsvColumns {
        end: None,
        duration: Some("duration".into()),
        ..Default::default()
    };
    let r = planscale::schedule::parse_csv_with(cases[1].1, "edge", &opts, &cols);
    well_formed(&r, &opts);
}
