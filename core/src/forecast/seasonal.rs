//! The seasonal-profile model: the average of the last few cycles at each
//! phase of the longest seasonal period that the history covers, with
//! quantiles from the empirical distribution of its in-sample residuals.
//!
//! It is deliberately simple (the vertical slice's forecaster); it needs no
//! covariates and degrades honestly: with less than one full cycle of the
//! longest period it uses the next shorter one, and with less than one cycle
//! of any period it forecasts the recent mean.

use super::spread::WorkSpread;
use super::{Covariates, Error, Forecast, Forecaster, Result, validate_history, validate_levels};
use crate::series::{Grid, Series};

/// Time-of-period average over the last `cycles` cycles.
#[derive(Debug, Clone)]
pub struct SeasonalProfile {
    /// Candidate periods in steps, any order (e.g. one day and one week).
    periods: Vec<usize>,
    /// How many most recent cycles to average.
    cycles: usize,
    fitted: Option<Fitted>,
}

#[derive(Debug, Clone)]
struct Fitted {
    grid: Grid,
    period: usize,
    /// Profile value per phase; phase 0 is the phase of the first future step.
    profile: Vec<f64>,
    /// Sorted in-sample residuals (value - profile).
    residuals: Vec<f64>,
    note: String,
}

impl SeasonalProfile {
    /// A model over the given periods (in steps), averaging `cycles` cycles.
    pub fn new(periods: &[usize], cycles: usize) -> Self {
        let mut periods: Vec<usize> = periods.iter().copied().filter(|p| *p >= 1).collect();
        periods.sort_unstable();
        periods.dedup();
        SeasonalProfile {
            periods,
            cycles: cycles.max(1),
            fitted: None,
        }
    }

    /// The period chosen by the last fit, in steps (1 = no seasonality).
    pub fn chosen_period(&self) -> Option<usize> {
        self.fitted.as_ref().map(|f| f.period)
    }
}

impl Forecaster for SeasonalProfile {
    fn name(&self) -> &'static str {
        "seasonal-profile"
    }

    fn fit(&mut self, history: &Series, _covariates: Option<&Covariates>) -> Result<()> {
        validate_history(history)?;
        let n = history.len();
        let longest = self.periods.last().copied().unwrap_or(1);
        let period = self
            .periods
            .iter()
            .rev()
            .copied()
            .find(|p| *p <= n)
            .unwrap_or(1);
        let note = if period < longest {
            format!(
                "cold start: the history covers no full cycle of {longest} steps, so a period of {period} was used"
            )
        } else {
            String::new()
        };
        let cycles = (n / period).clamp(1, self.cycles);
        let window = &history.values[n - cycles * period..];
        let mut sums = vec![0.0; period];
        let mut counts = vec![0usize; period];
        for (i, v) in window.iter().enumerate() {
            if v.is_finite() {
                sums[i % period] += v;
                counts[i % period] += 1;
            }
        }
        let finite: Vec<f64> = window.iter().copied().filter(|v| v.is_finite()).collect();
        let overall = if finite.is_empty() {
            let all: Vec<f64> = history
                .values
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            all.iter().sum::<f64>() / all.len() as f64
        } else {
            finite.iter().sum::<f64>() / finite.len() as f64
        };
        // Phase p of the window is phase (p) of the future too: the window
        // length is a whole number of periods and ends where the future starts.
        let profile: Vec<f64> = sums
            .iter()
            .zip(&counts)
            .map(|(s, c)| if *c > 0 { s / *c as f64 } else { overall })
            .collect();
        let mut residuals: Vec<f64> = window
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, v)| v - profile[i % period])
            .collect();
        residuals.sort_by(f64::total_cmp);
        self.fitted = Some(Fitted {
            grid: history.grid,
            period,
            profile,
            residuals,
            note,
        });
        Ok(())
    }

    fn predict(
        &self,
        horizon: usize,
        levels: &[f64],
        _future: Option<&Covariates>,
    ) -> Result<Forecast> {
        let f = self.fitted.as_ref().ok_or(Error::NotFitted)?;
        validate_levels(levels)?;
        let point: Vec<f64> = (0..horizon).map(|h| f.profile[h % f.period]).collect();
        let mut levels = levels.to_vec();
        levels.sort_by(f64::total_cmp);
        let quantiles = levels
            .iter()
            .map(|q| {
                let r = empirical_quantile(&f.residuals, *q);
                (*q, point.iter().map(|p| (p + r).max(0.0)).collect())
            })
            .collect();
        // Additive residuals of variance σ² per step: over a window of mean
        // μ ≈ L·p̄ that is L·σ² = (σ² / p̄)·μ, a linear spread.
        let level = f.profile.iter().sum::<f64>() / f.profile.len().max(1) as f64;
        let var = f.residuals.iter().map(|r| r * r).sum::<f64>() / f.residuals.len().max(1) as f64;
        let spread = if level > 0.0 {
            WorkSpread {
                linear: var / level,
                quadratic: 0.0,
                windows: f.residuals.len(),
            }
        } else {
            WorkSpread::default()
        };
        Ok(Forecast {
            grid: f.grid.following(horizon),
            mean: point.iter().map(|v| v.max(0.0)).collect(),
            spread,
            point,
            quantiles,
            model: format!("seasonal-profile(period={})", f.period),
            note: f.note.clone(),
        })
    }
}

