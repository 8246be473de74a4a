//! Command-line interface: argument types and one library function per
//! subcommand, so that tests can call every subcommand without a process.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::policy;

pub mod department;
pub mod forecast;
pub mod record;
pub mod run;
pub mod schedule;

/// planscale: predictive autoscaling for treatment-planning workloads.
#[derive(Debug, Parser)]
#[command(name = "planscale", version, about, long_about = None)]
pub struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `planscale=debug`.
    #[arg(long, global = true, env = "PLANSCALE_LOG", default_value = "warn")]
    pub log: String,
    /// Log format: `text` for people, `json` in-cluster.
    #[arg(
        long,
        global = true,
        env = "PLANSCALE_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check policy files (files or directories); exit 0 when all are valid.
    Validate(ValidateArgs),
    /// Generate a seeded example department: its appointment book, a recording and a policy.
    Example(ExampleArgs),
    /// Replay a recording: predictive vs the HPA vs static vs the oracle.
    ///
    /// With no arguments, runs the bundled clinic example (auto-contouring).
    Simulate(SimulateArgs),
    /// Forecast a policy's demand from a recording: quantiles, model choice and why, replicas.
    Forecast(forecast::ForecastArgs),
    /// Record a policy's series from Prometheus into a recording (CSV) for simulate and forecast.
    Record(Box<record::RecordArgs>),
    /// Read and summarise clinic schedules (CSV, iCalendar, FHIR).
    Schedule(schedule::ScheduleArgs),
    /// Run the in-cluster controller: forecast, decide and act for every policy in a directory.
    Run(Box<run::RunArgs>),
}

