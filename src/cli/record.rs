//! `planscale record`: turn a range of Prometheus history into a recording
//! (the CSV that `simulate` and `forecast` read), with one column for every
//! series the policy names (`demand.arrivals`, `demand.queue_depth`,
//! `demand.cpu`), each fetched with its `query`.
//!
//! All series are fetched before anything is written, and the file is written
//! under a temporary name and renamed at the end, so a failed run never leaves
//! a file that looks complete.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};

use crate::policy::{Duration, LoadedPolicy, Policy, PolicyErrors};
use crate::recording::Recording;
use crate::series::Grid;
use crate::sources::error::SourceError;
use crate::sources::http::{BasicAuth, HttpConfig, RetryPolicy};
use crate::sources::prometheus::{PrometheusClient, PrometheusConfig};

/// Arguments of `planscale record`.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordArgs {
    /// Prometheus base URL, e.g. http://prometheus.monitoring:9090.
    #[arg(long, env = "PLANSCALE_PROMETHEUS_URL")]
    pub prometheus: String,
    /// The policy file whose series are recorded.
    #[arg(long)]
    pub policy: PathBuf,
    /// First instant: RFC 3339 (2026-03-02T00:00:00Z), a date (2026-03-02,
    /// midnight UTC), `now` or `now-28d`.
    #[arg(long)]
    pub from: String,
    /// End of the range (exclusive), in the same forms as --from.
    #[arg(long)]
    pub to: String,
    /// Step of the recording, e.g. 1m or 5m (default: the policy's forecast.step).
    #[arg(long)]
    pub step: Option<String>,
    /// The recording to write (CSV).
    #[arg(long)]
    pub out: PathBuf,
    /// Longest wait for one Prometheus answer.
    #[arg(long, default_value = "30s")]
    pub timeout: String,
    /// Attempts per request, including the first (transient failures only).
    #[arg(long, default_value_t = 4)]
    pub attempts: u32,
    /// File holding a bearer token for Prometheus.
    #[arg(long, env = "PLANSCALE_PROMETHEUS_TOKEN_FILE")]
    pub bearer_token_file: Option<PathBuf>,
    /// User name for HTTP basic auth (with --basic-auth-password-file).
    #[arg(long, requires = "basic_auth_password_file")]
    pub basic_auth_user: Option<String>,
    /// File holding the basic-auth password.
    #[arg(long, requires = "basic_auth_user")]
    pub basic_auth_password_file: Option<PathBuf>,
    /// PEM file of the CA that signed Prometheus's certificate (https URLs).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

/// What went wrong in `record`.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Policy(#[from] PolicyErrors),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A command-line value that cannot be used.
    #[error("--{flag}: {message}")]
    Arg { flag: &'static str, message: String },
    /// The policy does not say how to fetch one of its series.
    #[error("{}: {field}: {message}", file.display())]
    PolicyField {
        file: PathBuf,
        field: String,
        message: String,
    },
    #[error("cannot write the recording {}: {message}", path.display())]
    Write { path: PathBuf, message: String },
}

impl RecordError {
    /// A short, bounded name for metric labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::Policy(_) => "policy",
            RecordError::Source(e) => e.kind(),
            RecordError::Arg { .. } => "argument",
            RecordError::PolicyField { .. } => "policy_field",
            RecordError::Write { .. } => "write",
        }
    }
}

pub type Result<T, E = RecordError> = std::result::Result<T, E>;

/// One column of the recording and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The policy field that names it (`demand.arrivals`).
    pub field: String,
    /// Column name in the recording.
    pub series: String,
    /// PromQL that yields it.
    pub query: String,
}

/// What was recorded, per column.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    pub out: PathBuf,
    pub grid: Grid,
    /// `(column, missing points)`.
    pub columns: Vec<(String, usize)>,
}

/// The columns a policy needs, in order arrivals, queue depth, CPU. Every
/// series must have a `query`; two fields naming one column must agree.
pub fn columns_for(policy: &LoadedPolicy) -> Result<Vec<Column>> {
    let d = &policy.policy.demand;
    let refs = [
        ("demand.arrivals", Some(&d.arrivals)),
        ("demand.queue_depth", d.queue_depth.as_ref()),
        ("demand.cpu", d.cpu.as_ref()),
    ];
    let mut columns: Vec<Column> = Vec::new();
    for (field, r) in refs {
        let Some(r) = r else { continue };
        let query = r
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .ok_or_else(|| RecordError::PolicyField {
                file: policy.path.clone(),
                field: format!("{field}.query"),
                message: format!(
                    "expected a PromQL query for the series {:?} to record it from Prometheus, found none",
                    r.series
                ),
            })?;
        if let Some(other) = columns.iter().find(|c| c.series == r.series) {
            if other.query != query {
                return Err(RecordError::PolicyField {
                    file: policy.path.clone(),
                    field: format!("{field}.series"),
                    message: format!(
                        "column {:?} is also {} with another query ({:?} vs {:?})",
                        r.series, other.field, other.query, query
                    ),
                });
            }
            continue;
        }
        columns.push(Column {
            field: field.to_string(),
            series: r.series.clone(),
            query: query.to_string(),
        });
    }
    Ok(columns)
}

