//! The clinic's appointment book: appointments (start, end, type, resource,
//! when it was booked — nothing about the patient), read from a source chosen
//! in the policy, and turned into per-step covariates for the forecaster.
//!
//! Three sources: CSV exports ([`csv_source`]), iCalendar feeds ([`ics`]) and
//! FHIR R4 Appointment resources ([`fhir`]). Each parser keeps only the five
//! fields of [`Appointment`]; everything else (names, identifiers, free text)
//! is dropped while parsing and never reaches a log line, an error message or
//! an output. Fetching (files, HTTP) lives in [`fetch`]; the parsers are pure.
//!
//! A replay must not know an appointment before it was booked: [`Booked`]
//! gives, at a moving decision time, the appointments booked by then
//! (docs/ARCHITECTURE.md, "Honest future knowledge").

mod booked;
pub mod csv_source;
mod fetch;
pub mod fhir;
pub mod ics;
mod snapshot;
mod summary;
mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;
use crate::series::Covariates;
use crate::series::Grid;

pub use booked::{Booked, known_at};
pub use csv_source::{CsvColumns, parse_csv, parse_csv_with, read_csv};
pub use fetch::{HttpGet, NoHttp, read_file as read_text_file, redact_url};
pub use snapshot::{LastGood, Refresh};
pub use summary::{DayCount, summarize};
pub use time::{end_of_local_day, local_to_utc, normalise_type};

/// One appointment. Deliberately nothing else: no patient, no free text.
///
/// Ordered by start first (then end, type, resource, booking time), so a
/// sorted book is sorted by start.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Appointment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Normalised appointment type (e.g. `CT-SIM`), see [`normalise_type`].
    #[serde(rename = "type")]
    pub kind: String,
    /// Room or device, e.g. `CT1`.
    pub resource: Option<String>,
    /// When the appointment was booked into this slot (CSV `booked_at`,
    /// iCalendar `CREATED`, FHIR `created`). `None`: unknown, taken as booked
    /// long ago (known at any decision time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booked_at: Option<DateTime<Utc>>,
}

impl Appointment {
    /// Whether a decision at `t` can know this appointment: it was booked at
    /// or before `t` (an unknown booking time counts as booked).
    pub fn known_at(&self, t: DateTime<Utc>) -> bool {
        self.booked_at.is_none_or(|b| b <= t)
    }
}

/// Errors reading a schedule. Messages name the place (file and line, event
/// UID, resource id) and what was wrong, and never echo patient text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: u64,
        message: String,
    },
    /// An iCalendar event, by its UID and the line of its `BEGIN:VEVENT`.
    #[error("{file}:{line}: event UID {uid}: {message}")]
    Event {
        file: String,
        uid: String,
        line: u64,
        message: String,
    },
    /// A FHIR resource, by its id.
    #[error("{file}: Appointment/{id}: {message}")]
    Resource {
        file: String,
        id: String,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    /// An HTTP fetch failed; `url` is redacted (see [`redact_url`]).
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    /// The policy's `schedule:` section cannot be used as it is.
    #[error("schedule: {0}")]
    Spec(String),
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Line { .. } => "line",
            Error::Event { .. } => "event",
            Error::Resource { .. } => "resource",
            Error::File { .. } => "file",
            Error::Fetch { .. } => "fetch",
            Error::Spec(_) => "spec",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The `schedule:` section of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub source: SourceSpec,
    /// The clinic's IANA time zone, e.g. `Europe/Berlin`. Local times without
    /// an offset are read in it and recurrences are expanded in it.
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// Appointment types used as covariates; empty means every type found.
    /// Normalised when read (`ct sim` → `CT-SIM`) to match the appointments.
    #[serde(default, deserialize_with = "normalised_types")]
    pub types: Vec<String>,
    /// Longest delay between an appointment and the work it causes.
    #[serde(default = "default_max_lag")]
    pub max_lag: Duration,
    /// Raw type value (CSV type column, iCalendar CATEGORIES, FHIR coding
    /// `system|code` or `code`; compared case-insensitively) → type. Values
    /// not listed are normalised with [`normalise_type`].
    #[serde(default)]
    pub type_map: BTreeMap<String, String>,
    /// `lenient` (default): skip and count bad entries; `strict`: fail on the first.
    #[serde(default)]
    pub mode: ParseMode,
}

