//! iCalendar (RFC 5545) feeds: VEVENTs with DTSTART and DTEND or DURATION,
//! TZID resolved through VTIMEZONE, RRULE/RDATE/EXDATE expanded with the
//! `rrule` crate in the event's zone (so a weekly 07:30 stays 07:30 local
//! across DST changes), RECURRENCE-ID overrides, STATUS:CANCELLED dropped.
//!
//! The content-line reader is ours (about 80 lines) because errors must name
//! the line, which general iCalendar parsers do not keep. Of each event only
//! the times, the type (from CATEGORIES, or from SUMMARY through the
//! policy's rules — the SUMMARY text itself is never kept) and the resource
//! (RESOURCES, or LOCATION when the policy says so) are read, and the booking
//! time from CREATED (RFC 5545 §3.8.7.1: when the calendar user agent created
//! the event in its store; a recurring event's instances share it). Without
//! CREATED the booking time is unknown: DTSTAMP (§3.8.7.2) is when the
//! iCalendar object was written — in a feed, the export time of every event —
//! and says nothing about when the slot was booked. DESCRIPTION, ATTENDEE,
//! ORGANIZER, COMMENT, CONTACT and the rest are skipped unread.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use rrule::{RRule, RRuleSet, Unvalidated};

use super::{
    Appointment, DEFAULT_EXPANSION_DAYS, Error, Loaded, Options, Result, end_of_local_day,
    local_to_utc,
};

/// Most instances one recurring event may produce before the end of the
/// window (a daily appointment for ten years is about 3,650).
pub const MAX_INSTANCES: usize = 100_000;

/// Parse an iCalendar text; `file` names it in errors.
pub fn parse(text: &str, file: &str, opts: &Options) -> Result<Loaded> {
    let mut out = Loaded::default();
    let (events, overridden) = read_events(text, file, opts, &mut out)?;
    for ev in &events {
        let Some(kind) = ev.kind.as_ref().filter(|_| !ev.cancelled && !ev.all_day) else {
            out.dropped += 1;
            continue;
        };
        for start in instances(ev, file, opts, &overridden, &mut out)? {
            // Instances whose end is past chrono's last date cannot be kept.
            let Some(end) = start.checked_add_signed(ev.duration) else {
                continue;
            };
            let a = Appointment {
                start,
                end,
                kind: kind.clone(),
                resource: ev.resource.clone(),
                booked_at: ev.created,
            };
            out.push(opts, a);
        }
    }
    Ok(out.finish())
}

/// One instance of an event, as [`parse_spans`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub start: DateTime<Utc>,
    /// Exclusive. An all-day event without DTEND or DURATION lasts one day
    /// (RFC 5545 §3.6.1).
    pub end: DateTime<Utc>,
    /// DTSTART is a DATE: the span is whole local days in `Options::tz`.
    pub all_day: bool,
}

/// Every instance of every event that is not cancelled — timed or all-day,
/// with or without a type, RRULE/RDATE/EXDATE and RECURRENCE-ID as in
/// [`parse`] — for calendars of closures, where what matters is when an
/// event is, not what it is. Nothing of an event but its times is kept.
/// `out` counts the skipped bad events (lenient mode) and the cancelled ones
/// (`dropped`); its appointments stay empty. Sorted by start.
pub fn parse_spans(text: &str, file: &str, opts: &Options, out: &mut Loaded) -> Result<Vec<Span>> {
    let (events, overridden) = read_events(text, file, opts, out)?;
    let mut spans = Vec::new();
    for ev in &events {
        if ev.cancelled {
            out.dropped += 1;
            continue;
        }
        let duration = if ev.all_day && ev.duration <= TimeDelta::zero() {
            TimeDelta::days(1)
        } else {
            ev.duration
        };
        for start in instances(ev, file, opts, &overridden, out)? {
            if let Some(end) = start.checked_add_signed(duration) {
                spans.push(Span {
                    start,
                    end,
                    all_day: ev.all_day,
                });
            }
        }
    }
    spans.sort();
    Ok(spans)
}

/// Instances replaced by a RECURRENCE-ID override: (UID, start timestamp).
type Overridden = HashSet<(String, i64)>;

