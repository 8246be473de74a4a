//! The KEDA scaler's server in-process: TLS and mutual TLS (certificates
//! made here with rcgen), and a graceful stop with a stream open.

use std::time::{Duration, Instant};

use planscale::keda::proto::ScaledObjectRef;
use planscale::keda::proto::external_scaler_client::ExternalScalerClient;
use planscale::keda::{Board, PolicyInfo, Scaler, Served, Tls};
use planscale::policy::Mode;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::sync::watch;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn board() -> Board {
    let b = Board::default();
    b.register(
        "contour",
        PolicyInfo {
            mode: Mode::Keda,
            namespace: "planning".into(),
            fresh_for: Duration::from_secs(600),
        },
    );
    b.publish(
        "contour",
        Served {
            replicas: 3,
            forecast: true,
            no_forecast: None,
            at: Instant::now(),
        },
    );
    b
}

fn so() -> ScaledObjectRef {
    ScaledObjectRef {
        name: "worker".into(),
        namespace: "planning".into(),
        scaler_metadata: [("policy".to_string(), "contour".to_string())].into(),
    }
}

/// A CA, a server certificate for localhost / 127.0.0.1 and a client
/// certificate, as PEM files in `dir`; returns (ca, client cert, client key) PEM.
fn pki(dir: &std::path::Path) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (srv, srv_key) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
    let (cli, cli_key) = leaf(vec!["keda-operator".into()]);
    std::fs::write(dir.join("tls.crt"), srv).unwrap();
    std::fs::write(dir.join("tls.key"), srv_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    (ca.pem(), cli, cli_key)
}

async fn connect(url: String, tls: Option<ClientTlsConfig>) -> Option<Channel> {
    let mut ep = Channel::from_shared(url).unwrap();
    if let Some(t) = tls {
        ep = ep.tls_config(t).unwrap();
    }
    ep.connect().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_clients_with_a_certificate_of_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cli, cli_key) = pki(dir.path());
    let tls = Tls {
        cert: dir.path().join("tls.crt"),
        key: dir.path().join("tls.key"),
        client_ca: Some(dir.path().join("ca.crt")),
    };
    let (_stop, stop_rx) = watch::channel(false);
    let scaler = Scaler::new(board(), planscale::telemetry::Metrics::default());
    let (addr, _task) =
        planscale::keda::serve("127.0.0.1:0".parse().unwrap(), Some(&tls), scaler, stop_rx)
            .await
            .unwrap();
    let url = format!("https://localhost:{}", addr.port());
    let trust = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca))
        .domain_name("localhost");

    let ch = connect(
        url.clone(),
        Some(trust.clone().identity(Identity::from_pem(&cli, &cli_key))),
    )
    .await
    .expect("a client with a certificate of the CA connects");
    let spec = ExternalScalerClient::new(ch)
        .get_metric_spec(so())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(spec.metric_specs[0].metric_name, "planscale-contour");

    // No client certificate: the handshake or the first call fails.
    let refused = match connect(url.clone(), Some(trust)).await {
        None => true,
        Some(ch) => ExternalScalerClient::new(ch).is_active(so()).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    // Plaintext to a TLS port: refused.
    let plain = match connect(format!("http://127.0.0.1:{}", addr.port()), None).await {
        None => true,
        Some(ch) => ExternalScalerClient::new(ch).is_active(so()).await.is_err(),
    };
    assert!(plain, "a plaintext client was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_certificate_is_an_error_naming_the_file() {
    let (_stop, stop_rx) = watch::channel(false);
    let scaler = Scaler::new(board(), planscale::telemetry::Metrics::default());
    let tls = Tls {
        cert: "/nonexistent/tls.crt".into(),
        key: "/nonexistent/tls.key".into(),
        client_ca: None,
    };
    let e = planscale::keda::serve("127.0.0.1:0".parse().unwrap(), Some(&tls), scaler, stop_rx)
        .await
        .expect_err("an error");
    assert!(e.to_string().contains("/nonexistent/tls.crt"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_gracefully_with_a_stream_open() {
    let b = board();
    let (stop, stop_rx) = watch::channel(false);
    let scaler = Scaler::new(b.clone(), planscale::telemetry::Metrics::default());
    let (addr, task) =
        planscale::keda::serve("127.0.0.1:0".parse().unwrap(), None, scaler, stop_rx)
            .await
            .unwrap();
    let ch = connect(format!("http://127.0.0.1:{}", addr.port()), None)
        .await
        .unwrap();
    let mut stream = ExternalScalerClient::new(ch)
        .stream_is_active(so())
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().unwrap().result);
    // What `planscale run` does at shutdown: end the streams, stop the server.
    b.clear();
    stop.send(true).unwrap();
    let end = stream.message().await;
    assert!(
        matches!(&end, Err(s) if s.code() == tonic::Code::Unavailable) || matches!(end, Ok(None)),
        "{end:?}"
    );
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the server stops")
        .unwrap();
}
