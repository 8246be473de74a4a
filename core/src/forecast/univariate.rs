//! Schedule-blind point models on complete slices (no `NaN`): seasonal naive
//! over a day or a week, averaged weeks, and a multi-seasonal decomposition
//! (daily profile with a weekly adjustment) with an exponential-smoothing
//! level (simple or damped trend) on the seasonally adjusted series.
//!
//! Every model is a pure function `(history, periods, horizon) → point` that
//! either forecasts or says it does not apply (too little history), so that
//! model choice can try them all. They never panic on finite input.
//!
//! Why our own and not augurs (MSTL + AutoETS): see `docs/ARCHITECTURE.md`,
//! "Forecasting"; in short, augurs 0.10 needs two full cycles of every period,
//! fails on one NaN and has no seasonal ETS, and the decomposition below is a
//! few dozen lines whose behaviour on short and gappy series we control.

use super::reference::{centred_moving_average, seasonal_naive};

/// The schedule-blind models, by name. `periods` are in steps, ascending:
/// `periods[0]` the daily cycle, `periods[1]` (if any) the weekly one.
pub const MODELS: &[&str] = &[
    "snaive-day",
    "snaive-week",
    "weeks-mean",
    "day-ses",
    "day-damped",
    "week-ses",
    "week-damped",
    "dayweek-ses",
    "mstl-ets",
    "median",
];

/// The members of the `median` combination: one of each kind of model
/// (seasonal naive over a day and a week, the weekly mean, the three
/// decompositions with a simple level, MSTL with an ETS trend). The two
/// damped-trend decompositions are left out for their cost: their grid
/// of 112 recursions is most of a fit's time, and a median of seven is
/// already robust to one model's bad extrapolation.
pub const MEDIAN_OF: &[&str] = &[
    "snaive-day",
    "snaive-week",
    "weeks-mean",
    "day-ses",
    "week-ses",
    "dayweek-ses",
    "mstl-ets",
];

/// Forecast `h` steps with the named model; `None` if it does not apply
/// (unknown name, or not enough history for its periods).
pub fn forecast(name: &str, y: &[f64], periods: &[usize], h: usize) -> Option<Vec<f64>> {
    let n = y.len();
    if n == 0 {
        return None;
    }
    if let Some((p, level)) = one_season(name, periods) {
        return decomposed(y, p?, None, level, h);
    }
    let day = periods.first().copied().filter(|p| *p >= 2);
    let week = periods.get(1).copied().filter(|p| *p >= 2);
    match name {
        "naive" => Some(seasonal_naive(y, 1, h)),
        "snaive-day" => day.filter(|d| n >= *d).map(|d| seasonal_naive(y, d, h)),
        "snaive-week" => week.filter(|w| n >= *w).map(|w| seasonal_naive(y, w, h)),
        "weeks-mean" => week.filter(|w| n >= 2 * w).map(|w| cycles_mean(y, w, 3, h)),
        "dayweek-ses" => match (day, week) {
            (Some(d), Some(w)) => decomposed(y, d, Some(w), Level::Simple, h),
            _ => None,
        },
        "mstl-ets" => super::mstl::forecast(y, periods, h),
        "median" => median_of(MEDIAN_OF, y, periods, h),
        _ => None,
    }
}

/// The decompositions on one season (`day-ses`, `day-damped`, `week-ses`,
/// `week-damped`): the period they use (`None` when `periods` has no usable
/// one) and their level; `None` for every other model.
fn one_season(name: &str, periods: &[usize]) -> Option<(Option<usize>, Level)> {
    let (i, level) = match name {
        "day-ses" => (0, Level::Simple),
        "day-damped" => (0, Level::Damped),
        "week-ses" => (1, Level::Simple),
        "week-damped" => (1, Level::Damped),
        _ => return None,
    };
    Some((periods.get(i).copied().filter(|p| *p >= 2), level))
}

/// The median, step by step, of the forecasts of the `members` that apply;
/// `None` when fewer than three do (a median of two is their mean, of one
/// that model). Combining forecasts of different kinds is the most
/// reliable gain in the M competitions (Makridakis et al. 2018, 2020); the
/// median rather than the mean, so that one member's outlying path (a
/// holiday week copied, a trend extrapolated) does not move it.
fn median_of(members: &[&str], y: &[f64], periods: &[usize], h: usize) -> Option<Vec<f64>> {
    let all: Vec<Vec<f64>> = members
        .iter()
        .filter_map(|m| forecast(m, y, periods, h))
        .collect();
    median_steps(&all, h)
}

