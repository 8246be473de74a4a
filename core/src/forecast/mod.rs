//! Forecasting behind one two-phase interface: [`Forecaster::fit`] on a regular
//! history (with optional appointment covariates), then [`Forecaster::predict`]
//! a horizon with point values and quantiles.
//!
//! Input is validated here, at the boundary, so that no model can panic the
//! controller: gaps, `NaN` runs, too-short or non-finite history are errors or
//! handled explicitly.

pub mod accuracy;
pub mod backtest;
mod engine;
pub mod ets;
pub mod evaluation;
pub mod kernel;
pub mod mstl;
mod pools;
pub mod reference;
mod seasonal;
pub mod spread;
pub mod unbooked;
pub mod univariate;
pub mod working;

pub use engine::{
    Choice, Engine, EngineConfig, SCHEDULE_MODEL, engine_for, poisson_median, whole_count_quantile,
};
pub use seasonal::SeasonalProfile;
pub use spread::WorkSpread;

pub use crate::series::Covariates;
use crate::series::{Grid, Series};

/// Errors of the forecasting layer.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    #[error("history too short: {got} points, the {model} model needs at least {need}")]
    TooShort {
        model: &'static str,
        got: usize,
        need: usize,
    },
    #[error("history has no finite values")]
    NoData,
    #[error("covariates do not match: {0}")]
    Covariates(String),
    #[error("predict called before fit")]
    NotFitted,
    #[error("invalid input: {0}")]
    Invalid(String),
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::TooShort { .. } => "too_short",
            Error::NoData => "no_data",
            Error::Covariates(_) => "covariates",
            Error::NotFitted => "not_fitted",
            Error::Invalid(_) => "invalid",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A forecast over a horizon: point values and quantiles, per step.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    /// The future grid the values are on (starts one step after the history).
    pub grid: Grid,
    /// Point forecast (mean or median, per model), demand units per step.
    pub point: Vec<f64>,
    /// Expected demand per step (≥ 0): what window sums of work add up.
    pub mean: Vec<f64>,
    /// Spread of work summed over a window around its expected value.
    pub spread: WorkSpread,
    /// Quantile levels in (0,1), ascending, each with one value per step.
    pub quantiles: Vec<(f64, Vec<f64>)>,
    /// Which model produced it and why (cold start, model choice).
    pub model: String,
    pub note: String,
}

impl Forecast {
    /// Values of quantile level `q`. A level the forecast was not asked for is
    /// an error, never a silent stand-in of another level or the point.
    pub fn quantile(&self, q: f64) -> Result<&[f64]> {
        self.quantiles
            .iter()
            .find(|(level, _)| (*level - q).abs() < 1e-9)
            .map(|(_, v)| v.as_slice())
            .ok_or_else(|| {
                let have: Vec<String> = self.quantiles.iter().map(|(l, _)| l.to_string()).collect();
                Error::Invalid(format!(
                    "expected quantile level {q} in the forecast, found levels [{}]",
                    have.join(", ")
                ))
            })
    }
}

/// A forecasting model: fit on history, then predict.
pub trait Forecaster {
    /// Short model name for reports and metric labels.
    fn name(&self) -> &'static str;

    /// Fit on `history` (NaN = missing). `covariates`, when given, are on the
    /// same grid as `history`.
    fn fit(&mut self, history: &Series, covariates: Option<&Covariates>) -> Result<()>;

    /// Predict `horizon` steps after the end of the fitted history, with the
    /// given quantile levels. `future`, when given, holds the covariates for
    /// those steps (appointments already booked).
    fn predict(
        &self,
        horizon: usize,
        levels: &[f64],
        future: Option<&Covariates>,
    ) -> Result<Forecast>;
}

/// A deterministic pseudo-random stream in [0, 1) for the unit tests.
#[cfg(test)]
pub(crate) fn uniform(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// Checks shared by every model: returns the number of finite values.
pub fn validate_history(history: &Series) -> Result<usize> {
    let mut finite = 0;
    for v in &history.values {
        if v.is_infinite() {
            return Err(Error::Invalid("history contains an infinite value".into()));
        }
        finite += usize::from(v.is_finite());
    }
    if finite == 0 {
        return Err(Error::NoData);
    }
    Ok(finite)
}

/// Checks that every quantile level lies strictly inside (0, 1).
pub fn validate_levels(levels: &[f64]) -> Result<()> {
    match levels.iter().find(|q| !(**q > 0.0 && **q < 1.0)) {
        Some(q) => Err(Error::Invalid(format!(
            "quantile level {q} is outside (0, 1)"
        ))),
        None => Ok(()),
    }
}
