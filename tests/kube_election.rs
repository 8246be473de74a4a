//! Two `planscale run` processes against a real kube-apiserver: only the Lease
//! holder writes; when it is killed the other takes over once the Lease has
//! expired, within the lease duration plus one renew period of the dead
//! leader's last renewal, timed from the Lease's own renewTime and
//! acquireTime; SIGTERM stops a process gracefully and releases the Lease.
//!
//! No Prometheus is configured, so every metric is missing and the planner
//! holds; the target starts below the policy's minimum, so the one write a
//! leader makes is raising it to the minimum (bounds are policy, not data).

#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/planscale.rs"]
mod planscale_support;

use std::path::Path;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_support::Kube;
use planscale_support::{Planscale, wait_for};

const LEASE_SECS: u64 = 6;
/// What `planscale run` makes of a 6-s Lease: it renews `grace` before expiry,
/// grace = a third of the duration (src/controller/run.rs), so every 4 s.
const RENEW_PERIOD_SECS: u64 = LEASE_SECS - LEASE_SECS / 3;

fn start(k: &Kube, policies: &Path, identity: &str) -> Planscale {
    let dir = policies.display().to_string();
    let lease = format!("{LEASE_SECS}s");
    Planscale::start(
        k.dir.path(),
        identity,
        &k.limited_kubeconfig,
        "info",
        &[
            "--policies",
            &dir,
            "--identity",
            identity,
            "--lease-namespace",
            "planscale",
            "--lease-name",
            "planscale-leader",
            "--lease-duration",
            &lease,
            "--interval",
            "1s",
        ],
    )
}

async fn lease_spec(leases: &Api<Lease>) -> LeaseSpec {
    leases
        .get("planscale-leader")
        .await
        .unwrap()
        .spec
        .unwrap_or_default()
}

fn time(t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime>) -> SystemTime {
    t.as_ref().expect("a Lease timestamp").0.into()
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt("planscale-leader")
        .await
        .unwrap()
        .and_then(|l| l.spec?.holder_identity)
}

async fn replicas(api: &Api<Deployment>) -> i32 {
    api.get("worker")
        .await
        .unwrap()
        .spec
        .unwrap()
        .replicas
        .unwrap()
}

async fn scaling_instances(client: &kube::Client) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), "planning");
    let mut v: Vec<String> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ScaledUp"))
        .filter_map(|e| e.reporting_instance)
        .collect();
    v.sort();
    v.dedup();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_the_other_takes_over() {
    let k = Kube::start();
    k.install_rbac_for_limited_user();
    k.apply(
        "apiVersion: v1
kind: Namespace
metadata: {name: planning}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker, namespace: planning}
spec:
  replicas: 1
  selector: {matchLabels: {app: worker}}
  template:
    metadata: {labels: {app: worker}}
    spec: {containers: [{name: w, image: worker:1}]}
",
    );
    let policies = tempfile::tempdir().unwrap();
    std::fs::write(
        policies.path().join("worker.yaml"),
        "name: worker
target: {kind: Deployment, namespace: planning, name: worker}
replicas: {min: 2, max: 6}
capacity: {per_replica: 1, startup: 1m}
demand: {arrivals: {series: jobs, query: sum(jobs)}}
slo: {max_wait: 5m}
scaling: {mode: scale, interval: 1m}
",
    )
    .unwrap();
    let admin = k.admin_client().await;
    let leases: Api<Lease> = Api::namespaced(admin.clone(), "planscale");
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "planning");

    let mut a = start(&k, policies.path(), "replica-a");
    // Let a take the Lease first so the roles are known.
    wait_for("replica-a to lead", Duration::from_secs(30), || async {
        (holder(&leases).await.as_deref() == Some("replica-a")).then_some(())
    })
    .await;
    let mut b = start(&k, policies.path(), "replica-b");
    wait_for(
        "the leader to raise the target to its minimum",
        Duration::from_secs(30),
        || async { (replicas(&deployments).await == 2).then_some(()) },
    )
    .await;
    // b has run for a while as a follower: it must not have written.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(holder(&leases).await.as_deref(), Some("replica-a"));
    assert_eq!(
        scaling_instances(&admin).await,
        vec!["replica-a".to_string()]
    );

    // Kill the leader without a chance to release; a person lowers the target meanwhile.
    a.kill();
    deployments
        .patch_scale(
            "worker",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    // The dead leader's last renewal, as the Lease records it (b cannot take
    // it before the lease duration has passed since).
    let dead = lease_spec(&leases).await;
    assert_eq!(dead.holder_identity.as_deref(), Some("replica-a"));
    let last_renewal = time(&dead.renew_time);
    let taken = wait_for(
        "replica-b to take the Lease",
        Duration::from_secs(4 * LEASE_SECS),
        || async {
            let l = lease_spec(&leases).await;
            (l.holder_identity.as_deref() == Some("replica-b")).then_some(l)
        },
    )
    .await;
    // Timed by the Lease's own timestamps, not by this test's clock: the
    // promise in docs/ARCHITECTURE.md, "Leader election".
    let takeover = time(&taken.acquire_time)
        .duration_since(last_renewal)
        .expect("acquired after the last renewal");
    eprintln!(
        "takeover: acquireTime - last renewTime = {:.2} s (lease {LEASE_SECS} s, renew period {RENEW_PERIOD_SECS} s)",
        takeover.as_secs_f64()
    );
    assert!(
        takeover >= Duration::from_secs(LEASE_SECS),
        "taken before the Lease expired: {takeover:?}"
    );
    assert!(
        takeover <= Duration::from_secs(LEASE_SECS + RENEW_PERIOD_SECS),
        "takeover {takeover:?} is later than lease duration + one renew period"
    );
    assert_eq!(
        taken.lease_transitions,
        dead.lease_transitions.map(|t| t + 1),
        "one transition"
    );
    wait_for("the new leader to act", Duration::from_secs(30), || async {
        (replicas(&deployments).await == 2).then_some(())
    })
    .await;
    assert!(
        scaling_instances(&admin)
            .await
            .contains(&"replica-b".to_string())
    );

    // SIGTERM: a graceful stop that releases the Lease.
    let status = b.terminate(Duration::from_secs(20));
    assert!(status.success(), "exit status {status}:\n{}", b.log_text());
    assert_eq!(
        holder(&leases).await,
        None,
        "the Lease is released on SIGTERM"
    );
    let log = b.log_text();
    assert!(log.contains("SIGTERM received"), "{log}");
}
