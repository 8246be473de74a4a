//! Evaluation of the forecasters, for the acceptance tests, the examples and
//! the benchmarks; nothing in the product path calls it.
//!
//! [`evaluate`] backtests the engine (the configuration a policy builds, see
//! [`engine_for`](super::engine_for)) restricted to one model or family at
//! each origin, with the appointments that took place up to then plus those
//! booked for the horizon by then ([`booked_by`]), through the one
//! rolling-origin [`backtest`]. [`rank`] and
//! [`ensemble`] are M4's `--method auto`: the mean of the best few
//! schedule-blind models by the same backtest.

use super::backtest::{self, Prediction, Score};
use super::engine::{Engine, EngineConfig};
use super::{Covariates, Error, Forecaster, Result, univariate};
use crate::series::{Grid, Series};

/// Restricts a config to one model name, or to a family (`auto`, `auto-blind`).
pub fn restricted(cfg: &EngineConfig, model: &str) -> EngineConfig {
    let mut c = cfg.clone();
    c.models = match model {
        "auto" => None,
        "auto-blind" => Some(univariate::MODELS.iter().map(|m| m.to_string()).collect()),
        m => Some(vec![m.to_string()]),
    };
    c
}

/// Backtests the engine restricted to each of `models` at the given origins:
/// a fresh engine fitted on everything before the origin predicts `horizon`
/// steps with the p90.
pub fn evaluate(
    cfg: &EngineConfig,
    history: &Series,
    covariates: Option<&Covariates>,
    origins: &[usize],
    horizon: usize,
    models: &[&str],
) -> Result<Vec<Score>> {
    let period = cfg.periods.first().copied().unwrap_or(1);
    let mut out = Vec::new();
    for model in models {
        let mut failed: Option<Error> = None;
        let forecast = |cut: usize| -> Result<Prediction> {
            let mut engine = Engine::new(restricted(cfg, model));
            let (past, future) = match covariates {
                Some(c) => (Some(slice(c, 0, cut)), Some(booked_by(c, cut, horizon))),
                None => (None, None),
            };
            engine.fit(&history.head(cut), past.as_ref())?;
            let f = engine.predict(horizon, &[0.9], future.as_ref())?;
            Ok(Prediction {
                p90: Some(f.quantile(0.9)?.to_vec()),
                point: f.point,
                model: f.model,
            })
        };
        let bt = backtest::run(horizon, origins, |cut| {
            forecast(cut).map_err(|e| failed = Some(e)).ok()
        });
        if let Some(e) = failed {
            return Err(e);
        }
        let bt = bt.ok_or_else(|| {
            Error::Invalid(format!("{model}: a backtest forecast was not finite"))
        })?;
        out.push(bt.score(model, &history.values, period));
    }
    Ok(out)
}

/// Steps `from..to` of covariates (zeros past their end).
pub fn slice(c: &Covariates, from: usize, to: usize) -> Covariates {
    Covariates {
        grid: Grid::new(c.grid.time(from), c.grid.step_secs, to - from),
        types: c.types.clone(),
        values: c
            .values
            .iter()
            .map(|v| {
                (from..to)
                    .map(|i| v.get(i).copied().unwrap_or(0.0))
                    .collect()
            })
            .collect(),
        late: c.late_within(from, to),
    }
}

/// The `horizon` steps from `cut` of covariates as they were booked by
/// `cut`: the appointments booked after it ([`Covariates::late`]) left out,
/// as a forecaster at `cut` would have been given them.
pub fn booked_by(c: &Covariates, cut: usize, horizon: usize) -> Covariates {
    let mut future = slice(c, cut, cut + horizon);
    // The slice lists only those booked after its start.
    for l in &future.late {
        if let Some(v) = future.values.get_mut(l.row).and_then(|r| r.get_mut(l.step)) {
            *v = (*v - 1.0).max(0.0);
        }
    }
    future.late.clear();
    future
}

