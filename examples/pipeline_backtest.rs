//! Pipelines measured (issue 14, item 1): is a downstream stage forecast
//! better from the stage before it? For each pipeline stage of a generated
//! department (dose calculation after auto-contouring, plan optimisation
//! after dose calculation), by its bundled policy's engine (`policies/*.yaml`
//! by column: 5-minute step, 48-hour horizon, its calendar and lags):
//!
//! - `blind+calendar`: no schedule, no upstream;
//! - `schedule+calendar`: the appointments known at the origin, no upstream
//!   (what the stage's policy did before pipelines);
//! - `upstream`: the same plus the upstream stage's completions — observed
//!   up to the origin, and after it what the upstream *planned* then: its own
//!   forecast at the origin (itself upstream-informed, stage by stage) served
//!   one job's service time later, with the arrivals still in service at the
//!   origin finishing first. No realised completion after an origin is read;
//! - `upstream only`: the upstream row without the appointment rows.
//!
//! ```text
//! cargo run --release --example pipeline_backtest -- [--department clinic|centre]
//!     [--seed N] [--every-days N] [--near-hours H] [--json FILE]
//! ```
//!
//! Rolling origins from day 21 every N days (default 2), at 08:00, 11:00 and
//! 14:00 of the grid's day in turn, each fitted on the policy's
//! `forecast.history` before it. MASE (scaled by the in-sample daily
//! seasonal naive) over the whole horizon, and over its first H hours
//! (default 8: where an upstream completion is still ahead of the work it
//! causes). "Best without upstream" is the better of the first two.

use anyhow::Context;
use planscale::forecast::{Engine, EngineConfig, Forecaster, accuracy, backtest, evaluation};
use planscale::policy::Policy;
use planscale::schedule::{known_at, start_counts};
use planscale::series::{Covariates, Grid, Series, UPSTREAM_PREFIX};

#[path = "support/policies.rs"]
mod policies;
use policies::policy_for;

