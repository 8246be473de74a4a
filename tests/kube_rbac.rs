//! RBAC exactly what planscale calls, both ways, against the real
//! kube-apiserver v1.20 (tests/support/kube.rs).
//!
//! The real `planscale run` binary runs as deploy/'s ServiceAccount (a token
//! from the TokenRequest API, so the server authorises every call against
//! deploy/'s own bindings) through its realistic paths: a `scale` policy on a
//! Deployment whose first write meets a real 409 (a concurrent writer through
//! tests/support/api_proxy.rs) and is re-read and retried, then is scaled back
//! by hand and scaled up again (the Event recorder folds the repeated Event
//! into a series: a patch); a `scale` policy on a StatefulSet; a
//! `forecast-only` policy (an Event, no write); leader election on the Lease,
//! released on SIGTERM. The calls it made are read from the API server's
//! audit log (filtered by the ServiceAccount's user name). The v1.20 server
//! has no autoscaling/v2, so the HPA calls of `hpa-floor` mode come from
//! [`planscale::controller::cluster::HPA_CALLS`], which a mocked-API test in
//! src/controller/cluster.rs asserts are exactly the requests those paths send.
//!
//! Compared with each variant deploy/ ships: every call is granted (the real
//! authoriser answered none of them 403) and every granted
//! (group, resource, verb) is called.

#[path = "support/api_proxy.rs"]
mod api_proxy;
#[path = "support/deploy.rs"]
mod deploy_support;
#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/planscale.rs"]
mod planscale_support;

use std::collections::BTreeSet;
use std::time::Duration;

use api_proxy::ApiProxy;
use deploy_support::{Perm, SERVICE_ACCOUNT_USER, Variant, documents, for_v1_20, granted};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::Api;
use kube_support::{Kube, deployment_yaml, replicas, scale};
use planscale::controller::cluster::HPA_CALLS;
use planscale_support::{Planscale, wait_for};
use serde_json::Value;

/// The targets: Deployments `worker` and `quiet`, StatefulSet `store`, each
/// at 1 replica, in namespace `planning`.
fn objects() -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata: {{name: planning}}
---
{}---
{}---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: store, namespace: planning}}
spec:
  replicas: 1
  serviceName: store
  selector: {{matchLabels: {{app: store}}}}
  template:
    metadata: {{labels: {{app: store}}}}
    spec: {{containers: [{{name: s, image: store:1}}]}}
",
        deployment_yaml("planning", "worker", 1),
        deployment_yaml("planning", "quiet", 1)
    )
}

/// A policy without Prometheus: the planner holds, and the bounds raise the
/// target's 1 replica to `min`.
fn policy(name: &str, kind: &str, min: u32, mode: &str) -> String {
    format!(
        "name: {name}
target: {{kind: {kind}, namespace: planning, name: {name}}}
replicas: {{min: {min}, max: 10}}
capacity: {{per_replica: 1, per: 1m, startup: 1m}}
demand: {{arrivals: {{series: jobs}}}}
slo: {{max_wait: 5m}}
forecast: {{step: 1m, history: 1d, horizon: 2h, seasonal_periods: [1d]}}
scaling: {{mode: {mode}, interval: 1m}}
"
    )
}

/// (group, resource[/subresource], verb) of an audit event, if it is a call on a resource.
fn perm(e: &Value) -> Option<Perm> {
    let o = e.get("objectRef")?;
    let resource = o["resource"].as_str()?;
    let resource = match o["subresource"].as_str() {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_string(),
    };
    Some((
        o["apiGroup"].as_str().unwrap_or("").to_string(),
        resource,
        e["verb"].as_str()?.to_string(),
    ))
}

fn hpa_calls() -> BTreeSet<Perm> {
    HPA_CALLS
        .iter()
        .map(|a| (a.group.into(), a.resource.into(), a.verb.into()))
        .collect()
}

