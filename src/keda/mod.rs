//! KEDA's external scaler (`planscale run --keda-listen ADDR`): gRPC service
//! `externalscaler.ExternalScaler` (proto/externalscaler.proto), so that a
//! clinic that runs KEDA keeps it and gets planscale's decisions.
//!
//! A ScaledObject's trigger names the policy in its metadata
//! (`scalerMetadata.policy`); the policy runs in `keda` mode, in which
//! planscale writes nothing. The metric served is the replica count the
//! policy decided, with an `AverageValue` target of 1: the HPA that KEDA
//! creates computes `ceil(value / target)`, which is that count (see
//! docs/ARCHITECTURE.md, "KEDA external scaler", for the HPA's tolerance and
//! the `behavior` shipped in deploy/examples/keda/scaledobject.yaml).
//!
//! - unknown policy: `NOT_FOUND`, naming it; no `policy` in the metadata:
//!   `INVALID_ARGUMENT`; a policy in another mode, or a ScaledObject in
//!   another namespace than the policy's target: `FAILED_PRECONDITION` /
//!   `PERMISSION_DENIED`, each saying what to change;
//! - no decision yet, or none for three intervals and a minute (the policy's
//!   loop is stalled or failing): `UNAVAILABLE`. KEDA reports the scaler
//!   error and the HPA, missing its metric, keeps the replica count (or
//!   KEDA applies the ScaledObject's `fallback`): never a guess;
//! - a decision without a fresh forecast is the planner's reactive and
//!   backlog terms' (with metrics missing, the current count held); it is
//!   served, and the log says so when that starts and ends.

pub mod board;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

pub use board::{Board, PolicyInfo, Served};

use crate::policy::Mode;
use crate::telemetry::{Flag, KedaLabels, Metrics};

/// The code generated from proto/externalscaler.proto.
#[allow(clippy::all, missing_docs)]
pub mod proto {
    tonic::include_proto!("externalscaler");
}

use proto::external_scaler_server::{ExternalScaler, ExternalScalerServer};
use proto::{
    GetMetricSpecResponse, GetMetricsRequest, GetMetricsResponse, IsActiveResponse, MetricSpec,
    MetricValue, ScaledObjectRef,
};

/// The key of `scalerMetadata` that names the policy.
pub const POLICY_KEY: &str = "policy";

/// The metric's name for a policy (KEDA prefixes it with the trigger's index).
pub fn metric_name(policy: &str) -> String {
    format!("planscale-{policy}")
}

/// Errors of the scaler's server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr} for the KEDA scaler: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("KEDA scaler TLS: cannot read {path}: {source}")]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("KEDA scaler TLS: {0}")]
    Tls(String),
}

/// TLS for the scaler: the server's certificate and key (PEM), and, for
/// mutual TLS, the CA that signs the clients' (KEDA's) certificates.
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The service.
#[derive(Clone)]
pub struct Scaler {
    board: Board,
    metrics: Metrics,
    /// Per policy, whether the last decision served had a forecast (to log
    /// when serving reactive decisions starts and ends, not every request).
    logged: Arc<Mutex<HashMap<String, bool>>>,
    /// The controller's readiness (`/readyz`): set once its first reload pass
    /// has loaded the policies, cleared when shutdown begins. Until then an
    /// unknown name means "not yet", not "no such policy".
    ready: Flag,
}

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A request checked: the policy's name, what the board knows of it, and a
/// receiver of its decisions.
struct Checked {
    policy: String,
    rx: watch::Receiver<Option<Served>>,
    info: PolicyInfo,
}

impl Scaler {
    /// A scaler over `board`, its policies taken as loaded (see
    /// [`Scaler::ready_when`]).
    pub fn new(board: Board, metrics: Metrics) -> Self {
        let ready = Flag::default();
        ready.set(true);
        Scaler {
            board,
            metrics,
            logged: Arc::default(),
            ready,
        }
    }

    /// Answer unknown names with `UNAVAILABLE` (retry) while `ready` is
    /// unset: the controller's readiness, so a replica still winning its
    /// Lease never tells KEDA that a real policy does not exist.
    pub fn ready_when(mut self, ready: Flag) -> Self {
        self.ready = ready;
        self
    }

