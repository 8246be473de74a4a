//! The policy's `calendar:` section: the clinic's opening hours, its
//! built-in public holidays, closures listed in the policy, and closures
//! read from an iCalendar file or feed (docs/ARCHITECTURE.md, "Working
//! time").
//!
//! ```yaml
//! calendar:
//!   timezone: Europe/Berlin          # default: schedule.timezone
//!   hours: { mon-fri: "08:00-17:00", sat: "08:00-12:00" }
//!   holidays: [DE]
//!   closures: [2026-12-24, { from: 2026-12-27, to: 2026-12-31 }]
//!   source: { type: ics, path: closures.ics }
//! ```
//!
//! The static parts (and a file source) are resolved into a [`Calendar`]
//! when the policy is loaded ([`CalendarSpec::resolve`], called by
//! `Policy::from_str_named`); a URL source is fetched by the binary, which
//! merges what it read with [`CalendarSpec::with_closed`]. Every problem is
//! a `(field path below calendar, message)` pair that says what was
//! expected and what was found.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Calendar, DayHours, Holidays};
use crate::duration::Duration;
use crate::schedule::{self, Loaded, Options, ParseMode};

/// The built-in regions, by the code a policy names them with.
pub const REGIONS: &[(&str, Holidays, &str)] = &[
    ("DE", Holidays::Germany, "Germany"),
    ("NL", Holidays::Netherlands, "the Netherlands"),
    ("US", Holidays::UnitedStates, "the United States"),
];

/// Weekday names, Monday first, as the policy writes them.
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Longest closure range in the policy, in days (a longer one is a typo in
/// a year more often than a clinic closed for a year).
pub const MAX_CLOSURE_DAYS: i64 = 366;

/// Most closed dates one iCalendar source may give (a daily event for
/// about 270 years); more is taken as a broken feed, not a calendar.
pub const MAX_ICS_DATES: usize = 100_000;

/// How often a URL source is fetched unless `source.refresh` says otherwise.
pub const DEFAULT_REFRESH: Duration = Duration::from_hours(1);

/// How old a URL source's last good closures may be before the binary warns
/// that they are stale, unless `source.stale_after` says otherwise.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_days(1);

/// The `calendar:` section of a policy (see the module documentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// The clinic's IANA time zone; default `schedule.timezone`, required
    /// without a `schedule:` section.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Opening hours: days (`mon`, `mon-fri`, `sat,sun`) → local intervals
    /// (`"08:00-17:00"`, `"07:00-12:00,13:00-18:00"`, `closed`). Days not
    /// named are closed.
    pub hours: Hours,
    /// Built-in regional public holidays: `DE`, `NL`, `US` ([`REGIONS`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<String>,
    /// Closed dates and inclusive ranges of dates, local to the clinic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closures: Vec<Closure>,
    /// Further closures from an iCalendar file or feed: every local date an
    /// event that is not cancelled covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<CalendarSource>,
    /// The static parts and a file source, resolved when the policy is loaded.
    #[serde(skip)]
    resolved: Option<Calendar>,
}

/// Opening hours as written, in file order: `(days, intervals)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Hours(pub Vec<(String, String)>);

/// One entry of `closures:`: a date, or an inclusive range of dates. Kept as
/// written; [`CalendarSpec::validate`] parses them (so that every bad entry
/// is reported, each by its index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closure {
    Day(String),
    Range { from: String, to: String },
}

/// Where further closures come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum CalendarSource {
    /// An iCalendar (RFC 5545) file, read when the policy is loaded (relative
    /// to the policy file), or an http(s) URL the controller fetches every
    /// `refresh` (default 1h) and warns about once its last good closures are
    /// older than `stale_after` (default 1d).
    Ics {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<PathBuf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refresh: Option<Duration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stale_after: Option<Duration>,
    },
}

/// Closures read from an iCalendar text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcsClosures {
    /// Every local date an event instance covers.
    pub dates: BTreeSet<NaiveDate>,
    /// Event instances read (after RRULE expansion).
    pub instances: usize,
    /// Bad events skipped (lenient mode only).
    pub skipped: usize,
    /// Cancelled events left out.
    pub cancelled: usize,
}

type Problems = Vec<(String, String)>;

