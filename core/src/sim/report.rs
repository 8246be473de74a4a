//! The simulation report: per strategy SLO attainment, waits, replica-hours,
//! scale events, peak replicas and cost relative to the oracle; rendered as a
//! terminal table, JSON and Markdown. Numbers are rounded so that the same
//! inputs give byte-identical files.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{SecondsFormat, TimeDelta};
use serde::Serialize;

use super::{BUCKET_SECS, Run, Sample, Scenario, Ticks, TraceEntry};
use crate::policy::Policy;

/// One strategy's results over the measured window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StrategyResult {
    pub name: String,
    /// Fraction (0..1) of the work that started within the SLO wait.
    pub slo_attainment: f64,
    pub p50_wait_seconds: f64,
    pub p95_wait_seconds: f64,
    pub max_wait_seconds: f64,
    /// Requested replicas × hours (pods cost from the moment they are asked for).
    pub replica_hours: f64,
    /// Changes of the requested replica count.
    pub scale_events: u32,
    pub peak_replicas: u32,
    /// replica_hours ÷ the oracle's (absent without an oracle run).
    pub cost_vs_oracle: Option<f64>,
    /// The lowest attainment of a working day ([`Day`]; absent when no day
    /// of the window had work).
    pub worst_day_attainment: Option<f64>,
    /// Working days whose attainment fell below `slo.attainment`.
    pub days_below_target: u32,
    /// Per UTC day of the window with work.
    pub days: Vec<Day>,
    /// Decisions by winning term (predictive only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub decisions_by_term: BTreeMap<String, u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Per 15-minute bucket: mean requested replicas, longest wait (s). Not serialised.
    #[serde(skip)]
    pub timeline: Vec<(f64, f64)>,
    /// Per minute ([`super::FINE_SECS`]) of the window, from its start. Not serialised.
    #[serde(skip)]
    pub fine: Vec<Sample>,
}

/// One UTC day of a strategy's run. A *working day* is a day with at least
/// a tenth of the mean work of the days with work (a quiet weekend day's
/// few jobs are shown but judged with the days around them, not alone).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Day {
    pub date: String,
    /// Work that arrived that day (demand units).
    pub work: f64,
    /// Share of that work that started within the SLO wait.
    pub attainment: f64,
    pub max_wait_seconds: f64,
    pub working: bool,
}

/// The days of `fine` (per minute from `from`), with work.
fn days(fine: &[Sample], from: chrono::DateTime<chrono::Utc>) -> Vec<Day> {
    let mut out: Vec<Day> = Vec::new();
    let mut on_time = Vec::new();
    let mut current = None;
    for (i, f) in fine.iter().enumerate() {
        // The date as a value per minute; its text once per day.
        let date = (from + TimeDelta::seconds(i as i64 * super::FINE_SECS)).date_naive();
        if current != Some(date) {
            current = Some(date);
            out.push(Day {
                date: date.to_string(),
                work: 0.0,
                attainment: 0.0,
                max_wait_seconds: 0.0,
                working: false,
            });
            on_time.push(0.0);
        }
        if let (Some(d), Some(o)) = (out.last_mut(), on_time.last_mut()) {
            d.work += f.work;
            *o += f.on_time;
            d.max_wait_seconds = d.max_wait_seconds.max(f.wait_secs);
        }
    }
    let (with_work, total) = out
        .iter()
        .filter(|d| d.work > 0.0)
        .fold((0usize, 0.0), |(n, w), d| (n + 1, w + d.work));
    let floor = 0.1 * total / with_work.max(1) as f64;
    for (d, o) in out.iter_mut().zip(on_time) {
        d.attainment = if d.work > 0.0 {
            round(o / d.work, 6)
        } else {
            1.0
        };
        d.working = d.work > 0.0 && d.work >= floor;
        d.work = round(d.work, 3);
    }
    out.retain(|d| d.work > 0.0);
    out
}

