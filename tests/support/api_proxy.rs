//! Test harness: a loopback HTTP proxy in front of the test kube-apiserver
//! that plays a concurrent writer. A client pointed at it (plain HTTP on
//! 127.0.0.1; the proxy forwards over TLS to the real server) is served
//! normally, except that before the first request matching `intercept` is
//! forwarded, the proxy runs `writer` — the test's own write to the same
//! object, straight to the server. That request then reaches the server
//! after someone else's write, as in a real race between a read and a write.
//!
//! Every request and the server's status are recorded in order. Responses
//! are buffered whole, so watches are not supported (planscale's loops and
//! its Lease manager make none).
//!
//! Include with `#[path = "support/api_proxy.rs"] mod api_proxy;`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// The concurrent writer: run once, before the intercepted request is forwarded.
pub type Writer = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// One request through the proxy: method, path (with query), the server's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Whether the concurrent writer ran just before this request was forwarded.
    pub raced: bool,
}

struct Shared {
    upstream: String,
    client: reqwest::Client,
    intercept: (String, String),
    writer: Mutex<Option<Writer>>,
    seen: Mutex<Vec<Seen>>,
}

/// The running proxy; it stops when dropped.
pub struct ApiProxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ApiProxy {
    /// Proxy to `https://127.0.0.1:<upstream_port>`; run `writer` before the
    /// first request whose method is `method` and whose path is `path`.
    pub async fn start(upstream_port: u16, method: &str, path: &str, writer: Writer) -> ApiProxy {
        let shared = Arc::new(Shared {
            upstream: format!("https://127.0.0.1:{upstream_port}"),
            // The test server's certificate is self-signed (the kubeconfigs skip verification too).
            client: reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .expect("an HTTP client"),
            intercept: (method.to_string(), path.to_string()),
            writer: Mutex::new(Some(writer)),
            seen: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| forward(s.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        ApiProxy { port, shared, task }
    }

    /// Every request so far, in the order the server answered them.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The proxy's URL (plain HTTP on 127.0.0.1), for a kubeconfig.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for ApiProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    s: Arc<Shared>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let bare_path = req.uri().path().to_string();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let writer = if (method.as_str(), bare_path.as_str())
        == (s.intercept.0.as_str(), s.intercept.1.as_str())
    {
        s.writer.lock().unwrap_or_else(|p| p.into_inner()).take()
    } else {
        None
    };
    let raced = writer.is_some();
    if let Some(w) = writer {
        w().await;
    }
    let mut up = s.client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
        format!("{}{path}", s.upstream),
    );
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            up = up.header(k.as_str(), v.as_bytes());
        }
    }
    let (status, resp_headers, resp_body) = match up.body(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let h = r.headers().clone();
            (status, h, r.bytes().await.unwrap_or_default())
        }
        Err(e) => (
            502,
            reqwest::header::HeaderMap::new(),
            Bytes::from(format!("proxy: {e}")),
        ),
    };
    s.seen.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
        method,
        path,
        status,
        raced,
    });
    let mut out = Response::builder().status(status);
    for (k, v) in &resp_headers {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out = out.header(k.as_str(), v.as_bytes());
        }
    }
    Ok(out
        .body(Full::new(resp_body))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}