/// What a parser does with a bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParseMode {
    /// Skip the entry, count it and keep its error message (at most [`MAX_PROBLEMS`]).
    #[default]
    Lenient,
    /// Fail with the first bad entry's error.
    Strict,
}

/// Where appointments come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceSpec {
    /// A CSV export; header `start,end,type[,resource]` unless `columns` says otherwise.
    Csv {
        path: PathBuf,
        #[serde(default)]
        columns: CsvColumns,
    },
    /// An iCalendar (RFC 5545) file or http(s) URL.
    Ics {
        #[serde(default)]
        path: Option<PathBuf>,
        #[serde(default)]
        url: Option<String>,
        /// Rules that give a type from SUMMARY text; first match wins. The
        /// SUMMARY itself is never kept.
        #[serde(default)]
        summary_types: Vec<SummaryRule>,
        /// Use LOCATION as the resource (RESOURCES is always used when present).
        #[serde(default)]
        location_as_resource: bool,
    },
    /// FHIR R4 Appointment resources: a Bundle JSON file, or a server base URL
    /// searched with `Appointment?date=ge…&date=lt…`.
    Fhir {
        #[serde(default)]
        path: Option<PathBuf>,
        #[serde(default)]
        url: Option<String>,
    },
}

/// `SUMMARY` contains `contains` (case-insensitive) → the appointment has type `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryRule {
    pub contains: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Most bad-entry messages kept in [`Loaded::problems`].
pub const MAX_PROBLEMS: usize = 20;

/// Open-ended recurrences are expanded this far past their first instance
/// when no window is given (one year covers any planning horizon).
pub const DEFAULT_EXPANSION_DAYS: i64 = 366;

fn normalised_types<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    Ok(raw.iter().map(|t| normalise_type(t)).collect())
}

fn default_tz() -> String {
    "UTC".into()
}

fn default_max_lag() -> Duration {
    Duration::from_hours(48)
}

impl ScheduleSpec {
    /// Semantic checks: `(field path below schedule, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if Tz::from_str(&self.timezone).is_err() {
            p.push((
                "timezone".into(),
                format!(
                    "expected an IANA time zone such as Europe/Berlin, found {:?}",
                    self.timezone
                ),
            ));
        }
        if self.max_lag.is_zero() {
            p.push((
                "max_lag".into(),
                "expected a positive duration, found 0s".into(),
            ));
        }
        match &self.source {
            SourceSpec::Csv { columns, .. } => {
                for (field, msg) in columns.validate() {
                    p.push((format!("source.columns.{field}"), msg));
                }
            }
            SourceSpec::Ics {
                path,
                url,
                summary_types,
                ..
            } => {
                if let Some(msg) = location_problem(path.as_deref(), url.as_deref()) {
                    p.push(("source".into(), msg));
                }
                for (i, r) in summary_types.iter().enumerate() {
                    if r.contains.trim().is_empty() || normalise_type(&r.kind).is_empty() {
                        p.push((
                            format!("source.summary_types[{i}]"),
                            "expected non-empty `contains` and `type`".into(),
                        ));
                    }
                }
            }
            SourceSpec::Fhir { path, url } => {
                if let Some(msg) = location_problem(path.as_deref(), url.as_deref()) {
                    p.push(("source".into(), msg));
                }
            }
        }
        p
    }

    /// The clinic's time zone (UTC if the name is invalid; validation reports that).
    pub fn tz(&self) -> Tz {
        Tz::from_str(&self.timezone).unwrap_or(Tz::UTC)
    }

    /// The parse options this section implies.
    pub fn options(&self) -> Options {
        let (summary_types, location_as_resource) = match &self.source {
            SourceSpec::Ics {
                summary_types,
                location_as_resource,
                ..
            } => (summary_types.clone(), *location_as_resource),
            _ => (Vec::new(), false),
        };
        Options {
            tz: self.tz(),
            mode: self.mode,
            type_map: self
                .type_map
                .iter()
                .map(|(k, v)| (k.trim().to_lowercase(), normalise_type(v)))
                .collect(),
            window: None,
            summary_types,
            location_as_resource,
        }
    }
}

