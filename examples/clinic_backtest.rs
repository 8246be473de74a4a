//! Schedule-aware vs schedule-blind forecasting on generated departments:
//! rolling-origin backtest over a 48-hour horizon, MASE and p90 coverage.
//! At each origin the forecaster knows only the appointments booked by then
//! (honest future knowledge: same-day bookings and reschedules made later are
//! not in its future covariates); `--hindsight` gives it the whole book, as
//! before booking times existed, to measure what that knowledge was worth.
//!
//! `cargo run --release --example clinic_backtest -- [--seed N]
//! [--department clinic|centre|mrlinac|community] [--days N] [--max-lag-hours N]
//! [--ridge X] [--schedule-only] [--hindsight]`
//! (`bundled` and `second` still name `clinic` and `centre`.)
//! Prints one table per application and, last, a JSON line with the figures.
//!
//! `--compare PYTHON [--every-days N] [--repeats N] [--timeout SECONDS] [--peers LIST] [--json PATH]`
//! instead compares planscale with statsmodels and statsforecast
//! (`compare/peers.py`, run by PYTHON from `make venv`) at a 1-hour step
//! (each application's jobs per hour; the peers' seasons are 24 and 168 steps,
//! and statsforecast's seasonal ETS takes at most 24): origins from day 21
//! every N days (default 4), each model fitted on everything before the
//! origin. Like with like: schedule-blind planscale (the engine a policy
//! without a schedule builds) against the statsforecast models, and
//! schedule-aware planscale (the policy's engine with the appointment start
//! counts) against those given the same counts as regressors, at lags of 0 to
//! `--max-lag-hours` hours, the lags planscale's kernels span. planscale's p90
//! coverage is reported over the busy steps: the department's working hours
//! on working days (its calendar, not the forecast).

#[path = "support/peer.rs"]
mod peer;

use std::path::{Path, PathBuf};

