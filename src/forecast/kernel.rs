//! Schedule regression: demand explained by lagged appointment counts.
//!
//! `demand(t) = baseline(t) + Σ_type Σ_lag k_type[lag] · count_type(t − lag)`
//!
//! The response kernels `k` are non-negative and piecewise constant over lag
//! bins (single steps for the first hour, wider bins further out), fitted by
//! ridge-regularised non-negative least squares (projected coordinate
//! descent on the normal equations). The baseline is a time-of-week (or
//! time-of-day) profile of what the schedule does not explain; kernel and
//! baseline are fitted alternately (backfitting).
//!
//! The normal equations are built from the appointment events, not from a
//! dense design matrix: appointments are sparse (a few dozen a day on a grid
//! of hundreds of steps), so `XᵀX` is assembled from pairs of events less than
//! `max_lag` apart, which keeps a refit on eight weeks of 5-minute data in the
//! milliseconds.

/// Fitted response kernels, per type, per lag step (`kernel[type][lag]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Kernel {
    /// Demand units per step caused by one appointment, `lag` steps after it.
    pub per_lag: Vec<Vec<f64>>,
}

impl Kernel {
    /// The longest lag in steps (kernel length − 1).
    pub fn max_lag(&self) -> usize {
        self.per_lag
            .first()
            .map_or(0, |k| k.len().saturating_sub(1))
    }

    /// The schedule effect at steps `from..to` of a count series that covers
    /// them (and earlier steps where available): `Σ_type Σ_lag k · count(t − lag)`.
    pub fn effect(&self, counts: &[Vec<f64>], from: usize, to: usize) -> Vec<f64> {
        let mut out = vec![0.0; to.saturating_sub(from)];
        for (k, c) in self.per_lag.iter().zip(counts) {
            let n = c.len();
            // Scatter each event forward: cheaper than a dense convolution.
            let first = from.saturating_sub(k.len().saturating_sub(1));
            for (u, cu) in c.iter().enumerate().take(to.min(n)).skip(first) {
                if *cu == 0.0 || !cu.is_finite() {
                    continue;
                }
                for (lag, kv) in k.iter().enumerate() {
                    let t = u + lag;
                    if t >= to {
                        break;
                    }
                    if t >= from {
                        out[t - from] += kv * cu;
                    }
                }
            }
        }
        out
    }
}

/// Lag bins: `[start, end)` in steps, covering `0..=max_lag`.
pub fn lag_bins(max_lag: usize, fine: usize, wide: usize) -> Vec<(usize, usize)> {
    let mut bins = Vec::new();
    let mut s = 0;
    let end = max_lag + 1;
    while s < end {
        let w = if s < fine { 1 } else { wide.max(1) };
        let e = (s + w).min(end);
        bins.push((s, e));
        s = e;
    }
    bins
}

/// Fits the kernels to `target` (demand minus baseline, `NaN` = missing) on
/// rows `rows_from..target.len()`, given `counts[type][step]` on the same grid.
///
/// `ridge` is relative: the penalty is `ridge · mean(diag XᵀX)` per bin.
pub fn fit(
    target: &[f64],
    counts: &[Vec<f64>],
    bins: &[(usize, usize)],
    rows_from: usize,
    ridge: f64,
) -> Kernel {
    let ne = normal_equations(target, counts, bins, rows_from);
    let p = ne.p;
    let diag_mean = (0..p).map(|i| ne.xtx[i * p + i]).sum::<f64>() / p.max(1) as f64;
    let lambda = ridge * diag_mean.max(1e-12);
    let w = nnls_ridge(&ne.xtx, &ne.xty, p, lambda, 300);
    let nb = bins.len();
    let bin_of = bin_index(bins);
    let max_lag = bin_of.len() - 1;
    let per_lag = (0..counts.len())
        .map(|a| (0..=max_lag).map(|lag| w[a * nb + bin_of[lag]]).collect())
        .collect();
    Kernel { per_lag }
}