pub(crate) fn location_problem(path: Option<&Path>, url: Option<&str>) -> Option<String> {
    match (path, url) {
        (Some(_), Some(_)) => Some("expected one of `path` or `url`, found both".into()),
        (None, None) => Some("expected `path` (a file) or `url` (http or https)".into()),
        (None, Some(u)) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            Some(format!(
                "expected an http:// or https:// url, found {}",
                redact_url(u)
            ))
        }
        _ => None,
    }
}

/// What every parser needs besides the text.
#[derive(Debug, Clone)]
pub struct Options {
    /// The clinic's time zone.
    pub tz: Tz,
    pub mode: ParseMode,
    /// Lower-cased raw value → normalised type.
    pub type_map: BTreeMap<String, String>,
    /// Keep only appointments starting in `[from, to)`; also bounds recurrence expansion.
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// iCalendar only: SUMMARY rules.
    pub summary_types: Vec<SummaryRule>,
    /// iCalendar only: LOCATION → resource.
    pub location_as_resource: bool,
}

impl Options {
    /// Defaults for a clinic in `tz`: lenient, no mappings, no window.
    pub fn new(tz: Tz) -> Self {
        Options {
            tz,
            mode: ParseMode::Lenient,
            type_map: BTreeMap::new(),
            window: None,
            summary_types: Vec::new(),
            location_as_resource: false,
        }
    }

    /// The type for a raw value: the mapping if listed, else normalised.
    pub fn map_type(&self, raw: &str) -> String {
        match self.type_map.get(&raw.trim().to_lowercase()) {
            Some(t) => t.clone(),
            None => normalise_type(raw),
        }
    }

    fn in_window(&self, t: DateTime<Utc>) -> bool {
        self.window.is_none_or(|(from, to)| from <= t && t < to)
    }
}

/// A loaded schedule: the appointments and what was left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Sorted by start.
    pub appointments: Vec<Appointment>,
    /// Bad entries skipped in lenient mode.
    pub skipped: usize,
    /// Entries left out on purpose: cancelled, no-show, entered-in-error,
    /// all-day, or without a type.
    pub dropped: usize,
    /// The first [`MAX_PROBLEMS`] bad-entry messages (they name the place, not the content).
    pub problems: Vec<String>,
}

impl Loaded {
    /// Record a bad entry: in strict mode return it as the error.
    fn bad(&mut self, mode: ParseMode, e: Error) -> Result<()> {
        match mode {
            ParseMode::Strict => Err(e),
            ParseMode::Lenient => {
                tracing::debug!(kind = e.kind(), "skipping a bad schedule entry: {e}");
                self.skipped += 1;
                if self.problems.len() < MAX_PROBLEMS {
                    self.problems.push(e.to_string());
                }
                Ok(())
            }
        }
    }

    fn push(&mut self, opts: &Options, a: Appointment) {
        if opts.in_window(a.start) {
            self.appointments.push(a);
        }
    }

    fn finish(mut self) -> Self {
        self.appointments.sort();
        self
    }
}

/// The input formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Ics,
    Fhir,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Format, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(Format::Csv),
            "ics" | "ical" => Ok(Format::Ics),
            "fhir" | "json" => Ok(Format::Fhir),
            _ => Err(format!("expected csv, ics or fhir, found {s:?}")),
        }
    }
}

