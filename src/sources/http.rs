//! The HTTP edge shared by the Prometheus API client and the scrape source:
//! timeouts, bounded jittered retries, bearer-token or basic auth read from
//! files, and a custom CA.

use std::hash::{BuildHasher, RandomState};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::error::{Result, SourceError};
use crate::policy::Duration;

/// How to talk HTTP to a metrics endpoint. Configuration as data: build it
/// into an [`HttpClient`] with [`HttpClient::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Longest wait for one answer (whole seconds, default 30s).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// How failed requests are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// File holding a bearer token, read again before every request (so that
    /// rotated Kubernetes service-account tokens are picked up).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// HTTP basic auth.
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    /// PEM file of the CA certificate(s) to trust for `https` URLs; when set,
    /// only these CAs are trusted (not the system's).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            timeout: default_timeout(),
            retry: RetryPolicy::default(),
            bearer_token_file: None,
            basic_auth: None,
            ca_file: None,
        }
    }
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// HTTP basic auth; the password is read from a file, never given inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub username: String,
    /// File holding the password (a trailing newline is ignored).
    pub password_file: PathBuf,
}

/// Bounded retries with exponential backoff and jitter. Only transient
/// failures are retried: no connection, timeouts, HTTP 5xx and 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (at least 1; default 4).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Backoff before the second attempt, in milliseconds (default 250); it
    /// doubles for each further attempt.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Upper bound of one backoff, in milliseconds (default 5000).
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: default_attempts(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

fn default_attempts() -> u32 {
    4
}
fn default_initial_backoff_ms() -> u64 {
    250
}
fn default_max_backoff_ms() -> u64 {
    5000
}

impl RetryPolicy {
    /// The backoff ceiling before attempt `attempt + 1` (attempt counts from 1), in ms.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let doublings = attempt.saturating_sub(1).min(32);
        self.initial_backoff_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_backoff_ms)
    }

    /// The backoff before attempt `attempt + 1`: "equal jitter", half the
    /// ceiling plus a uniform random part of the other half, so that many
    /// clients retrying after one outage spread out but none retries at once.
    pub fn backoff_ms(&self, attempt: u32, rng: &mut impl rand::Rng) -> u64 {
        let ceiling = self.ceiling_ms(attempt);
        let half = ceiling / 2;
        half + rng.random_range(0..=ceiling - half)
    }
}

/// Largest answer read, in bytes: one query_range of 11,000 points is about
/// 300 KiB per series, so this allows some 200 series per request while a
/// runaway query (every series of a cluster) cannot exhaust the controller's memory.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// An HTTP client with the settings of an [`HttpConfig`].
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    config: HttpConfig,
    /// Jitter source, seeded per process (no determinism is wanted here: the
    /// point of jitter is that processes differ).
    jitter: Mutex<ChaCha8Rng>,
}

/// A response's status and body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl HttpClient {
    /// Build the client; reads and checks the CA file now (the credential
    /// files are read before each request).
    pub fn new(config: &HttpConfig) -> Result<HttpClient> {
        if config.timeout.is_zero() {
            return Err(SourceError::Config {
                field: "timeout".into(),
                message: "expected a positive duration, found 0s".into(),
            });
        }
        if config.retry.attempts == 0 {
            return Err(SourceError::Config {
                field: "retry.attempts".into(),
                message: "expected at least 1 attempt, found 0".into(),
            });
        }
        if config.bearer_token_file.is_some() && config.basic_auth.is_some() {
            return Err(SourceError::Config {
                field: "bearer_token_file".into(),
                message: "expected either a bearer token or basic auth, found both".into(),
            });
        }
        let mut builder = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(config.timeout.secs()))
            .user_agent(concat!("planscale/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| file_error("CA", path, e.to_string()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| file_error("CA", path, format!("expected PEM certificates: {e}")))?;
            if certs.is_empty() {
                return Err(file_error(
                    "CA",
                    path,
                    "expected PEM certificates, found none".into(),
                ));
            }
            builder = builder.tls_certs_only(certs);
        }
        let client = builder.build().map_err(|e| SourceError::Config {
            field: "http client".into(),
            message: e.to_string(),
        })?;
        let seed = RandomState::new().hash_one(std::process::id());
        Ok(HttpClient {
            client,
            config: config.clone(),
            jitter: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        })
    }

    /// The settings this client was built from.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Send the request that `make` builds (called again for every attempt),
    /// let `interpret` turn the answer into a result, and retry transient
    /// failures (see [`SourceError::is_transient`]) with backoff.
    pub async fn send<T>(
        &self,
        url: &str,
        make: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        interpret: impl Fn(Answer) -> Result<T>,
    ) -> Result<T> {
        let attempts = self.config.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = match self.send_once(url, &make).await {
                Ok(answer) => interpret(answer),
                Err(e) => Err(e),
            };
            match result {
                Err(e) if e.is_transient() && attempt < attempts => {
                    let e = with_attempts(e, attempt);
                    let wait = {
                        let mut rng = self.jitter.lock().unwrap_or_else(|p| p.into_inner());
                        self.config.retry.backoff_ms(attempt, &mut *rng)
                    };
                    tracing::warn!(url, attempt, wait_ms = wait, error = %e, kind = e.kind(), "retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
                    attempt += 1;
                }
                Err(e) => return Err(with_attempts(e, attempt)),
                Ok(v) => return Ok(v),
            }
        }
    }

    async fn send_once(
        &self,
        url: &str,
        make: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer> {
        let mut request = make(&self.client);
        if let Some(path) = &self.config.bearer_token_file {
            request = request.bearer_auth(read_secret("bearer token", path).await?);
        }
        if let Some(basic) = &self.config.basic_auth {
            let password = read_secret("basic auth password", &basic.password_file).await?;
            request = request.basic_auth(&basic.username, Some(password));
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                SourceError::Timeout {
                    url: url.to_string(),
                    attempts: 1,
                    timeout_secs: self.config.timeout.secs() as f64,
                }
            } else {
                SourceError::Connect {
                    url: url.to_string(),
                    attempts: 1,
                    message: error_chain(&e),
                }
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(SourceError::Decode {
                    url: url.to_string(),
                    message: format!(
                        "expected an answer of at most {} MiB, found a larger one; narrow the query (fewer series or a shorter range)",
                        MAX_BODY_BYTES >> 20
                    ),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = String::from_utf8(body).map_err(|_| SourceError::Decode {
            url: url.to_string(),
            message: "expected UTF-8 text, found invalid bytes".into(),
        })?;
        Ok(Answer { status, body })
    }
}

/// Read a credential file; surrounding whitespace (a trailing newline) is dropped.
async fn read_secret(what: &'static str, path: &Path) -> Result<String> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| file_error(what, path, e.to_string()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(file_error(
            what,
            path,
            "expected a secret, found an empty file".into(),
        ));
    }
    Ok(secret.to_string())
}

