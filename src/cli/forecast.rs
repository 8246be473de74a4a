//! `planscale forecast`: the forecast a policy would get at one instant of a
//! recording, with its quantiles, the model chosen and why, and the replicas
//! the planner would provision for it.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::autoscale::{Autoscaler, Observation};
use crate::plan::{self, ForecastView};
use crate::series::{Grid, SeriesView};

/// Arguments of `planscale forecast`.
#[derive(Debug, clap::Args)]
pub struct ForecastArgs {
    #[command(flatten)]
    pub inputs: crate::cli::InputArgs,
    /// Forecast from this instant (RFC 3339; default: the end of the recording).
    /// History is what the recording holds before it, and the schedule what
    /// was booked by then (appointments with a later booking time are left out).
    #[arg(long)]
    pub at: Option<DateTime<Utc>>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also draw the forecast to this SVG file: the last days of history, the
    /// point forecast, the band up to the policy's quantile, the hours without
    /// booked appointments and the appointments.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

/// Days of history drawn before the forecast in `--out`.
const FIGURE_HISTORY_DAYS: i64 = 3;

/// One hour of the forecast summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HourRow {
    pub start: DateTime<Utc>,
    /// Point forecast, demand units over the hour.
    pub point: f64,
    /// The policy's quantile, demand units over the hour.
    pub quantile: f64,
    /// Replicas that serve the quantile's peak rate within the hour (bounded by the policy).
    pub replicas: u32,
}

/// One candidate model of the engine's choice.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Candidate {
    pub model: String,
    /// Mean absolute error over the rolling-origin backtest, demand units per step.
    pub backtest_mae: f64,
}

/// A day the clinic is closed though its weekday is normally open (a public
/// holiday or a closure of the policy's calendar), within the horizon.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClosedPeriod {
    /// The clinic's local date.
    pub date: chrono::NaiveDate,
    /// Local midnight to local midnight, in UTC.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// What `planscale forecast` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForecastReport {
    pub policy: String,
    pub at: DateTime<Utc>,
    pub step_secs: i64,
    pub history_points: usize,
    /// The model the engine chose for this policy, and why.
    pub model: String,
    pub why: String,
    /// Every candidate the engine scored, best first (empty at cold start,
    /// when no backtest was possible).
    pub candidates: Vec<Candidate>,
    /// The calendar's time zone; absent when the policy has no `calendar:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calendar_timezone: Option<String>,
    /// The closed days in the horizon ([`ClosedPeriod`]); empty without a calendar.
    pub closures: Vec<ClosedPeriod>,
    /// Set when the schedule holds none of the policy's types over the
    /// history and horizon (what it holds and what was asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_warning: Option<String>,
    pub quantile_level: f64,
    /// The spread of work summed over a window the planner plans with:
    /// variance `linear · μ + quadratic · μ²` for expected work `μ`.
    pub work_spread: crate::forecast::WorkSpread,
    /// Per step: point and quantile (demand units per step).
    pub point: Vec<f64>,
    pub quantile: Vec<f64>,
    pub hours: Vec<HourRow>,
    /// The planner's decision at `at` (from the policy minimum, empty queue).
    pub decision: String,
    pub desired_replicas: u32,
}