/// `used` and `granted` differ in nothing; the message lists each side's extras.
fn assert_same(variant: Variant, used: &BTreeSet<Perm>, granted: &BTreeSet<Perm>) {
    let unused: Vec<&Perm> = granted.difference(used).collect();
    let ungranted: Vec<&Perm> = used.difference(granted).collect();
    assert!(
        unused.is_empty() && ungranted.is_empty(),
        "{variant:?}: granted but never called: {unused:?}; called but not granted: {ungranted:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rbac_grants_exactly_the_calls_planscale_makes() {
    let k = Kube::start();
    k.apply(&for_v1_20(&Variant::ClusterWide.render()));
    k.apply(&objects());
    let admin = k.admin_client().await;
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "planning");
    let statefulsets: Api<StatefulSet> = Api::namespaced(admin.clone(), "planning");

    // Another writer sets worker to 2 just before planscale's first scale write.
    let racer = deployments.clone();
    let proxy = ApiProxy::start(
        k.port,
        "PATCH",
        "/apis/apps/v1/namespaces/planning/deployments/worker/scale",
        Box::new(move || Box::pin(async move { scale(&racer, "worker", 2).await })),
    )
    .await;
    let kubeconfig = k.service_account_kubeconfig("planscale", "planscale", Some(&proxy.url()));
    let policies = tempfile::tempdir().unwrap();
    for (file, text) in [
        ("worker", policy("worker", "Deployment", 3, "scale")),
        ("store", policy("store", "StatefulSet", 2, "scale")),
        ("quiet", policy("quiet", "Deployment", 2, "forecast-only")),
    ] {
        std::fs::write(policies.path().join(format!("{file}.yaml")), text).unwrap();
    }
    let mut ps = Planscale::start_leader(k.dir.path(), &kubeconfig, policies.path(), &[]);
    let sa_calls = |verb: &'static str, resource: &'static str| {
        let k = &k;
        move || {
            let n = k
                .audit()
                .iter()
                .filter(|e| e["user"]["username"] == SERVICE_ACCOUNT_USER)
                .filter(|e| e["verb"] == verb && e["objectRef"]["resource"] == resource)
                .count();
            async move { (n > 0).then_some(n) }
        }
    };
    let limit = Duration::from_secs(120);
    let scaled = |api: Api<Deployment>, name: &'static str, n: i32| {
        move || {
            let api = api.clone();
            async move { (replicas(&api, name).await == n).then_some(()) }
        }
    };
    wait_for(
        "worker at 3",
        limit,
        scaled(deployments.clone(), "worker", 3),
    )
    .await;
    wait_for("store at 2", limit, || async {
        let s = statefulsets.get("store").await.ok()?;
        (s.spec?.replicas? == 2).then_some(())
    })
    .await;
    // A person scales worker back; planscale scales it up again and records
    // the same Event again, which the recorder patches into a series.
    scale(&deployments, "worker", 1).await;
    wait_for("events patched", limit, sa_calls("patch", "events")).await;
    wait_for(
        "worker at 3 again",
        limit,
        scaled(deployments.clone(), "worker", 3),
    )
    .await;
    let status = ps.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", ps.log_text());

    let audit: Vec<Value> = k
        .audit()
        .into_iter()
        .filter(|e| e["user"]["username"] == SERVICE_ACCOUNT_USER)
        .collect();
    // The realistic paths were taken: a 409 re-read on worker's scale, a
    // WouldScale Event for the forecast-only policy, the Lease released.
    let codes = |resource: &str, sub: Option<&str>, name: &str, verb: &str| -> Vec<u64> {
        audit
            .iter()
            .filter(|e| {
                let o = &e["objectRef"];
                e["verb"] == verb
                    && o["resource"] == resource
                    && o["subresource"].as_str() == sub
                    && o["name"] == name
            })
            .map(|e| e["responseStatus"]["code"].as_u64().unwrap_or(0))
            .collect()
    };
    assert_eq!(
        codes("deployments", Some("scale"), "worker", "patch"),
        vec![409, 200, 200],
        "worker's scale writes"
    );
    assert_eq!(
        codes("deployments", Some("scale"), "quiet", "patch"),
        Vec::<u64>::new()
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(admin, "planning");
    let reasons: Vec<(String, String)> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| Some((e.regarding?.name?, e.reason?)))
        .collect();
    assert!(
        reasons.contains(&("quiet".into(), "WouldScale".into())),
        "{reasons:?}"
    );
    let lease_patches = codes("leases", None, "planscale-leader", "patch");
    assert!(
        lease_patches.len() >= 2,
        "acquired and released: {lease_patches:?}"
    );

    // Every call was granted: the server's RBAC authoriser refused none.
    let refused: Vec<&Value> = audit
        .iter()
        .filter(|e| e["responseStatus"]["code"] == 403)
        .collect();
    assert!(refused.is_empty(), "refused: {refused:#?}");
    // Only resource calls (no discovery or other non-resource URLs).
    let other: Vec<&Value> = audit.iter().filter(|e| perm(e).is_none()).collect();
    assert!(
        other.is_empty(),
        "calls that are not on a resource: {other:#?}"
    );

    let called: BTreeSet<Perm> = audit.iter().filter_map(perm).collect();
    assert!(
        called.is_disjoint(&hpa_calls()),
        "the v1.20 server has no autoscaling/v2: {called:?}"
    );
    let with_hpa: BTreeSet<Perm> = called.union(&hpa_calls()).cloned().collect();
    for variant in Variant::ALL {
        let docs = documents(&variant.render());
        let used = match variant {
            Variant::ClusterWide | Variant::Namespaced => &called,
            Variant::ClusterWideHpaFloor | Variant::NamespacedHpaFloor => &with_hpa,
        };
        assert_same(variant, used, &granted(&docs, SERVICE_ACCOUNT_USER));
    }
}
