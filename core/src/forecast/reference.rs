//! The M4 reference forecasts: seasonal naive and Naive2, implemented as in
//! the competition's R benchmark code (`SeasonalityTest`, `decompose(type =
//! "multiplicative")`, `naive`), so that their published scores can be
//! reproduced and used as the OWA reference.
//!
//! These are pure functions on complete slices (no `NaN`); the
//! [`Forecaster`](super::Forecaster) boundary fills gaps before calling them.

/// Sample autocorrelation at lag `k` (the R / M4 definition: both sums around
/// the overall mean, denominator over the whole series).
pub fn acf(x: &[f64], k: usize) -> f64 {
    let n = x.len();
    if k >= n {
        return 0.0;
    }
    let m = x.iter().sum::<f64>() / n as f64;
    let den: f64 = x.iter().map(|v| (v - m) * (v - m)).sum();
    if den == 0.0 {
        return 0.0;
    }
    let num: f64 = (k..n).map(|i| (x[i] - m) * (x[i - k] - m)).sum();
    num / den
}

/// M4's 90 % seasonality test: the lag-`m` autocorrelation exceeds
/// `1.645 · sqrt((1 + 2 Σ_{k<m} acf_k²) / n)`.
///
/// Series shorter than three periods are never called seasonal (M4 applies
/// the test only when `n ≥ 3m`).
pub fn is_seasonal(x: &[f64], m: usize) -> bool {
    if m < 2 || x.len() < 3 * m {
        return false;
    }
    let s: f64 = (1..m).map(|k| acf(x, k).powi(2)).sum();
    let limit = 1.645 * ((1.0 + 2.0 * s) / x.len() as f64).sqrt();
    acf(x, m).abs() > limit
}

/// Centred moving average of order `m` (for even `m` the 2×m average), `NaN`
/// where the window does not fit: R's `filter(x, c(.5, rep(1, m-1), .5)/m)`.
pub fn centred_moving_average(x: &[f64], m: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    let half = m / 2;
    if m == 0 || n < m + (1 - m % 2) {
        return out;
    }
    for (t, o) in out.iter_mut().enumerate().take(n - half).skip(half) {
        *o = if m % 2 == 1 {
            x[t - half..=t + half].iter().sum::<f64>() / m as f64
        } else {
            (0.5 * x[t - half] + x[t - half + 1..t + half].iter().sum::<f64>() + 0.5 * x[t + half])
                / m as f64
        };
    }
    out
}

/// Classical multiplicative seasonal indices of period `m` (R's
/// `decompose(type = "multiplicative")$figure`), phase 0 = the first value of
/// `x`. They average to 1. `None` if a ratio is not finite (a zero trend).
pub fn multiplicative_indices(x: &[f64], m: usize) -> Option<Vec<f64>> {
    let trend = centred_moving_average(x, m);
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for (i, (v, t)) in x.iter().zip(&trend).enumerate() {
        if t.is_finite() {
            let r = v / t;
            if !r.is_finite() {
                return None;
            }
            sums[i % m] += r;
            counts[i % m] += 1;
        }
    }
    if counts.contains(&0) {
        return None;
    }
    let fig: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / *c as f64)
        .collect();
    let avg = fig.iter().sum::<f64>() / m as f64;
    if !(avg.is_finite() && avg != 0.0) {
        return None;
    }
    Some(fig.iter().map(|f| f / avg).collect())
}

/// Seasonal naive: repeat the last `m` values (`m = 1`: the last value).
pub fn seasonal_naive(x: &[f64], m: usize, h: usize) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return vec![f64::NAN; h];
    }
    let m = m.clamp(1, n);
    (0..h).map(|i| x[n - m + i % m]).collect()
}

/// Naive2: the last value of the seasonally adjusted series, seasonality put
/// back, where [`is_seasonal`] passes; plain naive otherwise.
pub fn naive2(x: &[f64], m: usize, h: usize) -> Vec<f64> {
    let n = x.len();
    if n == 0 {
        return vec![f64::NAN; h];
    }
    match seasonal_indices_if_seasonal(x, m) {
        Some(si) => {
            let last = x[n - 1] / si[(n - 1) % m];
            (0..h).map(|i| last * si[(n + i) % m]).collect()
        }
        None => vec![x[n - 1]; h],
    }
}

/// The multiplicative indices when the series passes the seasonality test.
pub fn seasonal_indices_if_seasonal(x: &[f64], m: usize) -> Option<Vec<f64>> {
    if is_seasonal(x, m) {
        multiplicative_indices(x, m)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acf_by_hand() {
        // mean 2.5; deviations -1.5 -.5 .5 1.5; den 5; lag 1: .75 - .25 + .75 = 1.25
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((acf(&x, 1) - 0.25).abs() < 1e-12);
        assert_eq!(acf(&[2.0; 5], 1), 0.0);
    }

    #[test]
    fn moving_average_even_and_odd() {
        let x: Vec<f64> = (0..8).map(f64::from).collect();
        let ma = centred_moving_average(&x, 4);
        assert!(ma[1].is_nan() && ma[6].is_nan());
        // A linear series is its own centred average.
        assert!((ma[2] - 2.0).abs() < 1e-12 && (ma[5] - 5.0).abs() < 1e-12);
        let ma3 = centred_moving_average(&[1.0, 2.0, 6.0, 1.0], 3);
        assert!((ma3[1] - 3.0).abs() < 1e-12 && ma3[3].is_nan());
    }

    #[test]
    fn naive2_of_a_pure_seasonal_series_repeats_it() {
        let pattern = [1.0, 2.0, 4.0, 1.0];
        let x: Vec<f64> = (0..40).map(|i| 10.0 * pattern[i % 4]).collect();
        assert!(is_seasonal(&x, 4));
        let f = naive2(&x, 4, 6);
        let want: Vec<f64> = (40..46).map(|i| 10.0 * pattern[i % 4]).collect();
        for (a, b) in f.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9, "{f:?} vs {want:?}");
        }
        assert_eq!(seasonal_naive(&x, 4, 5), vec![10.0, 20.0, 40.0, 10.0, 10.0]);
    }

    #[test]
    fn naive2_without_seasonality_is_naive() {
        let x: Vec<f64> = (0..30)
            .map(|i| if i % 2 == 0 { 1.0 } else { 1.1 })
            .collect();
        // Period 7 does not fit a period-2 alternation well.
        assert!(!is_seasonal(&x, 7));
        assert_eq!(naive2(&x, 7, 3), vec![1.1; 3]);
        assert_eq!(naive2(&[], 7, 2).len(), 2);
    }
}