/// One stage of the department's pipeline.
struct Stage {
    column: &'static str,
    policy: Policy,
    /// The upstream stage's index in the list, if any.
    upstream: Option<usize>,
    /// Its completions column and one job's service in steps, if recorded.
    done: Option<(&'static str, usize)>,
}

#[derive(Default, Clone, serde::Serialize)]
struct Tally {
    mase: Vec<f64>,
    near: Vec<f64>,
    models: std::collections::BTreeMap<String, usize>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

const VARIANTS: [&str; 4] = [
    "blind+calendar",
    "schedule+calendar",
    "upstream",
    "upstream only",
];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut which, mut seed, mut every_days, mut near_hours) =
        ("clinic".to_string(), 42u64, 2usize, 8usize);
    let mut json: Option<String> = None;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--department" => which = value()?,
            "--seed" => seed = value()?.parse()?,
            "--every-days" => every_days = value()?.parse()?,
            "--near-hours" => near_hours = value()?.parse()?,
            "--json" => json = Some(value()?),
            other => anyhow::bail!("unexpected argument {other:?}"),
        }
    }
    let dep = policies::department(&which)?;
    let name = dep.name;
    let g = dep.generate(seed);
    let grid = g.recording.grid;
    let column = |c: &str| {
        g.recording
            .series(c)
            .map(|s| s.values.clone())
            .with_context(|| format!("the recording has no column {c}"))
    };
    // The stages in the generator's order (every upstream before its downstream).
    let mut stages: Vec<Stage> = Vec::new();
    for app in &dep.applications {
        let mut policy = policy_for(app.column)?;
        let upstream = app
            .upstream
            .as_ref()
            .and_then(|u| stages.iter().position(|s| s.column == u.column));
        if upstream.is_none() {
            policy.demand.upstream.clear();
        }
        let done = app.completions.as_ref().map(|c| {
            let steps = ((c.service_min * 60.0) / grid.step_secs as f64).round() as usize;
            (c.column, steps)
        });
        stages.push(Stage {
            column: app.column,
            policy,
            upstream,
            done,
        });
    }
    if !stages.iter().any(|s| s.upstream.is_some()) {
        anyhow::bail!("department {name} has no pipeline stage");
    }
    let first = &stages[0].policy;
    let h = EngineConfig::for_policy(first).horizon;
    let day = EngineConfig::for_policy(first).periods[0];
    let near = (near_hours * 3600 / grid.step_secs as usize).clamp(1, h);
    // Origins in the working day too (not only at midnight, where the first
    // hours hold no work): each shifted by 08:00, 11:00 or 14:00 in turn.
    let origins: Vec<usize> = backtest::origins(grid.len, 21 * day, every_days * day, h + day)
        .into_iter()
        .enumerate()
        .map(|(k, o)| o + [8, 11, 14][k % 3] * 3600 / grid.step_secs as usize)
        .collect();
    let mut tallies: Vec<Vec<Tally>> = stages
        .iter()
        .map(|_| vec![Tally::default(); VARIANTS.len()])
        .collect();
    for &cut in &origins {
        let t_cut = grid.time(cut);
        let book = known_at(&g.schedule, t_cut);
        // Per stage, its planned completions over the horizon (upstream-informed).
        let mut planned: Vec<Option<Vec<f64>>> = Vec::new();
        for (k, stage) in stages.iter().enumerate() {
            let p = &stage.policy;
            let keep = (p.forecast.history.secs() as i64 / grid.step_secs) as usize;
            let from = cut.saturating_sub(keep);
            let values = column(stage.column)?;
            let history = Series::new(
                Grid::new(grid.time(from), grid.step_secs, cut - from),
                values[from..cut].to_vec(),
            );
            let actual = &values[cut..cut + h];
            let scale = accuracy::mase_scale(&values[from..cut], day).max(1e-9);
            let types = p
                .schedule
                .as_ref()
                .map(|s| s.types.clone())
                .unwrap_or_default();
            let cov = start_counts(&book, &grid, &types);
            let mut own = p.clone();
            own.demand.upstream.clear();
            let mut blind = own.clone();
            blind.schedule = None;
            // (variant, config, covariates of the history, of the horizon)
            let mut runs: Vec<(usize, EngineConfig, Option<Covariates>, Option<Covariates>)> = vec![
                (0, EngineConfig::for_policy(&blind), None, None),
                (
                    1,
                    EngineConfig::for_policy(&own),
                    Some(evaluation::slice(&cov, from, cut)),
                    Some(evaluation::slice(&cov, cut, cut + h)),
                ),
            ];
            if let Some((u, plan)) = stage
                .upstream
                .and_then(|u| planned.get(u).cloned().flatten().map(|p| (u, p)))
            {
                let up = &stages[u];
                let (done_col, _) = up.done.context("the upstream records no completions")?;
                let done = column(done_col)?;
                let mut past = evaluation::slice(&cov, from, cut);
                past.types
                    .push(format!("{UPSTREAM_PREFIX}{}", up.policy.name));
                past.values.push(done[from..cut].to_vec());
                let mut future = evaluation::slice(&cov, cut, cut + h);
                future
                    .types
                    .push(format!("{UPSTREAM_PREFIX}{}", up.policy.name));
                future.values.push(plan);
                // The upstream row alone (no appointment rows): what the
                // completions say without the book.
                let only = |c: &Covariates| Covariates {
                    grid: c.grid,
                    types: c.types[c.types.len() - 1..].to_vec(),
                    values: c.values[c.values.len() - 1..].to_vec(),
                    late: Vec::new(),
                };
                let mut no_schedule = p.clone();
                no_schedule.schedule = None;
                runs.push((
                    3,
                    EngineConfig::for_policy(&no_schedule),
                    Some(only(&past)),
                    Some(only(&future)),
                ));
                runs.push((2, EngineConfig::for_policy(p), Some(past), Some(future)));
            }
            let mut informed: Option<Vec<f64>> = None;
            for (v, cfg, past, future) in runs {
                let mut e = Engine::new(cfg);
                e.fit(&history, past.as_ref())?;
                let f = e.predict(h, &[0.9], future.as_ref())?;
                let t = &mut tallies[k][v];
                t.mase.push(accuracy::mase(actual, &f.point, scale));
                t.near
                    .push(accuracy::mase(&actual[..near], &f.point[..near], scale));
                *t.models.entry(f.model.clone()).or_default() += 1;
                // What this stage plans to finish: the best-informed forecast.
                if v == 1 || v == 2 {
                    informed = Some(f.mean.clone());
                }
            }
            // Planned completions: the arrivals still in service at the
            // origin first, then the forecast, one service time later.
            planned.push(match (stage.done, informed) {
                (Some((_, lag)), Some(mean)) => Some(
                    (0..h)
                        .map(|j| {
                            if j < lag {
                                values[cut + j - lag]
                            } else {
                                mean[j - lag]
                            }
                        })
                        .collect(),
                ),
                _ => None,
            });
        }
    }
    let mut out = Vec::new();
    println!(
        "{name} (seed {seed}): {} origins from day 21 every {every_days} days, horizon {h} steps, near = first {near_hours} h",
        origins.len()
    );
    for (stage, t) in stages.iter().zip(&tallies) {
        let Some(u) = stage.upstream else { continue };
        for (label, t) in VARIANTS.iter().zip(t) {
            println!(
                "  {:<16} {label:<18} MASE {:.3}  near {:.3}  models {:?}",
                stage.column,
                mean(&t.mase),
                mean(&t.near),
                t.models
            );
        }
        let best = mean(&t[0].mase).min(mean(&t[1].mase));
        let best_near = mean(&t[0].near).min(mean(&t[1].near));
        let (ours, ours_near) = (mean(&t[2].mase), mean(&t[2].near));
        println!(
            "  => {} from {}: upstream {ours:.3} vs best without {best:.3}: {:.1} % better (first {near_hours} h: {ours_near:.3} vs {best_near:.3}, {:.1} %)",
            stage.column,
            stages[u].column,
            100.0 * (1.0 - ours / best),
            100.0 * (1.0 - ours_near / best_near),
        );
        out.push(serde_json::json!({
            "stage": stage.column, "policy": stage.policy.name, "upstream": stages[u].policy.name,
            "variants": VARIANTS.iter().zip(t).map(|(l, t)| serde_json::json!({
                "variant": l, "mase": mean(&t.mase), "near_mase": mean(&t.near), "models": t.models,
            })).collect::<Vec<_>>(),
            "gain": 1.0 - ours / best, "near_gain": 1.0 - ours_near / best_near,
        }));
    }
    if let Some(p) = json {
        std::fs::write(
            &p,
            serde_json::to_string_pretty(&serde_json::json!({
                "department": name, "seed": seed, "every_days": every_days,
                "near_hours": near_hours, "origins": origins.len(), "stages": out,
            }))?,
        )
        .with_context(|| format!("writing {p}"))?;
    }
    Ok(())
}