/// Binned normal equations of the lagged-count regression.
pub struct Normal {
    /// Number of columns (types × bins), type-major.
    pub p: usize,
    /// XᵀX, row-major `p × p`.
    pub xtx: Vec<f64>,
    /// Xᵀy.
    pub xty: Vec<f64>,
}

/// Builds [`Normal`] from the events in `counts`, over rows
/// `rows_from..target.len()` where `target` is finite.
pub fn normal_equations(
    target: &[f64],
    counts: &[Vec<f64>],
    bins: &[(usize, usize)],
    rows_from: usize,
) -> Normal {
    let n = target.len();
    let nt = counts.len();
    let nb = bins.len();
    let max_lag = bins.last().map_or(0, |b| b.1.saturating_sub(1));
    let p = nt * nb;
    let bin_of = bin_index(bins);
    let ok = |t: usize| t >= rows_from && t < n && target[t].is_finite();
    // Events per type: (step, count).
    let events: Vec<Vec<(usize, f64)>> = counts
        .iter()
        .map(|c| {
            c.iter()
                .take(n)
                .enumerate()
                .filter(|(_, v)| **v != 0.0 && v.is_finite())
                .map(|(i, v)| (i, *v))
                .collect()
        })
        .collect();
    // Xᵀy: Σ_t y(t) · count(t − lag), binned.
    let mut xty = vec![0.0; p];
    for (a, ev) in events.iter().enumerate() {
        for (u, cu) in ev {
            for lag in 0..=max_lag {
                let t = u + lag;
                if t >= n {
                    break;
                }
                if ok(t) {
                    xty[a * nb + bin_of[lag]] += cu * target[t];
                }
            }
        }
    }
    // XᵀX: each pair of events (u of type a, v of type b) with |u − v| ≤ max_lag
    // contributes cu·cv at every usable row t = u + l = v + l' with both lags
    // in range. Pairs whose rows are all usable depend only on d = u − v: they
    // are summed into `by_offset` and spread over the bins once, at the end;
    // the few pairs near the edges or missing values are walked row by row.
    let mut bad_prefix = vec![0usize; n + max_lag + 2];
    for t in 0..n + max_lag + 1 {
        bad_prefix[t + 1] = bad_prefix[t] + usize::from(!ok(t));
    }
    let mut xtx = vec![0.0; p * p];
    for (a, ea) in events.iter().enumerate() {
        for (b, eb) in events.iter().enumerate() {
            // by_offset[d + max_lag] for d = u − v in −max_lag..=max_lag.
            let mut by_offset = vec![0.0; 2 * max_lag + 1];
            let mut lo = 0usize;
            for (u, cu) in ea {
                while lo < eb.len() && eb[lo].0 + max_lag < *u {
                    lo += 1;
                }
                for (v, cv) in &eb[lo..] {
                    if *v > u + max_lag {
                        break;
                    }
                    let t0 = (*u).max(*v);
                    let t1 = (*u).min(*v) + max_lag;
                    let w = cu * cv;
                    if bad_prefix[t1 + 1] == bad_prefix[t0] {
                        by_offset[u + max_lag - v] += w;
                        continue;
                    }
                    for t in t0..=t1.min(n.saturating_sub(1)) {
                        if ok(t) {
                            let i = a * nb + bin_of[t - u];
                            let j = b * nb + bin_of[t - v];
                            xtx[i * p + j] += w;
                        }
                    }
                }
            }
            for (di, w) in by_offset.iter().enumerate() {
                if *w == 0.0 {
                    continue;
                }
                // d = u − v; lag of u is l, lag of v is l + d.
                let d = di as isize - max_lag as isize;
                for l in 0..=max_lag {
                    let l2 = l as isize + d;
                    if l2 < 0 || l2 > max_lag as isize {
                        continue;
                    }
                    let i = a * nb + bin_of[l];
                    let j = b * nb + bin_of[l2 as usize];
                    xtx[i * p + j] += w;
                }
            }
        }
    }
    Normal { p, xtx, xty }
}