use anyhow::Context;
use planscale::example::{Department, NAMES};
use planscale::forecast::{
    Engine, EngineConfig, Forecaster, SCHEDULE_MODEL, backtest, evaluation, univariate,
};
use planscale::policy::{Duration, Policy};
use planscale::schedule::{start_counts, types_of};
use planscale::series::{Covariates, Grid, Series};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut seed = 1u64;
    let mut which = "bundled".to_string();
    let mut max_lag_hours = 72u64;
    let mut ridge: Option<f64> = None;
    let mut only_schedule = false;
    let mut days: Option<u32> = None;
    let mut compare: Option<PathBuf> = None;
    let (mut every_days, mut repeats, mut timeout) = (4usize, 1usize, 10.0f64);
    let mut json: Option<PathBuf> = None;
    let mut models: Vec<String> = std::iter::once(peer::HOLT_WINTERS)
        .chain(peer::SF_BLIND)
        .chain(peer::SF_EXOG)
        .map(String::from)
        .collect();
    let mut hindsight = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--compare" => compare = Some(args.next().context("--compare needs a value")?.into()),
            "--every-days" => {
                every_days = args.next().context("--every-days needs a value")?.parse()?
            }
            "--repeats" => repeats = args.next().context("--repeats needs a value")?.parse()?,
            "--timeout" => timeout = args.next().context("--timeout needs a value")?.parse()?,
            "--json" => json = Some(args.next().context("--json needs a value")?.into()),
            "--peers" => {
                models = (args.next().context("--peers needs a value")?)
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--seed" => seed = args.next().context("--seed needs a value")?.parse()?,
            "--department" => which = args.next().context("--department needs a value")?,
            "--max-lag-hours" => {
                max_lag_hours = args
                    .next()
                    .context("--max-lag-hours needs a value")?
                    .parse()?
            }
            "--ridge" => ridge = Some(args.next().context("--ridge needs a value")?.parse()?),
            "--schedule-only" => only_schedule = true,
            "--days" => days = Some(args.next().context("--days needs a value")?.parse()?),
            "--hindsight" => hindsight = true,
            other => anyhow::bail!("unexpected argument {other:?}"),
        }
    }
    let name = match which.as_str() {
        "bundled" => "clinic",
        "second" => "centre",
        other => other,
    };
    let mut dep = Department::by_name(name).with_context(|| {
        format!(
            "unknown department {which:?}: expected one of {}",
            NAMES.join(", ")
        )
    })?;
    if let Some(d) = days {
        dep.days = d;
    }
    if let Some(python) = compare {
        let run = CompareRun {
            python,
            models,
            seed,
            max_lag_hours: max_lag_hours as usize,
            every_days,
            repeats,
            timeout,
            json,
        };
        return compare_peers(&dep, &which, &run);
    }
    let g = dep.generate(seed);
    let grid = g.recording.grid;
    let types = types_of(&g.schedule);
    // With hindsight no booking time is known: every appointment counts as
    // booked long ago, at every origin and in the engine's own backtest.
    let cov = if hindsight {
        let c = start_counts(&g.schedule, &grid, &types);
        Covariates::new(c.grid, c.types, c.values)
    } else {
        start_counts(&g.schedule, &grid, &types)
    };
    let (day, h) = (288, 576);
    // The product's engine: what `engine_for` builds for the bundled policy
    // (5-minute steps, 48-hour horizon, periods 1d and 7d) with this maximum lag.
    let mut policy = Policy::from_str_named(
        include_str!("../policies/auto-contouring.yaml"),
        Path::new("policies/auto-contouring.yaml"),
    )?;
    policy
        .schedule
        .as_mut()
        .context("a schedule section")?
        .max_lag = Duration::from_hours(max_lag_hours);
    let mut cfg = EngineConfig::for_policy(&policy);
    // The department's own working time (the bundled policy states the
    // bundled clinic's).
    cfg.calendar = Some(dep.calendar());
    anyhow::ensure!(cfg.horizon == h && cfg.periods == [day, 7 * day]);
    if let Some(r) = ridge {
        eprintln!(
            "note: --ridge {r} is an experiment, not the product's configuration (ridge {})",
            cfg.ridge
        );
        cfg.ridge = r;
    }
    {
        // One fit + predict of the schedule model on 28 days, timed.
        let s = g
            .recording
            .series(&g.recording.columns[0].0)
            .context("column")?;
        let n = 28 * day;
        let mut e = planscale::forecast::Engine::new(evaluation::restricted(&cfg, SCHEDULE_MODEL));
        let t0 = std::time::Instant::now();
        use planscale::forecast::Forecaster;
        e.fit(&s.head(n), Some(&evaluation::slice(&cov, 0, n)))?;
        let t1 = t0.elapsed().as_secs_f64();
        let f = e.predict(h, &[0.9], Some(&evaluation::booked_by(&cov, n, h)))?;
        eprintln!(
            "engine fit (with backtest) {t1:.3} s, predict {:.3} s: {}",
            t0.elapsed().as_secs_f64() - t1,
            f.model
        );
    }
    let origins = backtest::origins(grid.len, 21 * day, 2 * day, h);
    let mut models: Vec<&str> = vec![SCHEDULE_MODEL, "auto-blind"];
    if !only_schedule {
        models.extend(univariate::MODELS.iter().copied());
    }
    let mut summary = Vec::new();
    // Arrival columns only (not a pipeline stage's completions).
    let arrivals = |n: &str| dep.applications.iter().any(|a| a.column == n);
    for (name, _) in g.recording.columns.iter().filter(|(n, _)| arrivals(n)) {
        let s = g.recording.series(name).context("column")?;
        let t0 = std::time::Instant::now();
        let scores = evaluation::evaluate(&cfg, &s, Some(&cov), &origins, h, &models)?;
        println!(
            "{name} ({} origins, {:.1} s)",
            origins.len(),
            t0.elapsed().as_secs_f64()
        );
        for sc in &scores {
            println!(
                "  {:<22} MASE {:.3}  sMAPE {:6.2}  p90 coverage {:.3}  pinball {:.3}  used {:?}",
                sc.model, sc.mase, sc.smape, sc.coverage_p90, sc.pinball_p90, sc.used
            );
        }
        let sched = &scores[0];
        let best_blind = scores
            .iter()
            .filter(|s| s.model != SCHEDULE_MODEL && s.model != "auto")
            .min_by(|a, b| a.mase.total_cmp(&b.mase))
            .context("no blind model")?;
        let gain = 1.0 - sched.mase / best_blind.mase;
        println!(
            "  => schedule-aware MASE {:.3} vs best blind {} {:.3}: {:.1} % better; p90 coverage {:.3} ({:.3} where work is expected)",
            sched.mase,
            best_blind.model,
            best_blind.mase,
            100.0 * gain,
            sched.coverage_p90,
            sched.coverage_p90_busy
        );
        summary.push(serde_json::json!({
            "series": name, "schedule_mase": sched.mase, "best_blind": best_blind.model,
            "best_blind_mase": best_blind.mase, "improvement": gain, "p90_coverage": sched.coverage_p90,
            "p90_coverage_where_work_expected": sched.coverage_p90_busy,
        }));
    }
    println!(
        "{}",
        serde_json::json!({"department": name, "seed": seed, "hindsight": hindsight, "results": summary})
    );
    Ok(())
}

