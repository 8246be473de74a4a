//! FHIR R4 Appointment resources: a Bundle (or a single Appointment) as JSON,
//! or a FHIR server searched with `Appointment?date=ge…&date=lt…`, following
//! `Bundle.link` `next`.
//!
//! The JSON is read as an untyped tree and only `id`, `status`, `start`,
//! `end`, `minutesDuration`, `created` (when the appointment was booked: a
//! FHIR `dateTime`; a date, month or year alone is read as the end of that
//! period in the clinic's zone, the latest it can mean), the
//! `appointmentType`/`serviceType` coding
//! codes and `Location/`/`Device/` actor references are looked at: patient
//! references, names, comments and descriptions are never read. (Typed
//! deserialisation is avoided on purpose: its errors quote the offending
//! value.)

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use super::{Appointment, Error, HttpGet, Loaded, Options, Result, local_to_utc, redact_url};

/// Most pages one search follows.
pub const MAX_PAGES: usize = 1000;

/// Page size asked of the server (`_count`).
pub const PAGE_SIZE: usize = 100;

/// Parse a FHIR JSON document (a Bundle or one Appointment); `file` names it in errors.
pub fn parse_bundle(text: &str, file: &str, opts: &Options) -> Result<Loaded> {
    let mut out = Loaded::default();
    parse_page(text, file, opts, &mut out)?;
    Ok(out.finish())
}

/// Search a FHIR server for appointments starting in `window`, following
/// `next` links. `base` is the server base URL (`https://fhir.example/r4`).
pub fn search(
    base: &str,
    window: (DateTime<Utc>, DateTime<Utc>),
    opts: &Options,
    http: &dyn HttpGet,
) -> Result<Loaded> {
    let base = base.trim_end_matches('/');
    let shown = redact_url(base);
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut url = format!(
        "{base}/Appointment?date=ge{}&date=lt{}&_count={PAGE_SIZE}",
        fmt(window.0),
        fmt(window.1)
    );
    let mut out = Loaded::default();
    let mut seen = std::collections::HashSet::new();
    for page in 1..=MAX_PAGES {
        if !seen.insert(url.clone()) {
            return Err(Error::Fetch {
                url: shown,
                message: format!("page {page}: the next link repeats an earlier page"),
            });
        }
        let text = http.get_text(&url, "application/fhir+json")?;
        let label = format!("{shown} (page {page})");
        match parse_page(&text, &label, opts, &mut out)? {
            Some(next) if next.starts_with("http://") || next.starts_with("https://") => url = next,
            Some(next) => url = format!("{base}/{}", next.trim_start_matches('/')),
            None => {
                tracing::debug!(
                    pages = page,
                    appointments = out.appointments.len(),
                    "FHIR search done"
                );
                return Ok(out.finish());
            }
        }
    }
    Err(Error::Fetch {
        url: shown,
        message: format!("more than {MAX_PAGES} pages"),
    })
}