impl Format {
    /// The name a policy's `source.type` uses for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ics => "ics",
            Format::Fhir => "fhir",
        }
    }

    /// Guess from a file name: `.csv`, `.ics`/`.ical`, `.json` (FHIR).
    pub fn from_name(name: &str) -> Option<Format> {
        let lower = name.to_lowercase();
        let path = lower.split(['?', '#']).next().unwrap_or("");
        if path.ends_with(".csv") {
            Some(Format::Csv)
        } else if path.ends_with(".ics") || path.ends_with(".ical") || path.ends_with(".ifb") {
            Some(Format::Ics)
        } else if path.ends_with(".json") {
            Some(Format::Fhir)
        } else {
            None
        }
    }
}

/// Parse text of a known format; `file` names it in errors.
pub fn parse(format: Format, text: &str, file: &str, opts: &Options) -> Result<Loaded> {
    parse_with_columns(format, text, file, opts, &CsvColumns::default())
}

pub fn parse_with_columns(
    format: Format,
    text: &str,
    file: &str,
    opts: &Options,
    columns: &CsvColumns,
) -> Result<Loaded> {
    match format {
        Format::Csv => csv_source::parse(text, file, opts, columns),
        Format::Ics => ics::parse(text, file, opts),
        Format::Fhir => fhir::parse_bundle(text, file, opts),
    }
}

/// Load the schedule a policy describes.
///
/// Relative paths are resolved against `base_dir` (the policy file's folder).
/// `window` keeps only appointments starting in `[from, to)` and bounds
/// recurrence expansion; a FHIR server URL needs it (it is the search range).
/// HTTP fetches are blocking: from async code call this inside
/// `tokio::task::spawn_blocking`.
pub fn load(
    spec: &ScheduleSpec,
    base_dir: &Path,
    window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    http: &dyn HttpGet,
) -> Result<Loaded> {
    let problems = spec.validate();
    if let Some((field, msg)) = problems.first() {
        return Err(Error::Spec(format!("{field}: {msg}")));
    }
    let mut opts = spec.options();
    opts.window = window;
    let resolve = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base_dir.join(p)
        }
    };
    let loaded = match &spec.source {
        SourceSpec::Csv { path, columns } => {
            let path = resolve(path);
            let text = fetch::read_file(&path)?;
            csv_source::parse(&text, &path.display().to_string(), &opts, columns)?
        }
        SourceSpec::Ics { path, url, .. } => match (path, url) {
            (Some(p), _) => {
                let path = resolve(p);
                ics::parse(
                    &fetch::read_file(&path)?,
                    &path.display().to_string(),
                    &opts,
                )?
            }
            (None, Some(u)) => {
                ics::parse(&http.get_text(u, "text/calendar")?, &redact_url(u), &opts)?
            }
            (None, None) => unreachable_spec()?,
        },
        SourceSpec::Fhir { path, url } => match (path, url) {
            (Some(p), _) => {
                let path = resolve(p);
                fhir::parse_bundle(
                    &fetch::read_file(&path)?,
                    &path.display().to_string(),
                    &opts,
                )?
            }
            (None, Some(u)) => {
                let Some(w) = window else {
                    return Err(Error::Spec(
                        "source.url: a FHIR server search needs a time window".into(),
                    ));
                };
                fhir::search(u, w, &opts, http)?
            }
            (None, None) => unreachable_spec()?,
        },
    };
    tracing::debug!(
        appointments = loaded.appointments.len(),
        skipped = loaded.skipped,
        dropped = loaded.dropped,
        "schedule loaded"
    );
    Ok(loaded)
}

/// Validation rejects a source without `path` and `url`; this keeps the match total.
fn unreachable_spec() -> Result<Loaded> {
    Err(Error::Spec(
        "source: expected `path` (a file) or `url` (http or https)".into(),
    ))
}