/// Runs the command and writes the table or JSON to `out`.
pub fn run(args: &ForecastArgs, out: &mut dyn Write) -> anyhow::Result<ForecastReport> {
    let (policy, recording, booked) = crate::cli::simulation_inputs(&args.inputs)?;
    let column = &policy.demand.arrivals.series;
    let series = recording.series(column).with_context(|| {
        format!("the recording has no column {column:?} (policy field demand.arrivals.series)")
    })?;
    let grid = series.grid;
    let at = args.at.unwrap_or_else(|| grid.end());
    let end = if at >= grid.end() {
        grid.len
    } else {
        grid.index_of(at).with_context(|| {
            format!(
                "--at {at}: expected an instant inside the recording, from {} to {}",
                grid.start,
                grid.end()
            )
        })?
    };
    // What was booked by `at`: a forecast from the past of a replayed book
    // must not use bookings made later (docs/ARCHITECTURE.md, "Honest
    // future knowledge"). Also what the figure shows.
    let schedule = crate::schedule::known_at(&booked, at);
    let step = grid.step_secs;
    let history_steps = (policy.forecast.history.secs_i64() / step).max(1) as usize;
    let from = end.saturating_sub(history_steps);
    let hist = SeriesView::new(
        Grid::new(grid.time(from), step, 0),
        &series.values[from..end],
    );
    let horizon = (policy.forecast.horizon.secs_i64() / step).max(1) as usize;
    let level = policy.forecast.quantile;
    // The autoscaler `simulate` and `run` use: the same fit, forecast and planner.
    let mut scaler = Autoscaler::new(policy.clone());
    scaler.refit(hist, &schedule).with_context(|| {
        format!(
            "cannot fit a forecast on {} points before {at}",
            hist.values.len()
        )
    })?;
    let f = match scaler.forecast(&schedule) {
        Ok(f) => f.clone(),
        Err(n) => match scaler.last_error() {
            Some(e) => anyhow::bail!("cannot forecast from {at}: {e}"),
            None => anyhow::bail!("cannot forecast from {at}: {}", n.explain()),
        },
    };
    let schedule_warning = scaler.schedule_warning().map(str::to_string);
    if let Some(w) = &schedule_warning {
        eprintln!("warning: {}: {w}", policy.name);
    }
    let view = ForecastView::of(&f, level)?.planning_for(policy.slo.attainment);
    let q = view.values.to_vec();
    let (min, max) = (policy.replicas.min, policy.replicas.max);
    let steps_per_hour = (3600 / step).max(1) as usize;
    let hours = (0..horizon.div_ceil(steps_per_hour))
        .map(|h| {
            let r = h * steps_per_hour..((h + 1) * steps_per_hour).min(horizon);
            let (start, stop) = (f.grid.time(r.start), f.grid.time(r.end));
            // What the planner provisions for the hour from an empty queue
            // (with the queueing allowance when the policy observes the queue).
            let queue = policy.demand.queue_depth.is_some().then_some(0.0);
            let need = plan::replicas_to_serve(&policy, &view, start, stop, queue).unwrap_or(max);
            HourRow {
                start,
                point: f.point[r.clone()].iter().sum(),
                quantile: q[r].iter().sum(),
                replicas: need.clamp(min, max.max(min)),
            }
        })
        .collect();
    let obs = Observation {
        current: min,
        ready: min,
        utilisation: None,
        queue_depth: None,
        history: Some(hist),
    };
    let d = scaler.decide(at, &obs, &schedule);
    let candidates = scaler.choice().map_or_else(Vec::new, |c| {
        c.scores
            .iter()
            .map(|(model, mae)| Candidate {
                model: model.clone(),
                backtest_mae: *mae,
            })
            .collect()
    });
    let calendar = policy.calendar();
    let closures = calendar.map_or_else(Vec::new, |c| {
        c.closures_between(f.grid.start, f.grid.end())
            .into_iter()
            .map(|(date, start, end)| ClosedPeriod { date, start, end })
            .collect()
    });
    let report = ForecastReport {
        policy: policy.name.clone(),
        at,
        step_secs: step,
        history_points: hist.values.len(),
        model: f.model.clone(),
        why: f.note.clone(),
        candidates,
        calendar_timezone: calendar.map(|c| c.timezone.name().to_string()),
        closures,
        schedule_warning,
        quantile_level: level,
        work_spread: f.spread,
        point: f.point.clone(),
        quantile: q,
        hours,
        decision: d.to_string(),
        desired_replicas: d.desired,
    };
    if let Some(path) = &args.out {
        let svg = crate::figure::forecast_svg(&figure(&policy, &hist, &report, &schedule))?;
        crate::util::write_atomic(path, svg.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        write_table(&report, out)?;
    }
    if let Some(path) = &args.out {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(report)
}

/// What `--out` draws: the last days of `hist`, the forecast, and the
/// appointments of the policy's types around them.
fn figure(
    policy: &crate::policy::Policy,
    hist: &SeriesView<'_>,
    r: &ForecastReport,
    schedule: &[crate::schedule::Appointment],
) -> crate::figure::ForecastFigure {
    let step = hist.grid.step_secs;
    let keep = ((FIGURE_HISTORY_DAYS * 86_400 / step) as usize).min(hist.values.len());
    let skip = hist.values.len() - keep;
    let history_start = hist.grid.time(skip);
    let end = r.at + chrono::TimeDelta::seconds(r.point.len() as i64 * step);
    let spec = policy.schedule.as_ref();
    let wanted =
        |kind: &str| spec.is_none_or(|s| s.types.is_empty() || s.types.iter().any(|t| t == kind));
    let booked: Vec<&crate::schedule::Appointment> = schedule
        .iter()
        .filter(|a| wanted(&a.kind) && a.end > history_start && a.start < end)
        .collect();
    // An appointment causes work until `max_lag` after it ends; the rest is
    // closed (nothing booked can cause work then).
    let lag = chrono::TimeDelta::seconds(spec.map_or(0, |s| s.max_lag.secs_i64()));
    let covered: Vec<_> = booked.iter().map(|a| (a.start, a.end + lag)).collect();
    let closed = if schedule.is_empty() {
        Vec::new()
    } else {
        crate::figure::uncovered(history_start, end, &covered)
    };
    crate::figure::ForecastFigure {
        title: format!(
            "{}: forecast from {} ({}; model {})",
            r.policy,
            r.at.with_timezone(&spec.map_or(chrono_tz::Tz::UTC, |s| s.tz()))
                .format("%a %d %b %Y %H:%M"),
            spec.map_or("UTC", |s| s.timezone.as_str()),
            r.model
        ),
        unit: policy.demand.unit.clone(),
        tz: spec.map_or(chrono_tz::Tz::UTC, |s| s.tz()),
        step_secs: step,
        history_start,
        history: hist.values[skip..].to_vec(),
        point: r.point.clone(),
        quantile: r.quantile.clone(),
        quantile_level: r.quantile_level,
        closed,
        appointments: booked.iter().map(|a| (a.start, a.kind.clone())).collect(),
    }
}

fn write_table(r: &ForecastReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: forecast at {} from {} points of history",
        r.policy, r.at, r.history_points
    )?;
    writeln!(out, "model: {}", r.model)?;
    writeln!(out, "why:   {}", r.why)?;
    if !r.candidates.is_empty() {
        let scored: Vec<String> = r
            .candidates
            .iter()
            .map(|c| format!("{} {:.3}", c.model, c.backtest_mae))
            .collect();
        writeln!(out, "backtest MAE per step: {}", scored.join(", "))?;
    }
    match &r.calendar_timezone {
        None => writeln!(out, "closed: no calendar: section in the policy")?,
        Some(tz) if r.closures.is_empty() => writeln!(
            out,
            "closed in the horizon: none beyond the weekly hours ({tz})"
        )?,
        Some(tz) => {
            let days: Vec<String> = r
                .closures
                .iter()
                .map(|c| {
                    format!(
                        "{} {} ({} to {} UTC)",
                        c.date.format("%a"),
                        c.date,
                        c.start.format("%m-%d %H:%M"),
                        c.end.format("%m-%d %H:%M")
                    )
                })
                .collect();
            writeln!(out, "closed in the horizon ({tz}): {}", days.join("; "))?
        }
    }
    let s = &r.work_spread;
    let measured = if s.windows > 0 {
        format!("measured on {} backtest windows", s.windows)
    } else {
        "assumed: too few backtest windows".to_string()
    };
    writeln!(
        out,
        "work over a window of expected μ: variance {:.3}·μ + {:.4}·μ² ({measured})",
        s.linear, s.quadratic
    )?;
    writeln!(
        out,
        "hour (UTC)         point  p{:<4}  replicas",
        (r.quantile_level * 100.0).round()
    )?;
    for h in &r.hours {
        writeln!(
            out,
            "{}  {:>6.1}  {:>6.1}  {:>8}",
            h.start.format("%Y-%m-%d %H:%M"),
            h.point,
            h.quantile,
            h.replicas
        )?;
    }
    writeln!(
        out,
        "planner now: {} (desired {})",
        r.decision, r.desired_replicas
    )
}
