//! Scores a forecaster on the M4 Hourly subset (414 series, horizon 48, m = 24).
//!
//! `cargo run --release --example m4_hourly -- DIR [--method engine|engine-4x48|auto|naive2|snaive|naive1|MODEL] [--series N]`
//! where DIR holds `Hourly-train.csv` and `Hourly-test.csv` (e.g.
//! `../shared/data/m4-hourly`). Prints per-method detail on stderr and, as the
//! last line on stdout, one JSON object with `series`, `smape`, `mase`,
//! `owa` (against Naive2 computed on the same series) and `seconds`.
//!
//! `engine` is the product's engine for hourly data (`engine_for` of an
//! hourly policy); `engine-4x48` the same with 4 backtest origins one horizon
//! apart, an experiment.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use planscale::forecast::{accuracy, evaluation, reference, univariate};
use planscale::policy::{Duration, Policy};

/// M4 Hourly: horizon and seasonal period.
const H: usize = 48;
const M: usize = 24;

fn read_rows(path: &Path) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let id = rec.get(0).unwrap_or_default().to_string();
        let mut values = Vec::new();
        for (j, field) in rec.iter().enumerate().skip(1) {
            if field.is_empty() {
                continue;
            }
            values.push(field.parse::<f64>().with_context(|| {
                format!(
                    "{}: row {}, column {}: expected a number, found {field:?}",
                    path.display(),
                    i + 2,
                    j + 1
                )
            })?);
        }
        rows.push((id, values));
    }
    Ok(rows)
}

/// The bundled policy (48-hour horizon, periods 1d and 7d) at a 1-hour step
/// and without a schedule: `engine_for` of it is the product's engine for
/// hourly data (periods 24 and 168 steps, horizon 48).
fn hourly_policy() -> anyhow::Result<Policy> {
    let mut p = Policy::from_str_named(
        include_str!("../policies/auto-contouring.yaml"),
        Path::new("policies/auto-contouring.yaml"),
    )?;
    p.forecast.step = Duration::from_hours(1);
    p.schedule = None;
    let cfg = planscale::forecast::EngineConfig::for_policy(&p);
    anyhow::ensure!(cfg.horizon == H && cfg.periods == [M, 7 * M]);
    Ok(p)
}

/// An experiment, not the product's configuration: the product's engine with
/// 4 backtest origins one horizon apart instead of 6 half a day apart (the
/// configuration M4 was first scored with, `EngineConfig::hourly`).
fn four_by_horizon(p: &Policy) -> planscale::forecast::EngineConfig {
    let mut cfg = planscale::forecast::EngineConfig::for_policy(p);
    cfg.origins = 4;
    cfg.origin_spacing = H;
    cfg
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut method = "engine".to_string();
    let mut limit = usize::MAX;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--method" => method = args.next().context("--method needs a value")?,
            "--series" => limit = args.next().context("--series needs a value")?.parse()?,
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => bail!("unexpected argument {a:?}"),
        }
    }
    let dir = dir.context(
        "usage: m4_hourly DIR [--method engine|engine-4x48|auto|naive2|snaive|naive1|MODEL] [--series N]",
    )?;
    let train = read_rows(&dir.join("Hourly-train.csv"))?;
    let test = read_rows(&dir.join("Hourly-test.csv"))?;
    if train.len() != test.len() {
        bail!("{} training rows but {} test rows", train.len(), test.len());
    }
    let policy = hourly_policy()?;
    let started = Instant::now();
    let (mut s_sum, mut m_sum, mut s2_sum, mut m2_sum, mut n) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let mut chosen: std::collections::BTreeMap<String, usize> = Default::default();
    for ((id, y), (tid, actual)) in train.iter().zip(&test).take(limit) {
        if id != tid || actual.len() != H {
            bail!(
                "series {id}: test row {tid} has {} values, expected {H}",
                actual.len()
            );
        }
        let f: Vec<f64> = match method.as_str() {
            "naive2" => reference::naive2(y, M, H),
            "snaive" => reference::seasonal_naive(y, M, H),
            "naive1" => reference::seasonal_naive(y, 1, H),
            "auto" => {
                let (point, model) = evaluation::ensemble(y, &[M, 7 * M], H);
                // Count the best-ranked member of the ensemble.
                let best = model.trim_start_matches("mean(").split([',', ')']).next();
                *chosen
                    .entry(best.unwrap_or_default().to_string())
                    .or_default() += 1;
                point
            }
            "engine" | "engine-4x48" => {
                // The engine the controller builds for an hourly policy: single best
                // model by the policy's backtest (no ensemble).
                use planscale::forecast::{Forecaster, engine_for};
                let grid = planscale::series::Grid::new(chrono::DateTime::UNIX_EPOCH, 3600, 0);
                let mut e = if method == "engine-4x48" {
                    planscale::forecast::Engine::new(four_by_horizon(&policy))
                } else {
                    engine_for(&policy)
                };
                e.fit(&planscale::series::Series::new(grid, y.clone()), None)?;
                let f = e.predict(H, &[], None)?;
                *chosen.entry(f.model.clone()).or_default() += 1;
                f.point
            }
            other => univariate::forecast(other, y, &[M, 7 * M], H)
                .with_context(|| format!("unknown method {other:?}"))?,
        };
        let f: Vec<f64> = f.iter().map(|v| v.max(0.0)).collect();
        let scale = accuracy::mase_scale(y, M);
        let n2 = reference::naive2(y, M, H);
        s_sum += accuracy::smape(actual, &f);
        m_sum += accuracy::mase(actual, &f, scale);
        s2_sum += accuracy::smape(actual, &n2);
        m2_sum += accuracy::mase(actual, &n2, scale);
        n += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (smape, mase) = (s_sum / n as f64, m_sum / n as f64);
    let (smape2, mase2) = (s2_sum / n as f64, m2_sum / n as f64);
    let owa = accuracy::owa(smape, mase, smape2, mase2);
    if !chosen.is_empty() {
        eprintln!("best-ranked model per series: {chosen:?}");
    }
    eprintln!("naive2 on these series: smape {smape2:.3} mase {mase2:.3}");
    println!(
        "{}",
        serde_json::json!({
            "method": method,
            "series": n,
            "smape": (smape * 1000.0).round() / 1000.0,
            "mase": (mase * 1000.0).round() / 1000.0,
            "owa": (owa * 10000.0).round() / 10000.0,
            "seconds": (seconds * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
