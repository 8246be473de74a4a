//! Property tests at the forecasting boundary: constant series, all zeros,
//! NaN runs, three points of history and values of 1e12 give a forecast or a
//! clear error, never a panic.

use chrono::{TimeZone, Utc};
use planscale::forecast::{Covariates, Engine, EngineConfig, Forecaster};
use planscale::series::{Grid, Series};
use proptest::prelude::*;

fn grid(len: usize) -> Grid {
    Grid::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap(),
        3600,
        len,
    )
}

fn engine(schedule: bool) -> Engine {
    let mut cfg = EngineConfig::hourly(24);
    cfg.max_lag = schedule.then_some(6);
    Engine::new(cfg)
}

/// Fit and predict; a result is fine, a panic is not. A forecast must be finite
/// and its p90 at or above zero.
fn run(values: Vec<f64>, counts: Option<Vec<f64>>) -> Result<(), String> {
    let n = values.len();
    let hist = Series::new(grid(n), values);
    let cov = counts.map(|c| Covariates {
        grid: hist.grid,
        types: vec!["CT".into()],
        values: vec![c],
        late: Vec::new(),
    });
    let future = cov.as_ref().map(|c| Covariates {
        grid: hist.grid.following(24),
        types: c.types.clone(),
        values: vec![vec![1.0; 24]],
        late: Vec::new(),
    });
    let mut e = engine(cov.is_some());
    if let Err(err) = e.fit(&hist, cov.as_ref()) {
        assert!(!err.to_string().is_empty());
        return Ok(());
    }
    match e.predict(24, &[0.5, 0.9], future.as_ref()) {
        Ok(f) => {
            if f.point.len() != 24 || f.point.iter().any(|v| !v.is_finite()) {
                return Err(format!("bad point forecast {:?}", f.point));
            }
            if f.quantile(0.9)
                .unwrap()
                .iter()
                .any(|v| !v.is_finite() || *v < 0.0)
            {
                return Err("bad p90".into());
            }
            Ok(())
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            Ok(())
        }
    }
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.0..100.0f64,
        1 => Just(0.0),
        1 => Just(f64::NAN),
        1 => Just(1e12),
        1 => 0.0..1e12f64,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn arbitrary_histories_never_panic(values in prop::collection::vec(value(), 0..400), with_cov in any::<bool>()) {
        let counts = with_cov.then(|| (0..values.len()).map(|i| (i % 5 == 0) as u8 as f64).collect());
        run(values, counts).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn constant_series_forecast_the_constant(c in prop_oneof![Just(0.0), 0.0..1e12f64], n in 3usize..300) {
        let mut e = engine(false);
        e.fit(&Series::new(grid(n), vec![c; n]), None).unwrap();
        let f = e.predict(24, &[0.9], None).unwrap();
        for v in &f.point {
            prop_assert!((v - c).abs() <= 1e-6 * c.max(1.0), "{} vs {}", v, c);
        }
    }

    #[test]
    fn nan_runs_are_filled(start in 0usize..200, len in 1usize..150) {
        let mut v: Vec<f64> = (0..400).map(|i| 10.0 + (i % 24) as f64).collect();
        let end = (start + len).min(v.len());
        v[start..end].iter_mut().for_each(|x| *x = f64::NAN);
        run(v, None).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn three_points_forecast_and_fewer_are_a_clear_error() {
    run(vec![1.0, 2.0, 3.0], None).unwrap();
    let mut e = engine(false);
    let err = e.fit(&Series::new(grid(1), vec![5.0]), None).unwrap_err();
    assert!(err.to_string().contains("too short"), "{err}");
    let err = e
        .fit(&Series::new(grid(3), vec![f64::NAN; 3]), None)
        .unwrap_err();
    assert_eq!(err.kind(), "no_data");
    let err = e
        .fit(&Series::new(grid(2), vec![f64::INFINITY, 1.0]), None)
        .unwrap_err();
    assert_eq!(err.kind(), "invalid");
}
