//! Non-seasonal exponential smoothing estimated as a state-space model
//! (Hyndman, Koehler, Ord & Snyder 2008, "Forecasting with Exponential
//! Smoothing", ch. 2, 5 and 7): additive errors, no trend (ANN), additive
//! trend (AAN) or damped additive trend (AAdN). Each model's smoothing
//! parameters and initial states are estimated by maximum likelihood, and
//! [`auto`] picks the model with the smallest AICc — what statsforecast's
//! `AutoETS(model="ZZN")` and R's `ets()` do for a non-seasonal series with
//! additive errors.
//!
//! Cost: one evaluation of the likelihood is one pass over the series. The
//! initial states are not searched over: for given parameters the one-step
//! errors are affine in them (the model is linear), so the least-squares
//! initial states follow in closed form from the same pass ("concentrated"
//! likelihood; exact for Gaussian errors). The smoothing parameters are then
//! found by a bounded grid followed by golden section (ANN) or Nelder–Mead
//! (AAN; AAdN from AAN's estimate), at most about 130 passes over the
//! series for the three models together. No allocation in the passes.

/// The three models, in the order [`auto`] tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Level only: `l_t = l_{t-1} + α e_t`.
    Ann,
    /// Level and trend: `b_t = b_{t-1} + β e_t`.
    Aan,
    /// Level and damped trend: `b_t = φ b_{t-1} + β e_t`.
    AadN,
}

impl Kind {
    /// Free parameters counted by AICc: smoothing parameters, initial
    /// states and the error variance (as R's `ets` counts them).
    fn params(self) -> usize {
        match self {
            Kind::Ann => 3,
            Kind::Aan => 5,
            Kind::AadN => 6,
        }
    }
}

/// A fitted model: parameters, the state at the end of the series, fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Ets {
    pub kind: Kind,
    pub alpha: f64,
    /// Trend smoothing (0 for ANN), `β < α`.
    pub beta: f64,
    /// Damping (1 for AAN and ANN).
    pub phi: f64,
    /// Level and trend after the last observation.
    pub level: f64,
    pub slope: f64,
    /// Sum of squared one-step errors.
    pub sse: f64,
    pub aicc: f64,
}

/// Bounds of the parameters: R's `ets` "usual" region (`0 < β < α < 1`,
/// `0.8 ≤ φ ≤ 0.98`), with β searched as a fraction of α.
const ALPHA: (f64, f64) = (1e-4, 0.9999);
const BETA_FRACTION: (f64, f64) = (1e-4, 0.9999);
const PHI: (f64, f64) = (0.8, 0.98);
/// Starting grid of α (and of β / α), before Nelder–Mead refines.
const GRID: [f64; 5] = [0.02, 0.1, 0.3, 0.6, 0.95];
/// Nelder–Mead stops after this many evaluations or when the simplex's
/// values agree to this relative tolerance.
/// (A relative change of 1e-5 in the SSE moves AICc by 1e-5 · n: 0.01 at
/// n = 1,000, far below the differences that choose between models.)
const MAX_EVALS: usize = 40;
/// Golden-section steps for the one parameter of ANN: the bracket shrinks
/// to 0.618^16 ≈ 0.0005 of its width.
const GOLDEN_STEPS: usize = 16;
const TOLERANCE: f64 = 1e-5;
/// Fewest observations for a fit (one more than AAdN's parameters, for AICc).
pub const MIN_LEN: usize = 8;

/// The model with the smallest AICc of ANN, AAN and AAdN on `x`; `None` for
/// fewer than [`MIN_LEN`] or non-finite values.
///
/// AAdN's search starts from AAN's estimate (with φ = 0.98) instead of its
/// own grid: the two share α and β, and it saves a grid of passes.
pub fn auto(x: &[f64]) -> Option<Ets> {
    let ann = fit(x, Kind::Ann);
    let aan = fit(x, Kind::Aan);
    let start = aan.as_ref().map(|m| (m.alpha, m.beta / m.alpha));
    let aadn = fit_from(x, Kind::AadN, start);
    [ann, aan, aadn]
        .into_iter()
        .flatten()
        .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
}

/// `kind` fitted to `x` by maximum likelihood; `None` for fewer than
/// [`MIN_LEN`] or non-finite values.
pub fn fit(x: &[f64], kind: Kind) -> Option<Ets> {
    fit_from(x, kind, None)
}