/// Counts of appointments starting in each grid step, per type.
///
/// `types` fixes the covariate order; appointments of other types are ignored.
/// For future steps pass a grid that continues the history (`Grid::following`):
/// the appointment book is known ahead, so these are known future covariates.
///
/// Appointments booked after the grid's start are also listed in
/// [`Covariates::late`] with the first grid point at or after their booking
/// time, so that a backtest at an earlier origin is given the book as it
/// was then.
pub fn start_counts(appointments: &[Appointment], grid: &Grid, types: &[String]) -> Covariates {
    let mut values = vec![vec![0.0; grid.len]; types.len()];
    let mut late = Vec::new();
    for a in appointments {
        if let (Some(k), Some(i)) = (
            types.iter().position(|t| *t == a.kind),
            grid.index_of(a.start),
        ) {
            values[k][i] += 1.0;
            if let Some(b) = a.booked_at.filter(|b| *b > grid.start) {
                // The first point at or after the booking.
                let floor = ((b - grid.start).num_seconds() / grid.step_secs.max(1)) as usize;
                let known_from = floor + usize::from(!grid.is_aligned(b));
                late.push(crate::series::LateStart {
                    row: k,
                    step: i,
                    known_from,
                });
            }
        }
    }
    Covariates {
        grid: *grid,
        types: types.to_vec(),
        values,
        late,
    }
}

/// Appointments in progress during each grid step, per type: the sum over
/// appointments of the fraction of the step they cover (so a 15-minute
/// appointment in a 5-minute step adds 1.0 to each of three steps).
pub fn in_progress(appointments: &[Appointment], grid: &Grid, types: &[String]) -> Covariates {
    let mut values = vec![vec![0.0; grid.len]; types.len()];
    let step = grid.step_secs as f64;
    for a in appointments {
        let Some(k) = types.iter().position(|t| *t == a.kind) else {
            continue;
        };
        if a.end <= a.start || a.end <= grid.start || a.start >= grid.end() {
            continue;
        }
        let first = grid.index_of(a.start.max(grid.start)).unwrap_or(0);
        for (i, v) in values[k].iter_mut().enumerate().skip(first) {
            let (s, e) = (grid.time(i), grid.time(i + 1));
            if s >= a.end {
                break;
            }
            let covered = (a.end.min(e) - a.start.max(s)).num_seconds().max(0) as f64;
            *v += covered / step;
        }
    }
    Covariates::new(*grid, types.to_vec(), values)
}

/// The appointments starting in `[now, now + horizon)`: the known future.
/// `appointments` must be sorted by start, as [`load`] returns them.
pub fn upcoming(
    appointments: &[Appointment],
    now: DateTime<Utc>,
    horizon: Duration,
) -> &[Appointment] {
    let end = chrono::TimeDelta::try_seconds(horizon.secs_i64())
        .and_then(|h| now.checked_add_signed(h))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let lo = appointments.partition_point(|a| a.start < now);
    let hi = appointments.partition_point(|a| a.start < end);
    &appointments[lo..hi.max(lo)]
}

/// The sorted, de-duplicated types present in `appointments`.
pub fn types_of(appointments: &[Appointment]) -> Vec<String> {
    let mut t: Vec<String> = appointments.iter().map(|a| a.kind.clone()).collect();
    t.sort();
    t.dedup();
    t
}

