//! The one error type of the live metric sources (Prometheus HTTP API,
//! `/metrics` scrape, history cache, `planscale record`).

use std::path::PathBuf;

/// What went wrong while reading metrics. Every message says what was
/// expected, what was found, and where (URL, query, file or line).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A setting cannot be used (a URL that does not parse, a range that is empty).
    #[error("invalid {field}: {message}")]
    Config { field: String, message: String },

    /// A credential or CA file cannot be read or used.
    #[error("cannot use {what} file {}: {message}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        message: String,
    },

    /// No connection could be made (refused, reset, DNS), after all attempts.
    #[error("cannot reach {url} after {attempts} attempt(s): {message}")]
    Connect {
        url: String,
        attempts: u32,
        message: String,
    },

    /// No answer within the request timeout, after all attempts.
    #[error("no answer from {url} within {timeout_secs} s, after {attempts} attempt(s)")]
    Timeout {
        url: String,
        attempts: u32,
        timeout_secs: f64,
    },

    /// An HTTP status other than 2xx whose body is not a Prometheus error.
    #[error("{url} answered HTTP {status} after {attempts} attempt(s): {body}")]
    Http {
        url: String,
        status: u16,
        attempts: u32,
        /// The start of the response body (at most a few hundred characters).
        body: String,
    },

    /// Prometheus answered with its own error body (`status: error`).
    #[error(
        "Prometheus at {url} rejected the query {query:?} (HTTP {status}, {error_type}): {error}"
    )]
    Api {
        url: String,
        query: String,
        status: u16,
        /// Prometheus's `errorType`, e.g. `bad_data`, `execution`, `timeout`.
        error_type: String,
        /// Prometheus's own message.
        error: String,
    },

    /// A 2xx answer whose body is not what the API documents.
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },

    /// The query returned a result of another type than the call needs.
    #[error("query {query:?}: expected a {expected} result, found a {found}")]
    ResultType {
        query: String,
        expected: &'static str,
        found: String,
    },

    /// The query returned several series where one was expected.
    #[error(
        "query {query:?}: expected one series, found {count}: {}{}; aggregate them (e.g. sum(...)) or select one by its labels",
        labels.join(", "),
        if *count > labels.len() { ", ..." } else { "" }
    )]
    ManySeries {
        query: String,
        count: usize,
        /// The label sets of (the first few of) the series, as `{name="value", ...}`.
        labels: Vec<String>,
    },

    /// The query returned no series at all where data was needed.
    #[error(
        "query {query:?} for {field}: expected one series, found none between {from} and {to}; check the metric name and labels"
    )]
    NoSeries {
        query: String,
        field: String,
        from: String,
        to: String,
    },

    /// A `/metrics` page that is not in the text exposition format.
    #[error("{url} line {line}: {message}")]
    Exposition {
        url: String,
        line: usize,
        message: String,
    },

    /// A scrape selector that matches no sample.
    #[error("{url}: no sample matches {selector}")]
    NoMatch { url: String, selector: String },
}

impl SourceError {
    /// A short, bounded name for metric labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            SourceError::Config { .. } => "config",
            SourceError::File { .. } => "file",
            SourceError::Connect { .. } => "connect",
            SourceError::Timeout { .. } => "timeout",
            SourceError::Http { .. } => "http",
            SourceError::Api { .. } => "api",
            SourceError::Decode { .. } => "decode",
            SourceError::ResultType { .. } => "result_type",
            SourceError::ManySeries { .. } => "many_series",
            SourceError::NoSeries { .. } => "no_series",
            SourceError::Exposition { .. } => "exposition",
            SourceError::NoMatch { .. } => "no_match",
        }
    }

    /// Whether trying the same request again may succeed (server or network trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Connect { .. } | SourceError::Timeout { .. } => true,
            SourceError::Http { status, .. } | SourceError::Api { status, .. } => {
                *status >= 500 || *status == 429
            }
            _ => false,
        }
    }
}

/// Result of the live metric sources.
pub type Result<T, E = SourceError> = std::result::Result<T, E>;