/// The step-by-step median of `all` (forecasts of at least `h` steps);
/// `None` for fewer than three.
fn median_steps(all: &[Vec<f64>], h: usize) -> Option<Vec<f64>> {
    if all.len() < 3 {
        return None;
    }
    let mut column = vec![0.0; all.len()];
    Some(
        (0..h)
            .map(|i| {
                for (c, f) in column.iter_mut().zip(all) {
                    *c = f[i];
                }
                column.sort_by(f64::total_cmp);
                let k = column.len();
                if k % 2 == 1 {
                    column[k / 2]
                } else {
                    0.5 * (column[k / 2 - 1] + column[k / 2])
                }
            })
            .collect(),
    )
}

/// A bank's key: (a member's index in [`MEDIAN_OF`] or a period, the cut).
type At = (usize, usize);

/// Forecasts of the schedule-blind models from prefixes of one series,
/// exactly as [`forecast`] makes them, for a backtest that runs every model
/// at the same origins: the `median`'s members are forecast once per origin
/// (not again inside the median), and the two levels of a decomposition
/// (`day-ses`/`day-damped`, `week-ses`/`week-damped`) share one seasonal
/// adjustment per origin (kept until both have used it).
pub struct Bank<'a> {
    y: &'a [f64],
    periods: &'a [usize],
    h: usize,
    /// `(index in MEDIAN_OF, cut)` → a median member's forecast.
    members: Vec<(At, Option<Vec<f64>>)>,
    /// `(period, cut)` → the adjustment and how many levels still need it.
    adjusted: Vec<(At, Option<Adjusted>, u8)>,
}

impl<'a> Bank<'a> {
    /// A bank over `y` for forecasts of `h` steps.
    pub fn new(y: &'a [f64], periods: &'a [usize], h: usize) -> Self {
        Bank {
            y,
            periods,
            h,
            members: Vec::new(),
            adjusted: Vec::new(),
        }
    }

    /// What `forecast(name, &y[..cut], periods, h)` returns.
    pub fn forecast(&mut self, name: &str, cut: usize) -> Option<Vec<f64>> {
        let cut = cut.min(self.y.len());
        if name == "median" {
            let all: Vec<Vec<f64>> = MEDIAN_OF
                .iter()
                .filter_map(|m| self.forecast(m, cut))
                .collect();
            return median_steps(&all, self.h);
        }
        let member = MEDIAN_OF.iter().position(|m| *m == name);
        if let Some(i) = member {
            if let Some((_, f)) = self.members.iter().find(|(k, _)| *k == (i, cut)) {
                return f.clone();
            }
        }
        let f = self.compute(name, cut);
        if let Some(i) = member {
            self.members.push(((i, cut), f.clone()));
        }
        f
    }

    fn compute(&mut self, name: &str, cut: usize) -> Option<Vec<f64>> {
        let Some((period, level)) = one_season(name, self.periods) else {
            return forecast(name, &self.y[..cut], self.periods, self.h);
        };
        let p = period?;
        let key = (p, cut);
        let at = match self.adjusted.iter().position(|(k, _, _)| *k == key) {
            Some(at) => at,
            None => {
                self.adjusted
                    .push((key, adjust(&self.y[..cut], p, None), 2));
                self.adjusted.len() - 1
            }
        };
        let out = self.adjusted[at]
            .1
            .as_ref()
            .and_then(|a| extrapolate(a, cut, level, self.h));
        // Each level uses an adjustment once per origin; after the second
        // it is dropped (at 1 minute one is a third of a megabyte).
        self.adjusted[at].2 -= 1;
        if self.adjusted[at].2 == 0 {
            self.adjusted.swap_remove(at);
        }
        out
    }
}

/// The mean of the last `k` (at most) whole cycles of period `p`, phase by phase.
fn cycles_mean(y: &[f64], p: usize, k: usize, h: usize) -> Vec<f64> {
    let n = y.len();
    let k = (n / p).clamp(1, k);
    (0..h)
        .map(|i| {
            let phase = i % p;
            (0..k).map(|c| y[n - (c + 1) * p + phase]).sum::<f64>() / k as f64
        })
        .collect()
}

