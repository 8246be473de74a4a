//! CSV schedule exports: by default a header `start,end,type[,resource][,booked_at]`;
//! other exports through a column mapping in the policy. Times are RFC 3339
//! with an offset, or local wall times in the clinic's zone.
//!
//! `booked_at` (optional) is when the appointment was booked into its slot:
//! a date-time like `start` (never joined with a `date` column), or a bare
//! date `YYYY-MM-DD`, read as the end of that local day (the latest it can
//! mean, so a replay never knows the appointment earlier than it was booked).
//! An empty cell is an unknown booking time (taken as booked long ago).

use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::{Appointment, Error, Loaded, Options, ParseMode, Result, local_to_utc};

/// Which columns hold what (header names, compared case-insensitively).
/// Every other column is ignored and never kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvColumns {
    /// Start: a date-time, or a time of day when `date` is set.
    pub start: String,
    /// End, same form as `start`; or leave it out and give `duration`.
    pub end: Option<String>,
    /// Length in whole minutes (used when `end` is not set).
    pub duration: Option<String>,
    /// Appointment type (mapped through `type_map`, then normalised).
    #[serde(rename = "type")]
    pub kind: String,
    /// Room or device; optional even when named.
    pub resource: Option<String>,
    /// When the appointment was booked; optional even when named.
    pub booked_at: Option<String>,
    /// A separate date column; `start`/`end` then hold times of day.
    pub date: Option<String>,
    /// chrono `strftime` format for local times (with `date`, of `"{date} {time}"`),
    /// e.g. `%d.%m.%Y %H:%M`. Default: RFC 3339, else ISO `YYYY-MM-DD[T ]HH:MM[:SS]`.
    pub format: Option<String>,
    /// Field separator (one ASCII character), e.g. `;` for European spreadsheet exports.
    pub delimiter: char,
}

impl Default for CsvColumns {
    fn default() -> Self {
        CsvColumns {
            start: "start".into(),
            end: Some("end".into()),
            duration: None,
            kind: "type".into(),
            resource: Some("resource".into()),
            booked_at: Some("booked_at".into()),
            date: None,
            format: None,
            delimiter: ',',
        }
    }
}

impl CsvColumns {
    /// Semantic checks: `(field, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if !self.delimiter.is_ascii() {
            p.push((
                "delimiter".into(),
                format!("expected one ASCII character, found {:?}", self.delimiter),
            ));
        }
        if self.end.is_none() && self.duration.is_none() {
            p.push(("end".into(), "expected `end` or `duration`".into()));
        }
        p
    }
}

/// Read appointments from a CSV file with columns `start,end,type[,resource]`
/// (any order, extra columns ignored and never kept; times with offsets or UTC).
/// Strict: the first bad row is an error.
pub fn read_csv(path: &Path) -> Result<Vec<Appointment>> {
    let file = path.display().to_string();
    let text = super::fetch::read_file(path)?;
    parse_csv(&text, &file)
}

/// Parse CSV text with the default columns, strictly, local times in UTC;
/// `file` names it in errors.
pub fn parse_csv(text: &str, file: &str) -> Result<Vec<Appointment>> {
    let mut opts = Options::new(chrono_tz::UTC);
    opts.mode = ParseMode::Strict;
    Ok(parse(text, file, &opts, &CsvColumns::default())?.appointments)
}

/// Parse CSV text with a column mapping and options.
pub fn parse_csv_with(
    text: &str,
    file: &str,
    opts: &Options,
    columns: &CsvColumns,
) -> Result<Loaded> {
    parse(text, file, opts, columns)
}

pub fn parse(text: &str, file: &str, opts: &Options, cols: &CsvColumns) -> Result<Loaded> {
    if let Some((field, msg)) = cols.validate().into_iter().next() {
        return Err(Error::Spec(format!("source.columns.{field}: {msg}")));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .delimiter(cols.delimiter as u8)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Error::File {
            file: file.into(),
            message: format!("cannot read the header: {}", csv_kind(&e)),
        })?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let need = |name: &str| {
        col(name).ok_or_else(|| Error::Line {
            file: file.into(),
            line: 1,
            message: format!(
                "expected a header with the column {name:?} (columns are matched by name; set schedule.source.columns for other exports)"
            ),
        })
    };
    let idx = Columns {
        start: need(&cols.start)?,
        end: cols.end.as_deref().map(need).transpose()?,
        duration: match (&cols.end, &cols.duration) {
            (None, Some(d)) => Some(need(d)?),
            _ => None,
        },
        kind: need(&cols.kind)?,
        resource: cols.resource.as_deref().and_then(col),
        booked_at: cols.booked_at.as_deref().and_then(col),
        date: cols.date.as_deref().map(need).transpose()?,
    };
    let mut out = Loaded::default();
    for rec in rdr.records() {
        let row = match rec {
            Ok(rec) => {
                let line = rec.position().map(|p| p.line()).unwrap_or(0);
                row(&rec, &idx, cols, opts).map_err(|message| Error::Line {
                    file: file.into(),
                    line,
                    message,
                })
            }
            Err(e) => Err(Error::Line {
                file: file.into(),
                line: e.position().map(|p| p.line()).unwrap_or(0),
                message: csv_kind(&e),
            }),
        };
        match row {
            Ok(Some(a)) => out.push(opts, a),
            Ok(None) => out.dropped += 1,
            Err(e) => out.bad(opts.mode, e)?,
        }
    }
    Ok(out.finish())
}

