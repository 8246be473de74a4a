//! The clinic's working time and calibrated quantiles, measured (issue 13,
//! items 3 and 4): each application of a generated department forecast by
//! its bundled policy's engine (`policies/*.yaml` by column; 5-minute step,
//! 48-hour horizon, the policy's `schedule.max_lag` and SLO windows), four
//! ways: schedule-blind or schedule-aware, each without and with the
//! department's calendar (staff hours in its zone, its public holidays).
//!
//! ```text
//! cargo run --release --example working_time -- [--department clinic|centre|mrlinac|community]
//!     [--seed N] [--every-days N] [--json FILE] [--by-mean]
//! ```
//!
//! `--by-mean` adds, per variant, the window-sum coverage in bands of the
//! window's forecast mean, with the mean of (arrived − forecast) in each: where
//! the spread's `linear·μ + quadratic·μ²` misses (work arriving in windows
//! forecast near zero has no width to be covered by).
//!
//! Rolling origins from day 21 every N days (default 2), each fitted on the
//! policy's `forecast.history` (28 days) before it with the appointments
//! booked by then. Per variant: MASE (scaled by the in-sample daily seasonal
//! naive), the p90's coverage of *busy* steps (open by the calendar; the same
//! steps for every variant), and the p90 of work summed over `slo.max_wait`
//! windows (the forecast's `WorkSpread` at the window's mean) — its coverage
//! over windows that contain an open step. Beside them, the bound: the MASE
//! of the generator's true expected demand given the same book
//! (`Department::expectation`), which no forecaster can be expected to beat.

use std::collections::BTreeMap;

use anyhow::Context;
use planscale::forecast::{
    Engine, EngineConfig, Forecaster, accuracy, backtest, evaluation, spread, whole_count_quantile,
};
use planscale::schedule::{known_at, start_counts, types_of};
use planscale::series::Series;

#[path = "support/policies.rs"]
mod policies;
use policies::policy_for;

#[derive(Default, serde::Serialize)]
struct Tally {
    mase: Vec<f64>,
    busy: (usize, usize),
    windows: (usize, usize),
    /// The same with the continuous quantile (what the planner provisions for).
    windows_continuous: usize,
    /// Window-sum coverage (whole-number quantile) by the window's forecast
    /// mean, in the bands of [`MEAN_BANDS`]: (covered, windows, Σ arrived − mean).
    by_mean: [(usize, usize, f64); 4],
    models: BTreeMap<String, usize>,
}

/// Upper ends of the forecast-mean bands of `--by-mean` (jobs per window).
const MEAN_BANDS: [f64; 4] = [0.5, 2.0, 5.0, f64::INFINITY];

impl Tally {
    fn mean_mase(&self) -> f64 {
        self.mase.iter().sum::<f64>() / self.mase.len().max(1) as f64
    }
}

/// The bound as printed: none for a pipeline stage (no closed form).
fn bound_text(mase: f64) -> String {
    if mase.is_finite() {
        format!("expected demand MASE {mase:.3}")
    } else {
        "none (a pipeline stage: no closed-form expectation)".into()
    }
}