/// Add one document's appointments to `out`; return its `next` link, if any.
fn parse_page(text: &str, file: &str, opts: &Options, out: &mut Loaded) -> Result<Option<String>> {
    let root: Value = serde_json::from_str(text).map_err(|e| Error::Line {
        file: file.into(),
        line: e.line() as u64,
        message: format!("expected FHIR JSON: {}", json_problem(&e)),
    })?;
    let file_err = |message: String| Error::File {
        file: file.into(),
        message,
    };
    let kind = root.get("resourceType").and_then(Value::as_str);
    let resources: Vec<&Value> = match kind {
        Some("Bundle") => match root.get("entry") {
            None => Vec::new(),
            Some(Value::Array(entries)) => {
                entries.iter().filter_map(|e| e.get("resource")).collect()
            }
            Some(_) => return Err(file_err("Bundle.entry: expected an array".into())),
        },
        Some("Appointment") => vec![&root],
        Some(other) => {
            return Err(file_err(format!(
                "expected resourceType Bundle or Appointment, found {}",
                shown(other)
            )));
        }
        None => {
            return Err(file_err(
                "expected a FHIR resource with resourceType".into(),
            ));
        }
    };
    for res in resources {
        if res.get("resourceType").and_then(Value::as_str) != Some("Appointment") {
            continue; // included Patients, OperationOutcomes: not read
        }
        match appointment(res, opts) {
            Ok(Some(a)) => out.push(opts, a),
            Ok(None) => out.dropped += 1,
            Err(message) => out.bad(
                opts.mode,
                Error::Resource {
                    file: file.into(),
                    id: res
                        .get("id")
                        .and_then(Value::as_str)
                        .map(shown)
                        .unwrap_or_else(|| "(no id)".into()),
                    message,
                },
            )?,
        }
    }
    let next = root
        .get("link")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|l| l.get("relation").and_then(Value::as_str) == Some("next"))
        .and_then(|l| l.get("url").and_then(Value::as_str))
        .map(str::to_string);
    Ok(next)
}

/// What a JSON syntax error is, without quoting the text.
fn json_problem(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected value",
        serde_json::error::Category::Io => "read error",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// An identifier as errors may show it: printable ASCII, at most 80 characters.
fn shown(s: &str) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(80)
        .collect();
    if t.is_empty() { "(empty)".into() } else { t }
}

/// Statuses whose appointments do not happen (FHIR R4 AppointmentStatus).
const DROPPED_STATUS: [&str; 3] = ["cancelled", "noshow", "entered-in-error"];

/// Statuses that may lack a start (not booked yet).
const UNSCHEDULED_STATUS: [&str; 3] = ["proposed", "pending", "waitlist"];

/// One Appointment → `Some` appointment, `None` if left out on purpose
/// (status, no type), or what is wrong with it.
fn appointment(res: &Value, opts: &Options) -> std::result::Result<Option<Appointment>, String> {
    let status = res
        .get("status")
        .and_then(Value::as_str)
        .ok_or("expected status (a string)")?;
    if DROPPED_STATUS.contains(&status) {
        return Ok(None);
    }
    let instant = |field: &str| -> std::result::Result<Option<DateTime<Utc>>, String> {
        match res.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    format!("{field}: expected a FHIR instant such as 2026-03-02T08:00:00+01:00")
                }),
            Some(_) => Err(format!("{field}: expected a string")),
        }
    };
    let Some(start) = instant("start")? else {
        if UNSCHEDULED_STATUS.contains(&status) {
            return Ok(None);
        }
        return Err("expected start".into());
    };
    let end = match (instant("end")?, res.get("minutesDuration")) {
        (Some(e), _) => e,
        (None, Some(m)) => {
            let m = m
                .as_u64()
                .filter(|m| *m <= 60 * 24 * 366)
                .ok_or("minutesDuration: expected a whole number of minutes")?;
            start
                .checked_add_signed(TimeDelta::minutes(m as i64))
                .ok_or("minutesDuration: the end is past the last representable date")?
        }
        (None, None) => return Err("expected end or minutesDuration".into()),
    };
    if end < start {
        return Err("end is before start".into());
    }
    let Some(kind) = appointment_type(res, opts) else {
        return Ok(None);
    };
    let booked_at = match res.get("created") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(date_time(s, opts).ok_or(
            "created: expected a FHIR dateTime such as 2026-02-20T09:15:00+01:00 or 2026-02-20",
        )?),
        Some(_) => return Err("created: expected a string".into()),
    };
    Ok(Some(Appointment {
        start,
        end,
        kind,
        resource: resource(res),
        booked_at,
    }))
}