/// The booking times of `appointments` in RFC 3339, for tests.
#[cfg(test)]
pub(crate) fn booked_times(appointments: &[Appointment]) -> Vec<Option<String>> {
    appointments
        .iter()
        .map(|a| a.booked_at.map(|t| t.to_rfc3339()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(t0: DateTime<Utc>, min: i64, len: i64, kind: &str) -> Appointment {
        Appointment {
            start: t0 + chrono::TimeDelta::minutes(min),
            end: t0 + chrono::TimeDelta::minutes(min + len),
            kind: kind.into(),
            resource: None,
            booked_at: None,
        }
    }

    #[test]
    fn counts_starts_per_step_and_type() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let a = |min: i64, kind: &str| at(t0, min, 30, kind);
        let appts = vec![a(0, "CT"), a(3, "CT"), a(7, "MR"), a(12, "CT"), a(99, "CT")];
        let grid = Grid::new(t0, 300, 3);
        let c = start_counts(&appts, &grid, &["CT".into(), "MR".into()]);
        assert_eq!(c.values[0], vec![2.0, 0.0, 1.0]);
        assert_eq!(c.values[1], vec![0.0, 1.0, 0.0]);
        assert_eq!(types_of(&appts), vec!["CT".to_string(), "MR".to_string()]);
        assert!(c.late.is_empty(), "no booking times: none late");
        // Booked after the grid's start: listed with the first point at or
        // after the booking (a booking on a point is known from it).
        let booked = |min: i64, kind: &str, b: i64| Appointment {
            booked_at: Some(t0 + chrono::Duration::seconds(b)),
            ..a(min, kind)
        };
        let appts = vec![
            booked(0, "CT", -60),
            booked(7, "MR", 300),
            booked(12, "CT", 301),
            booked(12, "XR", 1),
        ];
        let c = start_counts(&appts, &grid, &["CT".into(), "MR".into()]);
        let l = |row, step, known_from| crate::series::LateStart {
            row,
            step,
            known_from,
        };
        assert_eq!(c.late, vec![l(1, 1, 1), l(0, 2, 2)]);
    }

    #[test]
    fn in_progress_counts_covered_fractions() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        // 08:02–08:12 covers 3/5 of step 0, all of step 1, 2/5 of step 2.
        let appts = vec![
            at(t0, 2, 10, "CT"),
            at(t0, -30, 10, "CT"),
            at(t0, 0, 5, "MR"),
        ];
        let grid = Grid::new(t0, 300, 4);
        let c = in_progress(&appts, &grid, &["CT".into()]);
        let want = [0.6, 1.0, 0.4, 0.0];
        for (got, want) in c.values[0].iter().zip(want) {
            assert!((got - want).abs() < 1e-9, "{:?}", c.values[0]);
        }
    }

    #[test]
    fn upcoming_is_the_horizon_slice() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let appts: Vec<_> = (0..10).map(|h| at(t0, h * 60, 30, "CT")).collect();
        let u = upcoming(
            &appts,
            t0 + chrono::TimeDelta::minutes(90),
            Duration::from_hours(3),
        );
        let starts: Vec<i64> = u.iter().map(|a| (a.start - t0).num_minutes()).collect();
        assert_eq!(starts, vec![120, 180, 240]);
    }

    #[test]
    fn spec_requires_one_location() {
        let spec: ScheduleSpec = serde_yaml::from_str(
            "source: {type: ics, path: a.ics, url: 'https://x/a.ics'}\ntimezone: Europe/Berlin\n",
        )
        .unwrap();
        let p = spec.validate();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].1.contains("found both"));
        let spec: ScheduleSpec =
            serde_yaml::from_str("source: {type: fhir, url: 'ftp://x'}\ntypes: [ct sim, MR_SIM]\n")
                .unwrap();
        assert!(spec.validate()[0].1.contains("http"));
        assert_eq!(spec.types, vec!["CT-SIM".to_string(), "MR-SIM".into()]);
    }

    #[test]
    fn load_resolves_relative_paths_and_reports_counts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.csv"),
            "start,end,type\n2026-03-02 08:00,2026-03-02 08:30,ct sim\nbad,2026-03-02 08:30,CT\n",
        )
        .unwrap();
        let spec: ScheduleSpec = serde_yaml::from_str(
            "source: {type: csv, path: s.csv}\ntimezone: Europe/Berlin\ntype_map: {'CT SIM': CT-SIM}\n",
        )
        .unwrap();
        let l = load(&spec, dir.path(), None, &NoHttp).unwrap();
        assert_eq!(l.appointments.len(), 1);
        assert_eq!(l.appointments[0].kind, "CT-SIM");
        assert_eq!(
            l.appointments[0].start.to_rfc3339(),
            "2026-03-02T07:00:00+00:00"
        );
        assert_eq!(l.skipped, 1);
        let mut strict = spec.clone();
        strict.mode = ParseMode::Strict;
        let e = load(&strict, dir.path(), None, &NoHttp)
            .unwrap_err()
            .to_string();
        assert!(e.contains("s.csv:3"), "{e}");
    }
}