/// Fetch every column on `grid`. A query that yields no series is an error
/// naming the policy field (a misspelt metric would otherwise record nothing
/// but gaps); non-finite values (`NaN`, `±Inf`) are recorded as missing.
pub async fn fetch(client: &PrometheusClient, columns: &[Column], grid: Grid) -> Result<Recording> {
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        tracing::info!(series = %c.series, query = %c.query, points = grid.len, "recording");
        let series =
            client
                .query_steps(&c.query, grid)
                .await?
                .ok_or_else(|| SourceError::NoSeries {
                    query: c.query.clone(),
                    field: c.field.clone(),
                    from: rfc3339(grid.start),
                    to: rfc3339(grid.end()),
                })?;
        let values = series
            .values
            .into_iter()
            .map(|v| if v.is_finite() { v } else { f64::NAN })
            .collect();
        out.push((c.series.clone(), values));
    }
    Ok(Recording { grid, columns: out })
}

/// Write `recording` to `path` as CSV through a temporary file in the same
/// folder (hidden, not ending in `.csv`), renamed into place once complete.
pub fn write_atomically(recording: &Recording, path: &Path) -> Result<()> {
    let err = |e: std::io::Error| RecordError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut bytes = Vec::new();
    recording.write_csv(&mut bytes).map_err(err)?;
    crate::util::write_atomic(path, &bytes).map_err(err)
}

/// Parse an instant: RFC 3339, a date (midnight UTC), `now` or `now-<duration>`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Some(ago) = s.strip_prefix("now-") {
        let d = Duration::parse(ago)?;
        return Ok(now - TimeDelta::seconds(d.secs_i64()));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "expected an RFC 3339 time (2026-03-02T08:00:00Z), a date (2026-03-02), `now` or `now-28d`, found {s:?}"
    ))
}

/// The grid of the complete steps in `[from, to)` at `step_secs`: points
/// `from + k * step` whose step ends by `to` (a step still running at `to`,
/// e.g. with `--to now`, is not recorded half-full).
pub fn grid_between(from: DateTime<Utc>, to: DateTime<Utc>, step_secs: i64) -> Result<Grid> {
    if to <= from {
        return Err(RecordError::Arg {
            flag: "to",
            message: format!(
                "expected a time after --from ({}), found {}",
                rfc3339(from),
                rfc3339(to)
            ),
        });
    }
    let span_ms = (to - from).num_milliseconds();
    let step_ms = step_secs * 1000;
    let len = (span_ms / step_ms) as usize;
    if len == 0 {
        return Err(RecordError::Arg {
            flag: "to",
            message: format!(
                "expected at least one whole step of {step_secs}s after --from ({}), found {}",
                rfc3339(from),
                rfc3339(to)
            ),
        });
    }
    Ok(Grid::new(from, step_secs, len))
}

impl RecordArgs {
    /// The Prometheus client settings these arguments describe.
    pub fn prometheus_config(&self) -> Result<PrometheusConfig> {
        let timeout = Duration::parse(&self.timeout).map_err(|message| RecordError::Arg {
            flag: "timeout",
            message,
        })?;
        let basic_auth = match (&self.basic_auth_user, &self.basic_auth_password_file) {
            (Some(u), Some(p)) => Some(BasicAuth {
                username: u.clone(),
                password_file: p.clone(),
            }),
            _ => None,
        };
        Ok(PrometheusConfig {
            url: self.prometheus.clone(),
            http: HttpConfig {
                timeout,
                retry: RetryPolicy {
                    attempts: self.attempts,
                    ..RetryPolicy::default()
                },
                bearer_token_file: self.bearer_token_file.clone(),
                basic_auth,
                ca_file: self.ca_file.clone(),
            },
        })
    }
}