/// `--compare`: how to run the comparison with the peers.
struct CompareRun {
    python: PathBuf,
    /// Peer models (`compare/peers.py` names).
    models: Vec<String>,
    seed: u64,
    max_lag_hours: usize,
    every_days: usize,
    repeats: usize,
    timeout: f64,
    json: Option<PathBuf>,
}

/// Sums of `k` consecutive steps (whole groups only).
fn sums(values: &[f64], k: usize) -> Vec<f64> {
    values.chunks_exact(k).map(|c| c.iter().sum()).collect()
}

/// The bundled policy at a step of `step_secs` with the given maximum lag;
/// `None`: without its schedule (the schedule-blind engine).
fn policy_config(step_secs: u64, max_lag_hours: Option<usize>) -> anyhow::Result<EngineConfig> {
    let mut policy = Policy::from_str_named(
        include_str!("../policies/auto-contouring.yaml"),
        Path::new("policies/auto-contouring.yaml"),
    )?;
    policy.forecast.step = Duration::from_secs(step_secs);
    match max_lag_hours {
        Some(h) => {
            policy
                .schedule
                .as_mut()
                .context("a schedule section")?
                .max_lag = Duration::from_hours(h as u64)
        }
        None => policy.schedule = None,
    }
    let cfg = EngineConfig::for_policy(&policy);
    let day = (86_400 / step_secs) as usize;
    anyhow::ensure!(cfg.horizon == 2 * day && cfg.periods == [day, 7 * day]);
    Ok(cfg)
}

/// One planscale fit + predict with the p90: (point, p90, model).
fn planscale_p90(
    cfg: &EngineConfig,
    history: &Series,
    past: Option<&Covariates>,
    future: Option<&Covariates>,
    h: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>, String)> {
    let mut e = Engine::new(cfg.clone());
    e.fit(history, past)?;
    let f = e.predict(h, &[0.9], future)?;
    Ok((f.quantile(0.9)?.to_vec(), f.point, f.model))
}

/// Share of `busy` steps whose actual is at or below the p90.
fn coverage(actual: &[f64], p90: &[f64], busy: &[bool]) -> (usize, usize) {
    let n = busy.iter().filter(|b| **b).count();
    let k = (0..actual.len())
        .filter(|&i| busy[i] && actual[i] <= p90[i].max(0.0))
        .count();
    (k, n)
}

/// planscale's runs on one application, with its p90 coverage on busy steps.
struct Ours {
    runs: peer::ModelRuns,
    covered: (usize, usize),
    covered_all: (usize, usize),
    /// The same engine at the recording's 5-minute step, same origins.
    covered_fine: (usize, usize),
    models: std::collections::BTreeMap<String, usize>,
}

