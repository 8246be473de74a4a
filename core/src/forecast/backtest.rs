//! The rolling-origin backtest, once for everything that scores a forecast on
//! history: the engine's model choice and quantile residuals
//! ([`Engine`](super::Engine)), the evaluation of the engine
//! ([`evaluation`](super::evaluation): `tests/forecast_clinic.rs`, the
//! examples) and the M4 ranking.
//!
//! At each origin `cut` a forecaster sees `y[..cut]` (and whatever else it
//! was given up to then) and forecasts `y[cut..cut + horizon]`. Demand is
//! never negative, so forecasts are scored clamped at 0. A forecaster that
//! does not apply at some origin (too little history, a non-finite value)
//! does not apply to the backtest at all.
//!
//! Scores come from [`accuracy`]: the engine ranks by the mean absolute error
//! over every held-out point ([`Backtest::mae`]); [`Backtest::score`] gives
//! the mean over origins of MASE (scaled per origin by the training part's
//! mean absolute seasonal difference at the first period, one day, as in M4)
//! and sMAPE, and the p90's coverage and pinball loss over all points.

use super::accuracy;

/// Origins `first, first + every, …`, each with a full horizon after it
/// (evaluation on a long history: a fixed start, then forward).
pub fn origins(len: usize, first: usize, every: usize, horizon: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut o = first;
    while o + horizon <= len && every > 0 {
        out.push(o);
        o += every;
    }
    out
}

/// The last `count` origins of a history of `len` points, latest first:
/// `len − horizon`, then `spacing` earlier each, as long as at least half the
/// history (and at least one point) is left for fitting. Model choice on an
/// application's own, recent history.
pub fn trailing_origins(len: usize, horizon: usize, count: usize, spacing: usize) -> Vec<usize> {
    (0..count)
        .filter_map(|o| len.checked_sub(horizon + o * spacing))
        .filter(|c| *c >= len / 2 && *c > 0)
        .collect()
}

/// What a forecaster said at one origin.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prediction {
    /// Point forecast, at least `horizon` values.
    pub point: Vec<f64>,
    /// The p90 forecast, if the forecaster gives quantiles.
    pub p90: Option<Vec<f64>>,
    /// The model that made it (empty when the caller knows).
    pub model: String,
}

impl Prediction {
    /// A point forecast alone.
    pub fn point(point: Vec<f64>) -> Self {
        Prediction {
            point,
            ..Prediction::default()
        }
    }
}

/// One origin's forecast of `y[cut..cut + horizon]`, clamped at 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub cut: usize,
    pub point: Vec<f64>,
    pub p90: Option<Vec<f64>>,
    pub model: String,
}

/// A forecaster's forecasts at every origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    pub horizon: usize,
    /// In the order of the origins given to [`run`].
    pub held: Vec<Held>,
}

/// Runs `forecast(cut)` at every origin. `None` if it does not apply at one
/// of them: it returned `None`, fewer than `horizon` values, or a value that
/// is not finite.
pub fn run(
    horizon: usize,
    origins: &[usize],
    mut forecast: impl FnMut(usize) -> Option<Prediction>,
) -> Option<Backtest> {
    let clamp = |v: &[f64]| -> Vec<f64> { v[..horizon].iter().map(|x| x.max(0.0)).collect() };
    let mut held = Vec::with_capacity(origins.len());
    for &cut in origins {
        let p = forecast(cut)?;
        let usable = |v: &[f64]| v.len() >= horizon && v[..horizon].iter().all(|x| x.is_finite());
        if !usable(&p.point) || !p.p90.as_deref().is_none_or(usable) {
            return None;
        }
        held.push(Held {
            cut,
            point: clamp(&p.point),
            p90: p.p90.as_deref().map(clamp),
            model: p.model,
        });
    }
    Some(Backtest { horizon, held })
}

/// Scores of one forecaster over all origins.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// The forecaster's name (for the engine's evaluation: the model
    /// restriction, `auto`, `auto-blind` or one model name).
    pub model: String,
    /// Mean over origins of MASE.
    pub mase: f64,
    /// Mean over origins of sMAPE (percent).
    pub smape: f64,
    /// Fraction of held-out points at or below the p90 forecast (`NaN`
    /// without one).
    pub coverage_p90: f64,
    /// The same over the points where the point forecast expects work
    /// (above 0): a clinic's nights and weekends are covered by any quantile.
    pub coverage_p90_busy: f64,
    /// Mean pinball loss of the p90 forecast, in demand units.
    pub pinball_p90: f64,
    /// Models used at the origins (distinct, in order of first use).
    pub used: Vec<String>,
}

