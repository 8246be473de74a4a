//! Metric sources: recordings on disk (CSV, Prometheus `query_range` JSON),
//! and — for the live controller — Prometheus and scrape sources.

pub mod recording;

pub use recording::Recording;
