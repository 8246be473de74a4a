//! Parser throughput (bytes per second) of the recording and the three
//! schedule formats:
//! - `recording-csv`: the bundled recording (8 weeks at 5 minutes, 4 columns);
//! - `schedule-csv`: the bundled schedule export (8 weeks, 6 scanners);
//! - `schedule-ics` and `schedule-fhir`: the same appointments written as an
//!   iCalendar file (one VEVENT each, CATEGORIES for the type) and as a FHIR
//!   R4 searchset Bundle (serviceType coding for the type), generated here;
//! - `calendar-ics`: a closures feed as a policy's `calendar.source` reads it
//!   ([`closures_from_ics`]): 40 yearly all-day holidays from 1990 (expanded
//!   to 2100: 4,400 instances), a weekly all-day closure for ten years (520)
//!   and 200 timed one-off events, generated here.
//!
//! `cargo bench --bench parsers`

mod common;

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use planscale::calendar::spec::closures_from_ics;
use planscale::recording::Recording;
use planscale::schedule::{self, Appointment, Format, Options, ParseMode};

/// The appointments as an iCalendar file (UTC times).
fn to_ics(appointments: &[Appointment]) -> String {
    let mut s =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//planscale//bench//EN\r\n");
    for (i, a) in appointments.iter().enumerate() {
        let _ = write!(
            s,
            "BEGIN:VEVENT\r\nUID:bench-{i}@planscale\r\nDTSTAMP:20260301T000000Z\r\n\
             DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Simulation appointment\r\nCATEGORIES:{}\r\n\
             LOCATION:{}\r\nSTATUS:CONFIRMED\r\nEND:VEVENT\r\n",
            a.start.format("%Y%m%dT%H%M%SZ"),
            a.end.format("%Y%m%dT%H%M%SZ"),
            a.kind,
            a.resource.as_deref().unwrap_or("")
        );
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

/// A closures feed (see the module documentation).
fn closures_ics() -> String {
    let mut s = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
    for i in 0..40 {
        let _ = write!(
            s,
            "BEGIN:VEVENT\r\nUID:holiday-{i}\r\nSUMMARY:Holiday\r\nDTSTART;VALUE=DATE:1990{:02}{:02}\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n",
            1 + i % 12,
            1 + i % 28
        );
    }
    s.push_str("BEGIN:VEVENT\r\nUID:weekly\r\nDTSTART;VALUE=DATE:20200104\r\nDTEND;VALUE=DATE:20200105\r\nRRULE:FREQ=WEEKLY;COUNT=520\r\nEND:VEVENT\r\n");
    for i in 0..200 {
        let (m, d) = (1 + (i / 28) % 12, 1 + i % 28);
        let _ = write!(
            s,
            "BEGIN:VEVENT\r\nUID:staff-{i}\r\nDTSTART;TZID=Europe/Berlin:2026{m:02}{d:02}T090000\r\nDTEND;TZID=Europe/Berlin:2026{m:02}{d:02}T100000\r\nEND:VEVENT\r\n"
        );
    }
    s.push_str("END:VCALENDAR\r\n");
    s
}

/// The appointments as a FHIR R4 searchset Bundle.
fn to_fhir(appointments: &[Appointment]) -> String {
    let entries: Vec<serde_json::Value> = appointments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            serde_json::json!({
                "fullUrl": format!("https://fhir.example/Appointment/bench-{i}"),
                "resource": {
                    "resourceType": "Appointment",
                    "id": format!("bench-{i}"),
                    "status": "booked",
                    "serviceType": [{"coding": [{
                        "system": "https://fhir.example/CodeSystem/rt-appointment",
                        "code": a.kind.to_lowercase(),
                    }]}],
                    "start": a.start.to_rfc3339(),
                    "end": a.end.to_rfc3339(),
                }
            })
        })
        .collect();
    serde_json::json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": entries.len(),
        "entry": entries,
    })
    .to_string()
}

fn bench(c: &mut Criterion) {
    let p = common::policy(300);
    let opts = p
        .schedule
        .as_ref()
        .map(|s| s.options())
        .unwrap_or_else(|| Options::new(chrono_tz::Europe::Berlin));
    let csv_schedule = common::SCHEDULE_CSV;
    let appointments = schedule::parse(Format::Csv, csv_schedule, "schedule.csv", &opts)
        .expect("bundled schedule parses")
        .appointments;
    let ics = to_ics(&appointments);
    let fhir = to_fhir(&appointments);
    // Each format must read back every appointment, or the figure means nothing.
    for (format, text) in [(Format::Ics, &ics), (Format::Fhir, &fhir)] {
        let n = schedule::parse(format, text, "bench", &opts)
            .expect("generated schedule parses")
            .appointments
            .len();
        assert_eq!(n, appointments.len(), "{format:?} lost appointments");
    }

    let mut group = c.benchmark_group("parsers");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(common::RECORDING.len() as u64));
    group.bench_function("recording-csv", |b| {
        b.iter(|| {
            Recording::parse_csv(black_box(common::RECORDING), "recording.csv").expect("parse")
        })
    });
    for (name, format, text) in [
        ("schedule-csv", Format::Csv, csv_schedule),
        ("schedule-ics", Format::Ics, ics.as_str()),
        ("schedule-fhir", Format::Fhir, fhir.as_str()),
    ] {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| schedule::parse(format, black_box(text), name, &opts).expect("parse"))
        });
    }
    let closures = closures_ics();
    let tz = chrono_tz::Europe::Berlin;
    let c = closures_from_ics(&closures, "closures.ics", tz, ParseMode::Strict).expect("parse");
    // 1990 to 2099, and the 1 January holiday once more: 2100-01-01 00:00 in
    // Berlin is before the expansion's end, 2100-01-01 00:00 UTC.
    assert_eq!(c.instances, 40 * 110 + 1 + 520 + 200, "expanded to 2100");
    group.throughput(Throughput::Bytes(closures.len() as u64));
    group.bench_function("calendar-ics", |b| {
        b.iter(|| {
            closures_from_ics(black_box(&closures), "closures.ics", tz, ParseMode::Strict)
                .expect("parse")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