/// The measured window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub from: String,
    pub to: String,
    pub days: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub policy: String,
    pub demand_unit: String,
    pub window: Window,
    pub step_seconds: i64,
    pub tick_seconds: i64,
    pub startup_seconds: u64,
    pub slo_max_wait_seconds: u64,
    pub capacity_per_replica_per_minute: f64,
    /// Total work arriving in the window.
    pub work_total: f64,
    pub strategies: Vec<StrategyResult>,
    /// Demand per chart bucket (units per minute). Not serialised.
    #[serde(skip)]
    pub demand: Vec<f64>,
    #[serde(skip)]
    pub grid_start: chrono::DateTime<chrono::Utc>,
    /// Demand per recording step over the window (units per minute). Not serialised.
    #[serde(skip)]
    pub demand_steps: Vec<f64>,
    /// The policy simulated (its time zone, bounds and windows word the
    /// figures and the decisions). Not serialised.
    #[serde(skip)]
    pub settings: Policy,
    /// The predictive strategy's decisions in the window, when the run was
    /// asked to keep them ([`super::simulate_explained`]). Not serialised.
    #[serde(skip)]
    pub decisions: Vec<TraceEntry>,
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    let r = (x * f).round() / f;
    if r == 0.0 { 0.0 } else { r }
}

pub(super) fn build(
    s: &Scenario,
    t: &Ticks,
    runs: Vec<(String, super::Run)>,
    decisions: Vec<TraceEntry>,
) -> Report {
    let p = &s.policy;
    let (grid, measure_from, wait_ticks, tick) =
        (&t.grid, t.measure_from_tick, t.wait_ticks, t.tick_secs);
    let from = grid.start + TimeDelta::seconds(measure_from as i64 * tick);
    let to = grid.end();
    let oracle_hours = runs
        .iter()
        .find(|(n, _)| n == "oracle")
        .map(|(_, r)| r.replica_ticks as f64 * tick as f64 / 3600.0);
    let strategies = runs
        .into_iter()
        .map(|(name, r): (String, Run)| {
            let hours = r.replica_ticks as f64 * tick as f64 / 3600.0;
            let days = days(&r.fine, from);
            let working = || days.iter().filter(|d| d.working);
            StrategyResult {
                worst_day_attainment: working().map(|d| d.attainment).reduce(f64::min),
                days_below_target: working()
                    .filter(|d| d.attainment < p.slo.attainment)
                    .count() as u32,
                days,
                name,
                slo_attainment: round(r.waits.within(wait_ticks), 6),
                p50_wait_seconds: (r.waits.quantile(0.5) as i64 * tick) as f64,
                p95_wait_seconds: (r.waits.quantile(0.95) as i64 * tick) as f64,
                max_wait_seconds: (r.waits.max() as i64 * tick) as f64,
                replica_hours: round(hours, 2),
                scale_events: r.scale_events,
                peak_replicas: r.peak,
                cost_vs_oracle: oracle_hours
                    .filter(|o| *o > 0.0)
                    .map(|o| round(hours / o, 3)),
                decisions_by_term: r.terms,
                notes: r.notes,
                timeline: r.timeline,
                fine: r.fine,
            }
        })
        .collect();
    // Demand per 15-minute bucket over the window, in units per minute.
    let first_step = (measure_from as i64 * tick / grid.step_secs) as usize;
    let steps_per_bucket = (BUCKET_SECS / grid.step_secs).max(1) as usize;
    let values = &s.arrivals.values[first_step.min(s.arrivals.len())..];
    let per_min = |v: &f64| {
        if v.is_finite() {
            v * 60.0 / grid.step_secs as f64
        } else {
            0.0
        }
    };
    let demand_steps = values.iter().map(per_min).collect();
    let demand = values
        .chunks(steps_per_bucket)
        .map(|c| {
            let sum: f64 = c.iter().filter(|v| v.is_finite()).sum();
            sum / (c.len() as f64 * grid.step_secs as f64 / 60.0)
        })
        .collect();
    let work_total = values.iter().filter(|v| v.is_finite()).sum::<f64>();
    Report {
        policy: p.name.clone(),
        demand_unit: p.demand.unit.clone(),
        window: Window {
            from: from.to_rfc3339_opts(SecondsFormat::Secs, true),
            to: to.to_rfc3339_opts(SecondsFormat::Secs, true),
            days: round((to - from).num_seconds() as f64 / 86_400.0, 3),
        },
        step_seconds: grid.step_secs,
        tick_seconds: tick,
        startup_seconds: p.capacity.startup.secs(),
        slo_max_wait_seconds: p.slo.max_wait.secs(),
        capacity_per_replica_per_minute: round(p.capacity.per_second() * 60.0, 6),
        work_total: round(work_total, 3),
        strategies,
        demand,
        grid_start: from,
        demand_steps,
        settings: p.clone(),
        decisions,
    }
}