/// What `simulate` and `forecast` replay: a policy, a recording and a schedule.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// Policy file (default: the bundled auto-contouring policy).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Recording (CSV, or Prometheus query_range JSON); required with --policy.
    #[arg(long)]
    pub recording: Option<PathBuf>,
    /// Schedule file: CSV, iCalendar or FHIR JSON (default: the policy's schedule source, if any).
    #[arg(long)]
    pub schedule: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub inputs: InputArgs,
    /// Output directory for report.json, report.md, report.html and the figures (chart.svg first).
    #[arg(long, default_value = "planscale-report")]
    pub out: PathBuf,
    /// Strategies (comma-separated): predictive, predictive-via-keda, hpa, hpa:PERCENT,
    /// hpa:tuned, keda, keda:THRESHOLD, keda:tuned, oracle, static:N, static:match.
    #[arg(
        long,
        default_value = "predictive,hpa,hpa:tuned,keda,keda:tuned,static:match,oracle"
    )]
    pub strategies: String,
    /// Time replayed before measuring starts (the predictive strategy learns from it).
    #[arg(long, default_value = "14d")]
    pub warmup: String,
    /// A directory of policies replayed together as a pipeline (instead of --policy): each
    /// stage's forecast reads the simulated completions of its `demand.upstream`.
    #[arg(long)]
    pub policies: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ExampleArgs {
    /// Which department: `clinic` (the bundled one), `centre` (PET-CT and 4D-CT
    /// in Zurich), `mrlinac` (adaptive MR-Linac in Amsterdam, weekend sessions)
    /// or `community` (Chicago, dose work the next working morning, many late
    /// bookings). docs/ARCHITECTURE.md, "Example data", describes each.
    #[arg(long, default_value = "clinic")]
    pub department: String,
    /// Seed of the random generator; the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory (created); `recording.csv`, `schedule.csv` and `policy.yaml`
    /// (the bundled auto-contouring policy fitted to the department, reading
    /// `schedule.csv` beside it) are written there.
    #[arg(long)]
    pub out: PathBuf,
    /// Recording step (default: the department's, 5m); e.g. `1m` for a 1-minute recording.
    #[arg(long)]
    pub step: Option<String>,
    /// Days to generate (default: the department's, 56 for `clinic`).
    #[arg(long)]
    pub days: Option<u32>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Policy files or directories of them.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Set up tracing to stderr with the chosen filter and format.
pub fn init_tracing(cli: &Cli) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Run one parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate(&args, &mut std::io::stdout(), &mut std::io::stderr()),
        Command::Example(args) => {
            department::example(&args, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate(args) => {
            match &args.policies {
                Some(dir) => {
                    simulate_policies(&args, dir, &mut std::io::stdout())?;
                }
                None => {
                    simulate(&args, &mut std::io::stdout())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Forecast(args) => {
            forecast::run(&args, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Record(args) => {
            record::record(&args, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run::main(&args),
        Command::Schedule(args) => Ok(schedule::run(
            &args,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )?),
    }
}

/// `planscale validate`: prints one line per valid policy to `out` and every
/// error to `err`; exit code 0 when all are valid, 1 otherwise.
pub fn validate(args: &ValidateArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<ExitCode> {
    let (policies, errors) = policy::load_paths(&args.paths);
    for p in &policies {
        writeln!(
            out,
            "ok {}: {} ({} {}/{}, mode {}{}{})",
            p.path.display(),
            p.policy.name,
            p.policy.target.kind,
            p.policy.target.namespace,
            p.policy.target.name,
            p.policy.scaling.mode,
            pipeline_summary(&p.policy),
            calendar_summary(&p.policy)
        )?;
    }
    for e in &errors {
        writeln!(err, "error: {e}")?;
    }
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `; after auto-contouring` (its pipeline upstreams) for `validate`.
fn pipeline_summary(p: &crate::policy::Policy) -> String {
    let ups = p.upstream_names();
    if ups.is_empty() {
        String::new()
    } else {
        format!("; after {}", ups.join(", "))
    }
}

/// `; calendar Europe/Berlin: open 5 days a week, holidays DE, 12 closed dates
/// (+ url)` for `validate`: what the calendar resolved to (a closures file
/// included), so that a user sees the file was read.
fn calendar_summary(p: &crate::policy::Policy) -> String {
    let (Some(spec), Some(c)) = (&p.calendar, p.calendar()) else {
        return String::new();
    };
    let open = c.hours.iter().filter(|h| !h.is_empty()).count();
    let regions = spec.holidays.join(" ");
    format!(
        "; calendar {}: open {open} days a week, holidays {}, {} closed dates{}",
        c.timezone.name(),
        if regions.is_empty() { "none" } else { &regions },
        c.closed.len(),
        if spec.url().is_some() {
            " (+ those of its url, fetched by run)"
        } else {
            ""
        }
    )
}

/// The bundled example: policy, recording and schedule, compiled in so that
/// `planscale simulate` works from any directory.
pub mod bundled {
    pub const POLICY_PATH: &str = "policies/auto-contouring.yaml";
    pub const POLICY: &str = include_str!("../../policies/auto-contouring.yaml");
    pub const RECORDING_PATH: &str = "examples/clinic/recording.csv";
    pub const RECORDING: &str = include_str!("../../examples/clinic/recording.csv");
    pub const SCHEDULE_PATH: &str = "examples/clinic/schedule.csv";
    pub const SCHEDULE: &str = include_str!("../../examples/clinic/schedule.csv");
}

/// Load the inputs of `simulate`: the bundled example or the given files.
pub fn simulation_inputs(
    args: &InputArgs,
) -> Result<(
    crate::policy::Policy,
    crate::recording::Recording,
    Vec<crate::schedule::Appointment>,
)> {
    use crate::policy::Policy;
    use crate::recording::Recording;
    use anyhow::Context;
    let Some(policy_path) = &args.policy else {
        if args.recording.is_some() {
            anyhow::bail!("--recording needs --policy (which series to replay, at what capacity)");
        }
        let policy =
            Policy::from_str_named(bundled::POLICY, std::path::Path::new(bundled::POLICY_PATH))?;
        let recording = Recording::parse_csv(bundled::RECORDING, bundled::RECORDING_PATH)?;
        let schedule = match &args.schedule {
            Some(p) => crate::schedule::read_csv(p)?,
            None => crate::schedule::parse_csv(bundled::SCHEDULE, bundled::SCHEDULE_PATH)?,
        };
        return Ok((policy, recording, schedule));
    };
    let loaded = Policy::load(policy_path)?;
    let rec_path = args
        .recording
        .as_ref()
        .context("--policy needs --recording FILE (the recorded series to replay)")?;
    let recording = Recording::read(rec_path)?;
    let (policy, schedule) = policy_inputs(&loaded, args.schedule.as_deref())?;
    Ok((policy, recording, schedule))
}

/// A loaded policy as a replay uses it: its calendar's closures fetched,
/// and its appointments — from `schedule` when given (which also becomes the
/// policy's schedule section if it has none), else its own schedule source.
fn policy_inputs(
    loaded: &crate::policy::LoadedPolicy,
    schedule: Option<&std::path::Path>,
) -> Result<(crate::policy::Policy, Vec<crate::schedule::Appointment>)> {
    let mut policy = loaded.policy.clone();
    fetch_calendar(&mut policy);
    if let (Some(p), None) = (schedule, &policy.schedule) {
        policy.schedule = Some(schedule_section_for(p)?);
    }
    let appointments = match (schedule, &loaded.policy.schedule) {
        (Some(p), spec) => read_schedule_file(p, spec.as_ref())?,
        (None, Some(spec)) => {
            let base = loaded.resolve(std::path::Path::new(""));
            let l = crate::schedule::load(spec, &base, None, &crate::sources::schedule_http::Http)?;
            warn_skipped(&l);
            l.appointments
        }
        (None, None) => Vec::new(),
    };
    Ok((policy, appointments))
}

/// `planscale simulate --policies DIR`: replay a directory's policies
/// together as a pipeline (each stage's predictive strategy reading the
/// simulated completions of the stages it names in `demand.upstream`).
/// Writes `report.json` (`policies`: one entry per stage, each as a
/// single-policy report), `report.md` and `chart.svg` (every stage's
/// busiest day) to `args.out`, and each stage's full single-policy output
/// under `args.out/<policy name>/`; prints each stage's table.
pub fn simulate_policies(
    args: &SimulateArgs,
    dir: &std::path::Path,
    out: &mut dyn Write,
) -> Result<Vec<crate::sim::Report>> {
    use anyhow::Context;
    if args.inputs.policy.is_some() {
        anyhow::bail!("--policies and --policy: give one (a directory of stages, or one policy)");
    }
    let warmup = crate::policy::Duration::parse(&args.warmup)
        .map_err(|e| anyhow::anyhow!("--warmup: {e}"))?;
    let strategies = crate::sim::Strategy::parse_list(&args.strategies)?;
    if strategies.is_empty() {
        anyhow::bail!("--strategies: expected at least one strategy");
    }
    let (loaded, errors) = policy::load_paths(&[dir.to_path_buf()]);
    if !errors.is_empty() {
        let shown: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow::bail!(
            "{} problem(s) in the policies of {}:\n{}",
            errors.len(),
            dir.display(),
            shown.join("\n")
        );
    }
    let rec_path = args
        .inputs
        .recording
        .as_ref()
        .context("--policies needs --recording FILE (the recorded series of every stage)")?;
    let recording = crate::recording::Recording::read(rec_path)?;
    let plain: Vec<crate::policy::Policy> = loaded.iter().map(|l| l.policy.clone()).collect();
    let order = policy::pipeline_order(&plain)
        .context("the policies form a cycle (planscale validate names it)")?;
    let mut scenarios = Vec::with_capacity(order.len());
    for &i in &order {
        let l = &loaded[i];
        let (policy, appointments) = policy_inputs(l, args.inputs.schedule.as_deref())
            .with_context(|| format!("{}", l.path.display()))?;
        let s = crate::sim::Scenario::new(policy, &recording, appointments, warmup.secs_i64())
            .with_context(|| {
                format!(
                    "{}: cannot replay it on {}",
                    l.path.display(),
                    rec_path.display()
                )
            })?;
        scenarios.push(s);
    }
    let bar = progress_bar();
    let stages = crate::sim::simulate_pipeline(scenarios, &strategies, &mut |f| bar.tick(f));
    bar.finish();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory {}", args.out.display()))?;
    let write = |path: std::path::PathBuf, body: &str| {
        crate::util::write_atomic(&path, body.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    };
    let mut entries = Vec::new();
    let mut charts = Vec::new();
    let mut md = String::from("# planscale simulation: a pipeline\n\n");
    md.push_str(&format!(
        "{} stages replayed together, in pipeline order; each stage's predictive strategy read the simulated completions of the stages before it (its `demand.upstream`). Each stage's full report is in its folder.\n\n",
        stages.len()
    ));
    for st in &stages {
        let r = &st.report;
        let dir = args.out.join(&r.policy);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let figures = crate::sim::chart::render_all(r)?;
        let files = figures.files();
        let linked: Vec<(&str, &str)> = files.iter().map(|(f, what, _)| (*f, *what)).collect();
        write(dir.join("report.json"), &r.to_json())?;
        write(dir.join("report.md"), &r.to_markdown(&linked))?;
        write(
            dir.join("report.html"),
            &crate::sim::html::render(r, &figures),
        )?;
        for (f, _, svg) in &files {
            write(dir.join(f), svg)?;
        }
        charts.push((r.policy.clone(), figures.busiest_day.clone()));
        let mut v: serde_json::Value = serde_json::from_str(&r.to_json())?;
        if let Some(o) = v.as_object_mut() {
            let ups: Vec<&str> = plain
                .iter()
                .find(|p| p.name == r.policy)
                .map(|p| p.upstream_names())
                .unwrap_or_default();
            o.insert("upstream".into(), serde_json::json!(ups));
        }
        entries.push(v);
        md.push_str(&format!(
            "## {}\n\n[full report]({}/report.md) · ![the busiest day]({}/chart.svg)\n\n```\n{}```\n\n",
            r.policy,
            r.policy,
            r.policy,
            r.to_table()
        ));
        writeln!(out, "== {} ==", r.policy)?;
        write!(out, "{}", r.to_table())?;
    }
    let mut json = serde_json::to_string_pretty(&serde_json::json!({ "policies": entries }))?;
    json.push('\n');
    write(args.out.join("report.json"), &json)?;
    write(args.out.join("report.md"), &md)?;
    write(
        args.out.join("chart.svg"),
        &crate::sim::chart::stack(&charts),
    )?;
    writeln!(
        out,
        "wrote {}/report.json, report.md, chart.svg and each stage's report in {}/<policy>/",
        args.out.display(),
        args.out.display()
    )?;
    Ok(stages.into_iter().map(|s| s.report).collect())
}

/// Merge the closures of the policy's calendar URL, fetched once; a failed
/// fetch leaves the calendar's static parts, said on stderr with counts and
/// the redacted URL only.
fn fetch_calendar(policy: &mut crate::policy::Policy) {
    let name = policy.name.clone();
    let Some(cal) = policy.calendar.as_mut() else {
        return;
    };
    let Some(url) = cal.url().map(crate::schedule::redact_url) else {
        return;
    };
    match cal.fetch(&crate::sources::schedule_http::Http) {
        Ok(Some(c)) => {
            if c.skipped > 0 {
                eprintln!(
                    "warning: {name}: calendar source {url}: {} bad events skipped",
                    c.skipped
                );
            }
            cal.merge_closed(&c.dates);
        }
        Ok(None) => {}
        Err(e) => eprintln!(
            "warning: {name}: calendar source {url}: {e}; using the calendar's hours, holidays and listed closures only"
        ),
    }
}

/// The `schedule:` section a policy without one gets for `--schedule FILE`:
/// the file as its source, every other setting at its default (UTC, every
/// appointment type, the default maximum lag). Said on stderr, because
/// `planscale run` forecasts schedule-blind without the section.
fn schedule_section_for(path: &std::path::Path) -> Result<crate::schedule::ScheduleSpec> {
    use anyhow::Context;
    let (name, format) = schedule_format(path)?;
    let kind = format.as_str();
    let yaml = format!(
        "source: {{type: {kind}, path: {}}}\n",
        serde_json::to_string(&name)?
    );
    let spec: crate::schedule::ScheduleSpec =
        serde_yaml::from_str(&yaml).with_context(|| format!("--schedule {name}"))?;
    eprintln!(
        "note: the policy has no schedule: section; --schedule {name} is used as `schedule: {{source: {{type: {kind}, path: ...}}}}` with default settings (UTC, every type, max lag {}). planscale run forecasts schedule-blind without that section.",
        spec.max_lag
    );
    Ok(spec)
}

/// A schedule file's name (for messages) and its format, from its extension.
fn schedule_format(path: &std::path::Path) -> Result<(String, crate::schedule::Format)> {
    use anyhow::Context;
    let name = path.display().to_string();
    let format = crate::schedule::Format::from_name(&name).with_context(|| {
        format!(
            "{name}: cannot tell the schedule format: expected a .csv, .ics or .json (FHIR) file"
        )
    })?;
    Ok((name, format))
}

/// Read a schedule file given on the command line; the format comes from its
/// extension, time zone and type mapping from the policy's schedule section.
fn read_schedule_file(
    path: &std::path::Path,
    spec: Option<&crate::schedule::ScheduleSpec>,
) -> Result<Vec<crate::schedule::Appointment>> {
    use anyhow::Context;
    let (name, format) = schedule_format(path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
    let opts = spec.map_or_else(
        || crate::schedule::Options::new(chrono_tz::Tz::UTC),
        |s| s.options(),
    );
    let l = crate::schedule::parse(format, &text, &name, &opts)?;
    warn_skipped(&l);
    Ok(l.appointments)
}

fn warn_skipped(l: &crate::schedule::Loaded) {
    if l.skipped > 0 {
        tracing::warn!(
            skipped = l.skipped,
            "bad schedule entries skipped (lenient mode)"
        );
    }
}

/// `planscale simulate`: run the strategies, write report.json, report.md,
/// report.html and the figures (chart.svg, the busiest day, first) to
/// `args.out`, print the table to `out`.
pub fn simulate(args: &SimulateArgs, out: &mut dyn Write) -> Result<crate::sim::Report> {
    use anyhow::Context;
    let warmup = crate::policy::Duration::parse(&args.warmup)
        .map_err(|e| anyhow::anyhow!("--warmup: {e}"))?;
    let strategies = crate::sim::Strategy::parse_list(&args.strategies)?;
    if strategies.is_empty() {
        anyhow::bail!("--strategies: expected at least one strategy");
    }
    let (policy, recording, schedule) = simulation_inputs(&args.inputs)?;
    let scenario = crate::sim::Scenario::new(policy, &recording, schedule, warmup.secs_i64())?;
    let bar = progress_bar();
    // The predictive run keeps its decisions for report.html's timeline.
    let report = crate::sim::simulate_explained(&scenario, &strategies, &mut |f| bar.tick(f));
    bar.finish();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output directory {}", args.out.display()))?;
    let figures = crate::sim::chart::render_all(&report)?;
    let files = figures.files();
    let linked: Vec<(&str, &str)> = files.iter().map(|(f, what, _)| (*f, *what)).collect();
    let mut outputs = vec![
        ("report.json", report.to_json()),
        ("report.md", report.to_markdown(&linked)),
        ("report.html", crate::sim::html::render(&report, &figures)),
    ];
    outputs.extend(files.iter().map(|(f, _, svg)| (*f, svg.to_string())));
    for (name, body) in &outputs {
        let path = args.out.join(name);
        crate::util::write_atomic(&path, body.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    write!(out, "{}", report.to_table())?;
    let names: Vec<&str> = outputs.iter().skip(1).map(|(n, _)| *n).collect();
    writeln!(
        out,
        "wrote {}/report.json, {}",
        args.out.display(),
        names.join(", ")
    )?;
    Ok(report)
}

/// A progress bar on stderr that appears only when stderr is a terminal and
/// the run has lasted more than a second.
struct Progress {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
    visible: std::cell::Cell<bool>,
    terminal: bool,
}

fn progress_bar() -> Progress {
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(1000),
        indicatif::ProgressDrawTarget::hidden(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("simulating [{bar:40}] {percent}% ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    Progress {
        bar,
        started: std::time::Instant::now(),
        visible: std::cell::Cell::new(false),
        terminal: std::io::stderr().is_terminal(),
    }
}

impl Progress {
    fn tick(&self, fraction: f64) {
        if !self.visible.get() && self.terminal && self.started.elapsed().as_secs_f64() > 1.0 {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.visible.set(true);
        }
        self.bar.set_position((fraction * 1000.0) as u64);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