/// The events of a text and the instances their RECURRENCE-ID overrides
/// replace; bad events are recorded in `out` (or fail, in strict mode).
fn read_events(
    text: &str,
    file: &str,
    opts: &Options,
    out: &mut Loaded,
) -> Result<(Vec<Event>, Overridden)> {
    let doc = read_components(text, file, opts, out)?;
    let zones = resolve_zones(&doc.zones, opts.tz);
    let mut events = Vec::new();
    for raw in &doc.events {
        match interpret(raw, &zones, opts) {
            Ok(ev) => events.push(ev),
            Err((line, message)) => out.bad(
                opts.mode,
                Error::Event {
                    file: file.into(),
                    uid: raw.uid(),
                    line,
                    message,
                },
            )?,
        }
    }
    // Instances replaced (or cancelled) by a RECURRENCE-ID override.
    let overridden: Overridden = events
        .iter()
        .filter_map(|e| e.recurrence_id.map(|r| (e.uid.clone(), r.timestamp())))
        .collect();
    Ok((events, overridden))
}

/// The start instants of `ev` ([`expand`]); an event that cannot be expanded
/// is recorded in `out` and has none (or fails, in strict mode).
fn instances(
    ev: &Event,
    file: &str,
    opts: &Options,
    overridden: &HashSet<(String, i64)>,
    out: &mut Loaded,
) -> Result<Vec<DateTime<Utc>>> {
    match expand(ev, opts, overridden) {
        Ok(starts) => Ok(starts),
        Err(message) => {
            out.bad(
                opts.mode,
                Error::Event {
                    file: file.into(),
                    uid: ev.uid.clone(),
                    line: ev.rrule_line,
                    message,
                },
            )?;
            Ok(Vec::new())
        }
    }
}

// ---------------------------------------------------------------- content lines

/// One unfolded content line: `NAME;PARAM=V:VALUE`.
#[derive(Debug, Clone)]
struct Prop {
    name: String,
    params: Vec<(String, String)>,
    value: String,
    line: u64,
}

impl Prop {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Unfold lines (RFC 5545 §3.1: CRLF followed by a space or tab continues the
/// line); each logical line keeps the number of its first physical line.
fn unfold(text: &str) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let l = raw.strip_suffix('\r').unwrap_or(raw);
        match (l.strip_prefix([' ', '\t']), out.last_mut()) {
            (Some(rest), Some((_, cur))) => cur.push_str(rest),
            _ => out.push((i as u64 + 1, l.to_string())),
        }
    }
    out
}

/// Split a content line into name, parameters and value. The message names
/// what is wrong, never the content.
fn parse_prop(line: &str, no: u64) -> std::result::Result<Prop, String> {
    let name_end = line
        .find([';', ':'])
        .ok_or("expected NAME:VALUE (no colon found)")?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err("expected a property name of letters, digits and '-'".into());
    }
    let mut params = Vec::new();
    let mut rest = &line[name_end..];
    while let Some(p) = rest.strip_prefix(';') {
        let eq = p.find('=').ok_or("expected PARAM=VALUE after ';'")?;
        let pname = &p[..eq];
        if pname.is_empty() || pname.contains([':', ';', '"']) {
            return Err("malformed parameter name".into());
        }
        let mut v = &p[eq + 1..];
        let mut value = String::new();
        loop {
            if let Some(q) = v.strip_prefix('"') {
                let close = q.find('"').ok_or("unterminated quoted parameter value")?;
                value.push_str(&q[..close]);
                v = &q[close + 1..];
            } else {
                let end = v.find([',', ';', ':']).unwrap_or(v.len());
                value.push_str(&v[..end]);
                v = &v[end..];
            }
            match v.strip_prefix(',') {
                Some(more) => {
                    value.push(',');
                    v = more;
                }
                None => break,
            }
        }
        params.push((pname.to_ascii_uppercase(), value));
        rest = v;
    }
    let value = rest
        .strip_prefix(':')
        .ok_or("expected ':' before the value")?;
    Ok(Prop {
        name: name.to_ascii_uppercase(),
        params,
        value: value.to_string(),
        line: no,
    })
}

/// TEXT values: undo `\,` `\;` `\\` `\n`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(o) => out.push(o),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A TEXT list (`CATEGORIES:A,B\,C`) split on unescaped commas.
fn text_list(s: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        match (esc, c) {
            (true, _) => {
                cur.push('\\');
                cur.push(c);
                esc = false;
            }
            (false, '\\') => esc = true,
            (false, ',') => items.push(unescape(&std::mem::take(&mut cur))),
            (false, _) => cur.push(c),
        }
    }
    items.push(unescape(&cur));
    items
}

// ---------------------------------------------------------------- components

#[derive(Debug, Default)]
struct RawEvent {
    line: u64,
    props: Vec<Prop>,
    /// The first structural problem inside the event, and its line.
    problem: Option<(u64, String)>,
}

