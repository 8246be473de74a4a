//! `planscale schedule …` subcommands: argument types and their library
//! functions (main only dispatches here).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use chrono::{NaiveDate, TimeDelta};
use chrono_tz::Tz;

use crate::policy::Policy;
use crate::schedule::{
    CsvColumns, Error, Format, HttpGet, Loaded, Options, ParseMode, Result, SourceSpec, csv_source,
    fhir, ics, local_to_utc, read_text_file, redact_url, summarize,
};
use crate::sources::schedule_http::Http;

#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ScheduleCommand {
    /// Count appointments per local date and type.
    Summarize(SummarizeArgs),
}

#[derive(Debug, clap::Args)]
pub struct SummarizeArgs {
    /// A schedule file (CSV, iCalendar or FHIR JSON), or an http(s) URL of an
    /// iCalendar feed or a FHIR server base (the latter needs --from and --to).
    pub file: String,
    /// Input format; guessed from the extension (.csv, .ics, .json) if absent.
    #[arg(long)]
    #[arg(value_parser = clap::builder::ValueParser::new(Format::from_str))]
    pub format: Option<Format>,
    /// The clinic's IANA time zone (default: the policy's, else UTC).
    #[arg(long)]
    pub timezone: Option<String>,
    /// Print one JSON array of {"date","type","count"} sorted by date then type.
    #[arg(long)]
    pub json: bool,
    /// Take type mapping, CSV columns, SUMMARY rules and mode from this policy's `schedule:` section.
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Fail on the first bad entry instead of skipping and counting it.
    #[arg(long)]
    pub strict: bool,
    /// First local date to count (inclusive).
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last local date to count (inclusive).
    #[arg(long)]
    pub to: Option<NaiveDate>,
}

/// Run a `schedule` subcommand.
pub fn run(args: &ScheduleArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    match &args.command {
        ScheduleCommand::Summarize(a) => summarize_command(a, out, err),
    }
}

/// `planscale schedule summarize`: appointments per local date and type to
/// `out`; counts of skipped entries and their messages to `err`.
pub fn summarize_command(
    args: &SummarizeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode> {
    let spec = match &args.policy {
        Some(p) => {
            let loaded = Policy::load(p).map_err(|e| Error::Spec(e.to_string()))?;
            Some(loaded.policy.schedule.ok_or_else(|| {
                Error::Spec(format!(
                    "{}: the policy has no schedule section",
                    p.display()
                ))
            })?)
        }
        None => None,
    };
    let mut opts = match &spec {
        Some(s) => s.options(),
        None => Options::new(Tz::UTC),
    };
    if let Some(name) = &args.timezone {
        opts.tz = Tz::from_str(name).map_err(|_| {
            Error::Spec(format!(
                "--timezone: expected an IANA time zone such as Europe/Berlin, found {name:?}"
            ))
        })?;
    }
    if args.strict {
        opts.mode = ParseMode::Strict;
    }
    let day_start = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .and_then(|t| local_to_utc(t, opts.tz))
            .ok_or_else(|| Error::Spec(format!("date {d} is out of range")))
    };
    opts.window = match (args.from, args.to) {
        (None, None) => None,
        (from, to) => {
            let from = match from {
                Some(d) => day_start(d)?,
                None => chrono::DateTime::<chrono::Utc>::MIN_UTC,
            };
            let to = match to.and_then(|d| d.checked_add_signed(TimeDelta::days(1))) {
                Some(d) => day_start(d)?,
                None => chrono::DateTime::<chrono::Utc>::MAX_UTC,
            };
            Some((from, to))
        }
    };
    let format = args
        .format
        .or_else(|| match spec.as_ref().map(|s| &s.source) {
            Some(SourceSpec::Csv { .. }) => Some(Format::Csv),
            Some(SourceSpec::Ics { .. }) => Some(Format::Ics),
            Some(SourceSpec::Fhir { .. }) => Some(Format::Fhir),
            None => None,
        })
        .or_else(|| Format::from_name(&args.file))
        .ok_or_else(|| {
            Error::Spec(format!(
                "cannot tell the format of {}: pass --format csv, ics or fhir",
                shown_input(&args.file)
            ))
        })?;
    let columns = match spec.as_ref().map(|s| &s.source) {
        Some(SourceSpec::Csv { columns, .. }) => columns.clone(),
        _ => CsvColumns::default(),
    };
    let loaded = load_input(&args.file, format, &opts, &columns)?;
    tracing::debug!(
        appointments = loaded.appointments.len(),
        skipped = loaded.skipped,
        dropped = loaded.dropped,
        "schedule read"
    );
    let days = summarize(&loaded.appointments, opts.tz);
    let io = |source| Error::Io {
        file: "<stdout>".into(),
        source,
    };
    if args.json {
        let text = serde_json::to_string_pretty(&days).map_err(|e| Error::Spec(e.to_string()))?;
        writeln!(out, "{text}").map_err(io)?;
    } else {
        let w = days.iter().map(|d| d.kind.len()).max().unwrap_or(4).max(4);
        writeln!(out, "{:<10}  {:<w$}  {:>5}", "date", "type", "count").map_err(io)?;
        for d in &days {
            writeln!(out, "{}  {:<w$}  {:>5}", d.date, d.kind, d.count).map_err(io)?;
        }
    }
    report(&loaded, err).map_err(|source| Error::Io {
        file: "<stderr>".into(),
        source,
    })?;
    Ok(ExitCode::SUCCESS)
}

fn report(l: &Loaded, err: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        err,
        "appointments: {}; bad entries skipped: {}; left out (cancelled, no-show, all-day or without a type): {}",
        l.appointments.len(),
        l.skipped,
        l.dropped
    )?;
    for p in &l.problems {
        writeln!(err, "skipped: {p}")?;
    }
    if l.skipped > l.problems.len() {
        writeln!(err, "skipped: … and {} more", l.skipped - l.problems.len())?;
    }
    Ok(())
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn shown_input(s: &str) -> String {
    if is_url(s) {
        redact_url(s)
    } else {
        s.to_string()
    }
}

fn load_input(input: &str, format: Format, opts: &Options, columns: &CsvColumns) -> Result<Loaded> {
    if is_url(input) {
        let label = redact_url(input);
        return match format {
            Format::Fhir => {
                let w = opts.window.ok_or_else(|| {
                    Error::Spec("a FHIR server search needs --from and --to".into())
                })?;
                fhir::search(input, w, opts, &Http)
            }
            Format::Ics => ics::parse(&Http.get_text(input, "text/calendar")?, &label, opts),
            Format::Csv => {
                csv_source::parse(&Http.get_text(input, "text/csv")?, &label, opts, columns)
            }
        };
    }
    let path = Path::new(input);
    let text = read_text_file(path)?;
    crate::schedule::parse_with_columns(format, &text, input, opts, columns)
}