/// How the seasonally adjusted series is extrapolated.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Level {
    /// Simple exponential smoothing (flat forecast).
    Simple,
    /// Holt's linear trend, damped.
    Damped,
}

/// Seasonal decomposition forecast. Works on `ln y` when the series is
/// strictly positive (multiplicative seasonality), on `y` otherwise.
///
/// The seasonal component has period `p`; with `week = Some(w)` it is the
/// period-`p` profile plus half of the weekly deviation from it (a shrunken
/// day-of-week effect, for series with only a few weeks of history).
fn decomposed(
    y: &[f64],
    p: usize,
    week: Option<usize>,
    level: Level,
    h: usize,
) -> Option<Vec<f64>> {
    extrapolate(&adjust(y, p, week)?, y.len(), level, h)
}

/// A seasonally adjusted series and its season, on `ln y` or `y`.
struct Adjusted {
    adjusted: Vec<f64>,
    season: Vec<f64>,
    log: bool,
}

/// The seasonal adjustment of [`decomposed`]; `None` if `y` is too short.
fn adjust(y: &[f64], p: usize, week: Option<usize>) -> Option<Adjusted> {
    let n = y.len();
    let long = week.unwrap_or(p);
    if p < 2 || n < 2 * long + 2 {
        return None;
    }
    let log = y.iter().all(|v| *v > 0.0);
    let z: Vec<f64> = if log {
        y.iter().map(|v| v.ln()).collect()
    } else {
        y.to_vec()
    };
    let trend = centred_moving_average(&z, long);
    let detrended: Vec<f64> = z.iter().zip(&trend).map(|(a, t)| a - t).collect();
    let day = phase_means(&detrended, p, 8);
    let season: Vec<f64> = match week {
        None => day,
        Some(w) => {
            let wk = phase_means(&detrended, w, 4);
            (0..w)
                .map(|i| day[i % p] + 0.5 * (wk[i] - day[i % p]))
                .collect()
        }
    };
    let period = season.len();
    let adjusted: Vec<f64> = z
        .iter()
        .enumerate()
        .map(|(i, v)| v - season[i % period])
        .collect();
    Some(Adjusted {
        adjusted,
        season,
        log,
    })
}

/// The level of `a` (from `n` points) extrapolated `h` steps, with the season put back.
fn extrapolate(a: &Adjusted, n: usize, level: Level, h: usize) -> Option<Vec<f64>> {
    let base = match level {
        Level::Simple => ses(&a.adjusted, h),
        Level::Damped => damped_holt(&a.adjusted, h),
    };
    let period = a.season.len();
    let out: Vec<f64> = base
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let v = b + a.season[(n + i) % period];
            if a.log { v.exp() } else { v }
        })
        .collect();
    out.iter().all(|v| v.is_finite()).then_some(out)
}

/// Mean of the finite values at each phase of period `p` over the last `k`
/// cycles that have any, centred to sum to zero. Phase 0 = index 0.
fn phase_means(x: &[f64], p: usize, k: usize) -> Vec<f64> {
    let mut sums = vec![0.0; p];
    let mut counts = vec![0usize; p];
    for i in (0..x.len()).rev() {
        let ph = i % p;
        if counts[ph] < k && x[i].is_finite() {
            sums[ph] += x[i];
            counts[ph] += 1;
        }
    }
    let mut m: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 })
        .collect();
    let avg = m.iter().sum::<f64>() / p as f64;
    m.iter_mut().for_each(|v| *v -= avg);
    m
}

/// Smoothing parameters tried by [`ses`].
const SES_ALPHAS: [f64; 9] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0];
/// The (α, β, φ) grid of [`damped_holt`], α outermost.
const HOLT_ALPHAS: [f64; 7] = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
const HOLT_BETAS: [f64; 4] = [0.01, 0.05, 0.1, 0.2];
const HOLT_PHIS: [f64; 4] = [0.8, 0.9, 0.95, 0.98];
/// Steps between [`damped_holt`]'s checks whether an α can still win.
const PRUNE_EVERY: usize = 256;

