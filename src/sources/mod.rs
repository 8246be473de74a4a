//! Metric sources: where live demand history and current metrics come from —
//! the Prometheus HTTP API (with the controller's incremental history cache)
//! and a scraped `/metrics` page — and the HTTP client the schedule's URL
//! sources use. Recordings on disk are the core's (`planscale_core::recording`);
//! `planscale record` is `cli::record`.

pub mod cache;
pub mod error;
#[cfg(test)]
pub(crate) mod fake_http;
pub mod http;
pub mod prometheus;
pub mod schedule_http;
pub mod scrape;

pub use crate::recording::Recording;
