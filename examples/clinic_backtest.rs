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

use std::path::Path;

use anyhow::Context;
use planscale::example::{Department, NAMES};
use planscale::forecast::backtest::{Prediction, Score};
use planscale::forecast::{
    Engine, EngineConfig, Forecaster, SCHEDULE_MODEL, backtest, evaluation, univariate,
};
use planscale::policy::{Duration, Policy};
use planscale::schedule::{Appointment, known_at, start_counts, types_of};
use planscale::series::{Covariates, Series};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut seed = 1u64;
    let mut which = "bundled".to_string();
    let mut max_lag_hours = 72u64;
    let mut ridge: Option<f64> = None;
    let mut only_schedule = false;
    let mut days: Option<u32> = None;
    let mut hindsight = false;
    while let Some(a) = args.next() {
        match a.as_str() {
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
    let g = dep.generate(seed);
    let grid = g.recording.grid;
    let types = types_of(&g.schedule);
    let cov = start_counts(&g.schedule, &grid, &types);
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
        let f = e.predict(h, &[0.9], Some(&evaluation::slice(&cov, n, n + h)))?;
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
    for (name, _) in &g.recording.columns {
        let s = g.recording.series(name).context("column")?;
        let t0 = std::time::Instant::now();
        let scores = if hindsight {
            evaluation::evaluate(&cfg, &s, Some(&cov), &origins, h, &models)?
        } else {
            evaluate_as_booked(&cfg, &s, &g.schedule, &types, &origins, h, &models)?
        };
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

/// `evaluation::evaluate` with the book as it stood at each origin: the
/// covariates of an origin count the appointments booked by then (complete
/// for the history, since an appointment is booked before it starts; partial
/// for the horizon). `evaluate` takes one set of covariates for every origin,
/// which is the whole book, bookings made after the origin included.
fn evaluate_as_booked(
    cfg: &EngineConfig,
    history: &Series,
    book: &[Appointment],
    types: &[String],
    origins: &[usize],
    horizon: usize,
    models: &[&str],
) -> anyhow::Result<Vec<Score>> {
    let grid = history.grid;
    let known: Vec<Covariates> = origins
        .iter()
        .map(|cut| start_counts(&known_at(book, grid.time(*cut)), &grid, types))
        .collect();
    let period = cfg.periods.first().copied().unwrap_or(1);
    let mut out = Vec::new();
    for model in models {
        let mut failed = None;
        let bt = backtest::run(horizon, origins, |cut| {
            let cov = &known[origins.iter().position(|o| *o == cut)?];
            let mut engine = Engine::new(evaluation::restricted(cfg, model));
            let fitted = engine
                .fit(&history.head(cut), Some(&evaluation::slice(cov, 0, cut)))
                .and_then(|()| {
                    let future = evaluation::slice(cov, cut, cut + horizon);
                    engine.predict(horizon, &[0.9], Some(&future))
                })
                .and_then(|f| {
                    Ok(Prediction {
                        p90: Some(f.quantile(0.9)?.to_vec()),
                        point: f.point,
                        model: f.model,
                    })
                });
            fitted.map_err(|e| failed = Some(e)).ok()
        });
        if let Some(e) = failed {
            return Err(e.into());
        }
        let bt = bt.with_context(|| format!("{model}: a backtest forecast was not finite"))?;
        out.push(bt.score(model, &history.values, period));
    }
    Ok(out)
}