/// A wait as people read it: `45s`, `5m45s`, `1h05m`.
pub fn fmt_wait(secs: f64) -> String {
    let s = secs as i64;
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

impl Report {
    /// Pretty JSON, stable byte for byte for the same inputs.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        s.push('\n');
        s
    }

    pub(crate) fn rows(&self) -> Vec<[String; 9]> {
        self.strategies
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    format!("{:.2}%", r.slo_attainment * 100.0),
                    r.worst_day_attainment.map_or("-".into(), |w| {
                        format!("{:.2}% ({})", w * 100.0, r.days_below_target)
                    }),
                    fmt_wait(r.p95_wait_seconds),
                    fmt_wait(r.max_wait_seconds),
                    format!("{:.1}", r.replica_hours),
                    r.cost_vs_oracle.map_or("-".into(), |c| format!("{c:.2}x")),
                    r.scale_events.to_string(),
                    r.peak_replicas.to_string(),
                ]
            })
            .collect()
    }

    pub(crate) const HEADER: [&'static str; 9] = [
        "strategy",
        "SLO met",
        "worst day (days below)",
        "p95 wait",
        "max wait",
        "replica-h",
        "vs oracle",
        "scale events",
        "peak",
    ];

    /// A plain-text table for the terminal.
    pub fn to_table(&self) -> String {
        let rows = self.rows();
        let mut widths: Vec<usize> = Self::HEADER.iter().map(|h| h.len()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} to {} ({} days), SLO: start within {}, {} per replica {:.3}/min, start-up {}",
            self.policy,
            self.window.from,
            self.window.to,
            self.window.days,
            fmt_wait(self.slo_max_wait_seconds as f64),
            self.demand_unit,
            self.capacity_per_replica_per_minute,
            fmt_wait(self.startup_seconds as f64)
        );
        let line = |cells: Vec<&str>, out: &mut String| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i == 0 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", parts.join("  ").trim_end());
        };
        line(Self::HEADER.to_vec(), &mut out);
        for r in &rows {
            line(r.iter().map(String::as_str).collect(), &mut out);
        }
        for r in &self.strategies {
            for n in &r.notes {
                let _ = writeln!(out, "note ({}): {n}", r.name);
            }
        }
        out
    }

    /// Markdown for sharing, linking `figures` (file name, what it shows)
    /// written beside it, and report.html.
    pub fn to_markdown(&self, figures: &[(&str, &str)]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# planscale simulation: {}\n", self.policy);
        let _ = writeln!(
            out,
            "Window {} to {} ({} days, after the warm-up). SLO: work starts within {}. \
             One replica serves {:.3} {}/min and needs {} to start. \
             {:.0} {} arrived in the window.\n",
            self.window.from,
            self.window.to,
            self.window.days,
            fmt_wait(self.slo_max_wait_seconds as f64),
            self.capacity_per_replica_per_minute,
            self.demand_unit,
            fmt_wait(self.startup_seconds as f64),
            self.work_total,
            self.demand_unit
        );
        let _ = writeln!(out, "| {} |", Self::HEADER.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(Self::HEADER.len()));
        for r in self.rows() {
            let _ = writeln!(out, "| {} |", r.join(" | "));
        }
        let _ = writeln!(
            out,
            "\n- **SLO met**: share of the work that started within the SLO wait.\n\
             - **worst day**: the lowest share on a working day (a UTC date with at least a tenth of the mean day's work); in brackets, how many working days fell below the policy's target.\n\
             - **replica-h**: requested replicas × hours; a pod costs from the moment it is asked for.\n\
             - **vs oracle**: replica-hours ÷ those of the perfect-foresight oracle (the lower bound).\n\
             - **static:N** in the default run is the smallest constant count that reaches the predictive strategy's SLO attainment."
        );
        for r in &self.strategies {
            if !r.decisions_by_term.is_empty() {
                let terms: Vec<String> = r
                    .decisions_by_term
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "- {} decisions by winning term: {}.",
                    r.name,
                    terms.join(", ")
                );
            }
            for n in &r.notes {
                let _ = writeln!(out, "- note ({}): {n}", r.name);
            }
        }
        if !figures.is_empty() {
            let _ = writeln!(
                out,
                "\n## Figures\n\nAll of them, with the tables and each decision in words: [report.html](report.html).\n"
            );
            for (file, what) in figures {
                let _ = writeln!(
                    out,
                    "### {}{}\n\n![{what}]({file})\n",
                    what[..1].to_uppercase(),
                    &what[1..]
                );
            }
        }
        out
    }
}
