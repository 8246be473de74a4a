//! Command-line interface: argument types and one library function per
//! subcommand, so that tests can call every subcommand without a process.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::policy;

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
    /// Record a policy's series from Prometheus into a recording (CSV) for simulate and forecast.
    Record(Box<crate::metrics::record::RecordArgs>),
    /// Read and summarise clinic schedules (CSV, iCalendar, FHIR).
    Schedule(crate::schedule::cli::ScheduleArgs),
    /// Run the in-cluster controller: forecast, decide and act for every policy in a directory.
    Run(crate::controller::cli::RunArgs),
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
        Command::Record(args) => {
            crate::metrics::record::record(&args, &mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => crate::controller::cli::main(&args),
        Command::Schedule(args) => Ok(crate::schedule::cli::run(
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
            "ok {}: {} ({} {}/{}, mode {})",
            p.path.display(),
            p.policy.name,
            p.policy.target.kind,
            p.policy.target.namespace,
            p.policy.target.name,
            p.policy.scaling.mode
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
