//! `/metrics`, `/healthz` and `/readyz` over HTTP/1 (hyper, already in the tree through kube).

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{Error, Flag, Result, Telemetry};

/// Liveness and readiness as the probes see them.
///
/// `live` is cleared when the control loop has stopped making progress;
/// `ready` is set once the policies are loaded and the API server answered.
#[derive(Debug, Clone)]
pub struct Health {
    pub live: Flag,
    pub ready: Flag,
}

impl Default for Health {
    fn default() -> Self {
        let live = Flag::default();
        live.set(true);
        Health {
            live,
            ready: Flag::default(),
        }
    }
}

/// Bind `addr` and serve until `shutdown` turns true. Returns the bound address
/// (useful with port 0) and the serving task.
pub async fn serve(
    addr: SocketAddr,
    telemetry: Telemetry,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => break,
                accepted = listener.accept() => {
                    let Ok((stream, _peer)) = accepted else { continue };
                    let t = telemetry.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| {
                            let t = t.clone();
                            async move { Ok::<_, Infallible>(route(&t, &req)) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            }
        }
    });
    Ok((bound, task))
}

fn route(t: &Telemetry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => match t.encode() {
            Ok(body) => Response::builder()
                .header(
                    hyper::header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )
                .body(Full::new(Bytes::from(body)))
                .unwrap_or_default(),
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
        },
        "/healthz" => flag(t.health.live.get(), "ok\n", "control loop stalled\n"),
        "/readyz" => flag(t.health.ready.get(), "ready\n", "not ready\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn flag(ok: bool, yes: &str, no: &str) -> Response<Full<Bytes>> {
    if ok {
        text(StatusCode::OK, yes)
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, no)
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
        let code = r.status().as_u16();
        (code, r.text().await.unwrap())
    }

    #[tokio::test]
    async fn serves_metrics_and_probes() {
        let t = Telemetry::new();
        t.metrics.policies_running.set(3);
        let (tx, rx) = watch::channel(false);
        let (addr, task) = serve("127.0.0.1:0".parse().unwrap(), t.clone(), rx)
            .await
            .unwrap();
        let (code, body) = get(addr, "/metrics").await;
        assert_eq!(code, 200);
        assert!(body.contains("planscale_policies_running 3"), "{body}");
        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        t.health.ready.set(true);
        assert_eq!(get(addr, "/readyz").await.0, 200);
        t.health.live.set(false);
        assert_eq!(get(addr, "/healthz").await.0, 503);
        assert_eq!(get(addr, "/nope").await.0, 404);
        tx.send(true).unwrap();
        task.await.unwrap();
    }
}
