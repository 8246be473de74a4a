//! KEDA's external scaler against the running `planscale run --keda-listen`
//! binary and a real kube-apiserver (v1.20.2, built once by
//! scripts/k8s-apiserver.sh), with a loopback fake Prometheus.
//!
//! Every request and response here is protobuf bytes assembled by hand from
//! KEDA's published interface (field numbers and wire types), sent through a
//! raw-bytes gRPC codec: nothing here uses the code generated from
//! proto/externalscaler.proto, so a wrong field number or type in it fails.

#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/measure.rs"]
mod measure_support;
#[path = "support/planscale.rs"]
mod planscale_support;

use std::time::Duration;

use bytes::{Buf, BufMut};
use http::uri::PathAndQuery;
use kube_support::{Kube, deployment_yaml, free_port};
use measure_support::fake_prometheus;
use planscale_support::{Planscale, sample, wait_for};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

/// A gRPC codec of raw message bytes.
#[derive(Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;
    fn encoder(&mut self) -> Raw {
        Raw
    }
    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

// --- protobuf by hand: tag = field number << 3 | wire type. ---

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field (wire type 2).
fn bytes_field(field: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![(field << 3) | 2];
    varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out
}

/// ScaledObjectRef{name = 1, namespace = 2, scalerMetadata = 3 (map entries: key 1, value 2)}.
fn scaled_object_ref(name: &str, namespace: &str, policy: &str) -> Vec<u8> {
    let mut out = bytes_field(1, name.as_bytes());
    out.extend(bytes_field(2, namespace.as_bytes()));
    let mut entry = bytes_field(1, b"policy");
    entry.extend(bytes_field(2, policy.as_bytes()));
    out.extend(bytes_field(3, &entry));
    out
}

/// GetMetricsRequest{scaledObjectRef = 1, metricName = 2}.
fn get_metrics_request(so: &[u8], metric: &str) -> Vec<u8> {
    let mut out = bytes_field(1, so);
    out.extend(bytes_field(2, metric.as_bytes()));
    out
}

/// IsActiveResponse{result = 1 (varint)}: proto3 leaves `false` out.
fn is_active_response(active: bool) -> Vec<u8> {
    if active { vec![0x08, 0x01] } else { vec![] }
}

/// MetricSpec{metricName = 1, targetSize = 2 (varint), targetSizeFloat = 3 (fixed64)} in
/// GetMetricSpecResponse{metricSpecs = 1}.
fn metric_spec_response(metric: &str) -> Vec<u8> {
    let mut spec = bytes_field(1, metric.as_bytes());
    spec.extend([0x10, 0x01]);
    spec.push(0x19);
    spec.extend(1.0f64.to_le_bytes());
    bytes_field(1, &spec)
}

/// MetricValue{metricName = 1, metricValue = 2 (varint), metricValueFloat = 3 (fixed64)} in
/// GetMetricsResponse{metricValues = 1}; zeros left out.
fn metrics_response(metric: &str, value: u32) -> Vec<u8> {
    let mut v = bytes_field(1, metric.as_bytes());
    if value > 0 {
        v.push(0x10);
        varint(u64::from(value), &mut v);
        v.push(0x19);
        v.extend(f64::from(value).to_le_bytes());
    }
    bytes_field(1, &v)
}

const SERVICE: &str = "/externalscaler.ExternalScaler/";

#[derive(Clone)]
struct Client(tonic::client::Grpc<Channel>);

impl Client {
    async fn connect(port: u16) -> Client {
        let ch = wait_for(
            "the KEDA scaler to listen",
            Duration::from_secs(60),
            || async {
                Channel::from_shared(format!("http://127.0.0.1:{port}"))
                    .unwrap()
                    .connect()
                    .await
                    .ok()
            },
        )
        .await;
        Client(tonic::client::Grpc::new(ch))
    }

    fn path(rpc: &str) -> PathAndQuery {
        PathAndQuery::try_from(format!("{SERVICE}{rpc}")).unwrap()
    }

    async fn unary(&mut self, rpc: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
        self.0.ready().await.unwrap();
        self.0
            .unary(tonic::Request::new(body), Self::path(rpc), Raw)
            .await
            .map(|r| r.into_inner())
    }

    async fn stream(
        &mut self,
        rpc: &str,
        body: Vec<u8>,
    ) -> Result<tonic::codec::Streaming<Vec<u8>>, Status> {
        self.0.ready().await.unwrap();
        self.0
            .server_streaming(tonic::Request::new(body), Self::path(rpc), Raw)
            .await
            .map(|r| r.into_inner())
    }
}

