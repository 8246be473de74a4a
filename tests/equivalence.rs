//! "What you simulate is what runs", proven: one recording replayed through
//! `planscale simulate`'s predictive strategy and through the controller's
//! loop (`PolicyRunner::tick`) must give the same decision at every interval.
//!
//! The controller reads the recording the way it reads production: the
//! recording is backfilled into a real Prometheus (Debian's 2.42, started by
//! the test), and the loop's real Prometheus source and history cache query
//! it; the schedule comes through the loop's real schedule source from a CSV
//! file, rewritten before every interval to hold what was booked by then (a
//! live book; the simulator cuts the whole generated book at each decision,
//! docs/ARCHITECTURE.md "Honest future knowledge"). The cluster is in memory, and at every interval it reports what
//! the simulated cluster had at that instant (requested and ready replicas,
//! utilisation, queue depth: the simulator's trace), so both sides decide
//! from the same inputs with the same clock. Decisions start 45 s after a
//! step boundary, at 1- and 5-minute steps.
//!
//! Also here (the live-forecast timestamp issue): a backfilled counter with
//! a known burst lands on the right grid step in `planscale record` and in
//! the live history, and right after a refit, with the clock at the start,
//! the middle and the end of a step, the live decision has its predictive
//! term and equals the decision made from the same data read from a
//! recording.

#[path = "support/prometheus.rs"]
mod prometheus_support;

use std::path::Path;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use planscale::autoscale::{self, Autoscaler};
use planscale::controller::memory::MemoryCluster;
use planscale::controller::prom::PrometheusMetrics;
use planscale::controller::runner::Ctx;
use planscale::controller::sources::{MemorySchedule, MetricSource, Observation, PolicySchedule};
use planscale::controller::{PolicyRunner, Result};
use planscale::example::{Department, write_schedule_csv};
use planscale::policy::{LoadedPolicy, Policy};
use planscale::recording::Recording;
use planscale::schedule::Appointment;
use planscale::sim::{self, Scenario, TraceEntry};
use prometheus_support::{Gauge, Options, Prometheus, openmetrics};
use tokio::sync::watch;

/// The real Prometheus source for the history; utilisation and queue depth
/// as the simulated cluster had them at this interval (they depend on the
/// decisions, which is what is being compared).
struct LiveHistory {
    prometheus: PrometheusMetrics,
    shown: Mutex<(Option<f64>, Option<f64>)>,
}

impl MetricSource for LiveHistory {
    async fn observe(&self, lp: &LoadedPolicy, now: DateTime<Utc>) -> Result<Observation> {
        let mut o = self.prometheus.observe(lp, now).await?;
        let (u, q) = *self.shown.lock().unwrap();
        o.utilisation = u;
        o.queue_depth = q;
        Ok(o)
    }
}

/// The bundled department, shortened, at `step` seconds.
fn department(step: i64, days: u32) -> planscale::example::Generated {
    let mut d = Department::bundled();
    d.days = days;
    d.step_secs = step;
    d.generate(7)
}

/// The auto-contouring policy at `step`, reading `arrivals` from Prometheus
/// and its schedule from `schedule.csv` beside the policy file.
fn policy(dir: &Path, step: &str) -> LoadedPolicy {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/auto-contouring.yaml"
    ))
    .unwrap();
    let mut p: Policy = Policy::from_str_named(&text, Path::new("auto-contouring.yaml")).unwrap();
    p.forecast.step = planscale::duration::Duration::parse(step).unwrap();
    p.forecast.history = planscale::duration::Duration::from_days(7);
    p.forecast.horizon = planscale::duration::Duration::from_hours(12);
    p.scaling.interval = planscale::duration::Duration::from_mins(5);
    p.demand.arrivals.query = Some("planning_jobs_arrived".into());
    p.demand.queue_depth = None;
    p.demand.cpu = None;
    let spec = p
        .schedule
        .as_mut()
        .expect("the bundled policy has a schedule");
    spec.source = serde_yaml::from_str("{type: csv, path: schedule.csv}").unwrap();
    let path = dir.join("auto-contouring.yaml");
    std::fs::write(&path, serde_yaml::to_string(&p).unwrap()).unwrap();
    Policy::load(&path).unwrap()
}

/// Backfill one column as a gauge read at each step's end: the value of
/// the step stamped `T` is the sample at `T + step` (docs/ARCHITECTURE.md,
/// "Time").
fn backfill(rec: &Recording, column: &str) -> Prometheus {
    let s = rec.series(column).unwrap();
    let step = s.grid.step_secs;
    let samples = (0..s.len())
        .filter(|i| s.values[*i].is_finite())
        .map(|i| (s.grid.time(i).timestamp() + step, s.values[i]))
        .collect();
    Prometheus::start(Options {
        openmetrics: Some(openmetrics(&[Gauge {
            name: "planning_jobs_arrived",
            labels: "",
            samples,
        }])),
        lookback: Some("30s"),
        ..Options::default()
    })
}

