//! The clinic's appointment book: appointments (start, end, type, resource —
//! nothing about the patient), read from a source chosen in the policy, and
//! turned into per-step covariates for the forecaster.

pub mod csv_source;

use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::forecast::Covariates;
use crate::policy::Duration;
use crate::series::Grid;

pub use csv_source::read_csv;

/// One appointment. Deliberately nothing else: no patient, no free text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Appointment {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// Normalised appointment type (e.g. `CT-SIM`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Room or device, e.g. `CT1`.
    pub resource: Option<String>,
}

/// Errors reading a schedule. Messages name the place and never echo patient text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Line {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

impl Error {
    /// A short, bounded label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Line { .. } => "line",
            Error::File { .. } => "file",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The `schedule:` section of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    pub source: SourceSpec,
    /// The clinic's IANA time zone, e.g. `Europe/Berlin`.
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// Appointment types used as covariates; empty means every type found.
    #[serde(default)]
    pub types: Vec<String>,
    /// Longest delay between an appointment and the work it causes.
    #[serde(default = "default_max_lag")]
    pub max_lag: Duration,
}

/// Where appointments come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceSpec {
    /// A CSV export with header `start,end,type[,resource]`.
    Csv { path: PathBuf },
}

fn default_tz() -> String {
    "UTC".into()
}

fn default_max_lag() -> Duration {
    Duration::from_hours(48)
}

impl ScheduleSpec {
    /// Semantic checks: `(field path below schedule, message)`.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if Tz::from_str(&self.timezone).is_err() {
            p.push((
                "timezone".into(),
                format!(
                    "expected an IANA time zone such as Europe/Berlin, found {:?}",
                    self.timezone
                ),
            ));
        }
        if self.max_lag.is_zero() {
            p.push((
                "max_lag".into(),
                "expected a positive duration, found 0s".into(),
            ));
        }
        p
    }

    /// The clinic's time zone (UTC if the name is invalid; validation reports that).
    pub fn tz(&self) -> Tz {
        Tz::from_str(&self.timezone).unwrap_or(Tz::UTC)
    }
}

/// Load the appointments of a policy's schedule source; relative paths are
/// resolved against the policy file's folder.
pub fn load(spec: &ScheduleSpec, policy: &crate::policy::LoadedPolicy) -> Result<Vec<Appointment>> {
    match &spec.source {
        SourceSpec::Csv { path } => read_csv(&policy.resolve(path)),
    }
}

/// Counts of appointments starting in each grid step, per type.
///
/// `types` fixes the covariate order; appointments of other types are ignored.
pub fn start_counts(appointments: &[Appointment], grid: &Grid, types: &[String]) -> Covariates {
    let mut values = vec![vec![0.0; grid.len]; types.len()];
    for a in appointments {
        if let (Some(k), Some(i)) = (
            types.iter().position(|t| *t == a.kind),
            grid.index_of(a.start),
        ) {
            values[k][i] += 1.0;
        }
    }
    Covariates {
        grid: *grid,
        types: types.to_vec(),
        values,
    }
}

/// The sorted, de-duplicated types present in `appointments`.
pub fn types_of(appointments: &[Appointment]) -> Vec<String> {
    let mut t: Vec<String> = appointments.iter().map(|a| a.kind.clone()).collect();
    t.sort();
    t.dedup();
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn counts_starts_per_step_and_type() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap();
        let a = |min: i64, kind: &str| Appointment {
            start: t0 + chrono::TimeDelta::minutes(min),
            end: t0 + chrono::TimeDelta::minutes(min + 30),
            kind: kind.into(),
            resource: None,
        };
        let appts = vec![a(0, "CT"), a(3, "CT"), a(7, "MR"), a(12, "CT"), a(99, "CT")];
        let grid = Grid::new(t0, 300, 3);
        let c = start_counts(&appts, &grid, &["CT".into(), "MR".into()]);
        assert_eq!(c.values[0], vec![2.0, 0.0, 1.0]);
        assert_eq!(c.values[1], vec![0.0, 1.0, 0.0]);
        assert_eq!(types_of(&appts), vec!["CT".to_string(), "MR".to_string()]);
    }
}
