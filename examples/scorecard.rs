//! The planner's scorecard (issue 11): generated departments × start-ups ×
//! recording steps × seeds, every strategy replayed by `planscale simulate`'s
//! own code, one table and one JSON file.
//!
//! ```text
//! cargo run --release --example scorecard -- [--json FILE] [--departments clinic,centre,mrlinac,community]
//!     [--startups 2,4,8,12] [--steps 1,5] [--seeds 1,2,3] [--days N] [--verbose]
//!     [--strategies predictive,keda:tuned,...] [--queue-allowance F]
//! ```
//!
//! `--strategies` replays only those (`knowable` and `hpa-floor` are names
//! too); `--queue-allowance` sets the policies' `scaling.queue_allowance`
//! (a sensitivity check: the scorecard itself is of the department's policy).
//!
//! Each cell is a department generated at a step with a seed, replayed with
//! the department's own policy (`planscale example` writes it) at the cell's
//! start-up and step. Strategies:
//! predictive, hpa, hpa:tuned, keda, keda:tuned, the oracle, `knowable` (the
//! same planner fed the generator's true expected demand given the book: the
//! planner's gap against the oracle, the forecaster's against predictive) and
//! `hpa-floor` (predictive in hpa-floor mode: the floor of an HPA). The
//! table gives each cell's mean over its seeds: attainment, max wait and
//! replica-hours, the worst working day, and predictive's cost against the
//! oracle, knowable and the peers.

use std::collections::BTreeMap;
use std::io::Write;

use planscale::example::Department;
use planscale::policy::Mode;
use planscale::policy::{Duration, Policy};
use planscale::sim::{Scenario, Strategy, simulate, simulate_known};

/// Every strategy of a cell; `knowable` and `hpa-floor` are the
/// scorecard's own (run by [`simulate_known`] and in hpa-floor mode).
const STRATEGIES: &str = "predictive,hpa,hpa:tuned,keda,keda:tuned,oracle,knowable,hpa-floor";

struct Args {
    json: Option<String>,
    departments: Vec<String>,
    startups: Vec<u64>,
    steps: Vec<u64>,
    seeds: Vec<u64>,
    days: Option<u32>,
    /// Strategies to replay (default: all of them).
    strategies: Option<Vec<String>>,
    /// `scaling.queue_allowance` for every policy, instead of the department's.
    queue_allowance: Option<f64>,
    /// Print each run's decisions by term and notes to stderr.
    verbose: bool,
}

fn list<T: std::str::FromStr>(flag: &str, v: &str) -> Result<Vec<T>, String> {
    v.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("{flag}: cannot read {x:?} in {v:?}"))
        })
        .collect()
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        json: None,
        departments: planscale::example::NAMES
            .iter()
            .map(|n| n.to_string())
            .collect(),
        startups: vec![2, 4, 8, 12],
        steps: vec![1, 5],
        seeds: vec![1, 2, 3],
        days: None,
        strategies: None,
        queue_allowance: None,
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--json" => a.json = Some(value()?),
            "--departments" => a.departments = list(&flag, &value()?)?,
            "--startups" => a.startups = list(&flag, &value()?)?,
            "--steps" => a.steps = list(&flag, &value()?)?,
            "--seeds" => a.seeds = list(&flag, &value()?)?,
            "--days" => a.days = Some(list(&flag, &value()?)?[0]),
            "--strategies" => a.strategies = Some(list(&flag, &value()?)?),
            "--queue-allowance" => a.queue_allowance = Some(list(&flag, &value()?)?[0]),
            "--verbose" => a.verbose = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

/// The department's own policy (what `planscale example` writes: the
/// bundled auto-contouring policy for its column, capacity, maximum, types,
/// time zone and lags, at its step), with the cell's start-up.
fn policy_for(
    d: &Department,
    startup_min: u64,
    queue_allowance: Option<f64>,
) -> Result<Policy, String> {
    let yaml = planscale::cli::department::department_policy(d, 0).map_err(|e| e.to_string())?;
    let mut p = Policy::from_str_named(&yaml, std::path::Path::new("policy.yaml"))
        .map_err(|e| format!("{}: {e:?}", d.name))?;
    p.capacity.startup = Duration::from_mins(startup_min);
    if let Some(f) = queue_allowance {
        p.scaling.queue_allowance = f;
    }
    if let Some((field, msg)) = p.validate().into_iter().next() {
        return Err(format!(
            "{}: start-up {startup_min}m: {field}: {msg}",
            d.name
        ));
    }
    Ok(p)
}

#[derive(Default, Clone, serde::Serialize)]
struct Mean {
    attainment: f64,
    max_wait_s: f64,
    replica_hours: f64,
    /// The lowest working day's attainment over the seeds.
    worst_day: f64,
    /// Working days below the target, summed over the seeds.
    days_below: u32,
    #[serde(skip)]
    n: f64,
}

impl Mean {
    fn add(&mut self, r: &planscale::sim::StrategyResult) {
        if self.n == 0.0 {
            self.worst_day = 1.0;
        }
        self.attainment += r.slo_attainment;
        self.max_wait_s = self.max_wait_s.max(r.max_wait_seconds);
        self.replica_hours += r.replica_hours;
        self.worst_day = self.worst_day.min(r.worst_day_attainment.unwrap_or(1.0));
        self.days_below += r.days_below_target;
        self.n += 1.0;
    }
    fn done(mut self) -> Self {
        self.attainment /= self.n;
        self.replica_hours /= self.n;
        self
    }
}