/// [`fit`], the trend models' search started at `(α, β / α)` when given
/// (else at the best point of a grid).
fn fit_from(x: &[f64], kind: Kind, start: Option<(f64, f64)>) -> Option<Ets> {
    let n = x.len();
    if n < MIN_LEN.max(kind.params() + 2) || !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    // Centred on the first value: the concentrated sums then stay of the
    // order of the series' variation, not of its level.
    let origin = x[0];
    let sse = |p: [f64; 3]| concentrated(x, origin, kind, p).0;
    let (alpha, beta, phi) = match kind {
        Kind::Ann => {
            let a = golden(ALPHA, |a| sse([a, 0.0, 1.0]));
            (a, 0.0, 1.0)
        }
        Kind::Aan | Kind::AadN => {
            let phi0 = if kind == Kind::Aan { 1.0 } else { 0.98 };
            let (a, f) = start.unwrap_or_else(|| {
                let mut best = (f64::INFINITY, 0.1, 0.1);
                for a in GRID {
                    for f in [0.01, 0.1, 0.5] {
                        let s = sse([a, a * f, phi0]);
                        if s < best.0 {
                            best = (s, a, f);
                        }
                    }
                }
                (best.1, best.2)
            });
            if kind == Kind::Aan {
                let [a, f] = nelder_mead(
                    [a, f],
                    [0.1 * a.max(0.05), 0.1 * f.max(0.05)],
                    [ALPHA, BETA_FRACTION],
                    |[a, f]| sse([a, a * f, 1.0]),
                );
                (a, a * f, 1.0)
            } else {
                let [a, f, p] = nelder_mead(
                    [a, f, phi0],
                    [0.1 * a.max(0.05), 0.1 * f.max(0.05), 0.05],
                    [ALPHA, BETA_FRACTION, PHI],
                    |[a, f, p]| sse([a, a * f, p]),
                );
                (a, a * f, p)
            }
        }
    };
    let (sse, l0, b0) = concentrated(x, origin, kind, [alpha, beta, phi]);
    if !sse.is_finite() {
        return None;
    }
    // The states at the end: the recursion from the estimated initial states.
    let (mut l, mut b) = (l0, b0);
    let mut sum = 0.0;
    for v in x {
        let e = step(&mut l, &mut b, v - origin, [alpha, beta, phi]);
        sum += e * e;
    }
    let nf = n as f64;
    let k = kind.params() as f64;
    // −2 log L of Gaussian errors with σ² at its estimate SSE/n, up to a
    // constant common to the three models; a perfect fit is floored so that
    // log stays finite.
    let sigma2 = (sum / nf).max(f64::MIN_POSITIVE);
    let aicc = nf * sigma2.ln() + 2.0 * k + 2.0 * k * (k + 1.0) / (nf - k - 1.0);
    Some(Ets {
        kind,
        alpha,
        beta,
        phi,
        level: l + origin,
        slope: b,
        sse: sum,
        aicc,
    })
}

impl Ets {
    /// The point forecast `l + (φ + … + φ^i)·b` for `i = 1..=h`.
    pub fn forecast(&self, h: usize) -> Vec<f64> {
        let mut damp = 0.0;
        let mut pw = 1.0;
        (0..h)
            .map(|_| {
                pw *= self.phi;
                damp += pw;
                self.level + damp * self.slope
            })
            .collect()
    }
}

/// One step of the state recursion with parameters `[α, β, φ]`: the
/// one-step error of `y`, and the level and trend updated by it.
#[inline(always)]
fn step(l: &mut f64, b: &mut f64, y: f64, [alpha, beta, phi]: [f64; 3]) -> f64 {
    let pb = phi * *b;
    let e = y - (*l + pb);
    *l += pb + alpha * e;
    *b = pb + beta * e;
    e
}