fn file_error(what: &'static str, path: &Path, message: String) -> SourceError {
    SourceError::File {
        what,
        path: path.to_path_buf(),
        message,
    }
}

fn with_attempts(e: SourceError, n: u32) -> SourceError {
    match e {
        SourceError::Connect { url, message, .. } => SourceError::Connect {
            url,
            attempts: n,
            message,
        },
        SourceError::Timeout {
            url, timeout_secs, ..
        } => SourceError::Timeout {
            url,
            attempts: n,
            timeout_secs,
        },
        SourceError::Http {
            url, status, body, ..
        } => SourceError::Http {
            url,
            status,
            attempts: n,
            body,
        },
        other => other,
    }
}

/// reqwest's top-level message is often just "error sending request"; the
/// cause (connection refused, certificate unknown) is in the source chain.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let part = s.to_string();
        if !msg.contains(&part) {
            msg.push_str(": ");
            msg.push_str(&part);
        }
        cur = s.source();
    }
    msg
}

/// The start of a body for an error message: at most `max` characters, on one line.
pub fn excerpt(body: &str, max: usize) -> String {
    let one_line: String = body
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > max {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_bound_and_stays_within_jitter() {
        let p = RetryPolicy {
            attempts: 10,
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
        };
        assert_eq!(p.ceiling_ms(1), 100);
        assert_eq!(p.ceiling_ms(2), 200);
        assert_eq!(p.ceiling_ms(4), 800);
        assert_eq!(p.ceiling_ms(5), 1000);
        assert_eq!(p.ceiling_ms(99), 1000);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let waits: Vec<u64> = (0..200).map(|_| p.backoff_ms(3, &mut rng)).collect();
        assert!(waits.iter().all(|w| (200..=400).contains(w)), "{waits:?}");
        // Jitter: not all the same.
        assert!(waits.iter().any(|w| *w != waits[0]));
    }

    #[test]
    fn rejects_both_auth_kinds_and_zero_attempts() {
        let mut c = HttpConfig {
            bearer_token_file: Some("/t".into()),
            basic_auth: Some(BasicAuth {
                username: "u".into(),
                password_file: "/p".into(),
            }),
            ..HttpConfig::default()
        };
        let e = HttpClient::new(&c).unwrap_err();
        assert_eq!(e.kind(), "config");
        assert!(e.to_string().contains("found both"), "{e}");
        c.basic_auth = None;
        c.retry.attempts = 0;
        assert!(
            HttpClient::new(&c)
                .unwrap_err()
                .to_string()
                .contains("retry.attempts")
        );
    }

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let c = HttpConfig {
            ca_file: Some(path.clone()),
            ..HttpConfig::default()
        };
        let e = HttpClient::new(&c).unwrap_err();
        assert_eq!(e.kind(), "file");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let missing = HttpConfig {
            ca_file: Some(dir.path().join("absent.pem")),
            ..HttpConfig::default()
        };
        assert!(
            HttpClient::new(&missing)
                .unwrap_err()
                .to_string()
                .contains("absent.pem")
        );
    }

    #[test]
    fn excerpt_is_one_bounded_line() {
        assert_eq!(excerpt("  a\nb  ", 10), "a b");
        assert_eq!(excerpt("abcdefghijkl", 5), "abcde...");
    }
}