impl Backtest {
    /// The held-out actuals of one origin.
    pub fn actual<'a>(&self, y: &'a [f64], held: &Held) -> &'a [f64] {
        &y[held.cut..held.cut + self.horizon]
    }

    /// Mean absolute error over every held-out point of every origin
    /// (`NaN` without any): the engine's ranking.
    pub fn mae(&self, y: &[f64]) -> f64 {
        let mut actual = Vec::with_capacity(self.held.len() * self.horizon);
        let mut point = Vec::with_capacity(actual.capacity());
        for h in &self.held {
            actual.extend_from_slice(self.actual(y, h));
            point.extend_from_slice(&h.point);
        }
        accuracy::mae(&actual, &point)
    }

    /// MASE and sMAPE averaged over origins (MASE scaled by `y[..cut]`'s
    /// mean absolute difference at lag `period`); coverage and pinball loss
    /// of the p90 over all held-out points.
    pub fn score(&self, model: &str, y: &[f64], period: usize) -> Score {
        let (mut mase, mut smape) = (0.0, 0.0);
        let (mut cov, mut pin, mut points) = (0.0, 0.0, 0usize);
        let (mut busy_cov, mut busy) = (0usize, 0usize);
        let mut used: Vec<String> = Vec::new();
        let with_p90 = self.held.iter().all(|h| h.p90.is_some());
        for h in &self.held {
            if !used.contains(&h.model) {
                used.push(h.model.clone());
            }
            let actual = self.actual(y, h);
            let scale = accuracy::mase_scale(&y[..h.cut], period);
            mase += accuracy::mase(actual, &h.point, scale.max(1e-9));
            smape += accuracy::smape(actual, &h.point);
            let Some(p90) = &h.p90 else { continue };
            let n = actual.iter().filter(|v| v.is_finite()).count();
            cov += accuracy::coverage_below(actual, p90) * n as f64;
            pin += accuracy::pinball(actual, p90, 0.9) * n as f64;
            points += n;
            for ((a, u), p) in actual.iter().zip(p90).zip(&h.point) {
                if a.is_finite() && *p > 0.0 {
                    busy += 1;
                    busy_cov += usize::from(a <= u);
                }
            }
        }
        let k = self.held.len().max(1) as f64;
        let or_nan = |v: f64| if with_p90 { v } else { f64::NAN };
        Score {
            model: model.to_string(),
            mase: mase / k,
            smape: smape / k,
            coverage_p90: or_nan(cov / points.max(1) as f64),
            coverage_p90_busy: or_nan(busy_cov as f64 / busy.max(1) as f64),
            pinball_p90: or_nan(pin / points.max(1) as f64),
            used,
        }
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
    fn trailing_origins_keep_half_the_history() {
        assert_eq!(trailing_origins(100, 20, 6, 10), vec![80, 70, 60, 50]);
        assert_eq!(trailing_origins(100, 20, 2, 20), vec![80, 60]);
        assert_eq!(trailing_origins(30, 40, 3, 10), Vec::<usize>::new());
        assert_eq!(trailing_origins(2, 1, 3, 1), vec![1]);
    }

    #[test]
    fn scores_by_hand() {
        let y = [1.0, 2.0, 3.0, 2.0, 4.0, 0.0, 3.0, 1.0];
        // Origins 4 and 6, horizon 2: forecasts (2, 2) and (-1 → 0, 1).
        let bt = run(2, &[4, 6], |cut| {
            Some(Prediction {
                point: if cut == 4 {
                    vec![2.0, 2.0, 9.0]
                } else {
                    vec![-1.0, 1.0]
                },
                p90: Some(vec![3.0, 3.0]),
                model: "m".into(),
            })
        })
        .unwrap();
        assert_eq!(bt.held[1].point, vec![0.0, 1.0]);
        // |4-2| + |0-2| + |3-0| + |1-1| = 7 over 4 points.
        assert_eq!(bt.mae(&y), 1.75);
        let s = bt.score("m", &y, 2);
        // Scales at lag 2: y[..4] (2 + 0) / 2 = 1; y[..6] (2 + 0 + 1 + 2) / 4 = 1.25.
        // MASE (2 / 1 + 1.5 / 1.25) / 2 = 1.6.
        assert!((s.mase - 1.6).abs() < 1e-12, "{}", s.mase);
        // Coverage: 4 > 3 once in 4 points; where the point is > 0: 3 of 3.
        assert_eq!(s.coverage_p90, 0.75);
        assert_eq!(s.coverage_p90_busy, 2.0 / 3.0);
        assert_eq!(s.used, vec!["m".to_string()]);
        // Without a p90 the quantile scores are NaN, the point scores are not.
        let bt = run(2, &[4], |_| Some(Prediction::point(vec![1.0, 1.0]))).unwrap();
        let s = bt.score("p", &y, 1);
        assert!(s.coverage_p90.is_nan() && s.mase.is_finite());
    }

    #[test]
    fn a_forecaster_that_fails_anywhere_fails_the_backtest() {
        assert!(
            run(2, &[4, 6], |c| (c == 4)
                .then(|| Prediction::point(vec![1.0; 2])))
            .is_none()
        );
        assert!(run(2, &[4], |_| Some(Prediction::point(vec![1.0]))).is_none());
        assert!(run(2, &[4], |_| Some(Prediction::point(vec![1.0, f64::NAN]))).is_none());
        let empty = run(2, &[], |_| None).unwrap();
        assert!(empty.mae(&[1.0]).is_nan());
    }
}