/// Write `schedule.csv` as the live book stood at `now`: what was booked by then.
fn write_book(path: &Path, book: &[Appointment], now: DateTime<Utc>) {
    let mut csv = Vec::new();
    write_schedule_csv(&planscale::schedule::known_at(book, now), &mut csv).unwrap();
    std::fs::write(path, csv).unwrap();
}

/// Replay the simulator's trace through the controller's loop, with the book
/// as it stood at each interval; return the first interval where they
/// disagree.
async fn replay(
    lp: &LoadedPolicy,
    url: &str,
    trace: &[TraceEntry],
    book: &[Appointment],
) -> Option<String> {
    let book_file = lp.resolve(Path::new("schedule.csv"));
    let cluster = MemoryCluster::default();
    let metrics = LiveHistory {
        prometheus: PrometheusMetrics::new(url).unwrap(),
        shown: Mutex::new((None, None)),
    };
    let (_tx, leader) = watch::channel(true);
    let ctx = Ctx {
        cluster: cluster.clone(),
        metrics,
        schedule: PolicySchedule,
        telemetry: planscale::telemetry::Metrics::default(),
        leader,
        keda: planscale::keda::Board::default(),
        pipeline: Default::default(),
    };
    let mut runner = PolicyRunner::new(lp.clone());
    for (i, e) in trace.iter().enumerate() {
        cluster.show(e.current, e.ready);
        *ctx.metrics.shown.lock().unwrap() = (e.utilisation, Some(e.queue_depth));
        write_book(&book_file, book, e.at);
        let rep = runner.tick(e.at, &ctx).await.expect("tick");
        if rep.decision != e.decision {
            return Some(format!(
                "interval {i} at {}:\n  simulate: {:?}\n  run:      {:?}",
                e.at, e.decision, rep.decision
            ));
        }
    }
    None
}

fn equivalent_at(step: &str, step_secs: i64, days: u32) {
    let g = department(step_secs, days);
    // The comparison means something: some of the book is booked late.
    let start = g.recording.grid.start;
    assert!(
        g.schedule.iter().any(|a| a
            .booked_at
            .is_some_and(|b| b > start && b > a.start - TimeDelta::hours(4))),
        "no late bookings in the replayed days"
    );
    let work = tempfile::tempdir().unwrap();
    write_book(&work.path().join("schedule.csv"), &g.schedule, start);
    let lp = policy(work.path(), step);
    let column = lp.policy.demand.arrivals.series.clone();
    let prom = backfill(&g.recording, &column);

    let mut scenario =
        Scenario::new(lp.policy.clone(), &g.recording, g.schedule.clone(), 0).expect("scenario");
    scenario.phase_secs = 45;
    let trace = sim::predictive_trace(&scenario);
    assert_eq!(
        trace.len(),
        (days as usize * 288),
        "one decision per 5 minutes"
    );
    // The comparison means something: the forecast was used, and moved the count.
    let predictive = trace
        .iter()
        .filter(|e| e.decision.terms.predictive.is_some())
        .count();
    assert!(
        predictive > trace.len() / 2,
        "{predictive} of {}",
        trace.len()
    );
    assert!(trace.iter().any(|e| e.decision.is_change()));

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    if let Some(diff) = rt.block_on(replay(&lp, &prom.url, &trace, &g.schedule)) {
        panic!("simulate and run disagree at {step} steps: {diff}");
    }
}

#[test]
fn simulate_and_run_decide_alike_at_5_minute_steps() {
    equivalent_at("5m", 300, 9);
}

#[test]
fn simulate_and_run_decide_alike_at_1_minute_steps() {
    equivalent_at("1m", 60, 9);
}

/// 2026-03-02T10:00:00Z.
fn ten() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap()
}

/// A job counter sampled every 15 s from 08:00 to 12:00 on 2026-03-02, one
/// job every minute, and a burst of 30 jobs between 10:07:15 and 10:07:30.
fn counter() -> Prometheus {
    let start = ten() - TimeDelta::hours(2);
    let mut total = 0.0;
    let samples = (0..4 * 60 * 4)
        .map(|k| {
            let t = start + TimeDelta::seconds(15 * k);
            if k > 0 && k % 4 == 0 {
                total += 1.0;
            }
            if t == ten() + TimeDelta::seconds(7 * 60 + 30) {
                total += 30.0;
            }
            (t.timestamp(), total)
        })
        .collect();
    Prometheus::start(Options {
        openmetrics: Some(openmetrics(&[Gauge {
            name: "planning_jobs_total",
            labels: "",
            samples,
        }])),
        ..Options::default()
    })
}