struct Columns {
    start: usize,
    end: Option<usize>,
    duration: Option<usize>,
    kind: usize,
    resource: Option<usize>,
    booked_at: Option<usize>,
    date: Option<usize>,
}

/// One row → an appointment (`None`: a row with an empty type, left out).
/// The error message names the column, never the value.
fn row(
    rec: &csv::StringRecord,
    idx: &Columns,
    cols: &CsvColumns,
    opts: &Options,
) -> std::result::Result<Option<Appointment>, String> {
    let field = |i: usize, name: &str| {
        rec.get(i)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("missing value in column {name:?}"))
    };
    let date = match idx.date {
        Some(i) => Some(field(i, cols.date.as_deref().unwrap_or("date"))?),
        None => None,
    };
    let time = |i: usize, name: &str| -> std::result::Result<DateTime<Utc>, String> {
        let v = field(i, name)?;
        let joined;
        let s = match date {
            Some(d) => {
                joined = format!("{d} {v}");
                joined.as_str()
            }
            None => v,
        };
        parse_time(s, cols.format.as_deref(), opts).ok_or_else(|| {
            format!(
                "column {name:?}: expected an RFC 3339 time with offset (2026-03-02T08:00:00+01:00) or a local time {}",
                match &cols.format {
                    Some(f) => format!("in the format {f:?}"),
                    None => "such as 2026-03-02 08:00".into(),
                }
            )
        })
    };
    let start = time(idx.start, &cols.start)?;
    let end = match (idx.end, idx.duration) {
        (Some(i), _) => time(i, cols.end.as_deref().unwrap_or("end"))?,
        (None, Some(i)) => {
            let name = cols.duration.as_deref().unwrap_or("duration");
            let mins: u32 = field(i, name)?
                .parse()
                .map_err(|_| format!("column {name:?}: expected whole minutes"))?;
            start
                .checked_add_signed(TimeDelta::minutes(i64::from(mins)))
                .ok_or_else(|| {
                    format!("column {name:?}: the end is past the last representable date")
                })?
        }
        (None, None) => return Err("no end or duration column".into()),
    };
    if end < start {
        return Err("end is before start".into());
    }
    let kind = opts.map_type(rec.get(idx.kind).unwrap_or(""));
    if kind.is_empty() {
        return Ok(None);
    }
    let booked_at = match idx
        .booked_at
        .and_then(|i| rec.get(i))
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(v) => {
            let name = cols.booked_at.as_deref().unwrap_or("booked_at");
            Some(parse_booked_at(v, cols.format.as_deref(), opts).ok_or_else(|| {
                format!(
                    "column {name:?}: expected the booking time as an RFC 3339 time with offset (2026-02-20T09:15:00+01:00), a local time {}, a date (2026-02-20) or nothing (unknown)",
                    match &cols.format {
                        Some(f) => format!("in the format {f:?}"),
                        None => "such as 2026-02-20 09:15".into(),
                    }
                )
            })?)
        }
    };
    Ok(Some(Appointment {
        start,
        end,
        kind,
        resource: idx
            .resource
            .and_then(|i| rec.get(i))
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        booked_at,
    }))
}

/// Local formats tried when the policy names none.
const LOCAL_FORMATS: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

fn parse_time(s: &str, format: Option<&str>, opts: &Options) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let naive = match format {
        Some(f) => NaiveDateTime::parse_from_str(s, f).ok()?,
        None => LOCAL_FORMATS
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())?,
    };
    local_to_utc(naive, opts.tz)
}

/// A booking time: a date-time as [`parse_time`] reads it, or a bare date as
/// the end of that local day (the start of the next).
fn parse_booked_at(s: &str, format: Option<&str>, opts: &Options) -> Option<DateTime<Utc>> {
    parse_time(s, format, opts).or_else(|| {
        let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        super::end_of_local_day(day, opts.tz)
    })
}

