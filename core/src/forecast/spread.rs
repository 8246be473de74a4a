//! How uncertain a forecast is about *work summed over a window*, the
//! quantity the planner provisions for.
//!
//! Per-step quantiles cannot be added: the p90 of ten one-minute steps
//! summed is far above the p90 of the ten minutes' work, and the finer the
//! step the further. The planner needs the distribution of the sum. A count
//! model gives it from the forecast mean alone: if the work `S` arriving
//! over a window has forecast mean `μ`, then
//!
//! ```text
//! Var(S) = linear · μ + quadratic · μ²
//! ```
//!
//! `linear` is the count noise (1 for Poisson arrivals of unit jobs, more
//! when jobs come in clumps or in other units), `quadratic` the squared
//! relative error of the forecast's level shared by every step of the
//! window (a negative-binomial-like mixture). Both are measured on the
//! backtest's held-out origins ([`WorkSpread::estimate`]) from the errors of
//! the forecast's window sums, on the window lengths the planner uses. The
//! quantile of `S` is that of a gamma distribution with this mean and
//! variance (Wilson–Hilferty), the continuous stand-in for the negative
//! binomial; it depends on the window's mean and not on how many steps it
//! spans, so a decision does not depend on the recording's step.

use statrs::distribution::{ContinuousCDF, Normal};

/// The forecast's spread of work summed over a window (see the module).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct WorkSpread {
    /// Variance per unit of expected work (demand units).
    pub linear: f64,
    /// Squared relative error of the forecast level (no unit).
    pub quadratic: f64,
    /// How many backtest windows it was measured on (0: assumed).
    pub windows: usize,
}

impl Default for WorkSpread {
    /// Poisson arrivals of unit jobs and a forecast level 30 % uncertain:
    /// what is assumed before any backtest could measure it.
    fn default() -> Self {
        WorkSpread {
            linear: 1.0,
            quadratic: 0.09,
            windows: 0,
        }
    }
}

/// The standard normal's loss function `L(z) = E[(Z − z)+] = φ(z) − z (1 − Φ(z))`.
fn normal_loss(z: f64) -> f64 {
    let n = Normal::standard();
    use statrs::distribution::Continuous;
    n.pdf(z) - z * (1.0 - n.cdf(z))
}

/// `(z, L(z))` on a grid of `z` from −4 to 6, `L` falling: inverted by
/// interpolation in [`WorkSpread::shortfall_z`].
fn loss_table() -> &'static [(f64, f64)] {
    static TABLE: std::sync::OnceLock<Vec<(f64, f64)>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=1000)
            .map(|i| {
                let z = -4.0 + f64::from(i) * 0.01;
                (z, normal_loss(z))
            })
            .collect()
    })
}

/// The standard normal quantile of `level` (clamped into (0, 1)).
pub fn normal_quantile(level: f64) -> f64 {
    let p = level.clamp(1e-9, 1.0 - 1e-9);
    Normal::standard().inverse_cdf(p)
}

impl WorkSpread {
    /// Variance of the work in a window whose forecast mean is `mean`.
    pub fn variance(&self, mean: f64) -> f64 {
        let m = mean.max(0.0);
        self.linear * m + self.quadratic * m * m
    }

    /// The quantile of work in a window of forecast mean `mean`, at the
    /// level whose standard normal quantile is `z` ([`normal_quantile`]):
    /// a gamma distribution with the window's mean and [`Self::variance`],
    /// by the Wilson–Hilferty cube-root approximation. 0 for no work.
    pub fn quantile(&self, mean: f64, z: f64) -> f64 {
        let m = mean.max(0.0);
        let v = self.variance(m);
        if m <= 0.0 || !v.is_finite() {
            return 0.0;
        }
        if v <= 0.0 {
            return m;
        }
        // c = 1 / (9 k) with gamma shape k = μ² / v.
        let c = v / (9.0 * m * m);
        let base = 1.0 - c + z * c.sqrt();
        m * base.max(0.0).powi(3)
    }