/// A FHIR `dateTime` (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or a time with its
/// offset) as an instant. A partial date is the end of its period in the
/// clinic's zone; a time without an offset (not allowed by FHIR, written by
/// some exports) is the clinic's wall clock.
fn date_time(s: &str, opts: &Options) -> Option<DateTime<Utc>> {
    use chrono::{NaiveDate, NaiveDateTime};
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return local_to_utc(t, opts.tz);
    }
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = s.split('-').collect();
    // The first day after the period.
    let after = match parts.as_slice() {
        [y, m, d] if digits(y, 4) && digits(m, 2) && digits(d, 2) => {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?.succ_opt()?
        }
        [y, m] if digits(y, 4) && digits(m, 2) => {
            let first = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, 1)?;
            first.checked_add_months(chrono::Months::new(1))?
        }
        [y] if digits(y, 4) => NaiveDate::from_ymd_opt(y.parse::<i32>().ok()? + 1, 1, 1)?,
        _ => return None,
    };
    local_to_utc(after.and_hms_opt(0, 0, 0)?, opts.tz)
}

/// The codings of every `serviceType`, then of `appointmentType`, as (system, code).
fn codings(res: &Value) -> Vec<(&str, &str)> {
    fn of(cc: &Value) -> Vec<(&str, &str)> {
        cc.get("coding")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let code = c.get("code").and_then(Value::as_str)?;
                Some((c.get("system").and_then(Value::as_str).unwrap_or(""), code))
            })
            .collect()
    }
    let mut all: Vec<(&str, &str)> = res
        .get("serviceType")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(of)
        .collect();
    all.extend(res.get("appointmentType").map(of).unwrap_or_default());
    all
}

/// The type: the first coding the policy maps (`system|code`, then `code`),
/// else the first code, normalised. `serviceType` comes before
/// `appointmentType`, whose usual codes (v2-0276: ROUTINE, FOLLOWUP, …) say
/// less about the work. Free text (`CodeableConcept.text`, `display`) is not used.
fn appointment_type(res: &Value, opts: &Options) -> Option<String> {
    let all = codings(res);
    all.iter()
        .find_map(|(system, code)| {
            let key = format!("{system}|{code}").to_lowercase();
            opts.type_map
                .get(&key)
                .or_else(|| opts.type_map.get(&code.trim().to_lowercase()))
                .cloned()
        })
        .or_else(|| {
            all.iter()
                .map(|(_, code)| super::normalise_type(code))
                .find(|t| !t.is_empty())
        })
}