    fn count(&self, policy: &str, rpc: &str, code: tonic::Code) {
        self.metrics
            .keda_requests
            .get_or_create(&KedaLabels {
                policy: policy.to_string(),
                rpc: rpc.to_string(),
                code: code_name(code).to_string(),
            })
            .inc();
    }

    /// Find the policy the ScaledObject names and check that it may read it.
    fn check(&self, r: &ScaledObjectRef, rpc: &str) -> Result<Checked, Status> {
        let refused = |code: tonic::Code, policy: &str, msg: String| {
            self.count(policy, rpc, code);
            tracing::warn!(rpc, scaled_object = %format!("{}/{}", r.namespace, r.name), "KEDA scaler request refused: {msg}");
            Err(Status::new(code, msg))
        };
        let Some(policy) = r.scaler_metadata.get(POLICY_KEY).filter(|p| !p.is_empty()) else {
            return refused(
                tonic::Code::InvalidArgument,
                "",
                format!(
                    "ScaledObject {}/{}: the trigger's metadata has no {POLICY_KEY:?}: name the planscale policy (metadata: {{{POLICY_KEY}: <name>}})",
                    r.namespace, r.name
                ),
            );
        };
        let Some(found) = self.board.get(policy) else {
            if !self.ready.get() {
                // Starting (leader election, the first reload) or stopping:
                // retryable, not a verdict on the name.
                return refused(
                    tonic::Code::Unavailable,
                    "",
                    format!(
                        "planscale has not loaded its policies yet (starting) or is shutting down: cannot look up policy {policy:?}; retry"
                    ),
                );
            }
            let known = self.board.names();
            return refused(
                tonic::Code::NotFound,
                "",
                format!(
                    "no planscale policy named {policy:?} (running: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        };
        if found.info.mode != Mode::Keda {
            return refused(
                tonic::Code::FailedPrecondition,
                policy,
                format!(
                    "policy {policy:?} is in mode {}: set scaling.mode: keda for KEDA to scale its target (two autoscalers on one target fight)",
                    found.info.mode
                ),
            );
        }
        if r.namespace != found.info.namespace {
            return refused(
                tonic::Code::PermissionDenied,
                policy,
                format!(
                    "policy {policy:?} scales a target in namespace {:?}; a ScaledObject in namespace {:?} may not read it",
                    found.info.namespace, r.namespace
                ),
            );
        }
        Ok(Checked {
            policy: policy.clone(),
            rx: found.rx,
            info: found.info,
        })
    }

    /// The decision to serve now, or `UNAVAILABLE` when there is none fresh.
    fn fresh(&self, c: &Checked, rpc: &str) -> Result<Served, Status> {
        let served = c.rx.borrow().clone();
        let msg = match served {
            Some(s) if s.at.elapsed() <= c.info.fresh_for => {
                self.note_forecast(&c.policy, &s);
                return Ok(s);
            }
            Some(s) => format!(
                "policy {:?} has not decided for {}s (its loop is stalled or failing; see planscale's log): not serving a stale count",
                c.policy,
                s.at.elapsed().as_secs()
            ),
            None => format!(
                "policy {:?} has no decision yet (its first loop has not finished)",
                c.policy
            ),
        };
        self.count(&c.policy, rpc, tonic::Code::Unavailable);
        tracing::warn!(policy = %c.policy, rpc, "KEDA scaler: {msg}");
        Err(Status::unavailable(msg))
    }

    fn note_forecast(&self, policy: &str, s: &Served) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        let before = logged.insert(policy.to_string(), s.forecast);
        if before == Some(s.forecast) || (before.is_none() && s.forecast) {
            return;
        }
        if s.forecast {
            tracing::info!(
                policy,
                replicas = s.replicas,
                "KEDA scaler: serving forecast decisions again"
            );
        } else {
            tracing::warn!(
                policy,
                replicas = s.replicas,
                reason = s.no_forecast.unwrap_or("unknown"),
                "KEDA scaler: no fresh forecast; serving the reactive decision"
            );
        }
    }

    fn spec(policy: &str) -> GetMetricSpecResponse {
        GetMetricSpecResponse {
            metric_specs: vec![MetricSpec {
                metric_name: metric_name(policy),
                target_size: 1,
                target_size_float: 1.0,
            }],
        }
    }
}

/// The status code's name as gRPC spells it (`NOT_FOUND`), for metrics.
fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match c {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A server stream that follows a policy's decisions: at once and after
/// every new decision, `message` says what to send (`None`: nothing). It ends
/// when the client goes away (the task only stops; nothing else to clean up)
/// or with `UNAVAILABLE` when the policy is no longer served (removed, or
/// planscale stopping, so that a graceful stop does not wait on it).
fn follow<T: Send + 'static>(
    c: Checked,
    mut message: impl FnMut(&Option<Served>) -> Option<T> + Send + 'static,
) -> Stream_<T> {
    let (tx, rx) = mpsc::channel(4);
    let Checked {
        policy,
        rx: mut decisions,
        ..
    } = c;
    tokio::spawn(async move {
        loop {
            let next = message(&decisions.borrow_and_update());
            if let Some(m) = next
                && tx.send(Ok(m)).await.is_err()
            {
                break;
            }
            tokio::select! {
                _ = tx.closed() => break,
                changed = decisions.changed() => if changed.is_err() {
                    let gone = format!("policy {policy:?} is no longer served (removed, or planscale is stopping)");
                    let _ = tx.send(Err(Status::unavailable(gone))).await;
                    break;
                },
            }
        }
        tracing::debug!(policy = %policy, "a KEDA scaler stream ended");
    });
    Box::pin(ReceiverStream::new(rx))
}

/// Whether `asked` names `ours`, allowing KEDA's trigger-index prefix (`s0-`).
fn same_metric(asked: &str, ours: &str) -> bool {
    if asked.is_empty() || asked == ours {
        return true;
    }
    asked
        .strip_prefix('s')
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(i, rest)| {
            !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) && rest == ours
        })
}