fn compare_peers(dep: &Department, which: &str, run: &CompareRun) -> anyhow::Result<()> {
    let (day, week, h) = (24usize, 168usize, 48usize);
    let g = dep.generate(run.seed);
    let k = (3600 / g.recording.grid.step_secs) as usize;
    let grid = Grid::new(g.recording.grid.start, 3600, g.recording.grid.len / k);
    let types = types_of(&g.schedule);
    let cov = start_counts(&g.schedule, &grid, &types);
    // Each with the department's own working time.
    let with_calendar = |c: EngineConfig| EngineConfig {
        calendar: Some(dep.calendar()),
        ..c
    };
    let blind = with_calendar(policy_config(3600, None)?);
    let aware = with_calendar(policy_config(3600, Some(run.max_lag_hours))?);
    // The product's own resolution (5 minutes), for the p90 coverage only.
    let step5 = g.recording.grid.step_secs as u64;
    let fine = [
        with_calendar(policy_config(step5, None)?),
        with_calendar(policy_config(step5, Some(run.max_lag_hours))?),
    ];
    let cov5 = start_counts(&g.schedule, &g.recording.grid, &types);
    let busy5: Vec<bool> = (0..g.recording.grid.len)
        .map(|i| dep.is_working_time(g.recording.grid.time(i)))
        .collect();
    let origins = backtest::origins(grid.len, 21 * day, run.every_days * day, h);
    let busy: Vec<bool> = (0..grid.len)
        .map(|i| dep.is_working_time(grid.time(i)))
        .collect();
    let models = &run.models;
    let mut out = Vec::new();
    let mut meta = None;
    for (name, values) in g
        .recording
        .columns
        .iter()
        .filter(|(n, _)| dep.applications.iter().any(|a| a.column == n))
    {
        let y = sums(values, k);
        let s = Series::new(grid, y.clone());
        let mut ours = Vec::new();
        for (label, cfg, with_schedule, cfg5) in [
            ("planscale-blind", &blind, false, &fine[0]),
            ("planscale-aware", &aware, true, &fine[1]),
        ] {
            let mut o = Ours {
                runs: peer::ModelRuns::new(label),
                covered: (0, 0),
                covered_all: (0, 0),
                covered_fine: (0, 0),
                models: Default::default(),
            };
            let s5 = Series::new(g.recording.grid, values.clone());
            for &cut in &origins {
                let (c5, h5) = (cut * k, h * k);
                let past = Some(evaluation::slice(&cov5, 0, c5)).filter(|_| with_schedule);
                let future = Some(evaluation::booked_by(&cov5, c5, h5)).filter(|_| with_schedule);
                let (p90, _, _) =
                    planscale_p90(cfg5, &s5.head(c5), past.as_ref(), future.as_ref(), h5)?;
                let (a, b) = coverage(&values[c5..c5 + h5], &p90, &busy5[c5..c5 + h5]);
                o.covered_fine = (o.covered_fine.0 + a, o.covered_fine.1 + b);
            }
            for &cut in &origins {
                let (past, future) = if with_schedule {
                    (
                        Some(evaluation::slice(&cov, 0, cut)),
                        Some(evaluation::booked_by(&cov, cut, h)),
                    )
                } else {
                    (None, None)
                };
                let (result, secs) = peer::timed(run.repeats, || {
                    planscale_p90(cfg, &s.head(cut), past.as_ref(), future.as_ref(), h)
                });
                let (p90, point, model) = result?;
                *o.models.entry(model).or_default() += 1;
                let actual = &y[cut..cut + h];
                o.runs
                    .windows
                    .push(Ok(peer::score(&y[..cut], actual, &point, day, secs)));
                let (a, b) = coverage(actual, &p90, &busy[cut..cut + h]);
                o.covered = (o.covered.0 + a, o.covered.1 + b);
                let (a, b) = coverage(actual, &p90, &[true; 48]);
                o.covered_all = (o.covered_all.0 + a, o.covered_all.1 + b);
            }
            ours.push(o);
        }
        let windows: Vec<peer::Window> = origins
            .iter()
            .map(|&cut| peer::Window {
                train: y[..cut].to_vec(),
                period: day,
                week,
                x_train: Some(peer::lagged(&cov.values, 0, cut, run.max_lag_hours)),
                // The book as it was at the origin, as planscale is given it.
                x_future: Some(peer::lagged(
                    &booked_rows(&cov, cut, h),
                    cut,
                    cut + h,
                    run.max_lag_hours,
                )),
            })
            .collect();
        eprintln!(
            "{which}/{name}: {} origins, peers {models:?}",
            windows.len()
        );
        let answer = peer::run_peer(
            &run.python,
            &peer::Job {
                horizon: h,
                repeats: run.repeats,
                models: models.clone(),
                timeout: run.timeout,
                boxed_every: 1,
                windows: &windows,
            },
        )?;
        let mut rows = Vec::new();
        for o in &ours {
            let with = o.runs.model == "planscale-aware";
            rows.push(peer::Summary::new(&o.runs, with, None));
        }
        for m in models {
            let mut runs = peer::ModelRuns::new(m);
            for (&cut, r) in origins.iter().zip(&answer.results) {
                runs.push_peer(&r[m], &y[..cut], &y[cut..cut + h], day);
            }
            let with = peer::SF_EXOG.contains(&m.as_str());
            let reference = &ours[usize::from(with)].runs;
            rows.push(peer::Summary::new(&runs, with, Some(reference)));
        }
        let share = |(a, b): (usize, usize)| a as f64 / b.max(1) as f64;
        println!(
            "{}",
            peer::table(
                &format!(
                    "{which}/{name} (jobs per hour, {} origins from day 21 every {} days, horizon {h} h, lags 0-{} h)",
                    origins.len(),
                    run.every_days,
                    run.max_lag_hours
                ),
                &rows
            )
        );
        for o in &ours {
            println!(
                "  {}: p90 covers {:.3} of busy steps (working hours, {} steps), {:.3} of all; at 5 minutes {:.3} of busy steps; models {:?}",
                o.runs.model,
                share(o.covered),
                o.covered.1,
                share(o.covered_all),
                share(o.covered_fine),
                o.models
            );
        }
        print!("{}", peer::verdict_line(&rows, "planscale-blind", false));
        print!("{}", peer::verdict_line(&rows, "planscale-aware", true));
        print!("{}", peer::verdict_line(&rows, "planscale-aware", false));
        out.push(serde_json::json!({
            "series": format!("{which}/{name}"),
            "windows": origins.len(),
            "rows": rows,
            "p90_coverage_busy": ours.iter().map(|o| (o.runs.model.clone(), share(o.covered))).collect::<std::collections::BTreeMap<_, _>>(),
            "p90_coverage_busy_5min": ours.iter().map(|o| (o.runs.model.clone(), share(o.covered_fine))).collect::<std::collections::BTreeMap<_, _>>(),
            "p90_coverage_all": ours.iter().map(|o| (o.runs.model.clone(), share(o.covered_all))).collect::<std::collections::BTreeMap<_, _>>(),
            "busy_steps": ours[0].covered.1,
            "planscale_models": ours.iter().map(|o| (o.runs.model.clone(), o.models.clone())).collect::<std::collections::BTreeMap<_, _>>(),
        }));
        meta = Some(peer::meta(&answer));
    }
    if let Some(p) = &run.json {
        peer::write_json(
            p,
            &serde_json::json!({
                "dataset": format!("department {which}"),
                "resolution": "1h",
                "seed": run.seed,
                "days": dep.days,
                "horizon": h,
                "repeats": run.repeats,
                "max_lag_hours": run.max_lag_hours,
                "peer": meta,
                "series": out,
            }),
        )?;
    }
    Ok(())
}

/// Rows `0..cut + h` of `cov`, the last `h` as booked by `cut`
/// ([`evaluation::booked_by`]): what a peer given regressors is given at
/// origin `cut`.
fn booked_rows(cov: &Covariates, cut: usize, h: usize) -> Vec<Vec<f64>> {
    let future = evaluation::booked_by(cov, cut, h);
    cov.values
        .iter()
        .zip(&future.values)
        .map(|(past, fut)| {
            past[..cut.min(past.len())]
                .iter()
                .chain(fut)
                .copied()
                .collect()
        })
        .collect()
}
