//! The bundled policy (`policies/*.yaml`) for a generated department's
//! application column, and the department a `--department` argument names,
//! for the evaluation examples.

use std::path::Path;

use anyhow::Context;
use planscale::example::{Department, NAMES};
use planscale::policy::Policy;

/// The department `--department` names (`bundled` and `second` are the
/// clinic's and the centre's other names).
pub fn department(which: &str) -> anyhow::Result<Department> {
    let name = match which {
        "bundled" => "clinic",
        "second" => "centre",
        other => other,
    };
    Department::by_name(name).with_context(|| {
        format!(
            "unknown department {which:?}: expected one of {}",
            NAMES.join(", ")
        )
    })
}

/// The bundled policy for an application column (auto-contouring's for any
/// other column).
pub fn policy_for(column: &str) -> anyhow::Result<Policy> {
    let (text, path) = match column {
        "dosecalc_jobs" | "adaptive_dose_jobs" => (
            include_str!("../../policies/dose-calculation.yaml"),
            "policies/dose-calculation.yaml",
        ),
        "planopt_jobs" => (
            include_str!("../../policies/plan-optimisation.yaml"),
            "policies/plan-optimisation.yaml",
        ),
        _ => (
            include_str!("../../policies/auto-contouring.yaml"),
            "policies/auto-contouring.yaml",
        ),
    };
    Ok(Policy::from_str_named(text, Path::new(path))?)
}
