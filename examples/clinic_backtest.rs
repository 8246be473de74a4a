//! Schedule-aware vs schedule-blind forecasting on generated departments:
//! rolling-origin backtest over a 48-hour horizon, MASE and p90 coverage.
//!
//! `cargo run --release --example clinic_backtest -- [--seed N] [--department bundled|second]
//! [--days N] [--max-lag-hours N] [--ridge X] [--schedule-only]`
//! Prints one table per application and, last, a JSON line with the figures.

use std::path::Path;

use anyhow::Context;
use planscale::example::Department;
use planscale::forecast::{EngineConfig, SCHEDULE_MODEL, backtest, evaluation, univariate};
use planscale::policy::{Duration, Policy};
use planscale::schedule::{start_counts, types_of};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut seed = 1u64;
    let mut which = "bundled".to_string();
    let mut max_lag_hours = 72u64;
    let mut ridge: Option<f64> = None;
    let mut only_schedule = false;
    let mut days: Option<u32> = None;
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
            other => anyhow::bail!("unexpected argument {other:?}"),
        }
    }
    let mut dep = match which.as_str() {
        "bundled" => Department::bundled(),
        "second" => Department::second(),
        other => anyhow::bail!("unknown department {other:?}"),
    };
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
        serde_json::json!({"department": which, "seed": seed, "results": summary})
    );
    Ok(())
}