/// Minimises `½ wᵀGw − bᵀw + ½ λ |w|²` subject to `w ≥ 0` by cyclic
/// coordinate descent (each coordinate solved exactly, then clipped at 0).
pub fn nnls_ridge(g: &[f64], b: &[f64], p: usize, lambda: f64, sweeps: usize) -> Vec<f64> {
    let mut w = vec![0.0; p];
    // grad = G w − b, kept up to date.
    let mut grad: Vec<f64> = b.iter().map(|v| -v).collect();
    for _ in 0..sweeps {
        let mut moved = 0.0f64;
        for k in 0..p {
            let d = g[k * p + k] + lambda;
            if d <= 0.0 {
                continue;
            }
            let new = (w[k] - (grad[k] + lambda * w[k]) / d).max(0.0);
            let delta = new - w[k];
            if delta != 0.0 {
                w[k] = new;
                for (i, gr) in grad.iter_mut().enumerate() {
                    *gr += g[i * p + k] * delta;
                }
                moved = moved.max(delta.abs());
            }
        }
        if moved < 1e-9 {
            break;
        }
    }
    w
}

/// Harmonics of the daily cycle in the dense baseline.
const DAY_HARMONICS: usize = 3;

/// The schedule-regression model: kernels plus a smooth baseline (intercept,
/// day-of-week levels, daily harmonics) fitted jointly, and a time-of-week
/// profile of the remainder on top.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRegression {
    pub kernel: Kernel,
    /// Coefficients of [`dense_basis`].
    pub dense: Vec<f64>,
    /// Remainder profile by phase of `period` (absolute phase, see `phase0`).
    pub remainder: Vec<f64>,
    /// Steps per day and per week (week = 0 when unknown).
    pub day: usize,
    pub week: usize,
}

/// The dense baseline columns at absolute step `t` (phase-aligned steps since
/// an arbitrary epoch): intercept, six day-of-week levels, daily harmonics.
pub fn dense_basis(t: usize, day: usize, week: usize) -> Vec<f64> {
    let mut v = Vec::with_capacity(7 + 2 * DAY_HARMONICS);
    v.push(1.0);
    if week >= 7 && day >= 1 {
        let dow = (t % week) / day;
        for d in 1..7 {
            v.push(if dow == d { 1.0 } else { 0.0 });
        }
    }
    if day >= 2 {
        let x = (t % day) as f64 / day as f64 * std::f64::consts::TAU;
        for k in 1..=DAY_HARMONICS {
            v.push((k as f64 * x).sin());
            v.push((k as f64 * x).cos());
        }
    }
    v
}