/// The `q` quantile of sorted values, by linear interpolation (type 7); 0 when empty.
pub(crate) fn empirical_quantile(sorted: &[f64], q: f64) -> f64 {
    quantile_by(sorted.len(), q, |k| sorted[k])
}

/// The `q` quantile (type 7) of `len` values whose `k`-th smallest
/// (0-based) is `kth(k)`; 0 when `len` is 0. What [`empirical_quantile`]
/// computes, for values that are not laid out sorted (the engine's pools).
pub(crate) fn quantile_by(len: usize, q: f64, mut kth: impl FnMut(usize) -> f64) -> f64 {
    if len == 0 {
        return 0.0;
    }
    let pos = q.clamp(0.0, 1.0) * (len - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let a = kth(lo);
    let b = if hi == lo { a } else { kth(hi) };
    a + (b - a) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn series(values: Vec<f64>) -> Series {
        Series::new(
            Grid::new(Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap(), 3600, 0),
            values,
        )
    }

    #[test]
    fn repeats_the_cycle_and_continues_the_phase() {
        // Period 4, history of 2.5 cycles: the future starts at phase 2.
        let h = series(vec![1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0, 1.0, 2.0]);
        let mut m = SeasonalProfile::new(&[4], 2);
        m.fit(&h, None).unwrap();
        let f = m.predict(4, &[0.9], None).unwrap();
        assert_eq!(f.point, vec![3.0, 4.0, 1.0, 2.0]);
        assert_eq!(f.grid.start, h.grid.end());
        assert_eq!(f.quantile(0.9).unwrap(), &[3.0, 4.0, 1.0, 2.0]);
    }

    #[test]
    fn cold_start_falls_back_and_says_so() {
        let h = series(vec![5.0; 30]);
        let mut m = SeasonalProfile::new(&[24, 168], 4);
        m.fit(&h, None).unwrap();
        assert_eq!(m.chosen_period(), Some(24));
        let f = m.predict(3, &[], None).unwrap();
        assert!(f.note.contains("cold start"), "{}", f.note);
        assert_eq!(f.point, vec![5.0; 3]);
    }

    #[test]
    fn missing_values_are_skipped_and_nan_only_is_an_error() {
        let h = series(vec![1.0, f64::NAN, 1.0, 3.0]);
        let mut m = SeasonalProfile::new(&[2], 2);
        m.fit(&h, None).unwrap();
        assert_eq!(m.predict(2, &[], None).unwrap().point, vec![1.0, 3.0]);
        assert_eq!(m.fit(&series(vec![f64::NAN; 4]), None), Err(Error::NoData));
        assert!(SeasonalProfile::new(&[2], 1).predict(1, &[], None).is_err());
    }

    #[test]
    fn upper_quantile_is_above_the_point() {
        let vals: Vec<f64> = (0..48).map(|i| 10.0 + (i % 5) as f64).collect();
        let mut m = SeasonalProfile::new(&[24], 2);
        m.fit(&series(vals), None).unwrap();
        let f = m.predict(24, &[0.5, 0.9], None).unwrap();
        assert!(
            f.quantile(0.9)
                .unwrap()
                .iter()
                .zip(&f.point)
                .all(|(q, p)| q >= p)
        );
        assert!(m.predict(1, &[1.5], None).is_err());
    }
}