#[tonic::async_trait]
impl ExternalScaler for Scaler {
    async fn is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<IsActiveResponse>, Status> {
        let c = self.check(request.get_ref(), "IsActive")?;
        let s = self.fresh(&c, "IsActive")?;
        self.count(&c.policy, "IsActive", tonic::Code::Ok);
        Ok(Response::new(IsActiveResponse {
            result: s.replicas > 0,
        }))
    }

    type StreamIsActiveStream = Stream_<IsActiveResponse>;

    /// The activity at once (when there is a decision), then each change.
    async fn stream_is_active(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamIsActiveStream>, Status> {
        let c = self.check(request.get_ref(), "StreamIsActive")?;
        self.count(&c.policy, "StreamIsActive", tonic::Code::Ok);
        let mut last = None;
        Ok(Response::new(follow(c, move |d| {
            let active = d.as_ref()?.replicas > 0;
            (last != Some(active)).then(|| {
                last = Some(active);
                IsActiveResponse { result: active }
            })
        })))
    }

    async fn get_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<GetMetricSpecResponse>, Status> {
        let c = self.check(request.get_ref(), "GetMetricSpec")?;
        self.count(&c.policy, "GetMetricSpec", tonic::Code::Ok);
        Ok(Response::new(Self::spec(&c.policy)))
    }

    type StreamMetricSpecStream = Stream_<GetMetricSpecResponse>;

    /// The spec at once; it never changes while the policy runs (the target
    /// is always 1), so the stream then only ends with the policy.
    async fn stream_metric_spec(
        &self,
        request: Request<ScaledObjectRef>,
    ) -> Result<Response<Self::StreamMetricSpecStream>, Status> {
        let c = self.check(request.get_ref(), "StreamMetricSpec")?;
        self.count(&c.policy, "StreamMetricSpec", tonic::Code::Ok);
        let policy = c.policy.clone();
        let mut sent = false;
        Ok(Response::new(follow(c, move |_| {
            (!sent).then(|| {
                sent = true;
                Scaler::spec(&policy)
            })
        })))
    }

    async fn get_metrics(
        &self,
        request: Request<GetMetricsRequest>,
    ) -> Result<Response<GetMetricsResponse>, Status> {
        let r = request.get_ref();
        let Some(so) = r.scaled_object_ref.as_ref() else {
            self.count("", "GetMetrics", tonic::Code::InvalidArgument);
            return Err(Status::invalid_argument(
                "GetMetricsRequest without scaledObjectRef",
            ));
        };
        let c = self.check(so, "GetMetrics")?;
        let ours = metric_name(&c.policy);
        if !same_metric(&r.metric_name, &ours) {
            self.count(&c.policy, "GetMetrics", tonic::Code::InvalidArgument);
            return Err(Status::invalid_argument(format!(
                "policy {:?} serves the metric {ours:?}, not {:?}",
                c.policy, r.metric_name
            )));
        }
        let s = self.fresh(&c, "GetMetrics")?;
        self.count(&c.policy, "GetMetrics", tonic::Code::Ok);
        Ok(Response::new(GetMetricsResponse {
            metric_values: vec![MetricValue {
                metric_name: ours,
                metric_value: i64::from(s.replicas),
                metric_value_float: f64::from(s.replicas),
            }],
        }))
    }
}

/// Bind `addr` and serve the scaler until `shutdown` turns true. Returns the
/// bound address (port 0 picks one) and the serving task.
pub async fn serve(
    addr: SocketAddr,
    tls: Option<&Tls>,
    scaler: Scaler,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), Error> {
    let mut builder = tonic::transport::Server::builder();
    if let Some(t) = tls {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|source| Error::TlsFile {
                path: path.clone(),
                source,
            })
        };
        let mut cfg = tonic::transport::ServerTlsConfig::new().identity(
            tonic::transport::Identity::from_pem(read(&t.cert)?, read(&t.key)?),
        );
        if let Some(ca) = &t.client_ca {
            cfg = cfg.client_ca_root(tonic::transport::Certificate::from_pem(read(ca)?));
        }
        builder = builder
            .tls_config(cfg)
            .map_err(|e| Error::Tls(e.to_string()))?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    let router = builder.add_service(ExternalScalerServer::new(scaler));
    let task = tokio::spawn(async move {
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, stop).await {
            tracing::error!(error = %e, "the KEDA scaler's server stopped");
        }
    });
    Ok((bound, task))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn so(namespace: &str, policy: Option<&str>) -> ScaledObjectRef {
        ScaledObjectRef {
            name: "worker".into(),
            namespace: namespace.into(),
            scaler_metadata: policy
                .map(|p| [(POLICY_KEY.to_string(), p.to_string())].into())
                .unwrap_or_default(),
        }
    }

    fn info(mode: Mode) -> PolicyInfo {
        PolicyInfo {
            mode,
            namespace: "planning".into(),
            fresh_for: Duration::from_secs(120),
        }
    }

    fn served(n: u32, forecast: bool, age: Duration) -> Served {
        Served {
            replicas: n,
            forecast,
            no_forecast: (!forecast).then_some("metrics_unavailable"),
            at: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
        }
    }

    fn scaler() -> (Scaler, Board) {
        let board = Board::default();
        board.register("contour", info(Mode::Keda));
        board.register("dose", info(Mode::Scale));
        (Scaler::new(board.clone(), Metrics::default()), board)
    }

    async fn metrics(s: &Scaler, r: ScaledObjectRef) -> Result<f64, Status> {
        let req = GetMetricsRequest {
            scaled_object_ref: Some(r),
            metric_name: "s0-planscale-contour".into(),
        };
        let v = s.get_metrics(Request::new(req)).await?.into_inner();
        assert_eq!(v.metric_values.len(), 1);
        assert_eq!(v.metric_values[0].metric_name, "planscale-contour");
        assert_eq!(
            v.metric_values[0].metric_value as f64,
            v.metric_values[0].metric_value_float
        );
        Ok(v.metric_values[0].metric_value_float)
    }

    #[tokio::test]
    async fn serves_the_decision_and_refuses_what_it_cannot_serve() {
        let (s, board) = scaler();
        // No decision yet: UNAVAILABLE, never a guess.
        let e = metrics(&s, so("planning", Some("contour")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
        assert!(e.message().contains("no decision yet"), "{e:?}");
        board.publish("contour", served(4, true, Duration::ZERO));
        assert_eq!(
            metrics(&s, so("planning", Some("contour"))).await.unwrap(),
            4.0
        );
        let active = s
            .is_active(Request::new(so("planning", Some("contour"))))
            .await
            .unwrap();
        assert!(active.into_inner().result);
        // Without a forecast the (reactive) decision is still served.
        board.publish("contour", served(2, false, Duration::ZERO));
        assert_eq!(
            metrics(&s, so("planning", Some("contour"))).await.unwrap(),
            2.0
        );
        assert_eq!(s.logged.lock().unwrap().get("contour"), Some(&false));
        // A decision older than the policy allows is not served.
        board.publish("contour", served(3, true, Duration::from_secs(600)));
        let e = metrics(&s, so("planning", Some("contour")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable);
        assert!(e.message().contains("has not decided for"), "{e:?}");
        // Zero replicas: inactive.
        board.publish("contour", served(0, true, Duration::ZERO));
        let active = s
            .is_active(Request::new(so("planning", Some("contour"))))
            .await
            .unwrap();
        assert!(!active.into_inner().result);

        let e = metrics(&s, so("planning", Some("nope"))).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        assert!(e.message().contains("\"nope\""), "{e:?}");
        assert!(e.message().contains("contour, dose"), "{e:?}");
        // Before the policies are loaded (starting) and after shutdown, an
        // unknown name is "retry", not "no such policy".
        let ready = Flag::default();
        let starting = Scaler::new(board.clone(), Metrics::default()).ready_when(ready.clone());
        let e = metrics(&starting, so("planning", Some("nope")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
        assert!(e.message().contains("not loaded its policies yet"), "{e:?}");
        ready.set(true);
        let e = metrics(&starting, so("planning", Some("nope")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::NotFound);
        let e = metrics(&s, so("planning", None)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("policy"), "{e:?}");
        let e = s
            .get_metric_spec(Request::new(so("planning", Some("dose"))))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::FailedPrecondition);
        assert!(e.message().contains("mode scale"), "{e:?}");
        let e = metrics(&s, so("imaging", Some("contour")))
            .await
            .unwrap_err();
        assert_eq!(e.code(), tonic::Code::PermissionDenied);
        let wrong = GetMetricsRequest {
            scaled_object_ref: Some(so("planning", Some("contour"))),
            metric_name: "queue".into(),
        };
        let e = s.get_metrics(Request::new(wrong)).await.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("planscale-contour"), "{e:?}");
        let page = {
            let mut r = prometheus_client::registry::Registry::default();
            s.metrics.register(&mut r);
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
            out
        };
        assert!(
            page.contains(r#"keda_requests_total{policy="",rpc="GetMetrics",code="NOT_FOUND"} 1"#),
            "{page}"
        );
    }

    #[tokio::test]
    async fn the_activity_stream_pushes_changes_and_ends_with_the_policy() {
        use tokio_stream::StreamExt;
        let (s, board) = scaler();
        let mut st = s
            .stream_is_active(Request::new(so("planning", Some("contour"))))
            .await
            .unwrap()
            .into_inner();
        board.publish("contour", served(2, true, Duration::ZERO));
        assert!(st.next().await.unwrap().unwrap().result);
        // A new count with the same activity is not pushed; a change is.
        board.publish("contour", served(3, true, Duration::ZERO));
        board.publish("contour", served(0, true, Duration::ZERO));
        assert!(!st.next().await.unwrap().unwrap().result);
        board.remove("contour");
        let end = st.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Unavailable);
        assert!(st.next().await.is_none());
        // The spec stream sends the spec at once.
        board.register("contour", info(Mode::Keda));
        let mut spec = s
            .stream_metric_spec(Request::new(so("planning", Some("contour"))))
            .await
            .unwrap()
            .into_inner();
        let first = spec.next().await.unwrap().unwrap();
        assert_eq!(first.metric_specs[0].target_size_float, 1.0);
        assert_eq!(first.metric_specs[0].target_size, 1);
        drop(spec);
    }

    #[test]
    fn metric_names_with_and_without_the_trigger_index() {
        let ours = metric_name("contour");
        assert_eq!(ours, "planscale-contour");
        assert!(same_metric("", &ours));
        assert!(same_metric("planscale-contour", &ours));
        assert!(same_metric("s0-planscale-contour", &ours));
        assert!(same_metric("s12-planscale-contour", &ours));
        assert!(!same_metric("s-planscale-contour", &ours));
        assert!(!same_metric("sx-planscale-contour", &ours));
        assert!(!same_metric("planscale-dose", &ours));
        assert!(!same_metric("s0-planscale-dose", &ours));
    }
}