/// `planscale record`: load the policy, fetch its series from Prometheus over
/// `[--from, --to)`, write the recording, and print one line per column to `out`.
pub fn record(args: &RecordArgs, out: &mut dyn Write) -> Result<RecordSummary> {
    let policy = Policy::load(&args.policy)?;
    let columns = columns_for(&policy)?;
    let step_secs = match &args.step {
        Some(s) => {
            let d = Duration::parse(s).map_err(|message| RecordError::Arg {
                flag: "step",
                message,
            })?;
            if d.is_zero() {
                return Err(RecordError::Arg {
                    flag: "step",
                    message: "expected a positive duration, found 0s".into(),
                });
            }
            d.secs_i64()
        }
        None => policy.policy.step_secs(),
    };
    let now = Utc::now();
    let from = parse_time(&args.from, now).map_err(|message| RecordError::Arg {
        flag: "from",
        message,
    })?;
    let to = parse_time(&args.to, now).map_err(|message| RecordError::Arg {
        flag: "to",
        message,
    })?;
    let grid = grid_between(from, to, step_secs)?;
    let client = args.prometheus_config()?.build()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RecordError::Write {
            path: args.out.clone(),
            message: format!("cannot start the I/O runtime: {e}"),
        })?;
    let recording = runtime.block_on(fetch(&client, &columns, grid))?;
    write_atomically(&recording, &args.out)?;
    let summary = RecordSummary {
        out: args.out.clone(),
        grid,
        columns: recording
            .columns
            .iter()
            .map(|(n, v)| (n.clone(), v.iter().filter(|x| x.is_nan()).count()))
            .collect(),
    };
    let line = |out: &mut dyn Write| -> std::io::Result<()> {
        writeln!(
            out,
            "wrote {}: {} points from {} to {} every {}s",
            summary.out.display(),
            grid.len,
            rfc3339(grid.start),
            rfc3339(grid.end()),
            grid.step_secs
        )?;
        for ((name, missing), c) in summary.columns.iter().zip(&columns) {
            writeln!(out, "  {name} ({}): {missing} missing", c.field)?;
        }
        Ok(())
    };
    line(out).map_err(|e| RecordError::Write {
        path: PathBuf::from("<stdout>"),
        message: e.to_string(),
    })?;
    Ok(summary)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::SeriesRef;
    use chrono::TimeZone;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
    }

    fn loaded(p: Policy) -> LoadedPolicy {
        LoadedPolicy {
            path: "clinic/dose.yaml".into(),
            policy: p,
        }
    }

    fn sref(series: &str, query: Option<&str>) -> SeriesRef {
        SeriesRef {
            series: series.into(),
            query: query.map(str::to_string),
        }
    }

    #[test]
    fn every_named_series_becomes_a_column() {
        let mut p = Policy::test();
        p.demand.arrivals = sref("arrivals", Some("sum(increase(jobs_total[5m]))"));
        p.demand.queue_depth = Some(sref("queue", Some("sum(jobs_waiting)")));
        p.demand.cpu = Some(sref("cpu", Some("avg(cpu)")));
        let cols = columns_for(&loaded(p)).unwrap();
        let names: Vec<&str> = cols.iter().map(|c| c.series.as_str()).collect();
        assert_eq!(names, vec!["arrivals", "queue", "cpu"]);
        assert_eq!(cols[1].field, "demand.queue_depth");
        assert_eq!(cols[1].query, "sum(jobs_waiting)");
    }

    #[test]
    fn a_missing_query_names_the_policy_field() {
        let mut p = Policy::test();
        p.demand.arrivals = sref("arrivals", Some("sum(x)"));
        p.demand.cpu = Some(sref("cpu", None));
        let e = columns_for(&loaded(p)).unwrap_err().to_string();
        assert!(
            e.starts_with("clinic/dose.yaml: demand.cpu.query: expected a PromQL query"),
            "{e}"
        );
        let mut p = Policy::test();
        p.demand.arrivals = sref("arrivals", Some("  "));
        let e = columns_for(&loaded(p)).unwrap_err().to_string();
        assert!(e.contains("demand.arrivals.query"), "{e}");
    }

    #[test]
    fn one_column_named_twice_must_have_one_query() {
        let mut p = Policy::test();
        p.demand.arrivals = sref("jobs", Some("a"));
        p.demand.queue_depth = Some(sref("jobs", Some("a")));
        assert_eq!(columns_for(&loaded(p.clone())).unwrap().len(), 1);
        p.demand.queue_depth = Some(sref("jobs", Some("b")));
        let e = columns_for(&loaded(p)).unwrap_err().to_string();
        assert!(e.contains("demand.queue_depth.series"), "{e}");
    }

    #[test]
    fn times_in_every_accepted_form() {
        let now = t0() + TimeDelta::hours(5);
        assert_eq!(parse_time("2026-03-02T00:00:00Z", now).unwrap(), t0());
        assert_eq!(parse_time("2026-03-02T01:00:00+01:00", now).unwrap(), t0());
        assert_eq!(parse_time("2026-03-02", now).unwrap(), t0());
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("now-5h", now).unwrap(), t0());
        let e = parse_time("yesterday", now).unwrap_err();
        assert!(e.contains("\"yesterday\""), "{e}");
        assert!(parse_time("now-5x", now).is_err());
    }

    #[test]
    fn the_grid_covers_the_complete_steps_from_up_to_to() {
        let g = grid_between(t0(), t0() + TimeDelta::hours(1), 60).unwrap();
        assert_eq!((g.start, g.len), (t0(), 60));
        // The step from 00:01 is still running at 00:01:01: not recorded.
        let g = grid_between(t0(), t0() + TimeDelta::seconds(61), 60).unwrap();
        assert_eq!(g.len, 1);
        let e = grid_between(t0(), t0() + TimeDelta::seconds(59), 60).unwrap_err();
        assert!(e.to_string().contains("at least one whole step"), "{e}");
        let e = grid_between(t0(), t0(), 60).unwrap_err().to_string();
        assert!(e.starts_with("--to: expected a time after --from"), "{e}");
    }

    #[tokio::test]
    async fn non_finite_values_are_recorded_as_missing() {
        use crate::sources::fake_http::{FakeServer, Reply};
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1772409660,"2"],[1772409720,"+Inf"],[1772409780,"NaN"],[1772409840,"-Inf"]]}]}}"#;
        let server = FakeServer::start(move |_, _| Reply::json(200, body)).await;
        let client = PrometheusConfig::new(&server.url).build().unwrap();
        let cols = vec![Column {
            field: "demand.arrivals".into(),
            series: "arrivals".into(),
            query: "q".into(),
        }];
        // Steps stamped t0.. are evaluated at their ends, t0 + 1 min ...
        let rec = fetch(&client, &cols, Grid::new(t0(), 60, 4)).await.unwrap();
        let v = &rec.columns[0].1;
        assert_eq!(v[0], 2.0);
        assert!(v[1..].iter().all(|x| x.is_nan()), "{v:?}");
    }

    #[test]
    fn command_line_settings_become_the_client_settings() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: RecordArgs,
        }
        let parse = |extra: &[&str]| {
            let mut argv = vec![
                "planscale",
                "--prometheus",
                "http://p:9090",
                "--policy",
                "p.yaml",
                "--from",
                "now-1d",
                "--to",
                "now",
                "--out",
                "r.csv",
            ];
            argv.extend_from_slice(extra);
            Cli::try_parse_from(argv).map(|c| c.args)
        };
        let args = parse(&[
            "--timeout",
            "2m",
            "--attempts",
            "2",
            "--basic-auth-user",
            "ops",
            "--basic-auth-password-file",
            "/run/pw",
            "--ca-file",
            "/run/ca.pem",
        ])
        .unwrap();
        let c = args.prometheus_config().unwrap();
        assert_eq!(c.url, "http://p:9090");
        assert_eq!(c.http.timeout, Duration::from_mins(2));
        assert_eq!(c.http.retry.attempts, 2);
        assert_eq!(
            c.http.basic_auth.unwrap().password_file,
            PathBuf::from("/run/pw")
        );
        assert_eq!(c.http.ca_file, Some(PathBuf::from("/run/ca.pem")));
        // A user without a password file is refused by the parser.
        assert!(parse(&["--basic-auth-user", "ops"]).is_err());
        let e = parse(&["--timeout", "soon"])
            .unwrap()
            .prometheus_config()
            .unwrap_err();
        assert!(e.to_string().starts_with("--timeout: "), "{e}");
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recording {
            grid: Grid::new(t0(), 60, 2),
            columns: vec![("a".into(), vec![1.0, f64::NAN])],
        };
        let out = dir.path().join("rec.csv");
        write_atomically(&rec, &out).unwrap();
        let back = Recording::read(&out).unwrap();
        assert_eq!(back.grid, rec.grid);
        assert_eq!(back.columns[0].1[0], 1.0);
        assert!(back.columns[0].1[1].is_nan());
        // Into a folder that does not exist: an error, and nothing left behind.
        let missing = dir.path().join("absent").join("rec.csv");
        let e = write_atomically(&rec, &missing).unwrap_err();
        assert_eq!(e.kind(), "write");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("rec.csv")]);
    }
}
