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
///
/// O(n) whatever `m`: the window sums slide ([`window_sums`]), so a weekly
/// period at a 1-minute step (10,080) costs what a daily one does.
pub fn centred_moving_average(x: &[f64], m: usize) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![f64::NAN; n];
    let half = m / 2;
    if m == 0 || n < m + (1 - m % 2) {
        return out;
    }
    let centres = half..n - half;
    if m % 2 == 1 {
        // Window t − half ..= t + half: the window sum starting at t − half.
        let sums = window_sums(x, m);
        for (o, s) in out[centres].iter_mut().zip(&sums) {
            *o = s / m as f64;
        }
    } else {
        // Ends weighted ½, the m − 1 values between them in full.
        let sums = window_sums(x, m - 1);
        for t in centres {
            out[t] = (0.5 * x[t - half] + sums[t + 1 - half] + 0.5 * x[t + half]) / m as f64;
        }
    }
    out
}

/// The sum of every `w` consecutive values: `out[i] = Σ x[i..i + w]`
/// (`n − w + 1` sums; none when `w` is 0 or longer than `x`), in O(n).
///
/// The window slides with a compensated (Neumaier) running sum, so its error
/// stays that of one sum of `w` values however long `x` is; sums of whole
/// numbers (counts) are exact, as a direct sum is. Non-finite values are kept
/// out of the running sum and counted: a window with a `NaN`, or with both
/// infinities, sums to `NaN`, one with infinities of one sign to that
/// infinity, as a direct sum would.
pub fn window_sums(x: &[f64], w: usize) -> Vec<f64> {
    let n = x.len();
    if w == 0 || w > n {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(n - w + 1);
    let mut sum = CompensatedSum::default();
    // Non-finite values in the window: NaN, +inf, -inf.
    let mut bad = [0usize; 3];
    let kind = |v: f64| -> Option<usize> {
        if v.is_nan() {
            Some(0)
        } else if v == f64::INFINITY {
            Some(1)
        } else if v == f64::NEG_INFINITY {
            Some(2)
        } else {
            None
        }
    };
    for i in 0..n {
        match kind(x[i]) {
            Some(k) => bad[k] += 1,
            None => sum.add(x[i]),
        }
        if i >= w {
            match kind(x[i - w]) {
                Some(k) => bad[k] -= 1,
                None => sum.add(-x[i - w]),
            }
        }
        if i + 1 >= w {
            out.push(match bad {
                [0, 0, 0] => sum.value(),
                [0, _, 0] => f64::INFINITY,
                [0, 0, _] => f64::NEG_INFINITY,
                _ => f64::NAN,
            });
        }
    }
    out
}

/// A running sum with Neumaier's compensation term: adding and removing
/// values keeps the error of one direct sum of what is in it.
#[derive(Debug, Default, Clone, Copy)]
pub struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub fn add(&mut self, v: f64) {
        let t = self.sum + v;
        self.compensation += if self.sum.abs() >= v.abs() {
            (self.sum - t) + v
        } else {
            (v - t) + self.sum
        };
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
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
    use super::super::uniform;
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

    /// The direct definition, O(n·m): the reference for the sliding one.
    fn centred_moving_average_direct(x: &[f64], m: usize) -> Vec<f64> {
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
                (0.5 * x[t - half]
                    + x[t - half + 1..t + half].iter().sum::<f64>()
                    + 0.5 * x[t + half])
                    / m as f64
            };
        }
        out
    }

    /// Same NaN/infinity pattern, and finite values within `rel` of the
    /// largest magnitude in the series.
    fn assert_close(fast: &[f64], slow: &[f64], scale: f64, rel: f64, what: &str) {
        assert_eq!(fast.len(), slow.len(), "{what}");
        for (i, (a, b)) in fast.iter().zip(slow).enumerate() {
            if b.is_finite() {
                assert!((a - b).abs() <= rel * scale, "{what} at {i}: {a} vs {b}");
            } else {
                assert!(
                    a.is_nan() && b.is_nan() || a == b,
                    "{what} at {i}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn sliding_moving_average_equals_the_direct_one() {
        let mut s = 3u64;
        for case in 0..300 {
            let n = (uniform(&mut s) * 400.0) as usize;
            let m = 1 + (uniform(&mut s) * 60.0) as usize;
            let kind = case % 5;
            let x: Vec<f64> = (0..n)
                .map(|_| match kind {
                    // Counts: the sums are exact, so the results are identical.
                    0 => (uniform(&mut s) * 6.0).floor(),
                    // Logs of demand, and values spanning magnitudes.
                    1 => (1.0 + uniform(&mut s) * 100.0).ln(),
                    2 => (uniform(&mut s) - 0.5) * 10f64.powi((uniform(&mut s) * 12.0) as i32),
                    // Missing values and infinities.
                    _ => {
                        let r = uniform(&mut s);
                        if r < 0.03 {
                            f64::NAN
                        } else if r < 0.04 && kind == 4 {
                            f64::INFINITY
                        } else if r < 0.05 && kind == 4 {
                            f64::NEG_INFINITY
                        } else {
                            uniform(&mut s) * 50.0
                        }
                    }
                })
                .collect();
            let fast = centred_moving_average(&x, m);
            let slow = centred_moving_average_direct(&x, m);
            if kind == 0 {
                assert!(
                    fast.iter()
                        .zip(&slow)
                        .all(|(a, b)| a == b || a.is_nan() && b.is_nan()),
                    "counts, n {n}, m {m}"
                );
            }
            let scale = x
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |a, v| a.max(v.abs()));
            assert_close(
                &fast,
                &slow,
                scale,
                1e-12,
                &format!("case {case}, n {n}, m {m}"),
            );
        }
    }

    #[test]
    fn window_sums_at_the_edges() {
        assert!(window_sums(&[1.0, 2.0], 0).is_empty());
        assert!(window_sums(&[1.0, 2.0], 3).is_empty());
        assert_eq!(window_sums(&[1.0, 2.0, 3.0], 3), vec![6.0]);
        assert_eq!(window_sums(&[1.0, 2.0, 3.0], 1), vec![1.0, 2.0, 3.0]);
        let inf = f64::INFINITY;
        let w = window_sums(&[1.0, f64::NAN, 2.0, 3.0, inf, 4.0, -inf, 5.0, 6.0], 2);
        assert!(w[0].is_nan() && w[1].is_nan());
        assert_eq!(&w[2..5], &[5.0, inf, inf]);
        assert_eq!(w[5], -inf);
        assert_eq!(&w[6..], &[-inf, 11.0]);
        assert!(window_sums(&[inf, -inf], 2)[0].is_nan());
        // A huge value leaving the window does not wipe out the small ones.
        let w = window_sums(&[1e16, 1.0, 1.0, 1.0], 2);
        assert_eq!(w, vec![1e16 + 1.0, 2.0, 2.0]);
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