#[derive(serde::Serialize)]
struct Cell {
    department: String,
    startup_min: u64,
    step_min: u64,
    seeds: Vec<u64>,
    target: f64,
    /// Per strategy (tuned peers under `hpa:tuned` / `keda:tuned`), mean over seeds.
    strategies: BTreeMap<String, Mean>,
}

fn run() -> Result<(), String> {
    let a = args()?;
    let mut cells = Vec::new();
    let wanted = a
        .strategies
        .clone()
        .unwrap_or_else(|| STRATEGIES.split(',').map(String::from).collect());
    let has = |name: &str| wanted.iter().any(|s| s == name);
    let floor_mode = has("hpa-floor");
    let simulated: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|s| !matches!(*s, "hpa-floor" | "knowable"))
        .collect();
    let mut strategies = Strategy::parse_list(&simulated.join(",")).map_err(|e| e.to_string())?;
    if has("knowable") {
        strategies.push(Strategy::Knowable);
    }
    for dep in &a.departments {
        for &startup in &a.startups {
            for &step in &a.steps {
                let mut d =
                    planscale::cli::department::department(dep).map_err(|e| e.to_string())?;
                d.step_secs = (step * 60) as i64;
                if let Some(days) = a.days {
                    d.days = days;
                }
                let p = policy_for(&d, startup, a.queue_allowance)?;
                let mut by: BTreeMap<String, Mean> = BTreeMap::new();
                for &seed in &a.seeds {
                    let g = d.generate(seed);
                    let known = d
                        .expectation(&p.demand.arrivals.series)
                        .map_err(|e| e.to_string())?;
                    let s = Scenario::new(p.clone(), &g.recording, g.schedule.clone(), 14 * 86_400)
                        .map_err(|e| e.to_string())?;
                    let r = simulate_known(&s, &strategies, &known, &mut |_| {});
                    if a.verbose {
                        for st in &r.strategies {
                            eprintln!(
                                "{dep} {startup}m {step}m seed {seed} {}: {:.4} {:.1} rh, terms {:?}, {}",
                                st.name,
                                st.slo_attainment,
                                st.replica_hours,
                                st.decisions_by_term,
                                st.notes.join("; ")
                            );
                        }
                    }
                    for st in &r.strategies {
                        // Tuned peers are named by their setting (hpa:75): file them under tuned.
                        let key = match st.name.split_once(':') {
                            Some((peer, _)) => format!("{peer}:tuned"),
                            None => st.name.clone(),
                        };
                        by.entry(key).or_default().add(st);
                    }
                    if !floor_mode {
                        continue;
                    }
                    // The same planner as the floor of an HPA (hpa-floor mode).
                    let mut floor = s.clone();
                    floor.policy.scaling.mode = Mode::HpaFloor;
                    let r = simulate(&floor, &[Strategy::Predictive], &mut |_| {});
                    for st in &r.strategies {
                        by.entry("hpa-floor".into()).or_default().add(st);
                    }
                }
                let cell = Cell {
                    department: dep.clone(),
                    startup_min: startup,
                    step_min: step,
                    seeds: a.seeds.clone(),
                    target: p.slo.attainment,
                    strategies: by.into_iter().map(|(k, v)| (k, v.done())).collect(),
                };
                eprintln!("{}", row(&cell));
                cells.push(cell);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", header()).map_err(|e| e.to_string())?;
    for c in &cells {
        writeln!(out, "{}", row(c)).map_err(|e| e.to_string())?;
    }
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&cells).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    Ok(())
}

fn header() -> String {
    "| department | start-up | step | predictive SLO / max wait / replica-h | worst day (days below) | ×oracle | ×knowable | knowable ×oracle | ×hpa | ×hpa:tuned | ×keda | ×keda:tuned | hpa SLO | hpa:tuned SLO | keda SLO | keda:tuned SLO | hpa-floor SLO / ×hpa |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|".into()
}

fn row(c: &Cell) -> String {
    let get = |k: &str| c.strategies.get(k);
    let p = get("predictive");
    let ratio_of = |a: Option<&Mean>, k: &str| match (a, get(k)) {
        (Some(a), Some(o)) if o.replica_hours > 0.0 => {
            format!("{:.2}", a.replica_hours / o.replica_hours)
        }
        _ => "-".into(),
    };
    let ratio = |k: &str| ratio_of(p, k);
    let slo = |k: &str| get(k).map_or("-".into(), |m| format!("{:.2} %", m.attainment * 100.0));
    let pred = p.map_or("-".into(), |m| {
        format!(
            "{:.2} % / {:.0}m{:02.0}s / {:.0}",
            m.attainment * 100.0,
            (m.max_wait_s / 60.0).floor(),
            m.max_wait_s % 60.0,
            m.replica_hours
        )
    });
    let worst = p.map_or("-".into(), |m| {
        format!("{:.2} % ({})", m.worst_day * 100.0, m.days_below)
    });
    let floor = get("hpa-floor").map_or("-".into(), |m| {
        format!(
            "{:.2} % / {}",
            m.attainment * 100.0,
            ratio_of(Some(m), "hpa")
        )
    });
    format!(
        "| {} | {}m | {}m | {pred} | {worst} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {floor} |",
        c.department,
        c.startup_min,
        c.step_min,
        ratio("oracle"),
        ratio("knowable"),
        ratio_of(get("knowable"), "oracle"),
        ratio("hpa"),
        ratio("hpa:tuned"),
        ratio("keda"),
        ratio("keda:tuned"),
        slo("hpa"),
        slo("hpa:tuned"),
        slo("keda"),
        slo("keda:tuned"),
    )
}

fn main() {
    if let Err(e) = run() {
        eprintln!("scorecard: {e}");
        std::process::exit(2);
    }
}
