//! Accuracy metrics, defined as in the M4 competition (see
//! `../shared/data/README.md`): sMAPE, MASE with seasonal scaling, OWA against
//! Naive2, plus pinball loss and interval coverage for quantile forecasts.
//!
//! Every function skips pairs where the actual or the forecast is not finite,
//! and returns `NaN` when nothing is left to average (the caller decides what
//! an empty score means).

/// Symmetric MAPE in percent: `200/h · Σ |y − f| / (|y| + |f|)`.
///
/// A pair with `|y| + |f| = 0` (both zero) counts as a perfect forecast (0),
/// where M4's formula would divide by zero.
pub fn smape(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(pairs(actual, forecast).map(|(y, f)| {
        let d = y.abs() + f.abs();
        if d == 0.0 {
            0.0
        } else {
            200.0 * (y - f).abs() / d
        }
    }))
}

/// The MASE scale of a training series: the mean absolute seasonal difference
/// `1/(n−m) · Σ_{t>m} |y_t − y_{t−m}|` (M4's in-sample seasonal naive error).
///
/// With `m` larger than the series it falls back to lag 1; pairs with a
/// missing value are skipped. `NaN` if no pair remains.
pub fn mase_scale(train: &[f64], m: usize) -> f64 {
    let m = if m >= 1 && m < train.len() { m } else { 1 };
    mean(pairs(&train[m..], train).map(|(a, b)| (a - b).abs()))
}

/// Mean absolute error of `forecast` divided by `scale` (see [`mase_scale`]).
pub fn mase(actual: &[f64], forecast: &[f64], scale: f64) -> f64 {
    mae(actual, forecast) / scale
}

/// Mean absolute error.
pub fn mae(actual: &[f64], forecast: &[f64]) -> f64 {
    mean(pairs(actual, forecast).map(|(y, f)| (y - f).abs()))
}

/// Overall weighted average: `½ · (sMAPE / sMAPE_naive2 + MASE / MASE_naive2)`,
/// where each argument is already averaged over all series and steps.
pub fn owa(smape: f64, mase: f64, smape_naive2: f64, mase_naive2: f64) -> f64 {
    0.5 * (smape / smape_naive2 + mase / mase_naive2)
}

/// Mean pinball (quantile) loss of the level-`q` forecast:
/// `q · (y − f)` when `y ≥ f`, else `(1 − q) · (f − y)`.
pub fn pinball(actual: &[f64], quantile: &[f64], q: f64) -> f64 {
    mean(pairs(actual, quantile).map(|(y, f)| {
        let d = y - f;
        if d >= 0.0 { q * d } else { (q - 1.0) * d }
    }))
}

/// Fraction of actuals at or below the upper bound (one-sided coverage of a
/// quantile forecast, e.g. how often p90 is not exceeded).
pub fn coverage_below(actual: &[f64], upper: &[f64]) -> f64 {
    mean(pairs(actual, upper).map(|(y, u)| if y <= u { 1.0 } else { 0.0 }))
}

/// Fraction of actuals inside `[lower, upper]` (two-sided interval coverage).
pub fn interval_coverage(actual: &[f64], lower: &[f64], upper: &[f64]) -> f64 {
    mean(
        actual
            .iter()
            .zip(lower.iter().zip(upper))
            .filter_map(|(y, (l, u))| {
                (y.is_finite() && l.is_finite() && u.is_finite()).then_some(if l <= y && y <= u {
                    1.0
                } else {
                    0.0
                })
            }),
    )
}

/// Pairs of values where both are finite.
fn pairs<'a>(a: &'a [f64], b: &'a [f64]) -> impl Iterator<Item = (f64, f64)> + 'a {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x, *y))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
}

fn mean(it: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = it.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smape_by_hand() {
        // |10-8|/(18) = 1/9, |5-5| = 0, |0-2|/2 = 1 → 200/3 · (1/9 + 0 + 1)
        let s = smape(&[10.0, 5.0, 0.0], &[8.0, 5.0, 2.0]);
        assert!((s - 200.0 / 3.0 * (1.0 / 9.0 + 1.0)).abs() < 1e-12, "{s}");
        assert_eq!(smape(&[0.0], &[0.0]), 0.0);
        assert!(smape(&[f64::NAN], &[1.0]).is_nan());
    }

    #[test]
    fn mase_uses_the_seasonal_difference() {
        // m = 2: |3-1| + |4-2| + |1-3| = 6 over 3 pairs → scale 2.
        let train = [1.0, 2.0, 3.0, 4.0, 1.0];
        assert_eq!(mase_scale(&train, 2), 2.0);
        // MAE of (1, 3) = 2 → MASE 1.
        assert_eq!(mase(&[5.0, 5.0], &[4.0, 8.0], 2.0), 1.0);
        // Period longer than the series: lag 1 (1+1+1+3)/4.
        assert_eq!(mase_scale(&train, 10), 1.5);
    }

    #[test]
    fn owa_of_the_reference_is_one() {
        assert_eq!(owa(18.383, 2.395, 18.383, 2.395), 1.0);
        assert!((owa(9.0, 1.2, 18.0, 2.4) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn pinball_and_coverage_by_hand() {
        // q = 0.9: y above f by 2 → 1.8; y below f by 1 → 0.1 → mean 0.95.
        let p = pinball(&[5.0, 3.0], &[3.0, 4.0], 0.9);
        assert!((p - 0.95).abs() < 1e-12, "{p}");
        assert_eq!(coverage_below(&[1.0, 2.0, 3.0, 4.0], &[2.0; 4]), 0.5);
        assert_eq!(
            interval_coverage(&[1.0, 2.0, 3.0, 4.0], &[1.5; 4], &[3.0; 4]),
            0.5
        );
    }
}