impl RawEvent {
    fn get(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    fn uid(&self) -> String {
        self.get("UID")
            .map(|p| shown(&unescape(&p.value)))
            .unwrap_or_else(|| "(none)".into())
    }
}

/// An identifier as errors may show it: printable ASCII, at most 80 characters.
fn shown(s: &str) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(80)
        .collect();
    if t.is_empty() { "(empty)".into() } else { t }
}

#[derive(Debug, Default)]
struct RawZone {
    tzid: Option<String>,
    location: Option<String>,
    /// TZOFFSETTO of STANDARD and DAYLIGHT sub-components, in seconds east of UTC.
    offsets: Vec<i32>,
}

struct Doc {
    events: Vec<RawEvent>,
    zones: Vec<RawZone>,
}

fn read_components(text: &str, file: &str, opts: &Options, out: &mut Loaded) -> Result<Doc> {
    let line_err = |line: u64, message: String| Error::Line {
        file: file.into(),
        line,
        message,
    };
    let mut stack: Vec<String> = Vec::new();
    let mut events = Vec::new();
    let mut zones = Vec::new();
    let mut event: Option<RawEvent> = None;
    let mut zone: Option<RawZone> = None;
    let mut saw_calendar = false;
    let lines = unfold(text);
    for (no, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let prop = match parse_prop(&text, no) {
            Ok(p) => p,
            Err(message) => {
                match event.as_mut() {
                    Some(ev) => {
                        ev.problem.get_or_insert((no, message));
                    }
                    None => out.bad(opts.mode, line_err(no, message))?,
                }
                continue;
            }
        };
        match prop.name.as_str() {
            "BEGIN" => {
                let comp = prop.value.trim().to_ascii_uppercase();
                if stack.is_empty() {
                    if comp != "VCALENDAR" {
                        return Err(line_err(no, "expected BEGIN:VCALENDAR".into()));
                    }
                    saw_calendar = true;
                }
                let parent = stack.last().map(String::as_str);
                match (comp.as_str(), parent) {
                    ("VEVENT", Some("VCALENDAR")) => {
                        event = Some(RawEvent {
                            line: no,
                            ..RawEvent::default()
                        })
                    }
                    ("VTIMEZONE", Some("VCALENDAR")) => zone = Some(RawZone::default()),
                    ("VEVENT", Some(_)) => {
                        if let Some(ev) = event.as_mut() {
                            ev.problem.get_or_insert((
                                no,
                                "BEGIN:VEVENT inside another component".into(),
                            ));
                        }
                    }
                    _ => {}
                }
                stack.push(comp);
            }
            "END" => {
                let comp = prop.value.trim().to_ascii_uppercase();
                let Some(pos) = stack.iter().rposition(|c| *c == comp) else {
                    out.bad(
                        opts.mode,
                        line_err(no, format!("END:{} without BEGIN", shown(&comp))),
                    )?;
                    continue;
                };
                if pos + 1 != stack.len() {
                    let open = shown(stack.last().map(String::as_str).unwrap_or(""));
                    let msg = format!("END:{} while BEGIN:{open} is open", shown(&comp));
                    match event.as_mut() {
                        Some(ev) => {
                            ev.problem.get_or_insert((no, msg));
                        }
                        None => out.bad(opts.mode, line_err(no, msg))?,
                    }
                }
                stack.truncate(pos);
                let parent = stack.last().map(String::as_str);
                match (comp.as_str(), parent) {
                    ("VEVENT", Some("VCALENDAR")) => events.extend(event.take()),
                    ("VTIMEZONE", Some("VCALENDAR")) => zones.extend(zone.take()),
                    _ => {}
                }
                // An event whose VEVENT was closed by an outer END is finished too.
                if !stack.iter().any(|c| c == "VEVENT") {
                    if let Some(mut ev) = event.take() {
                        ev.problem
                            .get_or_insert((no, "BEGIN:VEVENT without END:VEVENT".into()));
                        events.push(ev);
                    }
                }
            }
            _ => {
                let depth = stack.len();
                let top = stack.last().map(String::as_str);
                let parent = depth.checked_sub(2).map(|i| stack[i].as_str());
                match (top, parent) {
                    (Some("VEVENT"), Some("VCALENDAR")) => {
                        if let Some(ev) = event.as_mut() {
                            ev.props.push(prop);
                        }
                    }
                    (Some("VTIMEZONE"), _) => {
                        if let Some(z) = zone.as_mut() {
                            match prop.name.as_str() {
                                "TZID" => z.tzid = Some(unescape(&prop.value)),
                                "X-LIC-LOCATION" => z.location = Some(unescape(&prop.value)),
                                _ => {}
                            }
                        }
                    }
                    (Some("STANDARD" | "DAYLIGHT"), Some("VTIMEZONE")) => {
                        if let (Some(z), "TZOFFSETTO") = (zone.as_mut(), prop.name.as_str()) {
                            if let Some(o) = parse_utc_offset(&prop.value) {
                                z.offsets.push(o);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if !saw_calendar {
        return Err(Error::File {
            file: file.into(),
            message: "expected an iCalendar file starting with BEGIN:VCALENDAR".into(),
        });
    }
    if let Some(mut ev) = event.take() {
        let line = ev.line;
        ev.problem
            .get_or_insert((line, "BEGIN:VEVENT without END:VEVENT".into()));
        events.push(ev);
    }
    Ok(Doc { events, zones })
}

/// `+0100`, `-0500`, `+013000` → seconds east of UTC.
fn parse_utc_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !(digits.len() == 4 || digits.len() == 6) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits.get(r).and_then(|d| d.parse::<i32>().ok());
    let secs = n(0..2)? * 3600 + n(2..4)? * 60 + if digits.len() == 6 { n(4..6)? } else { 0 };
    Some(sign * secs)
}

// ---------------------------------------------------------------- time zones

/// Windows time-zone names (Outlook/Exchange TZIDs) → IANA, from the
/// Unicode CLDR `windowsZones.xml` default ("001") mappings; the zones a
/// clinic is likely to be in. Others resolve through VTIMEZONE offsets.
const WINDOWS_ZONES: &[(&str, &str)] = &[
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Mountain Standard Time", "America/Denver"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("Canada Central Standard Time", "America/Regina"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("E. Australia Standard Time", "Australia/Brisbane"),
    ("Cen. Australia Standard Time", "Australia/Adelaide"),
    ("W. Australia Standard Time", "Australia/Perth"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("China Standard Time", "Asia/Shanghai"),
    ("India Standard Time", "Asia/Kolkata"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("UTC", "Etc/UTC"),
];

/// An IANA name, also inside prefixes such as `/mozilla.org/20050126_1/Europe/Berlin`.
fn iana(name: &str) -> Option<Tz> {
    let name = name.trim().trim_matches('"');
    if let Ok(tz) = Tz::from_str(name) {
        return Some(tz);
    }
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    (1..parts.len()).find_map(|i| Tz::from_str(&parts[i..].join("/")).ok())
}

/// Whether `tz`'s winter and summer offsets (in some year 2020–2030) are the
/// VTIMEZONE's offsets.
fn offsets_match(tz: Tz, offsets: &[i32]) -> bool {
    if offsets.is_empty() {
        return false;
    }
    (2020..=2030).any(|y| {
        let at = |m: u32| {
            NaiveDate::from_ymd_opt(y, m, 15)
                .and_then(|d| d.and_hms_opt(12, 0, 0))
                .map(|t| tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
        };
        let (Some(jan), Some(jul)) = (at(1), at(7)) else {
            return false;
        };
        offsets.iter().all(|o| *o == jan || *o == jul)
            && offsets.contains(&jan)
            && offsets.contains(&jul)
    })
}

/// TZID → zone for every VTIMEZONE: an IANA name; else its X-LIC-LOCATION;
/// else a Windows name whose zone has the VTIMEZONE's offsets; else the
/// clinic's zone if it has them. TZIDs left out are unknown.
fn resolve_zones(zones: &[RawZone], clinic: Tz) -> HashMap<String, Tz> {
    let mut map = HashMap::new();
    for z in zones {
        let Some(id) = &z.tzid else { continue };
        let windows = WINDOWS_ZONES
            .iter()
            .find(|(w, _)| w.eq_ignore_ascii_case(id.trim()))
            .and_then(|(_, i)| Tz::from_str(i).ok())
            .filter(|tz| z.offsets.is_empty() || offsets_match(*tz, &z.offsets));
        let tz = iana(id)
            .or_else(|| z.location.as_deref().and_then(iana))
            .or(windows)
            .or_else(|| offsets_match(clinic, &z.offsets).then_some(clinic));
        if let Some(tz) = tz {
            map.insert(id.clone(), tz);
        }
    }
    map
}

/// The zone a TZID parameter names: a VTIMEZONE of the file, an IANA name, or
/// a known Windows name.
fn zone_for(tzid: &str, zones: &HashMap<String, Tz>) -> std::result::Result<Tz, String> {
    zones
        .get(tzid)
        .copied()
        .or_else(|| iana(tzid))
        .or_else(|| {
            WINDOWS_ZONES
                .iter()
                .find(|(w, _)| w.eq_ignore_ascii_case(tzid.trim()))
                .and_then(|(_, i)| Tz::from_str(i).ok())
        })
        .ok_or_else(|| {
            format!(
                "unknown TZID {:?}: expected an IANA name or a VTIMEZONE with known offsets",
                shown(tzid)
            )
        })
}

// ---------------------------------------------------------------- events

/// A DATE-TIME or DATE value.
#[derive(Debug, Clone, Copy)]
enum When {
    /// An instant, and the zone recurrences are expanded in.
    At(DateTime<Utc>, Tz),
    /// A whole day (all-day event).
    Day(NaiveDate),
}

fn parse_when(
    value: &str,
    prop: &Prop,
    zones: &HashMap<String, Tz>,
    clinic: Tz,
) -> std::result::Result<When, String> {
    let v = value.trim();
    let name = &prop.name;
    let is_date = prop
        .param("VALUE")
        .is_some_and(|x| x.eq_ignore_ascii_case("DATE"))
        || (v.len() == 8 && !v.contains('T'));
    if is_date {
        return NaiveDate::parse_from_str(v, "%Y%m%d")
            .map(When::Day)
            .map_err(|_| format!("{name}: expected a DATE such as 20260302"));
    }
    let bad =
        || format!("{name}: expected a DATE-TIME such as 20260302T073000 or 20260302T063000Z");
    if let Some(utc) = v.strip_suffix('Z') {
        let t = NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
        return Ok(When::At(Utc.from_utc_datetime(&t), Tz::UTC));
    }
    let t = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").map_err(|_| bad())?;
    let tz = match prop.param("TZID") {
        Some(id) => zone_for(id, zones).map_err(|m| format!("{name}: {m}"))?,
        None => clinic, // floating time: the clinic's wall clock
    };
    let at = local_to_utc(t, tz).ok_or_else(bad)?;
    Ok(When::At(at, tz))
}

/// RFC 5545 DURATION (`PT30M`, `P1DT2H`, `P1W`) → a time span (days as 24 h).
fn parse_duration(s: &str) -> Option<TimeDelta> {
    let s = s.trim();
    let (neg, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut rest = s.strip_prefix('P')?;
    let mut secs: i64 = 0;
    let mut in_time = false;
    let mut any = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('T') {
            in_time = true;
            rest = r;
            continue;
        }
        let n_end = rest.find(|c: char| !c.is_ascii_digit())?;
        if n_end == 0 {
            return None;
        }
        let n: i64 = rest[..n_end].parse().ok()?;
        let unit = match (rest.as_bytes()[n_end], in_time) {
            (b'W', false) => 604_800,
            (b'D', false) => 86_400,
            (b'H', true) => 3600,
            (b'M', true) => 60,
            (b'S', true) => 1,
            _ => return None,
        };
        secs = secs.checked_add(n.checked_mul(unit)?)?;
        any = true;
        rest = &rest[n_end + 1..];
    }
    if !any {
        return None;
    }
    TimeDelta::try_seconds(if neg { -secs } else { secs })
}

/// A result whose error carries the line it is about.
type Located<T> = std::result::Result<T, (u64, String)>;

/// An event reduced to what planscale keeps.
#[derive(Debug)]
struct Event {
    uid: String,
    start: DateTime<Utc>,
    /// The zone recurrences are expanded in.
    tz: Tz,
    /// Line of the first RRULE (for errors in expansion).
    rrule_line: u64,
    all_day: bool,
    duration: TimeDelta,
    rrules: Vec<String>,
    rdates: Vec<DateTime<Utc>>,
    exdates: Vec<DateTime<Utc>>,
    recurrence_id: Option<DateTime<Utc>>,
    cancelled: bool,
    /// CREATED: when the event was booked (a DATE: the end of that local day).
    created: Option<DateTime<Utc>>,
    kind: Option<String>,
    resource: Option<String>,
}

fn interpret(
    raw: &RawEvent,
    zones: &HashMap<String, Tz>,
    opts: &Options,
) -> std::result::Result<Event, (u64, String)> {
    if let Some(p) = &raw.problem {
        return Err(p.clone());
    }
    let at = |p: &Prop| {
        let line = p.line;
        move |m: String| (line, m)
    };
    let instant = |p: &Prop, v: &str| -> Located<Option<(DateTime<Utc>, Tz)>> {
        Ok(match parse_when(v, p, zones, opts.tz).map_err(at(p))? {
            When::At(t, tz) => Some((t, tz)),
            When::Day(d) => d
                .and_hms_opt(0, 0, 0)
                .and_then(|t| local_to_utc(t, opts.tz))
                .map(|t| (t, opts.tz)),
        })
    };
    let dtstart = raw
        .get("DTSTART")
        .ok_or((raw.line, "expected DTSTART".to_string()))?;
    let out_of_range = |p: &Prop| (p.line, format!("{}: date out of range", p.name));
    let (start, tz, all_day) =
        match parse_when(&dtstart.value, dtstart, zones, opts.tz).map_err(at(dtstart))? {
            When::At(t, tz) => (t, tz, false),
            When::Day(d) => {
                let t = d
                    .and_hms_opt(0, 0, 0)
                    .and_then(|t| local_to_utc(t, opts.tz))
                    .ok_or_else(|| out_of_range(dtstart))?;
                (t, opts.tz, true)
            }
        };
    let duration = match (raw.get("DTEND"), raw.get("DURATION")) {
        (Some(p), _) => {
            let (end, _) = instant(p, &p.value)?.ok_or_else(|| out_of_range(p))?;
            if end < start {
                return Err((p.line, "DTEND is before DTSTART".into()));
            }
            end - start
        }
        (None, Some(p)) => parse_duration(&p.value)
            .filter(|d| *d >= TimeDelta::zero())
            .ok_or_else(|| {
                (
                    p.line,
                    "DURATION: expected a positive RFC 5545 duration such as PT30M".to_string(),
                )
            })?,
        (None, None) => TimeDelta::zero(),
    };
    let dates = |name: &str| -> std::result::Result<Vec<DateTime<Utc>>, (u64, String)> {
        let mut v = Vec::new();
        for p in raw.all(name) {
            for item in p.value.split(',').filter(|s| !s.trim().is_empty()) {
                // RDATE;VALUE=PERIOD: the start of the period.
                let item = item.split('/').next().unwrap_or(item);
                if let Some((t, _)) = instant(p, item)? {
                    v.push(t);
                }
            }
        }
        Ok(v)
    };
    let rdates = dates("RDATE")?;
    let exdates = dates("EXDATE")?;
    let recurrence_id = match raw.get("RECURRENCE-ID") {
        Some(p) => instant(p, &p.value)?.map(|(t, _)| t),
        None => None,
    };
    let cancelled = raw
        .get("STATUS")
        .is_some_and(|p| p.value.trim().eq_ignore_ascii_case("CANCELLED"));
    // RFC 5545 says CREATED is a UTC DATE-TIME; exports also write local
    // times and dates, read as DTSTART's are (a date at the end of its day).
    let created = match raw.get("CREATED") {
        Some(p) => match parse_when(&p.value, p, zones, opts.tz).map_err(at(p))? {
            When::At(t, _) => Some(t),
            When::Day(d) => Some(end_of_local_day(d, opts.tz).ok_or_else(|| out_of_range(p))?),
        },
        None => None,
    };
    Ok(Event {
        uid: raw.uid(),
        start,
        tz,
        all_day,
        duration,
        rrules: raw.all("RRULE").map(|p| p.value.clone()).collect(),
        rrule_line: raw.get("RRULE").map_or(raw.line, |p| p.line),
        rdates,
        exdates,
        recurrence_id,
        cancelled,
        created,
        kind: event_type(raw, opts),
        resource: event_resource(raw, opts),
    })
}

/// The type: the first non-empty CATEGORIES value (mapped, else normalised),
/// else the first SUMMARY rule that matches. The SUMMARY text is not kept.
fn event_type(raw: &RawEvent, opts: &Options) -> Option<String> {
    let from_categories = raw
        .all("CATEGORIES")
        .flat_map(|p| text_list(&p.value))
        .map(|c| opts.map_type(&c))
        .find(|t| !t.is_empty());
    from_categories.or_else(|| {
        let summary = unescape(&raw.get("SUMMARY")?.value).to_lowercase();
        opts.summary_types
            .iter()
            .find(|r| summary.contains(&r.contains.trim().to_lowercase()))
            .map(|r| super::normalise_type(&r.kind))
            .filter(|t| !t.is_empty())
    })
}

fn event_resource(raw: &RawEvent, opts: &Options) -> Option<String> {
    let first = |name: &str| {
        raw.get(name)
            .and_then(|p| text_list(&p.value).into_iter().next())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    first("RESOURCES").or_else(|| {
        if opts.location_as_resource {
            raw.get("LOCATION")
                .map(|p| unescape(&p.value).trim().to_string())
                .filter(|s| !s.is_empty())
        } else {
            None
        }
    })
}

/// UNTIL must be UTC when DTSTART has a zone (RFC 5545 §3.3.10); exports also
/// write a DATE or a floating time. Rewrite those to UTC in the event's zone
/// (a DATE means the end of that local day).
fn normalise_until(rule: &str, tz: Tz) -> String {
    rule.split(';')
        .map(|part| {
            let Some((k, v)) = part.split_once('=') else {
                return part.to_string();
            };
            if !k.trim().eq_ignore_ascii_case("UNTIL") || v.ends_with('Z') {
                return part.to_string();
            }
            let local = if v.len() == 8 {
                NaiveDate::parse_from_str(v, "%Y%m%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(23, 59, 59))
            } else {
                NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").ok()
            };
            match local.and_then(|t| local_to_utc(t, tz)) {
                Some(u) => format!("UNTIL={}", u.format("%Y%m%dT%H%M%SZ")),
                None => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// What is wrong with an RRULE. Parse errors quote the text, so only their
/// kind is kept; validation errors name fields and dates.
fn rrule_problem(e: rrule::RRuleError) -> String {
    match e {
        rrule::RRuleError::ValidationError(v) => format!("RRULE: {v}"),
        rrule::RRuleError::ParserError(_) => {
            "RRULE: expected FREQ=…;… as in RFC 5545 §3.3.10 (cannot parse the rule)".into()
        }
        rrule::RRuleError::IterError(_) => "RRULE: cannot expand the rule".into(),
    }
}

/// The start instants of an event's instances: RRULE and RDATE expanded in
/// the event's zone from DTSTART, minus EXDATE and overridden instances, up
/// to the window's end (or [`DEFAULT_EXPANSION_DAYS`] past DTSTART).
fn expand(
    ev: &Event,
    opts: &Options,
    overridden: &HashSet<(String, i64)>,
) -> std::result::Result<Vec<DateTime<Utc>>, String> {
    let replaced = |t: &DateTime<Utc>| {
        ev.recurrence_id.is_none() && overridden.contains(&(ev.uid.clone(), t.timestamp()))
    };
    if ev.rrules.is_empty() && ev.rdates.is_empty() {
        return Ok(if replaced(&ev.start) {
            vec![]
        } else {
            vec![ev.start]
        });
    }
    // RFC 5545 recurrence rules are ASCII; the rrule crate slices them by
    // byte offset and panics inside a multi-byte character (found by fuzzing).
    if ev.rrules.iter().any(|r| !r.is_ascii()) {
        return Err("RRULE: expected ASCII text as in RFC 5545 §3.3.10".into());
    }
    // Defence in depth: the rrule crate is third-party code fed untrusted
    // input; should it panic on a rule the guard above lets through, that
    // event becomes a bad entry instead of taking the controller down.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        expand_rules(ev, opts, &replaced)
    }))
    .unwrap_or_else(|_| Err("RRULE: the recurrence library failed on this rule".into()))
}

/// [`expand`] for events with RRULE or RDATE.
fn expand_rules(
    ev: &Event,
    opts: &Options,
    replaced: &dyn Fn(&DateTime<Utc>) -> bool,
) -> std::result::Result<Vec<DateTime<Utc>>, String> {
    let rtz = rrule::Tz::Tz(ev.tz);
    let dtstart = ev.start.with_timezone(&rtz);
    let mut set = RRuleSet::new(dtstart);
    for r in &ev.rrules {
        let rule: RRule<Unvalidated> = normalise_until(r, ev.tz).parse().map_err(rrule_problem)?;
        set = set.rrule(rule.validate(dtstart).map_err(rrule_problem)?);
    }
    // DTSTART is always the first instance (RFC 5545 §3.8.5.3).
    set = set.rdate(dtstart);
    for d in &ev.rdates {
        set = set.rdate(d.with_timezone(&rtz));
    }
    for d in &ev.exdates {
        set = set.exdate(d.with_timezone(&rtz));
    }
    let set = set.limit();
    let end = match opts.window {
        Some((_, to)) => to,
        None => ev
            .start
            .checked_add_signed(TimeDelta::days(DEFAULT_EXPANSION_DAYS))
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
    };
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    for (n, t) in (&set).into_iter().enumerate() {
        let t = t.with_timezone(&Utc);
        if t >= end {
            break;
        }
        if n >= MAX_INSTANCES {
            return Err(format!(
                "recurrence has more than {MAX_INSTANCES} instances before the end of the window"
            ));
        }
        if !replaced(&t) && out.last() != Some(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_is_the_booking_time_and_dtstamp_is_not() {
        let text = "BEGIN:VCALENDAR\r\n\
BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260301T120000Z\r\nCREATED:20260220T081500Z\r\n\
DTSTART:20260302T080000Z\r\nDTEND:20260302T083000Z\r\nCATEGORIES:CT-SIM\r\n\
RRULE:FREQ=DAILY;COUNT=2\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260301T120000Z\r\n\
DTSTART:20260302T090000Z\r\nDTEND:20260302T093000Z\r\nCATEGORIES:MR-SIM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:c\r\nCREATED;VALUE=DATE:20260301\r\n\
DTSTART:20260302T100000Z\r\nDTEND:20260302T103000Z\r\nCATEGORIES:MR-SIM\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";
        let l = parse(text, "f.ics", &Options::new(chrono_tz::Europe::Berlin)).unwrap();
        assert_eq!(
            crate::schedule::booked_times(&l.appointments),
            vec![
                // a on 2 March, b, c, then a's second instance on 3 March.
                Some("2026-02-20T08:15:00+00:00".into()),
                None,
                // A date: the end of 1 March in Berlin.
                Some("2026-03-01T23:00:00+00:00".into()),
                Some("2026-02-20T08:15:00+00:00".into()),
            ]
        );
    }

    #[test]
    fn a_bad_created_names_the_event_and_its_line() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x-1\nCREATED:last tuesday\n\
DTSTART:20260302T080000Z\nDTEND:20260302T083000Z\nCATEGORIES:CT\nEND:VEVENT\nEND:VCALENDAR\n";
        let mut o = Options::new(chrono_tz::UTC);
        o.mode = crate::schedule::ParseMode::Strict;
        let e = parse(text, "f.ics", &o).unwrap_err().to_string();
        assert!(
            e.starts_with("f.ics:4: event UID x-1: CREATED: expected a DATE-TIME"),
            "{e}"
        );
        assert!(!e.contains("tuesday"), "{e}");
    }

    #[test]
    fn unfolds_and_splits_content_lines() {
        let lines = unfold("BEGIN:VEVENT\r\nSUMMARY:CT\r\n  planning\r\nEND:VEVENT\r\n");
        assert_eq!(lines[1], (2, "SUMMARY:CT planning".to_string()));
        let p = parse_prop(
            r#"DTSTART;TZID="W. Europe Standard Time":20260302T073000"#,
            7,
        )
        .unwrap();
        assert_eq!(p.name, "DTSTART");
        assert_eq!(p.param("tzid"), Some("W. Europe Standard Time"));
        assert_eq!(p.value, "20260302T073000");
        assert!(parse_prop("NO COLON HERE", 1).is_err());
        assert_eq!(text_list(r"A\, B,C"), vec!["A, B".to_string(), "C".into()]);
    }

    #[test]
    fn durations_and_offsets() {
        assert_eq!(parse_duration("PT30M"), Some(TimeDelta::minutes(30)));
        assert_eq!(parse_duration("P1DT2H"), Some(TimeDelta::hours(26)));
        assert_eq!(parse_duration("P1W"), Some(TimeDelta::days(7)));
        assert_eq!(parse_duration("P"), None);
        assert_eq!(parse_duration("PT"), None);
        assert_eq!(parse_duration("P1H"), None);
        assert_eq!(parse_utc_offset("+0100"), Some(3600));
        assert_eq!(parse_utc_offset("-0530"), Some(-19800));
        assert_eq!(parse_utc_offset("0100"), None);
    }

    #[test]
    fn resolves_windows_and_unknown_zone_names() {
        let berlin = chrono_tz::Europe::Berlin;
        let zones = resolve_zones(
            &[
                RawZone {
                    tzid: Some("W. Europe Standard Time".into()),
                    location: None,
                    offsets: vec![3600, 7200],
                },
                RawZone {
                    tzid: Some("Customized Time Zone".into()),
                    location: None,
                    offsets: vec![3600, 7200],
                },
                RawZone {
                    tzid: Some("Somewhere Else".into()),
                    location: None,
                    offsets: vec![-18000, -14400],
                },
            ],
            berlin,
        );
        assert_eq!(zones.get("W. Europe Standard Time"), Some(&berlin));
        assert_eq!(zones.get("Customized Time Zone"), Some(&berlin));
        assert!(zone_for("Somewhere Else", &zones).is_err());
        assert_eq!(
            zone_for("/mozilla.org/20050126_1/Europe/Vienna", &zones),
            Ok(chrono_tz::Europe::Vienna)
        );
    }

    #[test]
    fn until_as_date_or_floating_becomes_utc() {
        let tz = chrono_tz::Europe::Berlin;
        assert_eq!(
            normalise_until("FREQ=WEEKLY;UNTIL=20260401;BYDAY=MO", tz),
            "FREQ=WEEKLY;UNTIL=20260401T215959Z;BYDAY=MO"
        );
        assert_eq!(
            normalise_until("FREQ=DAILY;UNTIL=20260105T073000", tz),
            "FREQ=DAILY;UNTIL=20260105T063000Z"
        );
    }
}
