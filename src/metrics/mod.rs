//! Metric sources: recordings on disk (CSV, Prometheus `query_range` JSON),
//! and — for the live controller — Prometheus and scrape sources.

pub mod cache;
pub mod error;
#[cfg(test)]
mod fake_http;
pub mod http;
pub mod prometheus;
pub mod record;
pub mod recording;
pub mod scrape;

pub use recording::Recording;