/// The SSE of `kind` with parameters `[α, β, φ]` at its least-squares
/// initial states, and those states `(l0, b0)`, for `x − origin`. `inf`
/// when the parameters are out of bounds or the errors blow up.
///
/// With the states `s_t = (l_t, b_t)`, the model is `s_t = D s_{t-1} + g y_t`
/// with `D = F − g w'`, so the one-step error is `e_t = e⁰_t − m_t · s_0`
/// where `e⁰` is the error from `s_0 = 0` and `m_t = w' D^{t-1}`; the SSE is
/// then a quadratic in `s_0`, minimised by a 2×2 solve.
fn concentrated(x: &[f64], origin: f64, kind: Kind, p: [f64; 3]) -> (f64, f64, f64) {
    let [alpha, beta, phi] = p;
    let bad = (f64::INFINITY, 0.0, 0.0);
    if !(ALPHA.0..=ALPHA.1).contains(&alpha) || beta < 0.0 || beta >= alpha || phi > 1.0 {
        return bad;
    }
    let trend = kind != Kind::Ann;
    let (mut l, mut b) = (0.0, 0.0);
    // m_t, and the sums Σm1², Σm1m2, Σm2², Σm1e⁰, Σm2e⁰, Σe⁰².
    let (mut m1, mut m2) = (1.0, if trend { phi } else { 0.0 });
    let (mut s11, mut s12, mut s22, mut t1, mut t2, mut ee) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let (d11, d12, d21, d22) = if trend {
        (1.0 - alpha, phi * (1.0 - alpha), -beta, phi * (1.0 - beta))
    } else {
        (1.0 - alpha, 0.0, 0.0, 0.0)
    };
    let mut live = true;
    for v in x {
        let e = step(&mut l, &mut b, v - origin, p);
        ee += e * e;
        if live {
            s11 += m1 * m1;
            s12 += m1 * m2;
            s22 += m2 * m2;
            t1 += m1 * e;
            t2 += m2 * e;
            let n1 = m1 * d11 + m2 * d21;
            let n2 = m1 * d12 + m2 * d22;
            m1 = n1;
            m2 = n2;
            // The initial state's weight has died away: the sums are final.
            live = m1.abs() + m2.abs() > 1e-12;
        }
    }
    if !ee.is_finite() || !s11.is_finite() || !s22.is_finite() {
        return bad;
    }
    // Solve [s11 s12; s12 s22] s0 = [t1; t2] (a tiny ridge keeps it regular).
    let ridge = 1e-12 * (s11 + s22 + 1.0);
    let (a11, a22) = (s11 + ridge, s22 + ridge);
    let (l0, b0) = if trend {
        let det = a11 * a22 - s12 * s12;
        ((t1 * a22 - t2 * s12) / det, (a11 * t2 - s12 * t1) / det)
    } else {
        (t1 / a11, 0.0)
    };
    let sse = (ee - l0 * t1 - b0 * t2).max(0.0);
    (sse, l0, b0)
}

/// Golden-section minimisation of `f` on `[lo, hi]` after a coarse grid
/// (the bracket: the grid point with the smallest value and its two
/// neighbours), [`GOLDEN_STEPS`] steps.
fn golden((lo, hi): (f64, f64), mut f: impl FnMut(f64) -> f64) -> f64 {
    let mut pts = [lo; GRID.len() + 2];
    pts[1..=GRID.len()].copy_from_slice(&GRID);
    pts[GRID.len() + 1] = hi;
    let mut best = (f64::INFINITY, 1);
    for (i, x) in pts.iter().enumerate().take(GRID.len() + 1).skip(1) {
        let v = f(*x);
        if v < best.0 {
            best = (v, i);
        }
    }
    let (mut a, mut b) = (pts[best.1 - 1], pts[best.1 + 1]);
    const R: f64 = 0.618_033_988_749_894_8;
    let mut c = b - R * (b - a);
    let mut d = a + R * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..GOLDEN_STEPS {
        if fc < fd {
            (b, d, fd) = (d, c, fc);
            c = b - R * (b - a);
            fc = f(c);
        } else {
            (a, c, fc) = (c, d, fd);
            d = a + R * (b - a);
            fd = f(d);
        }
    }
    let x = if fc < fd { c } else { d };
    if f(x) <= best.0 { x } else { pts[best.1] }
}