#[test]
fn a_burst_lands_on_its_step_in_record_and_in_the_live_history() {
    let prom = counter();
    let work = tempfile::tempdir().unwrap();
    let lp = {
        let mut p = Policy::test();
        p.demand.arrivals.query = Some("increase(planning_jobs_total[1m])".into());
        p.forecast.step = planscale::duration::Duration::from_mins(1);
        let path = work.path().join("p.yaml");
        std::fs::write(&path, serde_yaml::to_string(&p).unwrap()).unwrap();
        path
    };
    // record: the row stamped 10:07 holds [10:07, 10:08), which has the burst.
    let out = work.path().join("r.csv");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(["record", "--prometheus", &prom.url, "--policy"])
        .arg(&lp)
        .args([
            "--from",
            "2026-03-02T10:00:00Z",
            "--to",
            "2026-03-02T10:15:00Z",
        ])
        .args(["--step", "1m", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let rec = Recording::read(&out).unwrap();
    let a = rec.series("arrivals").unwrap();
    let at = |m: i64| a.values[a.grid.index_of(ten() + TimeDelta::minutes(m)).unwrap()];
    assert_eq!((at(6), at(7), at(8)), (1.0, 31.0, 1.0), "{:?}", a.values);

    // Live: at 10:08:20 the newest complete step is [10:07, 10:08).
    let loaded = Policy::load(&lp).unwrap();
    let source = PrometheusMetrics::new(&prom.url).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = ten() + TimeDelta::seconds(8 * 60 + 20);
    let o = rt.block_on(source.observe(&loaded, now)).unwrap();
    assert_eq!(o.history.grid.end(), ten() + TimeDelta::minutes(8));
    assert_eq!(o.history.values.last().copied(), Some(31.0));
    let before = o
        .history
        .grid
        .index_of(ten() + TimeDelta::minutes(6))
        .unwrap();
    assert_eq!(o.history.values[before], 1.0);

    // A stage's completions (here the same counter) come through their own
    // cache, on the same steps; a completions query that finds nothing
    // leaves the stage's own observation whole.
    let mut stage = loaded.clone();
    stage.policy.demand.completions = Some(planscale::policy::SeriesRef {
        series: "done".into(),
        query: Some("increase(planning_jobs_total[1m])".into()),
    });
    let o = rt.block_on(source.observe(&stage, now)).unwrap();
    let done = o.completions.as_ref().expect("completions observed");
    // NaN (before the data) compares unequal: compare bit for bit.
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(done.grid, o.history.grid);
    assert!(
        bits(&done.values) == bits(&o.history.values),
        "the same steps"
    );
    assert_eq!(done.values.last().copied(), Some(31.0));
    stage.policy.demand.completions.as_mut().unwrap().query =
        Some("increase(no_such_metric_total[1m])".into());
    let o = rt.block_on(source.observe(&stage, now)).unwrap();
    // No data (not an error): every step missing; the loop withdraws it
    // (runner's unit test).
    assert!(o.completions.unwrap().values.iter().all(|v| v.is_nan()));
    assert_eq!(o.history.values.last().copied(), Some(31.0));
}

/// Right after a refit, at the start, middle and end of a step: the live
/// decision has its predictive term and equals the one from a recording.
#[test]
fn right_after_a_refit_the_live_forecast_covers_the_window() {
    // 5-minute steps and a 4-minute start-up: with the window stamped by its
    // end, `now + startup` fell before the forecast's first step early in a
    // step, and the predictive term was lost.
    let g = department(300, 9);
    let work = tempfile::tempdir().unwrap();
    let mut csv = Vec::new();
    write_schedule_csv(&g.schedule, &mut csv).unwrap();
    std::fs::write(work.path().join("schedule.csv"), csv).unwrap();
    let lp = policy(work.path(), "5m");
    let column = lp.policy.demand.arrivals.series.clone();
    let prom = backfill(&g.recording, &column);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Late morning on day 8 (a Tuesday), when work arrives.
    let step_start = g.recording.grid.start + TimeDelta::days(8) + TimeDelta::hours(10);
    for offset in [0, 150, 299] {
        let now = step_start + TimeDelta::seconds(offset);
        // Live: a fresh runner refits on its first tick, then decides.
        let cluster = MemoryCluster::default();
        cluster.show(2, 2);
        let (_tx, leader) = watch::channel(true);
        let ctx = Ctx {
            cluster,
            metrics: PrometheusMetrics::new(&prom.url).unwrap(),
            schedule: MemorySchedule::default(),
            telemetry: planscale::telemetry::Metrics::default(),
            leader,
            keda: planscale::keda::Board::default(),
            pipeline: Default::default(),
        };
        ctx.schedule.set(g.schedule.clone());
        let mut runner = PolicyRunner::new(lp.clone());
        let live = rt.block_on(runner.tick(now, &ctx)).unwrap().decision;
        assert!(
            live.terms.predictive.is_some() && live.no_forecast.is_none(),
            "{offset} s into the step: {live}"
        );
        assert!(live.forecast_rate.is_some_and(|r| r > 0.0), "{live}");

        // The same input built from the recording.
        let rec = g.recording.series(&column).unwrap();
        let i = rec.grid.index_of(step_start).unwrap();
        let from = i.saturating_sub(7 * 288);
        let history = planscale::series::SeriesView::new(
            planscale::series::Grid::new(rec.grid.time(from), 300, 0),
            &rec.values[from..i],
        );
        let mut a = Autoscaler::new(lp.policy.clone());
        a.refit(history, &g.schedule).unwrap();
        let obs = autoscale::Observation {
            current: 2,
            ready: 2,
            utilisation: None,
            queue_depth: None,
            history: Some(history),
        };
        let replayed = a.decide(now, &obs, &g.schedule);
        assert_eq!(live, replayed, "{offset} s into the step");
    }
}
