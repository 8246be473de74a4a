//! The controller against a real kube-apiserver (v1.20.2, built once by
//! scripts/k8s-apiserver.sh): scale ahead of a forecast spike in `scale` mode,
//! leave the target alone in `forecast-only`, with a token bound only to
//! deploy/'s RBAC; a write outside it is refused (403); a write that another
//! writer overtakes between the actuator's read and write is refused with a
//! real 409 and the actuator re-reads and retries.

#[path = "support/api_proxy.rs"]
mod api_proxy;
#[path = "support/kube.rs"]
mod kube_support;

use std::time::Duration;

use api_proxy::ApiProxy;
use chrono::{TimeDelta, Timelike, Utc};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube_support::{Kube, deployment_yaml};
use planscale::controller::cluster::Applied;
use planscale::controller::sources::{MemoryMetrics, Observation, PolicySchedule};
use planscale::controller::{Cluster, KubeCluster, Settings, TargetRef};
use planscale::policy::TargetKind;
use planscale::series::{Grid, Series};

fn policy_yaml(name: &str, target: &str, mode: &str) -> String {
    format!(
        "name: {name}
target: {{kind: Deployment, namespace: planning, name: {target}}}
replicas: {{min: 1, max: 12}}
capacity: {{per_replica: 1, per: 1m, startup: 30m}}
demand: {{arrivals: {{series: jobs}}}}
slo: {{max_wait: 5m}}
forecast: {{step: 5m, history: 3d, horizon: 6h, seasonal_periods: [1d]}}
scaling: {{mode: {mode}, interval: 1m, scale_up: {{pods: 20, percent: 100, period: 1m}}}}
"
    )
}

/// Three days of 5-minute history in which, every day, a spike of 40 jobs per
/// step starts 15 minutes after the current time of day and lasts 3 hours.
fn history_with_spike_ahead() -> Series {
    let step = 300;
    let now = Utc::now();
    let end = now - TimeDelta::seconds(now.timestamp() % step);
    let n = 3 * 288;
    let start = end - TimeDelta::seconds(step * (n as i64 - 1));
    let grid = Grid::new(start, step, n);
    let spike_from = (now + TimeDelta::minutes(15)).num_seconds_from_midnight() as i64;
    let values = (0..n)
        .map(|i| {
            let tod = grid.time(i).num_seconds_from_midnight() as i64;
            let since = (tod - spike_from).rem_euclid(86_400);
            if since < 3 * 3600 { 40.0 } else { 1.0 }
        })
        .collect();
    Series::new(grid, values)
}

async fn replicas(api: &Api<Deployment>, name: &str) -> i32 {
    api.get(name).await.unwrap().spec.unwrap().replicas.unwrap()
}

