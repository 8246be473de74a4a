//! planscale: a predictive autoscaler for treatment-planning workloads.
//!
//! The pure core (policy, series, schedule, forecast, plan, sim) is
//! synchronous and free of I/O frameworks; the controller and metric sources
//! are the thin I/O edge. See `docs/ARCHITECTURE.md`.

pub mod cli;
pub mod controller;
pub mod example;
pub mod forecast;
pub mod metrics;
pub mod plan;
pub mod policy;
pub mod schedule;
pub mod series;
pub mod sim;
pub mod telemetry;
pub mod util;