fn share((a, b): (usize, usize)) -> f64 {
    a as f64 / b.max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut which, mut seed, mut every_days) = ("clinic".to_string(), 1u64, 2usize);
    let mut json: Option<String> = None;
    let mut by_mean = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--department" => which = args.next().context("--department needs a value")?,
            "--seed" => seed = args.next().context("--seed needs a value")?.parse()?,
            "--every-days" => {
                every_days = args.next().context("--every-days needs a value")?.parse()?
            }
            "--json" => json = Some(args.next().context("--json needs a value")?),
            "--by-mean" => by_mean = true,
            other => anyhow::bail!("unexpected argument {other:?}"),
        }
    }
    let dep = policies::department(&which)?;
    let name = dep.name;
    let calendar = dep.calendar();
    let g = dep.generate(seed);
    let grid = g.recording.grid;
    let types = types_of(&g.schedule);
    let open = calendar.open_mask(&grid);
    let mut out = Vec::new();
    for (column, values) in &g.recording.columns {
        // Arrival columns only (not a stage's completions).
        if !dep.applications.iter().any(|a| a.column == column) {
            continue;
        }
        let policy = policy_for(column)?;
        anyhow::ensure!(
            policy.forecast.step.secs() as i64 == grid.step_secs,
            "the policy's step is not the recording's"
        );
        // Without a calendar (the bundled policy states the bundled clinic's;
        // each variant below says whether it has the department's).
        let aware = EngineConfig {
            calendar: None,
            ..EngineConfig::for_policy(&policy)
        };
        let mut blind_policy = policy.clone();
        blind_policy.schedule = None;
        let blind = EngineConfig {
            calendar: None,
            ..EngineConfig::for_policy(&blind_policy)
        };
        let with_cal = |c: &EngineConfig| EngineConfig {
            calendar: Some(calendar.clone()),
            ..c.clone()
        };
        let variants: Vec<(&str, EngineConfig, bool)> = vec![
            ("blind", blind.clone(), false),
            ("blind+calendar", with_cal(&blind), false),
            ("aware", aware.clone(), true),
            ("aware+calendar", with_cal(&aware), true),
        ];
        let h = aware.horizon;
        let day = aware.periods[0];
        let keep = (policy.forecast.history.secs() as i64 / grid.step_secs) as usize;
        let win = (policy.slo.max_wait.secs() as i64 / grid.step_secs).max(1) as usize;
        let z90 = spread::normal_quantile(0.9);
        let origins = backtest::origins(grid.len, 21 * day, every_days * day, h);
        // A pipeline stage's expected demand has no closed form: no bound.
        let expectation = dep.expectation(column).ok();
        let mut tallies: Vec<Tally> = variants.iter().map(|_| Tally::default()).collect();
        let mut bound = Vec::new();
        for &cut in &origins {
            let from = cut.saturating_sub(keep);
            let t_cut = grid.time(cut);
            let book = known_at(&g.schedule, t_cut);
            let cov = start_counts(&book, &grid, &types);
            let actual = &values[cut..cut + h];
            let scale = accuracy::mase_scale(&values[from..cut], day).max(1e-9);
            let future_grid = planscale::series::Grid::new(t_cut, grid.step_secs, h);
            if let Some(e) = &expectation {
                let expected = e.arrivals(&future_grid, t_cut, &g.schedule)?;
                bound.push(accuracy::mase(actual, &expected, scale));
            }
            for ((_, cfg, with_schedule), tally) in variants.iter().zip(tallies.iter_mut()) {
                let history = Series::new(
                    planscale::series::Grid::new(grid.time(from), grid.step_secs, cut - from),
                    values[from..cut].to_vec(),
                );
                let (past, future) = if *with_schedule {
                    (
                        Some(evaluation::slice(&cov, from, cut)),
                        Some(evaluation::slice(&cov, cut, cut + h)),
                    )
                } else {
                    (None, None)
                };
                let mut e = Engine::new(cfg.clone());
                e.fit(&history, past.as_ref())?;
                let f = e.predict(h, &[0.9], future.as_ref())?;
                let p90 = f.quantile(0.9)?;
                tally.mase.push(accuracy::mase(actual, &f.point, scale));
                *tally.models.entry(f.model.clone()).or_default() += 1;
                for j in 0..h {
                    if open[cut + j] {
                        tally.busy.1 += 1;
                        tally.busy.0 += usize::from(actual[j] <= p90[j]);
                    }
                }
                let mut j = 0;
                while j + win <= h {
                    if open[cut + j..cut + j + win].iter().any(|o| *o) {
                        let m: f64 = f.mean[j..j + win].iter().sum();
                        let a: f64 = actual[j..j + win].iter().sum();
                        tally.windows.1 += 1;
                        // Work counted in jobs: the whole-number quantile.
                        let q = f.spread.quantile(m, z90);
                        let covered = a <= whole_count_quantile(q);
                        tally.windows.0 += usize::from(covered);
                        let band = MEAN_BANDS
                            .iter()
                            .position(|hi| m < *hi)
                            .unwrap_or(MEAN_BANDS.len() - 1);
                        let b = &mut tally.by_mean[band];
                        b.0 += usize::from(covered);
                        b.1 += 1;
                        b.2 += a - m;
                        tally.windows_continuous += usize::from(a <= q);
                    }
                    j += win;
                }
            }
        }
        let bound_mase = if bound.is_empty() {
            f64::NAN
        } else {
            bound.iter().sum::<f64>() / bound.len() as f64
        };
        println!(
            "{name}/{column} (policy {}, {} origins from day 21 every {every_days} days, horizon {h} steps, windows {win} steps; bound: {})",
            policy.name,
            origins.len(),
            bound_text(bound_mase)
        );
        for ((label, _, _), t) in variants.iter().zip(&tallies) {
            println!(
                "  {label:<16} MASE {:.3}  p90 busy coverage {:.3} ({} steps)  window-sum p90 coverage {:.3} ({} windows; {:.3} unrounded)  models {:?}",
                t.mean_mase(),
                share(t.busy),
                t.busy.1,
                share(t.windows),
                t.windows.1,
                share((t.windows_continuous, t.windows.1)),
                t.models
            );
            if by_mean {
                let bands: Vec<String> = (0..MEAN_BANDS.len())
                    .zip(&t.by_mean)
                    .map(|(i, (c, n, bias))| {
                        let name = match i {
                            0 => format!("< {}", MEAN_BANDS[0]),
                            _ if MEAN_BANDS[i].is_infinite() => format!(">= {}", MEAN_BANDS[i - 1]),
                            _ => format!("{}-{}", MEAN_BANDS[i - 1], MEAN_BANDS[i]),
                        };
                        format!(
                            "mean {name}: {:.3} of {n} (arrived − mean {:+.2})",
                            share((*c, *n)),
                            bias / (*n).max(1) as f64
                        )
                    })
                    .collect();
                println!(
                    "  {:<16} window-sum p90 coverage by forecast mean: {}",
                    "",
                    bands.join("; ")
                );
            }
        }
        let best_blind = tallies[..2]
            .iter()
            .map(Tally::mean_mase)
            .fold(f64::INFINITY, f64::min);
        let ours = tallies[3].mean_mase();
        println!(
            "  => schedule + calendar {ours:.3} vs best blind {best_blind:.3}: {:.1} % better (bound: {})",
            100.0 * (1.0 - ours / best_blind),
            bound_text(bound_mase)
        );
        out.push(serde_json::json!({
            "series": format!("{name}/{column}"),
            "policy": policy.name,
            "origins": origins.len(),
            "bound_mase": bound_mase,
            "variants": variants.iter().zip(&tallies).map(|((l, _, _), t)| serde_json::json!({
                "variant": l, "mase": t.mean_mase(), "p90_busy_coverage": share(t.busy),
                "busy_steps": t.busy.1, "window_p90_coverage": share(t.windows),
                "windows": t.windows.1, "window_p90_coverage_unrounded": share((t.windows_continuous, t.windows.1)), "models": t.models,
            })).collect::<Vec<_>>(),
        }));
    }
    if let Some(p) = json {
        std::fs::write(
            &p,
            serde_json::to_string_pretty(&serde_json::json!({
                "department": name, "seed": seed, "every_days": every_days, "series": out,
            }))?,
        )
        .with_context(|| format!("writing {p}"))?;
    }
    Ok(())
}