/// Simple exponential smoothing with α chosen on a grid by one-step SSE.
///
/// Every α runs in the same pass over `x` (independent recursions side by
/// side, which the processor overlaps); each one's arithmetic is the
/// textbook recursion, so the result is that of fitting them one by one.
pub fn ses(x: &[f64], h: usize) -> Vec<f64> {
    const K: usize = SES_ALPHAS.len();
    let mut l = [x[0]; K];
    let mut sse = [0.0; K];
    for v in &x[1..] {
        for k in 0..K {
            let e = v - l[k];
            sse[k] += e * e;
            l[k] += SES_ALPHAS[k] * e;
        }
    }
    let mut best = (f64::INFINITY, x[x.len() - 1]);
    for k in 0..K {
        if sse[k] < best.0 {
            best = (sse[k], l[k]);
        }
    }
    vec![best.1; h]
}

/// Damped-trend Holt (additive), parameters chosen on a grid by one-step SSE
/// (the first best in the order α, β, φ).
///
/// For each α, the 16 (β, φ) recursions run side by side in one pass over
/// `x`, as in [`ses`]; each keeps the textbook arithmetic.
pub fn damped_holt(x: &[f64], h: usize) -> Vec<f64> {
    const K: usize = HOLT_BETAS.len() * HOLT_PHIS.len();
    let n = x.len();
    if n < 3 {
        return ses(x, h);
    }
    let phi: [f64; K] = std::array::from_fn(|k| HOLT_PHIS[k % HOLT_PHIS.len()]);
    let mut best = (f64::INFINITY, x[n - 1], 0.0, 0.9);
    for alpha in HOLT_ALPHAS {
        // α·β first, as in `b = φ·b + α·β·e`.
        let ab: [f64; K] = std::array::from_fn(|k| alpha * HOLT_BETAS[k / HOLT_PHIS.len()]);
        let mut l = [x[0]; K];
        let mut b = [x[1] - x[0]; K];
        let mut sse = [0.0; K];
        for block in x[1..].chunks(PRUNE_EVERY) {
            for v in block {
                for k in 0..K {
                    // φ·b once: the forecast's and the trend's term are one product.
                    let pb = phi[k] * b[k];
                    let f = l[k] + pb;
                    let e = v - f;
                    sse[k] += e * e;
                    l[k] = f + alpha * e;
                    b[k] = pb + ab[k] * e;
                }
            }
            // A sum of squares only grows: once every recursion of this α is
            // above the best so far, none of them can be chosen.
            if sse.iter().all(|s| *s > best.0) {
                break;
            }
        }
        for k in 0..K {
            if sse[k] < best.0 {
                best = (sse[k], l[k], b[k], phi[k]);
            }
        }
    }
    let (_, l, b, phi) = best;
    damped_path(l, b, phi, h)
}

