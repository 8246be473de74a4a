//! planscale: a predictive autoscaler for treatment-planning workloads.
//!
//! This crate is the I/O edge: metric [`sources`] (Prometheus, scrape), the
//! [`controller`] (kube-rs), [`telemetry`] and the [`cli`]. The pure core —
//! policy, series, schedule parsing, recordings, forecasting, the planner,
//! the autoscaler step and the simulator — is the `planscale-core` crate,
//! re-exported here under its module names. See `docs/ARCHITECTURE.md`.

pub use planscale_core::{
    autoscale, calendar, duration, example, figure, forecast, plan, policy, recording, schedule,
    series, sim,
};

pub mod cli;
pub mod controller;
pub mod keda;
pub mod sources;
pub mod telemetry;
pub mod util;
