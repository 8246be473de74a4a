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

use super::reference::CompensatedSum;

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
        // Events before `from − max_lag` cannot reach `from..to`.
        let first = from.saturating_sub(self.max_lag());
        let events: Vec<Vec<(usize, f64)>> = counts
            .iter()
            .map(|c| events_of(&c[first.min(c.len())..to.min(c.len())], first))
            .collect();
        self.effect_of(&events, from, to)
    }

    /// [`Kernel::effect`] from each type's events (`(step, count)`, ascending).
    fn effect_of(&self, events: &[Vec<(usize, f64)>], from: usize, to: usize) -> Vec<f64> {
        let mut out = vec![0.0; to.saturating_sub(from)];
        for (k, ev) in self.per_lag.iter().zip(events) {
            // Scatter each event forward: cheaper than a dense convolution.
            let first = from.saturating_sub(k.len().saturating_sub(1));
            for &(u, cu) in ev {
                if u < first || u >= to {
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

/// The nonzero finite counts of one type as `(step, count)`, steps from `offset`.
fn events_of(counts: &[f64], offset: usize) -> Vec<(usize, f64)> {
    counts
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0.0 && v.is_finite())
        .map(|(i, v)| (offset + i, *v))
        .collect()
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
        .map(|c| events_of(&c[..n.min(c.len())], 0))
        .collect();
    // Xᵀy: Σ_t y(t) · count(t − lag), binned.
    let xty = lagged_products(target, &events, bins, rows_from, target);
    // XᵀX: each pair of events (u of type a, v of type b) with |u − v| ≤ max_lag
    // contributes cu·cv at every usable row t = u + l = v + l' (l' = l + u − v)
    // with both lags in range. Rows before `rows_from` or past the end only
    // shorten that range of l, so each pair adds to a difference array over
    // (u − v, l), spread over the bins once at the end. Pairs whose range holds
    // a missing value (rare) are walked row by row.
    let mut nan_prefix = vec![0usize; n + 1];
    for t in 0..n {
        nan_prefix[t + 1] = nan_prefix[t] + usize::from(!target[t].is_finite());
    }
    // The difference array is lag-major, `diff[l · offsets + (u − v + max_lag)]`
    // (lags 0..=max_lag + 1): the pairs of one event `u` write neighbouring
    // offsets, and the spread walks each lag's offsets in order.
    let offsets = 2 * max_lag + 1;
    let mut xtx = vec![0.0; p * p];
    // Zeroed once: the spread resets every entry it reads. The end marker
    // of a pair whose lag of v runs to max_lag lands outside what is read
    // (lag of v max_lag + 1, or lag of u max_lag + 1), so it never counts.
    let mut diff = vec![0.0; (max_lag + 2) * offsets];
    let mut acc = vec![0.0; offsets];
    // XᵀX is symmetric: the blocks with b ≥ a are built, the others mirrored.
    for (a, ea) in events.iter().enumerate() {
        for (b, eb) in events.iter().enumerate().skip(a) {
            let mut lo = 0usize;
            for (u, cu) in ea {
                while lo < eb.len() && eb[lo].0 + max_lag < *u {
                    lo += 1;
                }
                for (v, cv) in &eb[lo..] {
                    if *v > u + max_lag {
                        break;
                    }
                    let t0 = (*u).max(*v).max(rows_from);
                    let t1 = ((*u).min(*v) + max_lag).min(n.saturating_sub(1));
                    if t0 > t1 || n == 0 {
                        continue;
                    }
                    let w = cu * cv;
                    if nan_prefix[t1 + 1] == nan_prefix[t0] {
                        let di = u + max_lag - v;
                        diff[(t0 - u) * offsets + di] += w;
                        diff[(t1 - u + 1) * offsets + di] -= w;
                        continue;
                    }
                    for t in t0..=t1 {
                        if ok(t) {
                            let i = a * nb + bin_of[t - u];
                            let j = b * nb + bin_of[t - v];
                            xtx[i * p + j] += w;
                        }
                    }
                }
            }
            // Per offset, the running sum over lags is the products' sum at
            // that (lag of u, lag of v = l + offset − max_lag); the lag of v
            // is in 0..=max_lag for offsets max_lag − l ..= 2·max_lag − l.
            acc.iter_mut().for_each(|v| *v = 0.0);
            for l in 0..=max_lag {
                let (first, last) = (max_lag - l, 2 * max_lag - l);
                let row = &mut diff[l * offsets..(l + 1) * offsets];
                let xrow = &mut xtx[(a * nb + bin_of[l]) * p + b * nb..][..nb];
                for di in first..=last {
                    acc[di] += row[di];
                    row[di] = 0.0;
                    if acc[di] != 0.0 {
                        xrow[bin_of[l + di - max_lag]] += acc[di];
                    }
                }
            }
        }
    }
    for i in 0..p {
        for j in 0..p {
            if j / nb.max(1) < i / nb.max(1) {
                xtx[i * p + j] = xtx[j * p + i];
            }
        }
    }
    Normal { p, xtx, xty }
}

/// Minimises `½ wᵀGw − bᵀw + ½ λ |w|²` subject to `w ≥ 0` by cyclic
/// coordinate descent (each coordinate solved exactly, then clipped at 0).
pub fn nnls_ridge(g: &[f64], b: &[f64], p: usize, lambda: f64, sweeps: usize) -> Vec<f64> {
    nnls_ridge_warm(g, b, p, lambda, sweeps, vec![0.0; p])
}

/// Backfitting rounds: kernel on (demand − baseline), baseline on (demand − effect).
const ROUNDS: usize = 6;

/// Cycles of the baseline period averaged for the baseline profile.
const BASELINE_CYCLES: usize = 4;

/// The schedule-regression model: response kernels plus a time-of-week (or
/// time-of-day) baseline profile of what the schedule does not explain,
/// fitted alternately. `XᵀX` is built once; each round only needs `Xᵀ(y − b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRegression {
    pub kernel: Kernel,
    /// Baseline by absolute phase of its period (`phase0 + t` modulo length).
    pub baseline: Vec<f64>,
}

impl ScheduleRegression {
    /// Fits on `y` (NaN = missing) with `counts[type][step]` on the same grid.
    /// `phase0` is the absolute step of `y[0]` (steps since the Unix epoch);
    /// the baseline has period `week` steps when at least two weeks of
    /// history exist (`week > 0`), else `day`.
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
        let period = if week > 0 && n >= 2 * week {
            week
        } else {
            day.max(1)
        };
        let ne = normal_equations(y, counts, bins, rows_from);
        // Each round scatters the appointments, not every step.
        let events: Vec<Vec<(usize, f64)>> = counts
            .iter()
            .map(|c| events_of(&c[..n.min(c.len())], 0))
            .collect();
        let p = ne.p;
        let diag_mean = (0..p).map(|i| ne.xtx[i * p + i]).sum::<f64>() / p.max(1) as f64;
        let lambda = ridge * diag_mean.max(1e-12);
        let bin_of = bin_index(bins);
        let nb = bins.len();
        let mut w = vec![0.0; p];
        let mut base_hist = vec![0.0; n];
        let mut model = ScheduleRegression {
            kernel: Kernel {
                per_lag: vec![vec![0.0; max_lag + 1]; counts.len()],
            },
            baseline: vec![0.0; period],
        };
        for _ in 0..ROUNDS {
            let xtb = lagged_products(&base_hist, &events, bins, rows_from, y);
            let rhs: Vec<f64> = ne.xty.iter().zip(&xtb).map(|(a, b)| a - b).collect();
            w = nnls_ridge_warm(&ne.xtx, &rhs, p, lambda, 200, w);
            let effect = binned_effect(&w, &events, bins, n);
            let mut sums = vec![0.0; period];
            let mut cnt = vec![0usize; period];
            // Phases counted down from the last step's (no division per step).
            let mut ph = (phase0 + n.saturating_sub(1)) % period;
            for t in (0..n).rev() {
                if cnt[ph] < BASELINE_CYCLES && y[t].is_finite() {
                    sums[ph] += y[t] - effect[t];
                    cnt[ph] += 1;
                }
                ph = if ph == 0 { period - 1 } else { ph - 1 };
            }
            // Each phase also pools the phases within an hour either side
            // (`day / 24` steps): with 3–4 cycles a raw per-step profile is
            // mostly the counts' noise. Measured (examples/clinic_backtest):
            // schedule-aware MASE 0.438 -> 0.389 on the bundled clinic,
            // 0.604 -> 0.540 on the second department.
            model.baseline = smoothed_profile(&sums, &cnt, day / 24);
            repeat_from(&model.baseline, phase0 % period, &mut base_hist);
        }
        model.kernel.per_lag = (0..counts.len())
            .map(|a| (0..=max_lag).map(|lag| w[a * nb + bin_of[lag]]).collect())
            .collect();
        model
    }

    /// The forecast at steps `from..to`, where `counts` covers the history and
    /// the future (appointments already booked) on one grid starting at `phase0`.
    pub fn predict(&self, counts: &[Vec<f64>], phase0: usize, from: usize, to: usize) -> Vec<f64> {
        let period = self.baseline.len().max(1);
        self.kernel
            .effect(counts, from, to)
            .iter()
            .enumerate()
            .map(|(i, v)| v + self.baseline[(phase0 + from + i) % period])
            .collect()
    }
}

/// Per-phase means of `sums / cnt`, pooled over the `2·hw + 1` neighbouring
/// phases (circularly): each phase's baseline is the mean of every residual
/// in its window, so a profile built from few cycles is not mostly noise.
///
/// O(period) whatever `hw`: the window slides around the circle (a
/// compensated running sum, see [`CompensatedSum`]; counts are exact).
pub(crate) fn smoothed_profile(sums: &[f64], cnt: &[usize], hw: usize) -> Vec<f64> {
    let period = sums.len();
    if period == 0 {
        return Vec::new();
    }
    let hw = hw.min(period.saturating_sub(1) / 2);
    // The window of phase 0: phases −hw ..= hw, circularly.
    let at = |d: usize| (d + period - hw) % period;
    let (mut s, mut c) = (CompensatedSum::default(), 0usize);
    for d in 0..=2 * hw {
        s.add(sums[at(d)]);
        c += cnt[at(d)];
    }
    let mut out = Vec::with_capacity(period);
    for ph in 0..period {
        out.push(if c > 0 { s.value() / c as f64 } else { 0.0 });
        // Slide: phase ph − hw leaves, ph + hw + 1 enters.
        let (leave, enter) = (at(ph), at(ph + 2 * hw + 1));
        s.add(-sums[leave]);
        s.add(sums[enter]);
        c = c + cnt[enter] - cnt[leave];
    }
    out
}

/// Fills `out` with `cycle` repeated, starting at phase `start`.
fn repeat_from(cycle: &[f64], start: usize, out: &mut [f64]) {
    let mut at = 0;
    let mut from = start;
    while at < out.len() {
        let take = (cycle.len() - from).min(out.len() - at);
        out[at..at + take].copy_from_slice(&cycle[from..from + take]);
        at += take;
        from = 0;
    }
}

/// `Xᵀx` for a series `x` on the history grid: per type and bin, Σ over usable
/// rows `t` (from `rows_from`, where `y` is finite) of `count(t − lag) · x(t)`.
/// `events` are each type's `(step, count)` ([`events_of`]).
///
/// A bin's sum over its lags is a difference of prefix sums of the usable
/// `x`: O(events × bins + n), whatever the bins' widths.
fn lagged_products(
    x: &[f64],
    events: &[Vec<(usize, f64)>],
    bins: &[(usize, usize)],
    rows_from: usize,
    y: &[f64],
) -> Vec<f64> {
    debug_assert!(tiles(bins), "bins must tile 0..=max_lag from 0");
    let n = x.len();
    let nb = bins.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    let mut acc = 0.0;
    for t in 0..n {
        if t >= rows_from && y[t].is_finite() {
            acc += x[t];
        }
        prefix.push(acc);
    }
    let mut out = vec![0.0; events.len() * nb];
    for (a, ev) in events.iter().enumerate() {
        let row = &mut out[a * nb..(a + 1) * nb];
        for &(u, cu) in ev {
            if u >= n {
                break;
            }
            // The bins tile the lags: a bin's end is the next one's start,
            // so each edge's prefix is read once.
            let mut before = prefix[u];
            for (o, &(_, e)) in row.iter_mut().zip(bins) {
                let e = (u + e).min(n);
                let after = prefix[e];
                *o += cu * (after - before);
                if e == n {
                    break;
                }
                before = after;
            }
        }
    }
    out
}

/// The effect over `0..n` of kernels constant on each bin (`w`, type-major,
/// as the normal equations' columns): every event adds its count times the
/// bin's value from the bin's start to its end, as a difference array.
/// O(events × bins + n), where [`Kernel::effect_of`] is O(events × lags).
fn binned_effect(
    w: &[f64],
    events: &[Vec<(usize, f64)>],
    bins: &[(usize, usize)],
    n: usize,
) -> Vec<f64> {
    debug_assert!(tiles(bins), "bins must tile 0..=max_lag from 0");
    let nb = bins.len();
    let mut diff = vec![0.0; n + 1];
    for (a, ev) in events.iter().enumerate() {
        let wa = &w[a * nb..(a + 1) * nb];
        for &(u, cu) in ev {
            if u >= n {
                break;
            }
            for (&wb, &(s, e)) in wa.iter().zip(bins) {
                let (s, e) = ((u + s).min(n), (u + e).min(n));
                if s == e {
                    break;
                }
                if wb != 0.0 {
                    diff[s] += wb * cu;
                    diff[e] -= wb * cu;
                }
            }
        }
    }
    let mut acc = 0.0;
    diff.truncate(n);
    for d in diff.iter_mut() {
        acc += *d;
        *d = acc;
    }
    diff
}

/// Whether `bins` are contiguous from lag 0 (as [`lag_bins`] makes them):
/// what the prefix-sum passes assume.
fn tiles(bins: &[(usize, usize)]) -> bool {
    bins.first().is_none_or(|b| b.0 == 0)
        && bins.windows(2).all(|w| w[0].1 == w[1].0 && w[0].0 < w[0].1)
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

/// [`nnls_ridge`] started from `w` (warm start for backfitting).
///
/// The exact minimiser by block principal pivoting (Kim & Park, "Fast
/// nonnegative matrix factorization: an active-set-like method and
/// comparisons", SIAM J. Sci. Comput. 33(6), 2011, after Júdice & Pires):
/// guess the set of positive coordinates (the warm start's), solve the
/// unconstrained problem on it (Cholesky of `G_FF + λI`), and exchange every
/// coordinate that breaks optimality (negative inside the set; outside it, a
/// gradient that a coordinate step would follow) until none does, with the
/// paper's backup rule (exchange one coordinate at a time when the number of
/// breaking ones stops falling) so it ends. From a warm start it takes one to
/// three factorisations where coordinate descent took a hundred or more
/// sweeps on the binned lags' correlated columns. If a factorisation fails
/// (`G + λI` not positive definite, as with `λ = 0` on a rank-deficient
/// `G`) or the pivoting does not settle, cyclic coordinate descent from `w`
/// (each coordinate solved exactly, then clipped at 0) gives the answer.
pub fn nnls_ridge_warm(
    g: &[f64],
    b: &[f64],
    p: usize,
    lambda: f64,
    sweeps: usize,
    w: Vec<f64>,
) -> Vec<f64> {
    match pivoting(g, b, p, lambda, &w) {
        Some(x) => x,
        None => descent(g, b, p, lambda, sweeps, w),
    }
}

/// A coordinate whose step would be below this (scaled by `√d`) does not
/// move: the tolerance of both solvers.
const NNLS_TOLERANCE: f64 = 1e-9;

/// Block principal pivoting for [`nnls_ridge_warm`]; `None` when it cannot
/// answer (a failed factorisation, or no convergence in `3p + 10` rounds).
fn pivoting(g: &[f64], b: &[f64], p: usize, lambda: f64, w: &[f64]) -> Option<Vec<f64>> {
    let mut inside: Vec<bool> = w.iter().map(|&v| v > 0.0).collect();
    let mut set = Vec::with_capacity(p);
    let mut chol = Vec::with_capacity(p * p);
    let mut xs = Vec::with_capacity(p);
    let mut x = vec![0.0; p];
    let mut wrong = Vec::with_capacity(p);
    let (mut fewest, mut backups) = (p + 1, 3usize);
    for _ in 0..3 * p + 10 {
        set.clear();
        set.extend((0..p).filter(|&k| inside[k]));
        solve_on(g, b, p, lambda, &set, &mut chol, &mut xs)?;
        x.iter_mut().for_each(|v| *v = 0.0);
        for (&k, &v) in set.iter().zip(&xs) {
            x[k] = v;
        }
        // Coordinates that break optimality.
        let breaks = |k: usize| {
            if inside[k] {
                return x[k] < 0.0;
            }
            let d = g[k * p + k] + lambda;
            let row = &g[k * p..(k + 1) * p];
            let grad = set.iter().map(|&j| row[j] * x[j]).sum::<f64>() - b[k];
            d > 0.0 && -grad / d.sqrt() >= NNLS_TOLERANCE
        };
        wrong.clear();
        wrong.extend((0..p).filter(|&k| breaks(k)));
        if wrong.is_empty() {
            // Inside the set every coordinate is ≥ 0 (a coordinate at
            // exactly 0 is harmless either side).
            return Some(x);
        }
        // Exchange them all while their number falls (or within three
        // tries of its least); else only the last, which always ends.
        if wrong.len() < fewest {
            (fewest, backups) = (wrong.len(), 3);
        } else if backups > 0 {
            backups -= 1;
        } else {
            wrong.drain(..wrong.len() - 1);
        }
        wrong.iter().for_each(|&k| inside[k] = !inside[k]);
    }
    None
}

/// Solves `(G + λI)_SS x = b_S` by Cholesky into `x` (`chol` is scratch);
/// `None` if the matrix is not positive definite in floating point.
fn solve_on(
    g: &[f64],
    b: &[f64],
    p: usize,
    lambda: f64,
    set: &[usize],
    chol: &mut Vec<f64>,
    x: &mut Vec<f64>,
) -> Option<()> {
    let s = set.len();
    // Lower triangle, row-major s × s.
    chol.clear();
    chol.resize(s * s, 0.0);
    for i in 0..s {
        let gi = &g[set[i] * p..(set[i] + 1) * p];
        for j in 0..=i {
            let mut v = gi[set[j]];
            if i == j {
                v += lambda;
            }
            let (li, lj) = (&chol[i * s..i * s + j], &chol[j * s..j * s + j]);
            v -= li.iter().zip(lj).map(|(a, c)| a * c).sum::<f64>();
            if i == j {
                // A pivot lost to rounding (a singular set with λ = 0) is a
                // failure, not a huge, cancelling answer.
                let scale = gi[set[i]] + lambda;
                if !(v > 1e-12 * scale && v.is_finite()) {
                    return None;
                }
                chol[i * s + i] = v.sqrt();
            } else {
                chol[i * s + j] = v / chol[j * s + j];
            }
        }
    }
    // L y = b_S, then Lᵀ x = y.
    x.clear();
    x.extend(set.iter().map(|&k| b[k]));
    for i in 0..s {
        let v = x[i]
            - chol[i * s..i * s + i]
                .iter()
                .zip(&x[..i])
                .map(|(a, c)| a * c)
                .sum::<f64>();
        x[i] = v / chol[i * s + i];
    }
    for i in (0..s).rev() {
        let mut v = x[i];
        for k in i + 1..s {
            v -= chol[k * s + i] * x[k];
        }
        x[i] = v / chol[i * s + i];
    }
    x.iter().all(|v| v.is_finite()).then_some(())
}

/// Cyclic coordinate descent from `w` (each coordinate solved exactly, then
/// clipped at 0), at most `sweeps` sweeps.
fn descent(
    g: &[f64],
    b: &[f64],
    p: usize,
    lambda: f64,
    sweeps: usize,
    mut w: Vec<f64>,
) -> Vec<f64> {
    // grad = (G + λI) w − b.
    let mut grad: Vec<f64> = (0..p)
        .map(|i| (0..p).map(|j| g[i * p + j] * w[j]).sum::<f64>() + lambda * w[i] - b[i])
        .collect();
    // Column k of G, contiguous: each coordinate step updates the whole
    // gradient from it (the same values, read in order).
    let mut columns = vec![0.0; p * p];
    for i in 0..p {
        for k in 0..p {
            columns[k * p + i] = g[i * p + k];
        }
    }
    for _ in 0..sweeps {
        let mut moved = 0.0f64;
        for k in 0..p {
            let d = g[k * p + k] + lambda;
            if d <= 0.0 {
                continue;
            }
            let new = (w[k] - grad[k] / d).max(0.0);
            let delta = new - w[k];
            if delta != 0.0 && delta.is_finite() {
                w[k] = new;
                for (gr, gik) in grad.iter_mut().zip(&columns[k * p..(k + 1) * p]) {
                    *gr += gik * delta;
                }
                grad[k] += lambda * delta;
                moved = moved.max(delta.abs() * d.sqrt());
            }
        }
        if moved < NNLS_TOLERANCE {
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

    /// Plain cyclic coordinate descent to a tight tolerance: the reference
    /// for the accelerated solver.
    fn nnls_descent_only(g: &[f64], b: &[f64], p: usize, lambda: f64) -> Vec<f64> {
        let mut w = vec![0.0; p];
        for _ in 0..200_000 {
            let mut moved = 0.0f64;
            for k in 0..p {
                let d = g[k * p + k] + lambda;
                let gk = (0..p).map(|j| g[k * p + j] * w[j]).sum::<f64>() + lambda * w[k] - b[k];
                let new = (w[k] - gk / d).max(0.0);
                moved = moved.max((new - w[k]).abs());
                w[k] = new;
            }
            if moved < 1e-14 {
                break;
            }
        }
        w
    }

    /// A binned-lag design: neighbouring columns strongly correlated, as in
    /// the schedule regression (where plain descent needs hundreds of sweeps).
    fn correlated_problem(seed: u64, p: usize, rows: usize) -> (Vec<f64>, Vec<f64>) {
        let mut s = seed;
        let mut rnd = || super::super::uniform(&mut s);
        // Counts that follow a slowly moving rate (as a day's bookings do):
        // columns a lag apart are then nearly collinear.
        let mut rate = 0.5;
        let events: Vec<f64> = (0..rows + p)
            .map(|_| {
                rate = (0.97 * rate + 0.03 * 2.0 * rnd()).max(0.0);
                rate + 0.1 * rnd()
            })
            .collect();
        let truth: Vec<f64> = (0..p)
            .map(|j| {
                if j % 3 == 0 {
                    0.0
                } else {
                    (j as f64 * 0.7).sin()
                }
            })
            .collect();
        let x: Vec<Vec<f64>> = (0..rows)
            .map(|t| (0..p).map(|j| events[t + p - j]).collect())
            .collect();
        let y: Vec<f64> = x
            .iter()
            .map(|r| r.iter().zip(&truth).map(|(a, b)| a * b).sum::<f64>() + rnd() - 0.5)
            .collect();
        gram(&x, &y)
    }

    /// `XᵀX` and `Xᵀy` of a dense design (rows of `x`).
    fn gram<R: AsRef<[f64]>>(x: &[R], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let p = x.first().map_or(0, |r| r.as_ref().len());
        let mut g = vec![0.0; p * p];
        let mut b = vec![0.0; p];
        for (r, yt) in x.iter().zip(y) {
            let r = r.as_ref();
            for i in 0..p {
                b[i] += r[i] * yt;
                for j in 0..p {
                    g[i * p + j] += r[i] * r[j];
                }
            }
        }
        (g, b)
    }

    #[test]
    fn pivoting_finds_the_minimiser_plain_descent_converges_to() {
        for seed in 1..30u64 {
            let p = 5 + (seed as usize * 7) % 60;
            let (g, b) = correlated_problem(seed, p, 400);
            let diag = (0..p).map(|i| g[i * p + i]).sum::<f64>() / p as f64;
            let lambda = 1e-3 * diag;
            let want = nnls_descent_only(&g, &b, p, lambda);
            // Cold and warm (from a perturbed answer), as the backfitting calls it.
            let warm: Vec<f64> = want.iter().map(|v| (v * 1.3 - 0.01).max(0.0)).collect();
            // 25 sweeps: far fewer than plain descent needs on these
            // columns, so the pivoting must be what finds the minimiser.
            for start in [vec![0.0; p], warm] {
                let got = nnls_ridge_warm(&g, &b, p, lambda, 25, start);
                for (k, (a, e)) in got.iter().zip(&want).enumerate() {
                    assert!(*a >= 0.0, "seed {seed}: w[{k}] = {a}");
                    assert!(
                        (a - e).abs() < 1e-6 * (1.0 + e.abs()),
                        "seed {seed} p {p}: w[{k}] {a} vs {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_singular_system_falls_back_to_descent() {
        // λ = 0 and two identical columns: G is singular, the Cholesky of
        // the pair fails, and coordinate descent finds a minimiser
        // (w0 + w1 = 1; the first coordinate takes it all).
        let w = nnls_ridge(&[1.0, 1.0, 1.0, 1.0], &[1.0, 1.0], 2, 0.0, 50);
        assert!(
            (w[0] + w[1] - 1.0).abs() < 1e-12 && w[0] >= 0.0 && w[1] >= 0.0,
            "{w:?}"
        );
    }

    #[test]
    fn a_system_singular_up_to_rounding_still_gives_the_minimisers_fit() {
        // λ = 0, the third column the sum of the other two in decimals that
        // do not add exactly (a set's last pivot is then rounding): whichever
        // solver answers, the weights stay moderate and the fit is the
        // minimiser's (the fitted values are unique even where w is not).
        let x = [[0.1, 0.2], [0.4, 0.5], [0.7, 0.8], [0.3, 0.9]];
        let rows: Vec<[f64; 3]> = x.iter().map(|r| [r[0], r[1], r[0] + r[1]]).collect();
        let y = [1.0, 2.0, 3.0, 2.5];
        let (g, b) = gram(&rows, &y);
        let w = nnls_ridge(&g, &b, 3, 0.0, 10_000);
        assert!(
            w.iter().all(|v| v.is_finite() && *v >= 0.0 && *v < 100.0),
            "{w:?}"
        );
        let want = nnls_descent_only(&g, &b, 3, 0.0);
        let fitted = |w: &[f64]| -> Vec<f64> {
            rows.iter()
                .map(|r| (0..3).map(|i| r[i] * w[i]).sum())
                .collect()
        };
        for (a, e) in fitted(&w).iter().zip(fitted(&want)) {
            assert!((a - e).abs() < 1e-6, "{a} vs {e}");
        }
    }

    #[test]
    fn binned_sums_equal_the_lag_by_lag_ones() {
        let mut st = 3u64;
        let mut rnd = || super::super::uniform(&mut st);
        for case in 0..20 {
            let n = 50 + case * 37;
            let bins = lag_bins(5 + case * 3, 1 + case % 4, 1 + case % 7);
            let nb = bins.len();
            let counts: Vec<Vec<f64>> = (0..2)
                .map(|_| {
                    (0..n)
                        .map(|_| {
                            if rnd() < 0.3 {
                                (rnd() * 4.0).floor()
                            } else {
                                0.0
                            }
                        })
                        .collect()
                })
                .collect();
            let events: Vec<Vec<(usize, f64)>> = counts.iter().map(|c| events_of(c, 0)).collect();
            let y: Vec<f64> = (0..n)
                .map(|t| if t % 13 == 5 { f64::NAN } else { rnd() })
                .collect();
            let x: Vec<f64> = (0..n).map(|_| rnd() - 0.3).collect();
            let rows_from = case % 9;
            let w: Vec<f64> = (0..2 * nb).map(|_| rnd()).collect();
            let bin_of = bin_index(&bins);
            let kernel = Kernel {
                per_lag: (0..2)
                    .map(|a| bin_of.iter().map(|&j| w[a * nb + j]).collect())
                    .collect(),
            };
            let want = kernel.effect_of(&events, 0, n);
            let got = binned_effect(&w, &events, &bins, n);
            for t in 0..n {
                assert!(
                    (got[t] - want[t]).abs() < 1e-9,
                    "case {case} t {t}: {} vs {}",
                    got[t],
                    want[t]
                );
            }
            let mut want = vec![0.0; 2 * nb];
            for (a, ev) in events.iter().enumerate() {
                for &(u, cu) in ev {
                    for (lag, &j) in bin_of.iter().enumerate() {
                        let t = u + lag;
                        if t < n && t >= rows_from && y[t].is_finite() {
                            want[a * nb + j] += cu * x[t];
                        }
                    }
                }
            }
            let got = lagged_products(&x, &events, &bins, rows_from, &y);
            for k in 0..2 * nb {
                assert!(
                    (got[k] - want[k]).abs() < 1e-9,
                    "case {case} column {k}: {} vs {}",
                    got[k],
                    want[k]
                );
            }
        }
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

    #[test]
    fn normal_equations_match_a_dense_design() {
        let n = 300;
        let mut state = 11u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        // Three types, sparse to dense (the dense one like a completions row).
        let counts: Vec<Vec<f64>> = (0..3)
            .map(|a| {
                (0..n)
                    .map(|_| {
                        if rnd() < 0.15 + 0.35 * a as f64 {
                            1.0 + (rnd() * 2.0).floor()
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let mut y: Vec<f64> = (0..n).map(|_| rnd()).collect();
        y[150] = f64::NAN;
        let bins = lag_bins(17, 3, 5);
        let rows_from = 20;
        let ne = normal_equations(&y, &counts, &bins, rows_from);
        let bin_of = bin_index(&bins);
        let nb = bins.len();
        let mut xtx = vec![0.0; ne.p * ne.p];
        let mut xty = vec![0.0; ne.p];
        for t in rows_from..n {
            if !y[t].is_finite() {
                continue;
            }
            let mut row = vec![0.0; ne.p];
            for (a, c) in counts.iter().enumerate() {
                for lag in 0..=17 {
                    if t >= lag {
                        row[a * nb + bin_of[lag]] += c[t - lag];
                    }
                }
            }
            for i in 0..ne.p {
                xty[i] += row[i] * y[t];
                for j in 0..ne.p {
                    xtx[i * ne.p + j] += row[i] * row[j];
                }
            }
        }
        for (a, b) in ne.xtx.iter().zip(&xtx).chain(ne.xty.iter().zip(&xty)) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }

    /// The direct definition, O(period·hw): the reference for the sliding one.
    fn smoothed_profile_direct(sums: &[f64], cnt: &[usize], hw: usize) -> Vec<f64> {
        let period = sums.len();
        let hw = hw.min(period.saturating_sub(1) / 2);
        (0..period)
            .map(|ph| {
                let (mut s, mut c) = (0.0, 0usize);
                for d in 0..=2 * hw {
                    let j = (ph + period + d - hw) % period;
                    s += sums[j];
                    c += cnt[j];
                }
                if c > 0 { s / c as f64 } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn sliding_baseline_profile_equals_the_direct_one() {
        let mut state = 5u64;
        let mut rnd = || super::super::uniform(&mut state);
        assert!(smoothed_profile(&[], &[], 3).is_empty());
        for case in 0..400 {
            let period = 1 + (rnd() * 300.0) as usize;
            let hw = (rnd() * 40.0) as usize;
            // Whole-number sums (exact either way), residual sums of both
            // signs, and phases without any value (count 0, sum 0).
            let cnt: Vec<usize> = (0..period)
                .map(|_| {
                    if rnd() < 0.2 {
                        0
                    } else {
                        1 + (rnd() * 4.0) as usize
                    }
                })
                .collect();
            let sums: Vec<f64> = cnt
                .iter()
                .map(|c| match (c, case % 2) {
                    (0, _) => 0.0,
                    (_, 0) => (rnd() * 20.0).floor(),
                    _ => (rnd() - 0.3) * 7.0 * *c as f64,
                })
                .collect();
            let fast = smoothed_profile(&sums, &cnt, hw);
            let slow = smoothed_profile_direct(&sums, &cnt, hw);
            for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                if case % 2 == 0 {
                    assert_eq!(a, b, "case {case} period {period} hw {hw} phase {i}");
                } else {
                    assert!((a - b).abs() < 1e-12, "case {case} phase {i}: {a} vs {b}");
                }
            }
            assert_eq!(fast.len(), period);
        }
    }

    #[test]
    fn a_cycle_repeats_from_its_phase() {
        let mut out = [0.0; 7];
        repeat_from(&[1.0, 2.0, 3.0], 2, &mut out);
        assert_eq!(out, [3.0, 1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
        let mut out = [0.0; 2];
        repeat_from(&[1.0, 2.0, 3.0], 0, &mut out);
        assert_eq!(out, [1.0, 2.0]);
        repeat_from(&[5.0], 0, &mut []);
    }

    #[test]
    fn baseline_profile_pools_neighbouring_phases_circularly() {
        let sums = [4.0, 0.0, 0.0, 0.0, 2.0];
        let cnt = [1, 1, 1, 1, 1];
        assert_eq!(
            smoothed_profile(&sums, &cnt, 0),
            vec![4.0, 0.0, 0.0, 0.0, 2.0]
        );
        // Phase 0 pools phases 4, 0, 1: (2 + 4 + 0) / 3.
        let p = smoothed_profile(&sums, &cnt, 1);
        assert!(
            (p[0] - 2.0).abs() < 1e-12 && (p[4] - 2.0).abs() < 1e-12,
            "{p:?}"
        );
        // A window wider than the period is capped at the period, and empty
        // phases are weighted by their counts (none).
        let p = smoothed_profile(&[3.0, 6.0], &[1, 0], 5);
        assert_eq!(p, vec![3.0, 0.0]);
    }
}
