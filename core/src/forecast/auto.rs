//! Automatic choice among the schedule-blind models by rolling-origin
//! backtest on the series' own history.
//!
//! For each origin (the last `h` points held out, then the `h` before them,
//! …) every applicable model is fitted on the history before the origin and
//! scored by mean absolute error on the held-out points. The forecast is the
//! mean of the best few models (a small ensemble is more robust than the
//! single winner of a short backtest); the name says which.

use super::univariate::{self, MODELS};

/// How many of the best-ranked models are averaged.
pub const ENSEMBLE: usize = 3;

/// A point forecast and the model (or ensemble) that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct PointForecast {
    pub point: Vec<f64>,
    /// e.g. `mean(day-ses, week-ses, weeks-mean)`.
    pub model: String,
}

/// A candidate's backtest result: mean absolute error over all origins.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub name: &'static str,
    pub mae: f64,
}

/// Ranks the models by backtest MAE over up to `origins` origins spaced `h`
/// apart at the end of `y` (each keeping at least half of `y` for fitting).
/// Models that do not apply at some origin are left out. Best first.
pub fn rank(y: &[f64], periods: &[usize], h: usize, origins: usize) -> Vec<Ranked> {
    let n = y.len();
    let mut out = Vec::new();
    for name in MODELS {
        let mut sum = 0.0;
        let mut count = 0usize;
        let mut ok = true;
        for o in 1..=origins {
            let Some(cut) = n.checked_sub(o * h).filter(|c| *c >= n / 2 && *c > 0) else {
                break;
            };
            match univariate::forecast(name, &y[..cut], periods, h) {
                Some(f) => {
                    for (a, b) in y[cut..cut + h].iter().zip(&f) {
                        sum += (a - b.max(0.0)).abs();
                        count += 1;
                    }
                }
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && count > 0 && sum.is_finite() {
            out.push(Ranked {
                name,
                mae: sum / count as f64,
            });
        }
    }
    out.sort_by(|a, b| a.mae.total_cmp(&b.mae));
    out
}

/// The mean of the given models' forecasts (those that apply).
pub fn ensemble(names: &[&str], y: &[f64], periods: &[usize], h: usize) -> Option<PointForecast> {
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
    Some(PointForecast {
        point: sum.iter().map(|s| s / k).collect(),
        model: if used.len() == 1 {
            used[0].to_string()
        } else {
            format!("mean({})", used.join(", "))
        },
    })
}

/// The automatic point forecast: rank by a two-origin backtest, average the
/// best [`ENSEMBLE`]. Falls back to seasonal naive, then naive, when nothing
/// can be backtested.
pub fn forecast_point(y: &[f64], periods: &[usize], h: usize) -> PointForecast {
    let ranked = rank(y, periods, h, 2);
    let names: Vec<&str> = ranked.iter().take(ENSEMBLE).map(|r| r.name).collect();
    ensemble(&names, y, periods, h)
        .or_else(|| ensemble(&["snaive-day"], y, periods, h))
        .or_else(|| ensemble(&["naive"], y, periods, h))
        .unwrap_or(PointForecast {
            point: vec![f64::NAN; h],
            model: "none".into(),
        })
}

/// One named model's forecast (for scoring single models).
pub fn forecast_with(name: &str, y: &[f64], periods: &[usize], h: usize) -> Option<Vec<f64>> {
    univariate::forecast(name, y, periods, h)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(r[0].name.contains("week"), "{r:?}");
        let f = forecast_point(&y, &[24, 168], 48);
        assert!(f.model.contains("week"), "{}", f.model);
        assert_eq!(f.point.len(), 48);
    }

    #[test]
    fn short_history_still_forecasts() {
        let f = forecast_point(&[1.0, 2.0, 3.0], &[24, 168], 4);
        assert_eq!(f.point, vec![3.0; 4]);
        assert_eq!(f.model, "naive");
    }
}
