//! The schedule's HTTP client: [`Http`] implements the core's
//! [`schedule::HttpGet`](crate::schedule::HttpGet) with reqwest's blocking
//! client (a 30 s timeout, a 64 MiB body cap). The core never opens sockets.

use std::time::Duration;

use crate::schedule::{Error, HttpGet, Result, redact_url};

/// Longest wait for one HTTP response (connect + body).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body accepted (bytes); a schedule is far smaller.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Blocking HTTP GETs for iCalendar feeds and FHIR servers. From async code
/// call the schedule loader inside `tokio::task::spawn_blocking`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

impl HttpGet for Http {
    fn get_text(&self, url: &str, accept: &str) -> Result<String> {
        get_text(url, accept)
    }
}

/// GET `url` and return the body as text (blocking).
///
/// Call from synchronous code or `tokio::task::spawn_blocking`.
/// Errors name the URL as [`redact_url`] shows it, never the body.
fn get_text(url: &str, accept: &str) -> Result<String> {
    let shown = redact_url(url);
    let fail = |message: String| Error::Fetch {
        url: shown.clone(),
        message,
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .map_err(|e| fail(format!("cannot build an HTTP client: {}", describe(&e))))?;
    let resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, accept)
        .send()
        .map_err(|e| fail(describe(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(fail(format!("expected HTTP 2xx, found {status}")));
    }
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(fail(format!("response larger than {MAX_BODY} bytes")));
    }
    let bytes = resp.bytes().map_err(|e| fail(describe(&e)))?;
    if bytes.len() > MAX_BODY {
        return Err(fail(format!("response larger than {MAX_BODY} bytes")));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// What went wrong in a request, without the URL (which may carry a secret).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "cannot read the response body"
    } else if e.is_builder() {
        "invalid URL"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    what.to_string()
}