impl CalendarSpec {
    /// Semantic checks: `(field path below calendar, message)`. Reads no
    /// file. `schedule_tz` is the policy's `schedule.timezone`, if it has a
    /// schedule.
    pub fn validate(&self, schedule_tz: Option<&str>) -> Problems {
        let mut p = self.build(schedule_tz).err().unwrap_or_default();
        p.extend(self.source_problems());
        p
    }

    /// The calendar of the static parts (hours, holidays, listed closures).
    pub fn build(&self, schedule_tz: Option<&str>) -> Result<Calendar, Problems> {
        let mut p = Problems::new();
        let timezone = match (&self.timezone, schedule_tz) {
            (Some(name), _) => Tz::from_str(name).map_err(|_| {
                p.push((
                    "timezone".into(),
                    format!("expected an IANA time zone such as Europe/Berlin, found {name:?}"),
                ))
            }),
            // The schedule's own validation reports a bad name.
            (None, Some(name)) => Ok(Tz::from_str(name).unwrap_or(Tz::UTC)),
            (None, None) => {
                p.push((
                    "timezone".into(),
                    "expected the clinic's IANA time zone, e.g. Europe/Berlin (required when the policy has no schedule: section to take it from)".into(),
                ));
                Err(())
            }
        };
        let hours = parse_hours(&self.hours, &mut p);
        let mut regions = Vec::new();
        for (i, code) in self.holidays.iter().enumerate() {
            match region(code) {
                Some(r) if !regions.contains(&r) => regions.push(r),
                Some(_) => {}
                None => p.push((
                    format!("holidays[{i}]"),
                    format!(
                        "expected a built-in region: {}, found {code:?}",
                        REGIONS
                            .iter()
                            .map(|(c, _, name)| format!("{c} ({name})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        let mut closed = BTreeSet::new();
        for (i, c) in self.closures.iter().enumerate() {
            closure_dates(c, &format!("closures[{i}]"), &mut closed, &mut p);
        }
        match timezone {
            Ok(timezone) if p.is_empty() => Ok(Calendar {
                timezone,
                hours,
                regions,
                closed,
            }),
            _ => Err(p),
        }
    }

    fn source_problems(&self) -> Problems {
        let mut p = Problems::new();
        let Some(CalendarSource::Ics {
            path,
            url,
            refresh,
            stale_after,
        }) = &self.source
        else {
            return p;
        };
        if let Some(msg) = schedule::location_problem(path.as_deref(), url.as_deref()) {
            p.push(("source".into(), msg));
        }
        for (field, d) in [("refresh", refresh), ("stale_after", stale_after)] {
            match d {
                Some(_) if url.is_none() => p.push((
                    format!("source.{field}"),
                    "expected only with `url`: a file source is read when the policy is loaded"
                        .into(),
                )),
                Some(d) if d.is_zero() => p.push((
                    format!("source.{field}"),
                    "expected a positive duration, found 0s".into(),
                )),
                _ => {}
            }
        }
        let (r, s) = (self.refresh(), self.stale_after());
        if url.is_some() && stale_after.is_some() && !r.is_zero() && s < r {
            p.push((
                "source.stale_after".into(),
                format!("expected at least source.refresh ({r}), found {s}"),
            ));
        }
        p
    }

    /// Build the calendar and read a file source (relative to `base_dir`,
    /// the policy file's folder), keeping it for [`CalendarSpec::resolved`].
    /// A bad event in the file is an error naming its line and UID (strict:
    /// a closure silently missing would be worse than a policy that does not
    /// load). A URL source is left to the binary.
    pub fn resolve(&mut self, schedule_tz: Option<&str>, base_dir: &Path) -> Problems {
        let mut cal = match self.build(schedule_tz) {
            Ok(c) => c,
            Err(p) => return p,
        };
        if let Some(CalendarSource::Ics { path: Some(p), .. }) = &self.source {
            let path = if p.is_absolute() {
                p.clone()
            } else {
                base_dir.join(p)
            };
            let read = schedule::read_text_file(&path).and_then(|text| {
                closures_from_ics(
                    &text,
                    &path.display().to_string(),
                    cal.timezone,
                    ParseMode::Strict,
                )
            });
            match read {
                Ok(c) => {
                    tracing::debug!(
                        dates = c.dates.len(),
                        instances = c.instances,
                        cancelled = c.cancelled,
                        "calendar closures read"
                    );
                    cal.closed.extend(c.dates);
                }
                Err(e) => return vec![("source.path".into(), e.to_string())],
            }
        }
        self.resolved = Some(cal);
        Vec::new()
    }

    /// The resolved calendar: the static parts and a file source's closures
    /// (`None` until [`CalendarSpec::resolve`] ran, as `Policy::load` and
    /// `Policy::from_str_named` do). Without a URL source this is the whole
    /// calendar; with one, see [`CalendarSpec::with_closed`].
    pub fn resolved(&self) -> Option<&Calendar> {
        self.resolved.as_ref()
    }

    /// The resolved calendar with further closed dates (a URL source's last
    /// good closures, fetched by the binary).
    pub fn with_closed(&self, fetched: &BTreeSet<NaiveDate>) -> Option<Calendar> {
        let mut c = self.resolved.clone()?;
        c.closed.extend(fetched.iter().copied());
        Some(c)
    }

    /// Add closed dates to the resolved calendar for good (a command that
    /// fetched a URL source once; a controller that refreshes it uses
    /// [`CalendarSpec::with_closed`] on each fetch instead, so a closure
    /// removed from the feed is removed from the calendar).
    pub fn merge_closed(&mut self, fetched: &BTreeSet<NaiveDate>) {
        if let Some(c) = self.resolved.as_mut() {
            c.closed.extend(fetched.iter().copied());
        }
    }

    /// Fetch a URL source through `http` and read its closures (lenient:
    /// bad events are skipped and counted, so one odd event in a public
    /// feed does not cost every closure). `Ok(None)` without a URL source.
    /// Errors name the URL as [`schedule::redact_url`] shows it.
    pub fn fetch(&self, http: &dyn schedule::HttpGet) -> schedule::Result<Option<IcsClosures>> {
        let Some(url) = self.url() else {
            return Ok(None);
        };
        let tz = match &self.resolved {
            Some(c) => c.timezone,
            None => return Err(schedule::Error::Spec("calendar: not resolved".into())),
        };
        let text = http.get_text(url, "text/calendar")?;
        closures_from_ics(&text, &schedule::redact_url(url), tz, ParseMode::Lenient).map(Some)
    }

    /// The URL of a URL source.
    pub fn url(&self) -> Option<&str> {
        match &self.source {
            Some(CalendarSource::Ics { url, .. }) => url.as_deref(),
            None => None,
        }
    }

    /// How often a URL source is fetched.
    pub fn refresh(&self) -> Duration {
        match &self.source {
            Some(CalendarSource::Ics {
                refresh: Some(d), ..
            }) => *d,
            _ => DEFAULT_REFRESH,
        }
    }

    /// How old a URL source's last good closures may be before a warning.
    pub fn stale_after(&self) -> Duration {
        match &self.source {
            Some(CalendarSource::Ics {
                stale_after: Some(d),
                ..
            }) => *d,
            _ => DEFAULT_STALE_AFTER,
        }
    }

    /// The section that states `cal`: its zone, its hours grouped into runs
    /// of days with the same intervals, its regions and its closed dates as
    /// ranges of consecutive dates. Resolving it gives `cal` back.
    pub fn stating(cal: &Calendar) -> CalendarSpec {
        let mut hours = Vec::new();
        let mut d = 0;
        while d < 7 {
            let mut e = d;
            while e + 1 < 7 && cal.hours[e + 1] == cal.hours[d] {
                e += 1;
            }
            if !cal.hours[d].is_empty() {
                let days = if e == d {
                    DAYS[d].to_string()
                } else {
                    format!("{}-{}", DAYS[d], DAYS[e])
                };
                hours.push((days, format_intervals(&cal.hours[d])));
            }
            d = e + 1;
        }
        let holidays = cal
            .regions
            .iter()
            .filter_map(|r| REGIONS.iter().find(|(_, h, _)| h == r))
            .map(|(c, _, _)| c.to_string())
            .collect();
        let mut closures = Vec::new();
        let mut run: Option<(NaiveDate, NaiveDate)> = None;
        for &date in &cal.closed {
            run = match run {
                Some((a, b)) if b.succ_opt() == Some(date) => Some((a, date)),
                Some(r) => {
                    closures.push(closure_of(r));
                    Some((date, date))
                }
                None => Some((date, date)),
            };
        }
        closures.extend(run.map(closure_of));
        CalendarSpec {
            timezone: Some(cal.timezone.name().to_string()),
            hours: Hours(hours),
            holidays,
            closures,
            source: None,
            resolved: Some(cal.clone()),
        }
    }
}

fn closure_of((a, b): (NaiveDate, NaiveDate)) -> Closure {
    if a == b {
        Closure::Day(a.to_string())
    } else {
        Closure::Range {
            from: a.to_string(),
            to: b.to_string(),
        }
    }
}

/// The region a code names (case-insensitive).
fn region(code: &str) -> Option<Holidays> {
    REGIONS
        .iter()
        .find(|(c, _, _)| c.eq_ignore_ascii_case(code.trim()))
        .map(|(_, h, _)| *h)
}

/// Upper bound of open-ended recurrences in a closures calendar: the start
/// of 2100 (recurring holidays are often written from an old DTSTART, so the
/// expansion cannot stop a year after it, as an appointment book's does).
fn expansion_end() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(4_102_444_800, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The closures an iCalendar text gives: every local date (in `tz`) that an
/// instance of an event that is not cancelled covers — all-day events their
/// days (DTEND exclusive; one day without DTEND), timed events every date
/// from their start's to the one their last minute falls on. RRULE, RDATE,
/// EXDATE and RECURRENCE-ID are expanded by the schedule's iCalendar reader
/// ([`schedule::ics::parse_spans`]) up to 2100. Of an event nothing but its
/// times is read into the result.
pub fn closures_from_ics(
    text: &str,
    file: &str,
    tz: Tz,
    mode: ParseMode,
) -> schedule::Result<IcsClosures> {
    let mut opts = Options::new(tz);
    opts.mode = mode;
    opts.window = Some((DateTime::<Utc>::MIN_UTC, expansion_end()));
    let mut counts = Loaded::default();
    let spans = schedule::ics::parse_spans(text, file, &opts, &mut counts)?;
    let mut out = IcsClosures {
        instances: spans.len(),
        skipped: counts.skipped,
        cancelled: counts.dropped,
        ..IcsClosures::default()
    };
    for s in &spans {
        let first = s.start.with_timezone(&tz).date_naive();
        let last = if s.all_day {
            // Whole days: a recurring all-day event keeps its first
            // instance's length in UTC, which is 23 or 25 hours when that
            // instance spans a DST change; count it in days.
            let days = ((s.end - s.start).num_minutes() as f64 / 1440.0)
                .round()
                .max(1.0);
            first + TimeDelta::days(days as i64 - 1)
        } else if s.end > s.start {
            (s.end - TimeDelta::seconds(1))
                .with_timezone(&tz)
                .date_naive()
        } else {
            first
        };
        let mut d = first;
        while d <= last {
            out.dates.insert(d);
            if out.dates.len() > MAX_ICS_DATES {
                return Err(schedule::Error::File {
                    file: file.into(),
                    message: format!(
                        "expected at most {MAX_ICS_DATES} closed dates, found more (an event that lasts years?)"
                    ),
                });
            }
            match d.succ_opt() {
                Some(n) => d = n,
                None => break,
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- hours

const HOURS_EXPECTED: &str = "expected local opening hours such as \"08:00-17:00\" or \"07:00-12:00,13:00-18:00\" (or \"closed\")";

fn parse_hours(hours: &Hours, p: &mut Problems) -> [DayHours; 7] {
    let mut out: [DayHours; 7] = Default::default();
    let mut named: [Option<&str>; 7] = [None; 7];
    if hours.0.is_empty() {
        p.push((
            "hours".into(),
            "expected opening hours for at least one day, e.g. { mon-fri: \"08:00-17:00\" }".into(),
        ));
    }
    for (key, value) in &hours.0 {
        let field = format!("hours.{key}");
        let days = match parse_days(key) {
            Ok(d) => d,
            Err(msg) => {
                p.push((field, msg));
                continue;
            }
        };
        let intervals = match parse_intervals(value) {
            Ok(i) => i,
            Err(msg) => {
                p.push((field, msg));
                continue;
            }
        };
        for d in days {
            if let Some(other) = named[d] {
                p.push((
                    field.clone(),
                    format!(
                        "expected each day once, found {} also in hours.{other}",
                        DAYS[d]
                    ),
                ));
                continue;
            }
            named[d] = Some(key);
            out[d] = intervals.clone();
        }
    }
    out
}

/// `mon`, `monday`, `mon-fri`, `fri-mon` (wrapping), `sat,sun` → weekday
/// indices, Monday 0.
fn parse_days(key: &str) -> Result<Vec<usize>, String> {
    let bad = || {
        format!(
            "expected days such as mon, mon-fri or sat,sun (mon tue wed thu fri sat sun), found {key:?}"
        )
    };
    let day = |s: &str| -> Result<usize, String> {
        let s = s.trim().to_ascii_lowercase();
        DAYS.iter()
            .position(|d| s.len() >= 3 && (s == *d || full_name(d).starts_with(s.as_str())))
            .ok_or_else(bad)
    };
    let mut out = Vec::new();
    for part in key.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    out.push(d);
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out.push(day(part)?),
        }
    }
    Ok(out)
}

fn full_name(short: &str) -> &'static str {
    match short {
        "mon" => "monday",
        "tue" => "tuesday",
        "wed" => "wednesday",
        "thu" => "thursday",
        "fri" => "friday",
        "sat" => "saturday",
        _ => "sunday",
    }
}

/// `"08:00-17:00"`, `"07:00-12:00,13:00-18:00"`, `"closed"` → sorted
/// minute intervals.
fn parse_intervals(value: &str) -> Result<DayHours, String> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in v.split(',') {
        let part = part.trim();
        let Some((a, b)) = part.split_once('-') else {
            return Err(format!("{HOURS_EXPECTED}, found {value:?}"));
        };
        let (Some(a), Some(b)) = (clock(a), clock(b)) else {
            return Err(format!("{HOURS_EXPECTED}, found {value:?}"));
        };
        if a >= b {
            return Err(format!(
                "expected the end after the start, found {part:?}: split hours over midnight into two days (e.g. tue: \"22:00-24:00\", wed: \"00:00-06:00\")"
            ));
        }
        out.push((a, b));
    }
    out.sort();
    for w in out.windows(2) {
        if w[1].0 < w[0].1 {
            return Err(format!(
                "expected intervals that do not overlap, found {} and {}",
                format_intervals(&[w[0]]),
                format_intervals(&[w[1]])
            ));
        }
    }
    Ok(out)
}

/// `HH:MM` (00:00 to 24:00) → minutes since midnight.
fn clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn format_intervals(day: &[(u32, u32)]) -> String {
    day.iter()
        .map(|(a, b)| format!("{:02}:{:02}-{:02}:{:02}", a / 60, a % 60, b / 60, b % 60))
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------- closures

fn date(s: &str, field: &str, p: &mut Problems) -> Option<NaiveDate> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    if d.is_none() {
        p.push((
            field.to_string(),
            format!("expected a date such as 2026-12-24, found {s:?}"),
        ));
    }
    d
}

fn closure_dates(c: &Closure, field: &str, closed: &mut BTreeSet<NaiveDate>, p: &mut Problems) {
    match c {
        Closure::Day(s) => closed.extend(date(s, field, p)),
        Closure::Range { from, to } => {
            let a = date(from, &format!("{field}.from"), p);
            let b = date(to, &format!("{field}.to"), p);
            let (Some(a), Some(b)) = (a, b) else { return };
            let days = (b - a).num_days() + 1;
            if b < a {
                p.push((
                    field.to_string(),
                    format!("expected from on or before to, found from {a} after to {b}"),
                ));
            } else if days > MAX_CLOSURE_DAYS {
                p.push((
                    field.to_string(),
                    format!("expected a range of at most {MAX_CLOSURE_DAYS} days, found {days} (from {a} to {b})"),
                ));
            } else {
                closed.extend(a.iter_days().take(days as usize));
            }
        }
    }
}

// ---------------------------------------------------------------- serde

impl Serialize for Hours {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Hours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Hours;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("opening hours per day, e.g. { mon-fri: \"08:00-17:00\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Hours, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(Hours(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// TOML's deserializer hands a date as a map with this one key.
const TOML_DATETIME: &str = "$__toml_private_datetime";

/// A date as text: a string, or a TOML date.
struct DateText(String);

impl<'de> Deserialize<'de> for DateText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DateText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a date such as 2026-12-24")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DateText, E> {
                Ok(DateText(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DateText, A::Error> {
                match map.next_key::<String>()? {
                    Some(k) if k == TOML_DATETIME => Ok(DateText(map.next_value::<String>()?)),
                    _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Closure {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Closure::Day(d) => s.serialize_str(d),
            Closure::Range { from, to } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("from", from)?;
                m.serialize_entry("to", to)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Closure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Closure;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a date such as 2026-12-24 or a range { from: 2026-12-27, to: 2026-12-31 }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Closure, E> {
                Ok(Closure::Day(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Closure, A::Error> {
                let (mut from, mut to) = (None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        TOML_DATETIME => return Ok(Closure::Day(map.next_value::<String>()?)),
                        "from" => from = Some(map.next_value::<DateText>()?.0),
                        "to" => to = Some(map.next_value::<DateText>()?.0),
                        other => return Err(de::Error::unknown_field(other, &["from", "to"])),
                    }
                }
                match (from, to) {
                    (Some(from), Some(to)) => Ok(Closure::Range { from, to }),
                    (None, _) => Err(de::Error::missing_field("from")),
                    (_, None) => Err(de::Error::missing_field("to")),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> CalendarSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_full_section_builds_its_calendar() {
        let s = spec(
            "timezone: Europe/Berlin\nhours: { mon-fri: \"08:00-17:00\", sat: \"07:00-12:00,13:00-14:30\" }\nholidays: [de, NL]\nclosures: [2026-12-24, { from: 2026-12-30, to: 2027-01-02 }]\n",
        );
        let c = s.build(None).unwrap();
        assert_eq!(c.timezone, chrono_tz::Europe::Berlin);
        assert_eq!(c.hours[0], vec![(480, 1020)]);
        assert_eq!(c.hours[4], vec![(480, 1020)]);
        assert_eq!(c.hours[5], vec![(420, 720), (780, 870)]);
        assert!(c.hours[6].is_empty(), "days not named are closed");
        assert_eq!(c.regions, vec![Holidays::Germany, Holidays::Netherlands]);
        let closed: Vec<String> = c.closed.iter().map(|d| d.to_string()).collect();
        assert_eq!(
            closed,
            [
                "2026-12-24",
                "2026-12-30",
                "2026-12-31",
                "2027-01-01",
                "2027-01-02"
            ]
        );
    }

    #[test]
    fn the_zone_defaults_to_the_schedules_and_is_required_without_one() {
        let s = spec("hours: { mon: \"08:00-17:00\" }\n");
        assert_eq!(
            s.build(Some("America/Chicago")).unwrap().timezone,
            chrono_tz::America::Chicago
        );
        let p = s.validate(None);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "timezone");
        assert!(p[0].1.contains("schedule:"), "{p:?}");
    }

    #[test]
    fn day_names_ranges_and_lists() {
        assert_eq!(parse_days("mon-fri").unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(parse_days("Saturday,sun").unwrap(), [5, 6]);
        assert_eq!(parse_days("fri-mon").unwrap(), [4, 5, 6, 0]);
        assert_eq!(parse_days("thurs").unwrap(), [3]);
        assert!(parse_days("mo").is_err());
        assert!(parse_days("weekdays").is_err());
        assert_eq!(parse_intervals("closed").unwrap(), vec![]);
        assert_eq!(parse_intervals("00:00-24:00").unwrap(), vec![(0, 1440)]);
        assert_eq!(
            parse_intervals("13:00-18:00, 7:30-12:00").unwrap(),
            vec![(450, 720), (780, 1080)]
        );
    }

    #[test]
    fn every_bad_value_names_its_field() {
        let s = spec(
            "timezone: Europe/Berlln\nhours: { mon-fri: \"08:00-17:00\", fri: \"09:00-12:00\", sat: \"22:00-06:00\", sun: \"8am-5pm\", funday: \"08:00-09:00\", tue-wed: \"08:00-12:00,11:00-13:00\" }\nholidays: [DE, FR]\nclosures: [2026-02-30, { from: 2026-12-31, to: 2026-12-27 }, { from: 2026-01-01, to: 2027-06-01 }, { from: x, to: 2026-01-01 }]\nsource: { type: ics, path: a.ics, refresh: 0s }\n",
        );
        let p = s.validate(None);
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "timezone",
                "hours.fri",
                "hours.sat",
                "hours.sun",
                "hours.funday",
                "hours.tue-wed",
                "holidays[1]",
                "closures[0]",
                "closures[1]",
                "closures[2]",
                "closures[3].from",
                "source.refresh",
            ],
            "{p:#?}"
        );
        let msg = |f: &str| &p.iter().find(|(x, _)| x == f).unwrap().1;
        assert!(msg("timezone").contains("\"Europe/Berlln\""));
        assert!(msg("hours.fri").contains("also in hours.mon-fri"));
        assert!(msg("hours.sat").contains("over midnight"));
        assert!(msg("hours.sun").contains("\"8am-5pm\""));
        assert!(msg("hours.funday").contains("mon-fri"));
        assert!(msg("hours.tue-wed").contains("08:00-12:00 and 11:00-13:00"));
        assert!(
            msg("holidays[1]").contains("DE (Germany)") && msg("holidays[1]").contains("\"FR\"")
        );
        assert!(msg("closures[0]").contains("\"2026-02-30\""));
        assert!(msg("closures[1]").contains("after to"));
        assert!(msg("closures[2]").contains("at most 366 days"));
        assert!(msg("source.refresh").contains("only with `url`"));
        let p = spec("timezone: UTC\nhours: {}\nsource: {type: ics, url: 'https://h/x.ics', refresh: 2h, stale_after: 1h}\n").validate(None);
        let fields: Vec<&str> = p.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["hours", "source.stale_after"], "{p:?}");
        let p = spec("timezone: UTC\nhours: {mon: closed}\nsource: {type: ics}\n").validate(None);
        assert_eq!(p[0].0, "source");
        assert!(p[0].1.contains("`path`"));
    }

    #[test]
    fn stating_a_calendar_resolves_back_to_it() {
        let mut c = Calendar::weekdays(
            chrono_tz::Europe::Amsterdam,
            (8, 17),
            vec![Holidays::Netherlands],
        );
        c.hours[5] = vec![(480, 720)];
        for s in ["2026-12-24", "2026-12-28", "2026-12-29", "2026-12-30"] {
            c.closed.insert(d(s));
        }
        let s = CalendarSpec::stating(&c);
        let yaml = serde_yaml::to_string(&s).unwrap();
        assert!(yaml.contains("mon-fri: 08:00-17:00"), "{yaml}");
        assert!(yaml.contains("from: 2026-12-28"), "{yaml}");
        let mut back: CalendarSpec = serde_yaml::from_str(&yaml).unwrap();
        assert!(back.resolve(None, Path::new(".")).is_empty());
        assert_eq!(back.resolved(), Some(&c));
        assert_eq!(back.build(None).unwrap(), c);
    }

    const HOLIDAYS_ICS: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
BEGIN:VEVENT\r\nUID:xmas\r\nSUMMARY:Christmas party for Mrs Example\r\nDTSTART;VALUE=DATE:20201224\r\nDTEND;VALUE=DATE:20201225\r\nRRULE:FREQ=YEARLY\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:works\r\nDTSTART;VALUE=DATE:20260810\r\nDTEND;VALUE=DATE:20260813\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:oneday\r\nDTSTART;VALUE=DATE:20260601\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:training\r\nDTSTART;TZID=Europe/Berlin:20260302T230000\r\nDTEND;TZID=Europe/Berlin:20260303T010000\r\nRRULE:FREQ=WEEKLY;COUNT=2\r\nEXDATE;TZID=Europe/Berlin:20260309T230000\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:noon\r\nDTSTART:20260415T100000Z\r\nDTEND:20260415T110000Z\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:gone\r\nSTATUS:CANCELLED\r\nDTSTART;VALUE=DATE:20260701\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

    #[test]
    fn an_icalendar_file_closes_every_date_its_events_cover() {
        let c = closures_from_ics(
            HOLIDAYS_ICS,
            "h.ics",
            chrono_tz::Europe::Berlin,
            ParseMode::Strict,
        )
        .unwrap();
        // The yearly all-day event from 2020, every year to 2099.
        for y in [2020, 2026, 2099] {
            assert!(c.dates.contains(&d(&format!("{y}-12-24"))), "{y}");
        }
        assert!(!c.dates.contains(&d("2026-12-25")), "DTEND is exclusive");
        // Three days of works; one day without DTEND.
        for s in ["2026-08-10", "2026-08-11", "2026-08-12", "2026-06-01"] {
            assert!(c.dates.contains(&d(s)), "{s}");
        }
        assert!(!c.dates.contains(&d("2026-08-13")));
        // A timed event over midnight closes both dates; its second
        // weekly instance is an EXDATE.
        assert!(c.dates.contains(&d("2026-03-02")) && c.dates.contains(&d("2026-03-03")));
        assert!(!c.dates.contains(&d("2026-03-09")) && !c.dates.contains(&d("2026-03-10")));
        // A timed hour closes its local date; a cancelled event nothing.
        assert!(c.dates.contains(&d("2026-04-15")));
        assert!(!c.dates.contains(&d("2026-07-01")));
        assert_eq!(c.cancelled, 1);
        assert_eq!(c.dates.len(), 80 + 3 + 1 + 2 + 1);
    }

    #[test]
    fn a_yearly_all_day_event_first_on_a_dst_change_closes_one_day_every_year() {
        // 2026-10-25 is 25 hours long in Berlin; 2027-10-25 is 24.
        let ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:y\nDTSTART;VALUE=DATE:20261025\nDTEND;VALUE=DATE:20261026\nRRULE:FREQ=YEARLY;COUNT=3\nEND:VEVENT\nEND:VCALENDAR\n";
        let c =
            closures_from_ics(ics, "y.ics", chrono_tz::Europe::Berlin, ParseMode::Strict).unwrap();
        let dates: Vec<String> = c.dates.iter().map(|d| d.to_string()).collect();
        assert_eq!(dates, ["2026-10-25", "2027-10-25", "2028-10-25"]);
    }

    #[test]
    fn a_bad_event_names_its_line_in_strict_mode_and_is_counted_in_lenient() {
        let bad = HOLIDAYS_ICS.replace(
            "DTSTART;VALUE=DATE:20260601",
            "DTSTART;VALUE=DATE:2026-06-01",
        );
        let e = closures_from_ics(&bad, "h.ics", Tz::UTC, ParseMode::Strict)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("h.ics:17: event UID oneday"), "{e}");
        assert!(!e.contains("Example"), "{e}");
        let c = closures_from_ics(&bad, "h.ics", Tz::UTC, ParseMode::Lenient).unwrap();
        assert_eq!(c.skipped, 1);
        assert!(!c.dates.contains(&d("2026-06-01")));
    }

    #[test]
    fn a_file_source_is_read_relative_to_the_policy() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("closures.ics"), HOLIDAYS_ICS).unwrap();
        let mut s = spec(
            "timezone: Europe/Berlin\nhours: {mon-fri: \"08:00-17:00\"}\nclosures: [2026-05-04]\nsource: {type: ics, path: closures.ics}\n",
        );
        assert!(s.resolved().is_none());
        assert_eq!(s.resolve(None, dir.path()), vec![]);
        let c = s.resolved().unwrap();
        assert!(c.is_exceptional_closure(d("2026-08-10")));
        assert!(c.is_exceptional_closure(d("2026-05-04")));
        let mut missing = s.clone();
        let p = missing.resolve(None, Path::new("/nonexistent"));
        assert_eq!(p[0].0, "source.path");
        assert!(p[0].1.contains("/nonexistent/closures.ics"), "{p:?}");
        // A URL source: the static parts now, fetched closures merged later.
        let mut u = spec(
            "timezone: Europe/Berlin\nhours: {mon-fri: \"08:00-17:00\"}\nsource: {type: ics, url: 'https://h/c.ics', refresh: 10m}\n",
        );
        assert!(u.resolve(None, dir.path()).is_empty());
        assert!(u.resolved().unwrap().closed.is_empty());
        assert_eq!(u.refresh(), Duration::from_mins(10));
        assert_eq!(u.stale_after(), DEFAULT_STALE_AFTER);
        let merged = u.with_closed(&[d("2026-03-04")].into()).unwrap();
        assert!(merged.is_exceptional_closure(d("2026-03-04")));
    }
}