impl ScheduleRegression {
    /// Fits on `y` (NaN = missing) with `counts[type][step]` on the same grid.
    /// `phase0` is the absolute step of `y[0]` (for the calendar terms);
    /// `day`/`week` in steps (`week` 0 if the history is too short for it).
    pub fn fit(
        y: &[f64],
        counts: &[Vec<f64>],
        phase0: usize,
        day: usize,
        week: usize,
        bins: &[(usize, usize)],
        ridge: f64,
    ) -> ScheduleRegression {
        let n = y.len();
        let max_lag = bins.last().map_or(0, |b| b.1.saturating_sub(1));
        let rows_from = if n > 2 * max_lag { max_lag } else { 0 };
        let ok = |t: usize| t >= rows_from && t < n && y[t].is_finite();
        let q = dense_basis(0, day, week).len();
        // Dense normal equations FᵀF, Fᵀy, and the cross term XᵀF via prefix sums of F.
        let mut ftf = vec![0.0; q * q];
        let mut fty = vec![0.0; q];
        let mut prefix = vec![vec![0.0; q]; n + 1];
        for t in 0..n {
            let mut next = prefix[t].clone();
            if ok(t) {
                let f = dense_basis(phase0 + t, day, week);
                for i in 0..q {
                    fty[i] += f[i] * y[t];
                    next[i] += f[i];
                    for j in 0..q {
                        ftf[i * q + j] += f[i] * f[j];
                    }
                }
            }
            prefix[t + 1] = next;
        }
        let target: Vec<f64> = (0..n)
            .map(|t| if ok(t) { y[t] } else { f64::NAN })
            .collect();
        let normal = normal_equations(&target, counts, bins, rows_from);
        let nb = bins.len();
        let p = normal.p;
        let m = p + q;
        let mut g = vec![0.0; m * m];
        let mut b = vec![0.0; m];
        for i in 0..p {
            g[i * m..i * m + p].copy_from_slice(&normal.xtx[i * p..(i + 1) * p]);
            b[i] = normal.xty[i];
        }
        for i in 0..q {
            b[p + i] = fty[i];
            for j in 0..q {
                g[(p + i) * m + p + j] = ftf[i * q + j];
            }
        }
        for (a, c) in counts.iter().enumerate() {
            for (u, cu) in c.iter().enumerate().take(n) {
                if *cu == 0.0 || !cu.is_finite() {
                    continue;
                }
                for (bi, (s, e)) in bins.iter().enumerate() {
                    let lo = (u + s).min(n);
                    let hi = (u + e).min(n);
                    if lo >= hi {
                        break;
                    }
                    for k in 0..q {
                        let v = cu * (prefix[hi][k] - prefix[lo][k]);
                        g[(a * nb + bi) * m + p + k] += v;
                        g[(p + k) * m + a * nb + bi] += v;
                    }
                }
            }
        }
        let diag_mean = (0..p).map(|i| g[i * m + i]).sum::<f64>() / p.max(1) as f64;
        let lambda = ridge * diag_mean.max(1e-12);
        let w = nnls_ridge_partial(&g, &b, m, p, lambda, 300);
        let bin_of = bin_index(bins);
        let kernel = Kernel {
            per_lag: (0..counts.len())
                .map(|a| (0..=max_lag).map(|lag| w[a * nb + bin_of[lag]]).collect())
                .collect(),
        };
        let dense = w[p..].to_vec();
        let mut model = ScheduleRegression {
            kernel,
            dense,
            remainder: vec![0.0; 1],
            day,
            week,
        };
        // Remainder profile over the last four cycles of the longest period.
        let period = if week > 0 && n >= 2 * week {
            week
        } else {
            day.max(1)
        };
        let fitted = model.fitted(counts, phase0, 0, n);
        let mut sums = vec![0.0; period];
        let mut cnt = vec![0usize; period];
        for t in (0..n).rev() {
            let ph = (phase0 + t) % period;
            if cnt[ph] < 4 && y[t].is_finite() {
                sums[ph] += y[t] - fitted[t];
                cnt[ph] += 1;
            }
        }
        model.remainder = sums
            .iter()
            .zip(&cnt)
            .map(|(s, c)| if *c > 0 { 0.5 * s / *c as f64 } else { 0.0 })
            .collect();
        model
    }

    /// Kernel effect plus dense baseline at steps `from..to` (without the remainder profile).
    fn fitted(&self, counts: &[Vec<f64>], phase0: usize, from: usize, to: usize) -> Vec<f64> {
        let mut out = self.kernel.effect(counts, from, to);
        for (i, o) in out.iter_mut().enumerate() {
            let f = dense_basis(phase0 + from + i, self.day, self.week);
            *o += f.iter().zip(&self.dense).map(|(a, b)| a * b).sum::<f64>();
        }
        out
    }

    /// The forecast at steps `from..to`, where `counts` covers the history and
    /// the future (appointments already booked) on one grid starting at `phase0`.
    pub fn predict(&self, counts: &[Vec<f64>], phase0: usize, from: usize, to: usize) -> Vec<f64> {
        let period = self.remainder.len().max(1);
        self.fitted(counts, phase0, from, to)
            .iter()
            .enumerate()
            .map(|(i, v)| v + self.remainder[(phase0 + from + i) % period])
            .collect()
    }
}

