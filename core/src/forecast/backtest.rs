//! Rolling-origin evaluation of the engine and its single models on one
//! application's history: at each origin the model is fitted on everything
//! before it (with the appointments known up to then, plus those booked for
//! the horizon) and scored on the next `horizon` steps.
//!
//! MASE is scaled per origin by the training part's mean absolute seasonal
//! difference at the first period (one day), as in M4.

use super::engine::{Engine, EngineConfig};
use super::{Covariates, Forecaster, Result, accuracy};
use crate::series::Series;

/// Scores of one model over all origins.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The model restriction (`auto` = all candidates, `auto-blind` = all but
    /// the schedule model, else one model name).
    pub model: String,
    /// Mean over origins of MASE.
    pub mase: f64,
    /// Mean over origins of sMAPE (percent).
    pub smape: f64,
    /// Fraction of held-out points at or below the p90 forecast.
    pub coverage_p90: f64,
    /// The same over the points where the point forecast expects work
    /// (above 0): a clinic's nights and weekends are covered by any quantile.
    pub coverage_p90_busy: f64,
    /// Mean pinball loss of the p90 forecast, in demand units.
    pub pinball_p90: f64,
    /// Models the engine used at the origins (distinct, in order of first use).
    pub used: Vec<String>,
}

/// Origins `first, first + every, …` with a full horizon after them.
pub fn origins(len: usize, first: usize, every: usize, horizon: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut o = first;
    while o + horizon <= len && every > 0 {
        out.push(o);
        o += every;
    }
    out
}

/// Restricts a config to one model name, or to a family (`auto`, `auto-blind`).
pub fn restricted(cfg: &EngineConfig, model: &str) -> EngineConfig {
    let mut c = cfg.clone();
    c.models = match model {
        "auto" => None,
        "auto-blind" => Some(
            super::univariate::MODELS
                .iter()
                .map(|m| m.to_string())
                .collect(),
        ),
        m => Some(vec![m.to_string()]),
    };
    c
}

/// Backtests each model in `models` at the given origins.
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
        let (mut mase, mut smape) = (0.0, 0.0);
        let (mut cov, mut pin, mut points) = (0.0, 0.0, 0usize);
        let (mut busy_cov, mut busy) = (0usize, 0usize);
        let mut used: Vec<String> = Vec::new();
        for &cut in origins {
            let mut engine = Engine::new(restricted(cfg, model));
            let train = history.head(cut);
            let actual = &history.values[cut..cut + horizon];
            let (past, future) = match covariates {
                Some(c) => (Some(slice(c, 0, cut)), Some(slice(c, cut, cut + horizon))),
                None => (None, None),
            };
            engine.fit(&train, past.as_ref())?;
            let f = engine.predict(horizon, &[0.9], future.as_ref())?;
            if !used.contains(&f.model) {
                used.push(f.model.clone());
            }
            let scale = accuracy::mase_scale(&train.values, period);
            mase += accuracy::mase(actual, &f.point, scale.max(1e-9));
            smape += accuracy::smape(actual, &f.point);
            let p90 = f.quantile(0.9)?;
            let n = actual.iter().filter(|v| v.is_finite()).count();
            cov += accuracy::coverage_below(actual, p90) * n as f64;
            pin += accuracy::pinball(actual, p90, 0.9) * n as f64;
            points += n;
            for ((a, u), p) in actual.iter().zip(p90).zip(&f.point) {
                if a.is_finite() && *p > 0.0 {
                    busy += 1;
                    busy_cov += usize::from(a <= u);
                }
            }
        }
        let k = origins.len().max(1) as f64;
        out.push(Score {
            model: model.to_string(),
            mase: mase / k,
            smape: smape / k,
            coverage_p90: cov / points.max(1) as f64,
            coverage_p90_busy: busy_cov as f64 / busy.max(1) as f64,
            pinball_p90: pin / points.max(1) as f64,
            used,
        });
    }
    Ok(out)
}

/// Steps `from..to` of covariates (zeros past their end).
pub fn slice(c: &Covariates, from: usize, to: usize) -> Covariates {
    Covariates {
        grid: crate::series::Grid::new(c.grid.time(from), c.grid.step_secs, to - from),
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_leave_a_full_horizon() {
        assert_eq!(origins(100, 50, 20, 20), vec![50, 70]);
        assert_eq!(origins(10, 50, 20, 20), Vec::<usize>::new());
        assert_eq!(origins(100, 50, 0, 20), Vec::<usize>::new());
    }

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
}