/// The kind of a CSV error without echoing the record's content.
fn csv_kind(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".into(),
        csv::ErrorKind::Io(err) => format!("read error: {}", err.kind()),
        _ => "malformed CSV".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_columns_in_any_order_and_drops_extras() {
        let text = "patient,type,end,start,resource\n\
                    Erika Mustermann,CT-SIM,2026-03-02T08:30:00+01:00,2026-03-02T08:00:00+01:00,CT1\n";
        let a = parse_csv(text, "s.csv").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, "CT-SIM");
        assert_eq!(a[0].resource.as_deref(), Some("CT1"));
        assert_eq!(a[0].start.to_rfc3339(), "2026-03-02T07:00:00+00:00");
        assert!(!format!("{a:?}").contains("Mustermann"));
    }

    #[test]
    fn errors_name_the_line_not_the_content() {
        let text = "start,end,type\n\
                    2026-03-02T08:00:00Z,2026-03-02T08:30:00Z,CT\n\
                    Max Mustermann,2026-03-02T08:30:00Z,CT\n";
        let e = parse_csv(text, "s.csv").unwrap_err().to_string();
        assert!(e.starts_with("s.csv:3: column \"start\""), "{e}");
        assert!(!e.contains("Mustermann"));
        let e = parse_csv("when,what\n", "s.csv").unwrap_err().to_string();
        assert!(e.contains("s.csv:1"), "{e}");
    }

    #[test]
    fn booked_at_is_optional_and_read_like_start() {
        let text = "start,end,type,booked_at\n\
                    2026-03-02T08:00:00Z,2026-03-02T08:30:00Z,CT,2026-02-20T09:15:00+01:00\n\
                    2026-03-02T09:00:00Z,2026-03-02T09:30:00Z,CT,\n\
                    2026-03-02T10:00:00Z,2026-03-02T10:30:00Z,CT,2026-03-02 07:40\n\
                    2026-03-02T11:00:00Z,2026-03-02T11:30:00Z,CT,2026-02-27\n";
        let a = parse_csv(text, "s.csv").unwrap();
        assert_eq!(
            crate::schedule::booked_times(&a),
            vec![
                Some("2026-02-20T08:15:00+00:00".into()),
                None,
                Some("2026-03-02T07:40:00+00:00".into()),
                // A date alone: the end of that day (UTC here).
                Some("2026-02-28T00:00:00+00:00".into()),
            ]
        );
        // Without the column every booking time is unknown.
        let a = parse_csv(
            "start,end,type\n2026-03-02T08:00:00Z,2026-03-02T08:30:00Z,CT\n",
            "s.csv",
        )
        .unwrap();
        assert_eq!(a[0].booked_at, None);
    }

    #[test]
    fn a_bad_booked_at_names_file_line_and_column_not_the_value() {
        let text = "start,end,type,booked_at\n\
                    2026-03-02T08:00:00Z,2026-03-02T08:30:00Z,CT,2026-02-20T09:15:00Z\n\
                    2026-03-02T09:00:00Z,2026-03-02T09:30:00Z,CT,called by Max Mustermann\n";
        let e = parse_csv(text, "s.csv").unwrap_err().to_string();
        assert!(
            e.starts_with("s.csv:3: column \"booked_at\": expected the booking time"),
            "{e}"
        );
        assert!(!e.contains("Mustermann"));
        // A mapped name is the one named.
        let cols = CsvColumns {
            booked_at: Some("Gebucht".into()),
            ..CsvColumns::default()
        };
        let text = "start,end,type,Gebucht\n2026-03-02T08:00:00Z,2026-03-02T08:30:00Z,CT,gestern\n";
        let mut o = Options::new(chrono_tz::UTC);
        o.mode = ParseMode::Strict;
        let e = parse_csv_with(text, "a.csv", &o, &cols)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.csv:2: column \"Gebucht\""), "{e}");
    }

    #[test]
    fn mapped_columns_with_date_duration_and_semicolons() {
        let cols = CsvColumns {
            start: "Zeit".into(),
            end: None,
            duration: Some("Dauer".into()),
            kind: "Termintyp".into(),
            resource: Some("Geraet".into()),
            booked_at: None,
            date: Some("Datum".into()),
            format: Some("%d.%m.%Y %H:%M".into()),
            delimiter: ';',
        };
        let text = "\u{feff}Name;Datum;Zeit;Dauer;Termintyp;Geraet\n\
                    Muster, Max;29.03.2026;07:30;20;CT Sim;CT1\n\
                    Muster, Eva;28.03.2026;07:30;x;CT Sim;CT1\n";
        let opts = Options::new(chrono_tz::Europe::Berlin);
        let l = parse_csv_with(text, "aria.csv", &opts, &cols).unwrap();
        assert_eq!(l.appointments.len(), 1);
        let a = &l.appointments[0];
        // 07:30 CEST on the day clocks go forward.
        assert_eq!(a.start.to_rfc3339(), "2026-03-29T05:30:00+00:00");
        assert_eq!((a.end - a.start).num_minutes(), 20);
        assert_eq!(a.kind, "CT-SIM");
        assert_eq!(l.skipped, 1);
        assert!(
            l.problems[0].starts_with("aria.csv:3: column \"Dauer\""),
            "{:?}",
            l.problems
        );
    }
}
