//! Recurrences stay at their local wall time across DST changes.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Europe::Berlin;
use planscale::schedule::{self, Format, Options};

fn calendar(dtstart: &str, rule: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:dst-test\r\n{dtstart}\r\nDURATION:PT30M\r\nRRULE:{rule}\r\nCATEGORIES:CT Sim\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn starts(text: &str) -> Vec<DateTime<Utc>> {
    let l = schedule::parse(Format::Ics, text, "dst.ics", &Options::new(Berlin)).unwrap();
    assert_eq!(l.skipped, 0, "{:?}", l.problems);
    l.appointments.iter().map(|a| a.start).collect()
}

/// 07:30 local every Monday from 2 March to 30 November 2026: both sides of
/// 2026-03-29 (CET→CEST) and 2026-10-25 (CEST→CET).
fn check_weekly_0730(starts: &[DateTime<Utc>]) {
    assert_eq!(starts.len(), 40);
    for t in starts {
        let l = t.with_timezone(&Berlin);
        assert_eq!(
            (l.hour(), l.minute(), l.weekday()),
            (7, 30, Weekday::Mon),
            "{l}"
        );
        let summer = l.date_naive() > "2026-03-29".parse().unwrap()
            && l.date_naive() < "2026-10-25".parse().unwrap();
        assert_eq!(t.hour(), if summer { 5 } else { 6 }, "{t} is 07:30 local");
    }
    let first_summer = starts.iter().find(|t| t.hour() == 5).unwrap();
    assert_eq!(first_summer.to_rfc3339(), "2026-03-30T05:30:00+00:00");
    let last_summer = starts.iter().rev().find(|t| t.hour() == 5).unwrap();
    assert_eq!(last_summer.to_rfc3339(), "2026-10-19T05:30:00+00:00");
    assert!(
        starts
            .iter()
            .any(|t| t.to_rfc3339() == "2026-10-26T06:30:00+00:00")
    );
}

#[test]
fn weekly_0730_berlin_with_iana_tzid() {
    let text = calendar(
        "DTSTART;TZID=Europe/Berlin:20260302T073000",
        "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261130T235959Z",
    );
    check_weekly_0730(&starts(&text));
}

#[test]
fn weekly_0730_berlin_floating_time_in_the_clinic_zone() {
    let text = calendar("DTSTART:20260302T073000", "FREQ=WEEKLY;COUNT=40");
    check_weekly_0730(&starts(&text));
}

#[test]
fn weekly_0730_berlin_with_a_windows_zone_name() {
    let text = calendar(
        "DTSTART;TZID=\"W. Europe Standard Time\":20260302T073000",
        "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO;UNTIL=20261130",
    );
    check_weekly_0730(&starts(&text));
}

#[test]
fn a_utc_rule_stays_in_utc() {
    // RFC 5545: a DTSTART in UTC repeats at the same UTC time.
    let text = calendar("DTSTART:20260302T063000Z", "FREQ=WEEKLY;COUNT=40");
    let s = starts(&text);
    assert!(s.iter().all(|t| (t.hour(), t.minute()) == (6, 30)));
}

#[test]
fn daily_at_a_time_that_is_skipped_or_repeated() {
    // 02:30 does not exist on 29 March and happens twice on 25 October.
    let text = calendar(
        "DTSTART;TZID=Europe/Berlin:20260328T023000",
        "FREQ=DAILY;COUNT=3",
    );
    let s = starts(&text);
    let local: Vec<String> = s
        .iter()
        .map(|t| {
            t.with_timezone(&Berlin)
                .format("%m-%d %H:%M %Z")
                .to_string()
        })
        .collect();
    assert_eq!(local.len(), 3, "{local:?}");
    assert_eq!(local[0], "03-28 02:30 CET");
    assert_eq!(
        local[1], "03-29 03:30 CEST",
        "RFC 5545 §3.3.5: read with the offset before the gap"
    );
    assert_eq!(local[2], "03-30 02:30 CEST");
    let text = calendar(
        "DTSTART;TZID=Europe/Berlin:20261024T023000",
        "FREQ=DAILY;COUNT=3",
    );
    let s = starts(&text);
    assert_eq!(s.len(), 3);
    // One instance on the 25th, not two.
    assert_eq!(
        s.iter()
            .filter(|t| t.with_timezone(&Berlin).day() == 25)
            .count(),
        1
    );
}

#[test]
fn csv_local_times_on_both_change_days() {
    let text = "start,end,type\n\
                2026-03-28 07:30,2026-03-28 08:00,CT\n\
                2026-03-29 07:30,2026-03-29 08:00,CT\n\
                2026-10-24 07:30,2026-10-24 08:00,CT\n\
                2026-10-25 07:30,2026-10-25 08:00,CT\n";
    let l = schedule::parse(Format::Csv, text, "s.csv", &Options::new(Berlin)).unwrap();
    let utc: Vec<String> = l
        .appointments
        .iter()
        .map(|a| a.start.format("%m-%d %H:%M").to_string())
        .collect();
    assert_eq!(
        utc,
        vec!["03-28 06:30", "03-29 05:30", "10-24 05:30", "10-25 06:30"]
    );
}