fn policy_yaml(name: &str, target: &str, mode: &str, min: u32) -> String {
    format!(
        "name: {name}
target: {{kind: Deployment, namespace: planning, name: {target}}}
replicas: {{min: {min}, max: 12}}
capacity: {{per_replica: 1, per: 1m, startup: 5m}}
demand: {{arrivals: {{series: jobs, query: sum(jobs_3)}}}}
slo: {{max_wait: 5m}}
forecast: {{step: 5m, history: 2d, horizon: 2h, seasonal_periods: [1d]}}
scaling: {{mode: {mode}, interval: 1m}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_keda_each_rpc_with_the_bytes_keda_expects() {
    let k = Kube::start();
    k.install_rbac_for_limited_user();
    k.kubectl_ok(&["create", "namespace", "planning"]);
    k.apply(&deployment_yaml("planning", "contour", 1));
    k.apply(&deployment_yaml("planning", "idle", 0));
    k.apply(&deployment_yaml("planning", "dosecalc", 1));
    // `idle` is paused: planscale serves the count it has, whatever it forecasts.
    k.kubectl_ok(&[
        "-n",
        "planning",
        "annotate",
        "deployment",
        "idle",
        "planscale.io/paused=true",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    for (name, target, mode, min) in [
        ("contour", "contour", "keda", 1),
        ("idle", "idle", "keda", 0),
        ("dosecalc", "dosecalc", "forecast-only", 1),
    ] {
        std::fs::write(
            policies.join(format!("{name}.yaml")),
            policy_yaml(name, target, mode, min),
        )
        .unwrap();
    }
    let prom = fake_prometheus().await;
    let grpc_port = free_port();
    let prom_url = format!("http://127.0.0.1:{prom}");
    let listen = format!("127.0.0.1:{grpc_port}");
    let p = Planscale::start_leader(
        dir.path(),
        &k.limited_kubeconfig,
        &policies,
        &["--prometheus-url", &prom_url, "--keda-listen", &listen],
    );
    let mut c = Client::connect(grpc_port).await;

    // Known policy: the spec, byte for byte. The scaler listens before the
    // Lease is won and the policies loaded; until then it answers
    // UNAVAILABLE (retry), which KEDA retries: wait that out, and nothing
    // else.
    let contour = scaled_object_ref("contour-worker", "planning", "contour");
    let spec = wait_for("the policies to load", Duration::from_secs(60), || {
        let (mut c, body) = (c.clone(), contour.clone());
        async move {
            match c.unary("GetMetricSpec", body).await {
                Err(e) if e.code() == Code::Unavailable => None,
                other => Some(other),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(spec, metric_spec_response("planscale-contour"));
    let mut spec_stream = c.stream("StreamMetricSpec", contour.clone()).await.unwrap();
    assert_eq!(
        spec_stream.message().await.unwrap().unwrap(),
        metric_spec_response("planscale-contour")
    );
    drop(spec_stream);

    // The metric is the count the policy decided (its desired_replicas on /metrics),
    // asked for under KEDA's trigger-indexed name.
    // Read on both sides of the call, so that a decision that changed in
    // between is asked again rather than failing the test.
    let decided = wait_for(
        "GetMetrics to serve contour's decision",
        Duration::from_secs(120),
        || {
            let mut c = Client(c.0.clone());
            let req = get_metrics_request(&contour, "s0-planscale-contour");
            let p = &p;
            async move {
                let series = r#"planscale_desired_replicas{policy="contour"}"#;
                let before = sample(&p.metrics().await, series)? as u32;
                let got = c.unary("GetMetrics", req).await.ok()?;
                let after = sample(&p.metrics().await, series)? as u32;
                (before == after).then(|| {
                    assert_eq!(got, metrics_response("planscale-contour", before));
                    before
                })
            }
        },
    )
    .await;
    assert_eq!(
        c.unary("IsActive", contour.clone()).await.unwrap(),
        is_active_response(decided > 0)
    );

    // Unknown policy: NOT_FOUND naming it, on every RPC.
    let unknown = scaled_object_ref("x", "planning", "no-such-policy");
    for rpc in ["IsActive", "GetMetricSpec"] {
        let e = c.unary(rpc, unknown.clone()).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{rpc}: {e:?}");
        assert!(e.message().contains("no-such-policy"), "{rpc}: {e:?}");
    }
    let e = c
        .unary(
            "GetMetrics",
            get_metrics_request(&unknown, "planscale-no-such-policy"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    for rpc in ["StreamIsActive", "StreamMetricSpec"] {
        let e = c.stream(rpc, unknown.clone()).await.unwrap_err();
        assert_eq!(e.code(), Code::NotFound, "{rpc}: {e:?}");
        assert!(e.message().contains("no-such-policy"), "{rpc}: {e:?}");
    }
    // A policy in another mode, and a ScaledObject in another namespace.
    let e = c
        .unary("IsActive", scaled_object_ref("d", "planning", "dosecalc"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    let e = c
        .unary("IsActive", scaled_object_ref("c", "imaging", "contour"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // StreamIsActive: `idle` has 0 replicas (inactive) until someone scales it
    // to 2; the stream pushes the change. A second stream is dropped after its
    // first message (a client that goes away mid-stream).
    let idle = scaled_object_ref("idle-worker", "planning", "idle");
    let mut stream = c.stream("StreamIsActive", idle.clone()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(120), stream.message())
        .await
        .expect("the first activity")
        .unwrap()
        .unwrap();
    assert_eq!(first, is_active_response(false));
    let mut dropped = c.stream("StreamIsActive", idle.clone()).await.unwrap();
    assert_eq!(
        dropped.message().await.unwrap().unwrap(),
        is_active_response(false)
    );
    drop(dropped);
    k.kubectl_ok(&[
        "-n",
        "planning",
        "scale",
        "deployment",
        "idle",
        "--replicas=2",
    ]);
    let pushed = tokio::time::timeout(Duration::from_secs(60), stream.message())
        .await
        .expect("a push within the loop's interval")
        .unwrap()
        .unwrap();
    assert_eq!(pushed, is_active_response(true));
    // The server is unharmed by the client that left.
    assert_eq!(
        c.unary("IsActive", idle.clone()).await.unwrap(),
        is_active_response(true)
    );
    let page = p.metrics().await;
    assert!(
        sample(
            &page,
            r#"planscale_keda_requests_total{policy="",rpc="IsActive",code="NOT_FOUND"}"#
        ) >= Some(1.0),
        "{page}"
    );
    // planscale wrote nothing to the keda-mode targets.
    let admin = k.admin_client().await;
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> =
        kube::Api::namespaced(admin, "planning");
    assert_eq!(kube_support::replicas(&api, "contour").await, 1);
    let log = p.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(log.contains("serving KEDA's external scaler"), "{log}");
}
