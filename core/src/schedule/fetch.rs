//! Where the schedule's text comes from: files (read here) and URLs (through
//! an [`HttpGet`] the caller provides). The parsers never do I/O themselves.

use std::path::Path;

use super::{Error, Result};

/// Read a file as text; bytes that are not UTF-8 become U+FFFD (the parser
/// then reports the entry that holds them instead of failing the whole file).
pub fn read_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        file: path.display().to_string(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Fetches a URL's body as text for the schedule's URL sources (iCalendar
/// feeds, FHIR servers). The core opens no sockets: the binary passes its
/// HTTP client in (`planscale::sources::schedule_http::Http`); tests pass a
/// fake. Errors must name the URL as [`redact_url`] shows it, never the body.
pub trait HttpGet {
    /// GET `url` with the given `Accept` header; blocking.
    fn get_text(&self, url: &str, accept: &str) -> Result<String>;
}

/// No HTTP: every URL source fails with a clear error. For callers that
/// only read files.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHttp;

impl HttpGet for NoHttp {
    fn get_text(&self, url: &str, _accept: &str) -> Result<String> {
        Err(Error::Fetch {
            url: redact_url(url),
            message: "this command reads schedules from files only".into(),
        })
    }
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
