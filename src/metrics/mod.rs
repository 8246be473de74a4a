//! Metric sources (temporary module list on the metrics branch; the lead's
//! mod.rs replaces this on merge).

pub mod cache;
pub mod error;
#[cfg(test)]
mod fake_http;
pub mod http;
pub mod prometheus;
pub mod scrape;