/// A participant that is a room or a device: `Location/CT1` → `CT1`.
fn resource(res: &Value) -> Option<String> {
    res.get("participant")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("actor")?.get("reference")?.as_str())
        .find_map(|r| {
            r.strip_prefix("Location/")
                .or_else(|| r.strip_prefix("Device/"))
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options::new(chrono_tz::Europe::Berlin)
    }

    #[test]
    fn reads_an_appointment_and_ignores_the_patient() {
        let text = r#"{"resourceType":"Bundle","type":"searchset","entry":[
          {"resource":{"resourceType":"Appointment","id":"a1","status":"booked",
            "appointmentType":{"coding":[{"system":"http://x/types","code":"ct-sim"}],"text":"CT for Jane Roe"},
            "start":"2026-03-02T08:00:00+01:00","end":"2026-03-02T08:30:00+01:00",
            "comment":"Jane Roe, claustrophobic",
            "participant":[{"actor":{"reference":"Patient/p-7781","display":"Jane Roe"}},
                           {"actor":{"reference":"Location/CT1"}}]}},
          {"resource":{"resourceType":"Patient","id":"p-7781","name":[{"family":"Roe"}]}},
          {"resource":{"resourceType":"Appointment","id":"a2","status":"cancelled",
            "start":"2026-03-02T09:00:00+01:00","end":"2026-03-02T09:30:00+01:00"}}]}"#;
        let l = parse_bundle(text, "b.json", &opts()).unwrap();
        assert_eq!(l.appointments.len(), 1);
        assert_eq!(l.dropped, 1);
        let a = &l.appointments[0];
        assert_eq!(a.kind, "CT-SIM");
        assert_eq!(a.resource.as_deref(), Some("CT1"));
        assert_eq!(a.start.to_rfc3339(), "2026-03-02T07:00:00+00:00");
        assert!(!format!("{l:?}").contains("Roe"));
    }

    #[test]
    fn created_is_the_booking_time_a_partial_date_the_end_of_its_period() {
        let res = |id: &str, created: &str| {
            format!(
                r#"{{"resource":{{"resourceType":"Appointment","id":"{id}","status":"booked",
                "appointmentType":{{"coding":[{{"code":"CT-SIM"}}]}},{created}
                "start":"2026-03-02T08:00:00Z","minutesDuration":20}}}}"#
            )
        };
        let text = format!(
            r#"{{"resourceType":"Bundle","entry":[{},{},{},{},{}]}}"#,
            res("a", r#""created":"2026-02-20T09:15:00+01:00","#),
            res("b", ""),
            res("c", r#""created":"2026-02-20","#),
            res("d", r#""created":"2026-02","#),
            res("e", r#""created":"2026-02-20T09:15:00","#),
        );
        let l = parse_bundle(&text, "b.json", &opts()).unwrap();
        let mut got = crate::schedule::booked_times(&l.appointments);
        got.sort();
        assert_eq!(
            got,
            vec![
                None,
                Some("2026-02-20T08:15:00+00:00".into()),
                Some("2026-02-20T08:15:00+00:00".into()),
                Some("2026-02-20T23:00:00+00:00".into()),
                Some("2026-02-28T23:00:00+00:00".into()),
            ]
        );
        let bad = format!(
            r#"{{"resourceType":"Bundle","entry":[{}]}}"#,
            res("z9", r#""created":"when Jane called","#)
        );
        let mut o = opts();
        o.mode = super::super::ParseMode::Strict;
        let e = parse_bundle(&bad, "b.json", &o).unwrap_err().to_string();
        assert!(
            e.starts_with("b.json: Appointment/z9: created: expected a FHIR dateTime"),
            "{e}"
        );
        assert!(!e.contains("Jane"));
    }

    #[test]
    fn maps_service_type_codes_and_reports_bad_resources_by_id() {
        let mut o = opts();
        o.type_map
            .insert("http://snomed.info/sct|77477000".into(), "CT-SIM".into());
        let text = r#"{"resourceType":"Bundle","entry":[
          {"resource":{"resourceType":"Appointment","id":"a1","status":"booked",
            "serviceType":[{"coding":[{"system":"http://snomed.info/sct","code":"77477000"}]}],
            "start":"2026-03-02T08:00:00Z","minutesDuration":20}},
          {"resource":{"resourceType":"Appointment","id":"a2","status":"booked",
            "serviceType":[{"coding":[{"code":"x"}]}],"start":"Monday morning, John Doe"}}]}"#;
        let l = parse_bundle(text, "b.json", &o).unwrap();
        assert_eq!(l.appointments.len(), 1);
        assert_eq!(l.appointments[0].kind, "CT-SIM");
        assert_eq!(
            (l.appointments[0].end - l.appointments[0].start).num_minutes(),
            20
        );
        assert_eq!(l.skipped, 1);
        assert!(
            l.problems[0].starts_with("b.json: Appointment/a2: start:"),
            "{:?}",
            l.problems
        );
        assert!(!l.problems[0].contains("John"));
        o.mode = super::super::ParseMode::Strict;
        assert!(parse_bundle(text, "b.json", &o).is_err());
    }

    #[test]
    fn json_errors_do_not_quote_the_text() {
        let e = parse_bundle(
            r#"{"resourceType": "Bundle", "entry": [ Jane Doe ]}"#,
            "b.json",
            &opts(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("b.json:1: expected FHIR JSON: syntax error"),
            "{e}"
        );
        assert!(!e.contains("Jane"));
    }
}