async fn events_for(client: &kube::Client, name: &str) -> Vec<Event> {
    let api: Api<Event> = Api::namespaced(client.clone(), "planning");
    api.list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_ahead_of_a_forecast_spike_with_only_the_shipped_rbac() {
    let k = Kube::start();
    k.install_rbac_for_limited_user();
    k.kubectl_ok(&["create", "namespace", "planning"]);
    k.apply(&deployment_yaml("planning", "contour", 1));
    k.apply(&deployment_yaml("planning", "dosecalc", 1));
    let admin = k.admin_client().await;
    let limited = k.limited_client().await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("contour.yaml"),
        policy_yaml("contour", "contour", "scale"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dosecalc.yaml"),
        policy_yaml("dosecalc", "dosecalc", "forecast-only"),
    )
    .unwrap();
    let metrics = MemoryMetrics::default();
    for p in ["contour", "dosecalc"] {
        metrics.set(
            p,
            Observation {
                history: history_with_spike_ahead(),
                utilisation: None,
                queue_depth: None,
                completions: None,
            },
        );
    }
    let metrics_port = kube_support::free_port();
    let settings = Settings {
        policies: dir.path().to_path_buf(),
        interval: Some(planscale::policy::Duration::from_secs(1)),
        reload_interval: planscale::policy::Duration::from_secs(1),
        lease_namespace: Some("planscale".into()),
        lease_name: "planscale-leader".into(),
        lease_duration: planscale::policy::Duration::from_secs(6),
        identity: Some("test-controller".into()),
        listen: format!("127.0.0.1:{metrics_port}").parse().unwrap(),
        ..Settings::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(planscale::controller::run(
        settings,
        limited.clone(),
        metrics,
        PolicySchedule,
        async move {
            let _ = stopped.await;
        },
    ));

    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "planning");
    let mut scaled = 1;
    for _ in 0..120 {
        scaled = replicas(&deployments, "contour").await;
        if scaled > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // 40 jobs per 5-minute step at 1 job/min per replica: at least 8 replicas
    // (the p90 may add some; never above max 12), before the spike. The
    // Events are in the message so that a failure shows the decisions.
    let notes: Vec<String> = events_for(&admin, "contour")
        .await
        .into_iter()
        .filter_map(|e| e.note)
        .collect();
    assert!(
        (8..=12).contains(&scaled),
        "contour was not scaled ahead of the spike: {scaled} replicas; Events: {notes:?}"
    );
    // Give the forecast-only policy the same number of iterations.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        replicas(&deployments, "dosecalc").await,
        1,
        "forecast-only must not write"
    );

    let ev = events_for(&admin, "contour").await;
    let up = ev
        .iter()
        .find(|e| e.reason.as_deref() == Some("ScaledUp"))
        .expect("a ScaledUp Event");
    let note = up.note.clone().unwrap_or_default();
    assert!(
        note.contains(&format!("1 -> {scaled}"))
            && note.contains("predictive term")
            && note.contains("forecast p90"),
        "{note}"
    );
    assert_eq!(up.reporting_controller.as_deref(), Some("planscale"));
    let ev = events_for(&admin, "dosecalc").await;
    assert!(
        ev.iter().any(|e| e.reason.as_deref() == Some("WouldScale")),
        "forecast-only explains what it would do: {ev:?}"
    );

    let leases: Api<Lease> = Api::namespaced(admin.clone(), "planscale");
    let holder = leases
        .get("planscale-leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert_eq!(holder.as_deref(), Some("test-controller"));

    // Reload without a restart: an invalid file is reported and the others keep
    // running; switching dosecalc to `scale` takes effect.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "name: broken\nreplicas: [\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dosecalc.yaml"),
        policy_yaml("dosecalc", "dosecalc", "scale"),
    )
    .unwrap();
    let mut now_scaled = 1;
    for _ in 0..60 {
        now_scaled = replicas(&deployments, "dosecalc").await;
        if now_scaled > 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        (8..=12).contains(&now_scaled),
        "the changed policy was picked up without a restart: {now_scaled} replicas"
    );
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("planscale_policies_invalid 1"), "{text}");
    assert!(text.contains("planscale_policies_running 2"), "{text}");
    let contour_now = replicas(&deployments, "contour").await;
    assert!(
        text.contains(&format!(
            "planscale_desired_replicas{{policy=\"contour\"}} {contour_now}"
        )),
        "{text}"
    );
    assert!(text.contains("planscale_leader 1"), "{text}");

    stop.send(()).unwrap();
    controller.await.unwrap().expect("a clean stop");
    let holder = leases
        .get("planscale-leader")
        .await
        .unwrap()
        .spec
        .unwrap()
        .holder_identity;
    assert!(
        holder.is_none(),
        "the Lease is released on shutdown: {holder:?}"
    );

    // The same token is refused outside deploy/'s RBAC: 403.
    let limited_deployments: Api<Deployment> = Api::namespaced(limited.clone(), "planning");
    let e = limited_deployments
        .patch(
            "contour",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"paused": true}})),
        )
        .await
        .unwrap_err();
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e}");
    let secrets: Api<Secret> = Api::namespaced(limited.clone(), "planning");
    let e = secrets
        .create(&PostParams::default(), &Secret::default())
        .await
        .unwrap_err();
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e}");
    let other_lease: Api<Lease> = Api::namespaced(limited.clone(), "planscale");
    let e = other_lease.get("someone-elses-lease").await.unwrap_err();
    assert!(matches!(&e, kube::Error::Api(s) if s.code == 403), "{e}");
}

