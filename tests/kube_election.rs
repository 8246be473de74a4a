//! Two `planscale run` processes against a real kube-apiserver: only the Lease
//! holder writes; when it is killed the other takes over once the Lease has
//! expired; SIGTERM stops a process gracefully and releases the Lease.
//!
//! No Prometheus is configured, so every metric is missing and the planner
//! holds; the target starts below the policy's minimum, so the one write a
//! leader makes is raising it to the minimum (bounds are policy, not data).

#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/planscale.rs"]
mod planscale_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube_support::Kube;
use planscale_support::wait_for;

const LEASE_SECS: u64 = 6;

fn start(k: &Kube, policies: &Path, identity: &str) -> Child {
    let log = std::fs::File::create(k.dir.path().join(format!("{identity}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_planscale"))
        .args(["--log", "info", "run", "--policies"])
        .arg(policies)
        .args([
            "--identity",
            identity,
            "--lease-namespace",
            "planscale",
            "--lease-name",
            "planscale-leader",
        ])
        .args([
            "--lease-duration",
            &format!("{LEASE_SECS}s"),
            "--interval",
            "1s",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("KUBECONFIG", &k.limited_kubeconfig)
        .env_remove("PLANSCALE_PROMETHEUS_URL")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start planscale run")
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
    a.kill().unwrap();
    a.wait().unwrap();
    let killed = Instant::now();
    deployments
        .patch_scale(
            "worker",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 1}})),
        )
        .await
        .unwrap();
    wait_for(
        "replica-b to take the Lease",
        Duration::from_secs(4 * LEASE_SECS),
        || async { (holder(&leases).await.as_deref() == Some("replica-b")).then_some(()) },
    )
    .await;
    eprintln!(
        "failover took {:.1} s (lease duration {LEASE_SECS} s)",
        killed.elapsed().as_secs_f64()
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
    let st = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = b.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = b.kill();
            panic!(
                "planscale run did not stop on SIGTERM:\n{}",
                k.log_tail("replica-b")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        k.log_tail("replica-b")
    );
    assert_eq!(
        holder(&leases).await,
        None,
        "the Lease is released on SIGTERM"
    );
    let log = std::fs::read_to_string(k.dir.path().join("replica-b.log")).unwrap();
    assert!(log.contains("SIGTERM received"), "{log}");
}