    /// The standard normal quantile `z` at which a window of expected work
    /// `mean` leaves an expected `late` fraction of its work above its
    /// quantile: `σ · L(z) = late · mean` with `σ² =` [`Self::variance`]
    /// (the normal loss function; `L` falls from `−z` far left to 0). The
    /// planner plans each window at this level, so that the work expected
    /// beyond what it provisions is `1 − slo.attainment` of the work: a
    /// busy window (small relative spread) needs a lower level than a quiet
    /// one. Clamped to `[−4, 6]`.
    pub fn shortfall_z(&self, mean: f64, late: f64) -> f64 {
        let m = mean.max(0.0);
        let sd = self.variance(m).sqrt();
        if !(sd > 0.0 && m > 0.0) {
            return 0.0;
        }
        let target = late.max(0.0) * m / sd;
        let t = loss_table();
        // First grid point whose loss is at most the target.
        let k = t.partition_point(|(_, l)| *l > target);
        if k == 0 {
            return t[0].0;
        }
        if k >= t.len() {
            return t[t.len() - 1].0;
        }
        let ((z0, l0), (z1, l1)) = (t[k - 1], t[k]);
        z0 + (z1 - z0) * (l0 - target) / (l0 - l1)
    }

    /// Measure the spread from backtest windows: `(mean, actual)` pairs of
    /// work summed over a window, the forecast's and what arrived. Weighted
    /// least squares of the squared error on `mean` and `mean²`, reweighted
    /// by the fitted variance (the squared error of a window is noisier the
    /// larger its variance), both coefficients kept ≥ 0. Falls back to
    /// `fallback` when fewer than [`MIN_WINDOWS`] windows have work.
    pub fn estimate(pairs: &[(f64, f64)], fallback: WorkSpread) -> WorkSpread {
        let used: Vec<(f64, f64)> = pairs
            .iter()
            .copied()
            .filter(|(m, y)| m.is_finite() && y.is_finite() && (*m > 0.0 || *y > 0.0))
            .map(|(m, y)| (m.max(0.0), (y - m.max(0.0)).powi(2)))
            .collect();
        if used.len() < MIN_WINDOWS {
            return fallback;
        }
        let scale = used.iter().map(|(m, _)| m).sum::<f64>() / used.len() as f64;
        let floor = (scale * 0.1).max(1e-9);
        // Start from Poisson-like weights, then reweight by the fit.
        let (mut a, mut b) = (1.0_f64, 0.0_f64);
        let mut first = true;
        for _ in 0..4 {
            let (mut s11, mut s12, mut s22, mut t1, mut t2) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for &(m, e2) in &used {
                let var = if first {
                    m + floor
                } else {
                    (a * m + b * m * m).max(floor * (a.max(1e-6)))
                };
                let w = 1.0 / (var * var);
                s11 += w * m * m;
                s12 += w * m * m * m;
                s22 += w * m * m * m * m;
                t1 += w * m * e2;
                t2 += w * m * m * e2;
            }
            first = false;
            let det = s11 * s22 - s12 * s12;
            let (mut na, mut nb) = if det > 1e-12 * s11 * s22 {
                ((t1 * s22 - t2 * s12) / det, (s11 * t2 - s12 * t1) / det)
            } else {
                (t1 / s11.max(1e-300), 0.0)
            };
            if na < 0.0 {
                na = 0.0;
                nb = (t2 / s22.max(1e-300)).max(0.0);
            }
            if nb < 0.0 {
                nb = 0.0;
                na = (t1 / s11.max(1e-300)).max(0.0);
            }
            if !(na.is_finite() && nb.is_finite()) {
                return fallback;
            }
            (a, b) = (na, nb);
        }
        if a <= 0.0 && b <= 0.0 {
            // Every window exact: keep a little count noise, never certainty.
            a = fallback.linear * 0.1;
        }
        WorkSpread {
            linear: a,
            quadratic: b,
            windows: used.len(),
        }
    }
}

/// Fewest windows with work for [`WorkSpread::estimate`] to measure.
pub const MIN_WINDOWS: usize = 12;