/// A real 409 Conflict: another writer changes the Deployment between the
/// actuator's read and its write. The proxy in front of the real API server
/// makes that write (as the admin, straight to the server) just before it
/// forwards the actuator's first PATCH, which carries the resourceVersion the
/// actuator read; the server refuses it, and the actuator re-reads (seeing
/// the other writer's 3) and writes again with the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_between_read_and_write_gets_a_real_409_and_the_actuator_re_reads() {
    let k = Kube::start();
    k.kubectl_ok(&["create", "namespace", "planning"]);
    k.apply(&deployment_yaml("planning", "worker", 2));
    let admin = k.admin_client().await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "planning");
    let racer = deployments.clone();
    const SCALE: &str = "/apis/apps/v1/namespaces/planning/deployments/worker/scale";
    let proxy = ApiProxy::start(
        k.port,
        "PATCH",
        SCALE,
        Box::new(move || {
            Box::pin(async move {
                racer
                    .patch_scale(
                        "worker",
                        &PatchParams::default(),
                        &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
                    )
                    .await
                    .expect("the concurrent write");
            })
        }),
    )
    .await;
    let kubeconfig = k.dir.path().join("proxy.kubeconfig");
    kube_support::write_kubeconfig(&kubeconfig, &proxy.url(), kube_support::ADMIN_TOKEN);
    let cluster = KubeCluster::new(Kube::client(&kubeconfig).await, None);
    let t = TargetRef {
        kind: TargetKind::Deployment,
        namespace: "planning".into(),
        name: "worker".into(),
        hpa: None,
    };
    let a = cluster.set_replicas(&t, 5).await.unwrap();
    assert_eq!(
        a,
        Applied {
            from: 3,
            to: 5,
            attempts: 2,
            conflicts: 1
        }
    );
    let deploy = "/apis/apps/v1/namespaces/planning/deployments/worker";
    let seen: Vec<(&str, &str, u16, bool)> = proxy
        .seen()
        .iter()
        .map(|r| {
            (
                if r.method == "GET" { "GET" } else { "PATCH" },
                if r.path.starts_with(SCALE) {
                    "scale"
                } else if r.path.starts_with(deploy) {
                    "deployment"
                } else {
                    "other"
                },
                r.status,
                r.raced,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("GET", "deployment", 200, false),
            ("PATCH", "scale", 409, true),
            ("GET", "deployment", 200, false),
            ("PATCH", "scale", 200, false),
        ],
        "{:#?}",
        proxy.seen()
    );
    assert_eq!(replicas(&deployments, "worker").await, 5);
    let o = cluster.observe(&t, false).await.unwrap();
    assert_eq!(o.replicas, 5);

    // StatefulSets go through their own scale subresource.
    k.apply(
        "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: store, namespace: planning}
spec:
  replicas: 1
  serviceName: store
  selector: {matchLabels: {app: store}}
  template:
    metadata: {labels: {app: store}}
    spec: {containers: [{name: s, image: store:1}]}
",
    );
    let s = TargetRef {
        kind: TargetKind::StatefulSet,
        namespace: "planning".into(),
        name: "store".into(),
        hpa: None,
    };
    assert_eq!(cluster.observe(&s, false).await.unwrap().replicas, 1);
    let a = cluster.set_replicas(&s, 3).await.unwrap();
    assert_eq!((a.from, a.to, a.attempts), (1, 3, 1));
    assert_eq!(cluster.observe(&s, false).await.unwrap().replicas, 3);
}
