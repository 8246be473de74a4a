//! The I/O edge of the schedule: reading files and HTTP GETs. The parsers
//! never do I/O themselves.

use std::path::Path;
use std::time::Duration;

use super::{Error, Result};

/// Longest wait for one HTTP response (connect + body).
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body accepted (bytes); a schedule is far smaller.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Read a file as text; bytes that are not UTF-8 become U+FFFD (the parser
/// then reports the entry that holds them instead of failing the whole file).
pub(super) fn read_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        file: path.display().to_string(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// GET `url` and return the body as text (blocking).
///
/// Call from synchronous code or `tokio::task::spawn_blocking`.
/// Errors name the URL as [`redact_url`] shows it, never the body.
pub(super) fn get_text(url: &str, accept: &str) -> Result<String> {
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

/// A URL as it may appear in logs and errors: scheme, host and port only
/// (`https://calendar.example.org/…`). Private calendar feeds carry a secret
/// in the path or query, and user:password may sit in the authority.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s, r),
        None => return "<url>".into(),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let more = rest.len() > authority.len();
    let scheme: String = scheme
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect();
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        .take(255)
        .collect();
    format!("{scheme}://{host}{}", if more { "/…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_from_urls() {
        assert_eq!(
            redact_url("https://user:pw@cal.example.org:8443/ical/private-abc123/basic.ics?x=1"),
            "https://cal.example.org:8443/…"
        );
        assert_eq!(redact_url("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(redact_url("not a url"), "<url>");
    }
}