/// How many of the best-ranked models [`ensemble`] averages.
pub const ENSEMBLE: usize = 3;

/// The schedule-blind models ranked by backtest MAE over up to `origins`
/// origins spaced `h` apart at the end of `y` (each keeping at least half of
/// `y` for fitting), best first. Models that do not apply at some origin are
/// left out.
pub fn rank(y: &[f64], periods: &[usize], h: usize, origins: usize) -> Vec<(&'static str, f64)> {
    let cuts = backtest::trailing_origins(y.len(), h, origins, h);
    let mut out: Vec<(&'static str, f64)> = univariate::MODELS
        .iter()
        .filter_map(|name| {
            let bt = backtest::run(h, &cuts, |cut| {
                univariate::forecast(name, &y[..cut], periods, h).map(Prediction::point)
            })?;
            Some((*name, bt.mae(y))).filter(|(_, mae)| mae.is_finite())
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

/// The mean of the [`ENSEMBLE`] best models by a two-origin backtest, and its
/// name (`mean(day-ses, week-ses, weeks-mean)`). Falls back to seasonal
/// naive, then naive, when nothing can be backtested.
pub fn ensemble(y: &[f64], periods: &[usize], h: usize) -> (Vec<f64>, String) {
    let ranked = rank(y, periods, h, 2);
    let names: Vec<&str> = ranked.iter().take(ENSEMBLE).map(|r| r.0).collect();
    mean_of(&names, y, periods, h)
        .or_else(|| mean_of(&["snaive-day"], y, periods, h))
        .or_else(|| mean_of(&["naive"], y, periods, h))
        .unwrap_or_else(|| (vec![f64::NAN; h], "none".into()))
}

/// The mean of the given models' forecasts (those that apply).
fn mean_of(names: &[&str], y: &[f64], periods: &[usize], h: usize) -> Option<(Vec<f64>, String)> {
    let mut sum = vec![0.0; h];
    let mut used = Vec::new();
    for name in names {
        if let Some(f) = univariate::forecast(name, y, periods, h) {
            sum.iter_mut().zip(&f).for_each(|(s, v)| *s += v);
            used.push(*name);
        }
    }
    if used.is_empty() {
        return None;
    }
    let k = used.len() as f64;
    let name = if used.len() == 1 {
        used[0].to_string()
    } else {
        format!("mean({})", used.join(", "))
    };
    Some((sum.iter().map(|s| s / k).collect(), name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restriction_names() {
        let cfg = EngineConfig::hourly(24);
        assert_eq!(restricted(&cfg, "auto").models, None);
        assert!(
            !restricted(&cfg, "auto-blind")
                .models
                .unwrap()
                .iter()
                .any(|m| m == super::super::SCHEDULE_MODEL)
        );
        assert_eq!(
            restricted(&cfg, "day-ses").models,
            Some(vec!["day-ses".into()])
        );
    }

    #[test]
    fn weekly_series_prefers_weekly_models() {
        // Weekdays 10, weekends 2, with a daily bump: a day-only model cannot fit it.
        let y: Vec<f64> = (0..24 * 7 * 5)
            .map(|i| {
                let d = (i / 24) % 7;
                let base = if d >= 5 { 2.0 } else { 10.0 };
                base + ((i % 24) as f64 / 4.0).sin()
            })
            .collect();
        let r = rank(&y, &[24, 168], 48, 2);
        assert!(r[0].0.contains("week"), "{r:?}");
        let (point, model) = ensemble(&y, &[24, 168], 48);
        assert!(model.contains("week"), "{model}");
        assert_eq!(point.len(), 48);
    }

    #[test]
    fn short_history_still_forecasts() {
        let (point, model) = ensemble(&[1.0, 2.0, 3.0], &[24, 168], 4);
        assert_eq!(point, vec![3.0; 4]);
        assert_eq!(model, "naive");
    }
}