/// The damped trend's forecast `l + (φ + … + φ^i)·b` for `i = 1..=h`.
fn damped_path(l: f64, b: f64, phi: f64, h: usize) -> Vec<f64> {
    let mut damp = 0.0;
    let mut pw = 1.0;
    (0..h)
        .map(|_| {
            pw *= phi;
            damp += pw;
            l + damp * b
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal(n: usize, p: usize, level: f64) -> Vec<f64> {
        (0..n)
            .map(|i| level + 5.0 * ((i % p) as f64 / p as f64 * std::f64::consts::TAU).sin())
            .collect()
    }

    #[test]
    fn every_model_recovers_a_clean_daily_cycle() {
        let y = seasonal(24 * 30, 24, 50.0);
        let want = seasonal(24 * 30 + 48, 24, 50.0)[24 * 30..].to_vec();
        for name in MODELS {
            let f = forecast(name, &y, &[24, 168], 48).unwrap_or_else(|| panic!("{name}"));
            let err = f
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(err < 0.05, "{name}: max error {err}");
        }
    }

    #[test]
    fn the_median_takes_the_middle_member_at_each_step() {
        // A ramp: naive repeats the last value, seasonal naive the last
        // day's and the last week's; the middle of the three is the day's.
        let n = 2 * 168;
        let y: Vec<f64> = (0..n).map(|t| t as f64).collect();
        let m = median_of(&["naive", "snaive-week", "snaive-day"], &y, &[24, 168], 2).unwrap();
        assert_eq!(m, vec![(n - 24) as f64, (n - 23) as f64]);
        // With fewer than three members that apply there is no median.
        assert!(median_of(&["naive", "snaive-week"], &y, &[24, 168], 2).is_none());
        assert!(median_of(&["naive", "snaive-day", "nonsense"], &y, &[24], 2).is_none());
    }

    #[test]
    fn the_bank_forecasts_what_each_model_does_alone() {
        let mut s = 5u64;
        let y: Vec<f64> = (0..24 * 30)
            .map(|i| {
                let u = super::super::uniform(&mut s);
                (20.0 + 8.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin() + 4.0 * u)
                    .floor()
            })
            .collect();
        let periods = [24, 168];
        let cuts = [400, 500, 600, 24 * 30];
        let mut bank = Bank::new(&y, &periods, 48);
        // Model-major, as the engine's backtest runs, and the median both
        // before and after its members.
        for name in std::iter::once(&"median").chain(MODELS) {
            for cut in cuts {
                let want = forecast(name, &y[..cut], &periods, 48);
                assert_eq!(bank.forecast(name, cut), want, "{name} at {cut}");
            }
        }
        assert!(
            bank.adjusted.is_empty(),
            "every shared adjustment used twice and dropped"
        );
    }

    #[test]
    fn models_that_need_more_history_decline() {
        let y = seasonal(100, 24, 10.0);
        assert!(forecast("snaive-week", &y, &[24, 168], 5).is_none());
        assert!(forecast("week-ses", &y, &[24, 168], 5).is_none());
        assert!(forecast("day-ses", &y, &[24, 168], 5).is_some());
        assert!(forecast("nonsense", &y, &[24], 5).is_none());
        assert!(forecast("day-ses", &[], &[24], 5).is_none());
    }

    /// The grid searches one recursion at a time: the reference for the
    /// side-by-side versions.
    fn ses_direct(x: &[f64], h: usize) -> Vec<f64> {
        let mut best = (f64::INFINITY, x[x.len() - 1]);
        for alpha in SES_ALPHAS {
            let mut l = x[0];
            let mut sse = 0.0;
            for v in &x[1..] {
                let e = v - l;
                sse += e * e;
                l += alpha * e;
            }
            if sse < best.0 {
                best = (sse, l);
            }
        }
        vec![best.1; h]
    }

    fn damped_holt_direct(x: &[f64], h: usize) -> Vec<f64> {
        let n = x.len();
        if n < 3 {
            return ses_direct(x, h);
        }
        let mut best = (f64::INFINITY, x[n - 1], 0.0, 0.9);
        for alpha in HOLT_ALPHAS {
            for beta in HOLT_BETAS {
                for phi in HOLT_PHIS {
                    let (mut l, mut b) = (x[0], x[1] - x[0]);
                    let mut sse = 0.0;
                    for v in &x[1..] {
                        let f = l + phi * b;
                        let e = v - f;
                        sse += e * e;
                        let nl = f + alpha * e;
                        b = phi * b + alpha * beta * e;
                        l = nl;
                    }
                    if sse < best.0 {
                        best = (sse, l, b, phi);
                    }
                }
            }
        }
        let (_, l, b, phi) = best;
        damped_path(l, b, phi, h)
    }

    #[test]
    fn side_by_side_smoothing_equals_one_at_a_time() {
        let mut s = 9u64;
        let mut rnd = || super::super::uniform(&mut s);
        for case in 0..200 {
            let n = 1 + (rnd() * 2000.0) as usize;
            let trend = rnd() - 0.5;
            let x: Vec<f64> = (0..n)
                .map(|i| match case % 3 {
                    0 => (rnd() * 5.0).floor(),
                    1 => 10.0 + trend * i as f64 + rnd(),
                    _ => 3.0,
                })
                .collect();
            assert_eq!(ses(&x, 4), ses_direct(&x, 4), "ses case {case}");
            assert_eq!(
                damped_holt(&x, 7),
                damped_holt_direct(&x, 7),
                "holt case {case}"
            );
        }
    }

    #[test]
    fn damped_trend_follows_a_line_but_flattens() {
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let f = damped_holt(&x, 100);
        assert!(f[0] > 49.5 && f[0] < 51.0, "{}", f[0]);
        assert!(f[99] > f[0] && f[99] < 50.0 + 100.0, "{}", f[99]);
        assert_eq!(ses(&[3.0, 3.0, 3.0], 2), vec![3.0, 3.0]);
    }
}