/// `(mean, actual)` work over non-overlapping windows of each length in
/// `lengths` (steps), from the start of one held-out forecast `point`
/// against `actual` (the same steps).
pub fn window_pairs(point: &[f64], actual: &[f64], lengths: &[usize], out: &mut Vec<(f64, f64)>) {
    let n = point.len().min(actual.len());
    for &len in lengths.iter().filter(|l| **l > 0) {
        let mut i = 0;
        while i + len <= n {
            let m: f64 = point[i..i + len].iter().map(|v| v.max(0.0)).sum();
            let y: f64 = actual[i..i + len].iter().sum();
            out.push((m, y));
            i += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_distr::{Distribution, Gamma, Poisson};

    #[test]
    fn the_quantile_of_a_poisson_count_is_close_to_the_exact_one() {
        let s = WorkSpread {
            linear: 1.0,
            quadratic: 0.0,
            windows: 0,
        };
        let z = normal_quantile(0.9);
        // Poisson(20): P(X ≤ 25) = 0.888, P(X ≤ 26) = 0.922.
        let q = s.quantile(20.0, z);
        assert!((25.0..=26.5).contains(&q), "{q}");
        // Poisson(100): p90 = 113.
        let q = s.quantile(100.0, z);
        assert!((112.0..=114.0).contains(&q), "{q}");
        assert_eq!(s.quantile(0.0, z), 0.0);
        // The median is about the mean, p10 below it.
        assert!((s.quantile(50.0, 0.0) - 50.0).abs() < 0.5);
        assert!(s.quantile(50.0, normal_quantile(0.1)) < 42.0);
    }

    #[test]
    fn summing_steps_does_not_change_the_window_quantile() {
        // The quantile of a window's work depends on its mean only: ten
        // 1-minute steps of 2 jobs and two 5-minute steps of 10 are the same
        // 20 jobs, where summing per-step p90s gives very different totals.
        let s = WorkSpread::default();
        let z = normal_quantile(0.9);
        let window = s.quantile(20.0, z);
        let per_minute: f64 = (0..10).map(|_| s.quantile(2.0, z)).sum();
        let per_five: f64 = (0..2).map(|_| s.quantile(10.0, z)).sum();
        assert!(
            per_minute > per_five && per_five > window,
            "{per_minute} {per_five} {window}"
        );
    }

    #[test]
    fn estimate_recovers_a_negative_binomial_mixture() {
        // Windows whose work is Poisson with a mean that is itself off by a
        // gamma-distributed factor (relative variance 0.04): Var = μ + 0.04 μ².
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let level = Gamma::new(25.0, 1.0 / 25.0).unwrap();
        let mut pairs = Vec::new();
        for i in 0..6000 {
            let m = [2.0, 8.0, 30.0, 80.0][i % 4];
            let lam: f64 = m * level.sample(&mut rng);
            let y = Poisson::new(lam).unwrap().sample(&mut rng);
            pairs.push((m, y));
        }
        let s = WorkSpread::estimate(&pairs, WorkSpread::default());
        assert!((0.7..1.3).contains(&s.linear), "{s:?}");
        assert!((0.03..0.05).contains(&s.quadratic), "{s:?}");
        assert_eq!(s.windows, 6000);
        // The p90 of such windows covers about 90 % of them.
        let z = normal_quantile(0.9);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let covered = (0..4000)
            .filter(|_| {
                let lam: f64 = 30.0 * level.sample(&mut rng);
                Poisson::new(lam).unwrap().sample(&mut rng) <= s.quantile(30.0, z)
            })
            .count();
        let c = covered as f64 / 4000.0;
        assert!((0.87..0.94).contains(&c), "{c}");
    }

    #[test]
    fn the_shortfall_level_leaves_the_late_fraction_asked_for() {
        let s = WorkSpread {
            linear: 1.0,
            quadratic: 0.0,
            windows: 0,
        };
        // Poisson(25): σ = 5; 1 % of 25 jobs late: L(z) = 0.05, z ≈ 1.25.
        let z = s.shortfall_z(25.0, 0.01);
        assert!((z - 1.2545).abs() < 0.01, "{z}");
        assert!((normal_loss(z) * 5.0 - 0.25).abs() < 1e-3);
        // Busier windows need a lower level, quieter ones a higher.
        assert!(s.shortfall_z(100.0, 0.01) < z && s.shortfall_z(4.0, 0.01) > z);
        // Nothing may be late: the table's end; no work: the median.
        assert_eq!(s.shortfall_z(25.0, 0.0), 6.0);
        assert_eq!(s.shortfall_z(0.0, 0.01), 0.0);
    }

    #[test]
    fn too_few_windows_fall_back() {
        let pairs = [(1.0, 2.0), (0.0, 0.0), (3.0, 1.0)];
        let fb = WorkSpread::default();
        assert_eq!(WorkSpread::estimate(&pairs, fb), fb);
        let exact: Vec<(f64, f64)> = (1..40).map(|i| (f64::from(i), f64::from(i))).collect();
        let s = WorkSpread::estimate(&exact, fb);
        assert!(s.linear > 0.0 && s.quadratic == 0.0, "{s:?}");
    }

    #[test]
    fn window_pairs_sum_non_overlapping_windows() {
        let point = [1.0, 2.0, 3.0, 4.0, 5.0];
        let actual = [0.0, 2.0, 4.0, 4.0, 9.0];
        let mut out = Vec::new();
        window_pairs(&point, &actual, &[2, 5], &mut out);
        assert_eq!(out, vec![(3.0, 2.0), (7.0, 8.0), (15.0, 19.0)]);
    }
}