/// `bin_of[lag]` for every lag up to the last bin's end.
fn bin_index(bins: &[(usize, usize)]) -> Vec<usize> {
    let max_lag = bins.last().map_or(0, |b| b.1.saturating_sub(1));
    let mut bin_of = vec![0usize; max_lag + 1];
    for (j, (s, e)) in bins.iter().enumerate() {
        bin_of[*s..*e].iter_mut().for_each(|b| *b = j);
    }
    bin_of
}

/// Like [`nnls_ridge`], but only the first `constrained` coordinates are kept
/// non-negative; the ridge applies to those only.
pub fn nnls_ridge_partial(
    g: &[f64],
    b: &[f64],
    p: usize,
    constrained: usize,
    lambda: f64,
    sweeps: usize,
) -> Vec<f64> {
    let mut w = vec![0.0; p];
    let mut grad: Vec<f64> = b.iter().map(|v| -v).collect();
    for _ in 0..sweeps {
        let mut moved = 0.0f64;
        for k in 0..p {
            let lam = if k < constrained {
                lambda
            } else {
                lambda * 1e-6
            };
            let d = g[k * p + k] + lam;
            if d <= 0.0 {
                continue;
            }
            let mut new = w[k] - (grad[k] + lam * w[k]) / d;
            if k < constrained {
                new = new.max(0.0);
            }
            let delta = new - w[k];
            if delta != 0.0 && delta.is_finite() {
                w[k] = new;
                for (i, gr) in grad.iter_mut().enumerate() {
                    *gr += g[i * p + k] * delta;
                }
                moved = moved.max(delta.abs() * d.sqrt());
            }
        }
        if moved < 1e-9 {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_lag_once() {
        let b = lag_bins(20, 4, 6);
        assert_eq!(b[0], (0, 1));
        assert_eq!(b[3], (3, 4));
        assert_eq!(b[4], (4, 10));
        assert_eq!(*b.last().unwrap(), (16, 21));
        assert_eq!(lag_bins(0, 4, 6), vec![(0, 1)]);
    }

    #[test]
    fn nnls_clips_a_negative_solution() {
        // Unconstrained solution of [[2,0],[0,2]] w = [2,-2] is (1,-1).
        let w = nnls_ridge(&[2.0, 0.0, 0.0, 2.0], &[2.0, -2.0], 2, 0.0, 50);
        assert!((w[0] - 1.0).abs() < 1e-9 && w[1] == 0.0, "{w:?}");
    }

    #[test]
    fn recovers_a_known_kernel_from_sparse_events() {
        // Two types; type 0 causes 2 units at lag 1 and 1 unit at lag 2,
        // type 1 causes 3 units at lag 4.
        let n = 2000;
        let mut c0 = vec![0.0; n];
        let mut c1 = vec![0.0; n];
        let mut state = 7u64;
        for i in 0..n {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (state >> 33) % 10;
            if r == 0 {
                c0[i] = 1.0 + ((state >> 40) % 2) as f64;
            } else if r == 1 {
                c1[i] = 1.0;
            }
        }
        let truth = Kernel {
            per_lag: vec![
                vec![0.0, 2.0, 1.0, 0.0, 0.0, 0.0],
                vec![0.0, 0.0, 0.0, 0.0, 3.0, 0.0],
            ],
        };
        let counts = vec![c0, c1];
        let y = truth.effect(&counts, 0, n);
        let k = fit(&y, &counts, &lag_bins(5, 6, 1), 0, 1e-6);
        for (a, b) in k
            .per_lag
            .iter()
            .flatten()
            .zip(truth.per_lag.iter().flatten())
        {
            assert!((a - b).abs() < 0.02, "{:?}", k.per_lag);
        }
        // And the effect of the fitted kernel reproduces the target.
        let e = k.effect(&counts, 100, 200);
        assert!(
            e.iter()
                .zip(&y[100..200])
                .all(|(a, b)| (a - b).abs() < 0.05)
        );
    }
}