/// Nelder–Mead minimisation of `f` in `D` dimensions, the points kept in the
/// box `bounds` by clamping; starts from `x0` with steps `step`.
/// Standard coefficients (reflection 1, expansion 2, contraction ½, shrink ½).
fn nelder_mead<const D: usize>(
    x0: [f64; D],
    step: [f64; D],
    bounds: [(f64, f64); D],
    mut f: impl FnMut([f64; D]) -> f64,
) -> [f64; D] {
    let clamp = |mut p: [f64; D]| {
        for d in 0..D {
            p[d] = p[d].clamp(bounds[d].0, bounds[d].1);
        }
        p
    };
    // D + 1 vertices; D ≤ 3 here, so arrays of 4.
    let mut pts = [[0.0; D]; 4];
    let mut vals = [f64::INFINITY; 4];
    pts[0] = clamp(x0);
    vals[0] = f(pts[0]);
    for d in 0..D {
        let mut p = pts[0];
        // Step inwards when the start sits on the upper bound.
        p[d] = if p[d] + step[d] <= bounds[d].1 {
            p[d] + step[d]
        } else {
            p[d] - step[d]
        };
        pts[d + 1] = clamp(p);
        vals[d + 1] = f(pts[d + 1]);
    }
    let mut evals = D + 1;
    while evals < MAX_EVALS {
        // Order: best first.
        let mut idx: [usize; 4] = [0, 1, 2, 3];
        idx[..=D].sort_by(|a, b| vals[*a].total_cmp(&vals[*b]));
        let (best, worst, second) = (idx[0], idx[D], idx[D.saturating_sub(1)]);
        let spread = (vals[worst] - vals[best]).abs();
        if spread <= TOLERANCE * (vals[best].abs() + 1e-300) {
            break;
        }
        let mut centroid = [0.0; D];
        for &i in &idx[..D] {
            for d in 0..D {
                centroid[d] += pts[i][d] / D as f64;
            }
        }
        let towards = |t: f64| {
            let mut p = [0.0; D];
            for d in 0..D {
                p[d] = centroid[d] + t * (pts[worst][d] - centroid[d]);
            }
            clamp(p)
        };
        let r = towards(-1.0);
        let fr = f(r);
        evals += 1;
        if fr < vals[best] {
            let e = towards(-2.0);
            let fe = f(e);
            evals += 1;
            if fe < fr {
                (pts[worst], vals[worst]) = (e, fe);
            } else {
                (pts[worst], vals[worst]) = (r, fr);
            }
        } else if fr < vals[second] {
            (pts[worst], vals[worst]) = (r, fr);
        } else {
            let c = if fr < vals[worst] {
                towards(-0.5)
            } else {
                towards(0.5)
            };
            let fc = f(c);
            evals += 1;
            if fc < vals[worst].min(fr) {
                (pts[worst], vals[worst]) = (c, fc);
            } else {
                let keep = pts[best];
                for &i in &idx[1..=D] {
                    for (x, k) in pts[i].iter_mut().zip(keep) {
                        *x = k + 0.5 * (*x - k);
                    }
                    pts[i] = clamp(pts[i]);
                    vals[i] = f(pts[i]);
                }
                evals += D;
            }
        }
    }
    let mut best = 0;
    for i in 1..=D {
        if vals[i] < vals[best] {
            best = i;
        }
    }
    pts[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SSE by running the recursion from given initial states.
    fn sse_from(x: &[f64], p: [f64; 3], l0: f64, b0: f64) -> f64 {
        let [alpha, beta, phi] = p;
        let (mut l, mut b, mut s) = (l0, b0, 0.0);
        for v in x {
            let e = v - (l + phi * b);
            s += e * e;
            l += phi * b + alpha * e;
            b = phi * b + beta * e;
        }
        s
    }

    #[test]
    fn concentrated_states_are_the_least_squares_ones() {
        let mut s = 3u64;
        let x: Vec<f64> = (0..200)
            .map(|i| 5.0 + 0.1 * i as f64 + super::super::uniform(&mut s))
            .collect();
        let p = [0.3, 0.05, 0.9];
        let (sse, l0, b0) = concentrated(&x, 0.0, Kind::AadN, p);
        assert!((sse - sse_from(&x, p, l0, b0)).abs() < 1e-6 * sse, "{sse}");
        // Any other initial state does worse.
        for (dl, db) in [(0.1, 0.0), (-0.1, 0.0), (0.0, 0.05), (0.0, -0.05)] {
            assert!(sse_from(&x, p, l0 + dl, b0 + db) > sse);
        }
    }

    #[test]
    fn a_line_is_fitted_exactly_and_continued() {
        let x: Vec<f64> = (0..60).map(|i| 10.0 + 2.0 * i as f64).collect();
        let m = fit(&x, Kind::Aan).unwrap();
        assert!(m.sse < 1e-12, "{m:?}");
        let f = m.forecast(3);
        for (i, v) in f.iter().enumerate() {
            assert!((v - (130.0 + 2.0 * i as f64)).abs() < 1e-6, "{f:?}");
        }
        // AICc prefers a trend model on a line over the level-only one.
        assert_ne!(auto(&x).unwrap().kind, Kind::Ann);
    }

    #[test]
    fn a_level_shift_is_followed_and_noise_is_smoothed() {
        // Flat at 10 with ±1 alternating noise, then a shift to 30 for the last 40.
        let x: Vec<f64> = (0..200)
            .map(|i| {
                let noise = if i % 2 == 0 { 1.0 } else { -1.0 };
                if i < 160 { 10.0 + noise } else { 30.0 + noise }
            })
            .collect();
        let m = auto(&x).unwrap();
        let f = m.forecast(5);
        assert!(f.iter().all(|v| (v - 30.0).abs() < 2.0), "{m:?} {f:?}");
        // Noise around a fixed level: a small α, the forecast near the mean.
        let flat: Vec<f64> = x[..160].to_vec();
        let m = fit(&flat, Kind::Ann).unwrap();
        assert!(m.alpha < 0.2, "{m:?}");
        assert!((m.forecast(1)[0] - 10.0).abs() < 0.5, "{m:?}");
    }

    #[test]
    fn too_short_or_not_finite_is_declined() {
        assert!(auto(&[1.0, 2.0, 3.0]).is_none());
        let mut x = vec![1.0; 20];
        x[3] = f64::NAN;
        assert!(auto(&x).is_none());
        assert_eq!(auto(&[4.0; 20]).unwrap().forecast(2), vec![4.0, 4.0]);
    }
}
