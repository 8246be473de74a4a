//! deploy/ against a real kube-apiserver (v1.20.2): every variant deploy/
//! ships (cluster-wide, namespaced, each with and without the hpa-floor
//! component) is accepted by a server-side dry run; the namespaced variant
//! runs a policy in its namespace with exactly its own rights and touches
//! nothing elsewhere; the NetworkPolicy names a destination for every egress
//! rule; the example policies are valid. The KEDA components (`keda`,
//! `keda-tls`) pass the dry run too, open the scaler's port to KEDA only, and
//! the example ScaledObject matches the Service, the policy and the behaviour
//! `simulate` replays as `predictive-via-keda`.

#[path = "support/deploy.rs"]
mod deploy_support;
#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/planscale.rs"]
mod planscale_support;

use std::collections::BTreeSet;
use std::time::Duration;

use deploy_support::{
    DEPLOY, SERVICE_ACCOUNT_USER, Variant, container_env, documents, for_v1_20, of_kind,
    render_with, roles_bound_to,
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use kube_support::{Kube, deployment_yaml, replicas};
use planscale_support::{Planscale, message, wait_for};
use serde_yaml::Value;

#[test]
fn every_variant_passes_a_server_side_dry_run() {
    let k = Kube::start();
    // A server-side dry run cannot create the namespaces its other objects go
    // into, so they exist first (as they do on a second apply).
    k.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: planscale}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: planning}\n");
    for variant in Variant::ALL {
        // `kubectl apply --dry-run=server -k <variant>`, with the one
        // difference the v1.20 server needs: the PDB as policy/v1beta1.
        let manifests = for_v1_20(&variant.render());
        let out = k.kubectl_with(
            &k.admin_kubeconfig,
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&manifests),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{variant:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let namespaced = matches!(variant, Variant::Namespaced | Variant::NamespacedHpaFloor);
        let mut expected = vec![
            "namespace/planscale",
            "serviceaccount/planscale",
            "role.rbac.authorization.k8s.io/planscale-leader-election",
            "rolebinding.rbac.authorization.k8s.io/planscale-leader-election",
            "configmap/planscale-policies",
            "configmap/planscale-dashboard",
            "deployment.apps/planscale",
            "service/planscale",
            "poddisruptionbudget.policy/planscale",
            "networkpolicy.networking.k8s.io/planscale",
        ];
        let (role, other) = (
            [
                "role.rbac.authorization.k8s.io/planscale",
                "rolebinding.rbac.authorization.k8s.io/planscale",
            ],
            [
                "clusterrole.rbac.authorization.k8s.io/planscale",
                "clusterrolebinding.rbac.authorization.k8s.io/planscale",
            ],
        );
        let (present, absent) = if namespaced {
            (role, other)
        } else {
            (other, role)
        };
        expected.extend(present);
        // `kind/name` of each object kubectl reports.
        let applied: BTreeSet<&str> = stdout
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for kind in expected {
            assert!(
                applied.contains(kind),
                "{variant:?}: {kind} missing from:\n{stdout}"
            );
        }
        for kind in absent {
            assert!(!applied.contains(kind), "{variant:?}: {kind} in:\n{stdout}");
        }
        // The HPA rule is in the variants with the component, and only there.
        let docs = documents(&manifests);
        let hpa_rules = roles_bound_to(&docs, SERVICE_ACCOUNT_USER)
            .iter()
            .flat_map(|b| b.role["rules"].as_sequence().cloned().unwrap_or_default())
            .filter(|r| {
                r["resources"]
                    .as_sequence()
                    .is_some_and(|s| s.iter().any(|x| x == "horizontalpodautoscalers"))
            })
            .count();
        let with_hpa = matches!(
            variant,
            Variant::ClusterWideHpaFloor | Variant::NamespacedHpaFloor
        );
        assert_eq!(hpa_rules, usize::from(with_hpa), "{variant:?}");

        // Exactly as written, `-k <variant>` differs only in the PDB's API version.
        let (dir, _keep) = variant.dir();
        let out = k.kubectl(&[
            "apply",
            "--dry-run=server",
            "-k",
            &dir.display().to_string(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("deployment.apps/planscale"),
            "{variant:?}: {stdout}{stderr}"
        );
        for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                line.contains("PodDisruptionBudget")
                    || line.contains("ensure CRDs are installed first"),
                "{variant:?}: unexpected error: {line}"
            );
        }
    }
}

/// The namespaces the namespaced variant's Roles are bound in, and its
/// PLANSCALE_NAMESPACES, agree; the Lease's Role is in planscale's own.
#[test]
fn the_namespaced_roles_are_in_exactly_the_watched_namespaces() {
    for variant in [Variant::Namespaced, Variant::NamespacedHpaFloor] {
        let docs = documents(&variant.render());
        let watched: BTreeSet<String> = container_env(&docs, "PLANSCALE_NAMESPACES")
            .expect("PLANSCALE_NAMESPACES on the planscale container")
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        let bound = roles_bound_to(&docs, SERVICE_ACCOUNT_USER);
        assert!(
            bound.iter().all(|b| b.namespace.is_some()),
            "{variant:?}: cluster-wide binding"
        );
        assert!(of_kind(&docs, "ClusterRole").is_empty(), "{variant:?}");
        let target_ns: BTreeSet<String> = bound
            .iter()
            .filter(|b| b.role["metadata"]["name"] == "planscale")
            .filter_map(|b| b.namespace.clone())
            .collect();
        assert_eq!(target_ns, watched, "{variant:?}");
        let lease_ns: Vec<String> = bound
            .iter()
            .filter(|b| b.role["metadata"]["name"] == "planscale-leader-election")
            .filter_map(|b| b.namespace.clone())
            .collect();
        assert_eq!(lease_ns, vec!["planscale".to_string()], "{variant:?}");
    }
}

/// The namespaced variant at work: applied as the admin, planscale runs as its
/// ServiceAccount (a token from the TokenRequest API, so only the variant's
/// own Roles apply) with the variant's `namespaces` setting. A `scale` policy
/// in the watched namespace scales its Deployment; a policy whose target is
/// in another namespace is refused at load and that Deployment is never read.
/// Every call in the audit log is in the watched namespace or (the Lease) in
/// planscale's, none cluster-wide, and none refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_namespaced_variant_scales_in_its_namespace_and_touches_no_other() {
    let k = Kube::start();
    let manifests = for_v1_20(&Variant::Namespaced.render());
    let watched = container_env(&documents(&manifests), "PLANSCALE_NAMESPACES").unwrap();
    assert_eq!(
        watched, "planning",
        "the shipped example watches `planning`"
    );
    k.kubectl_ok(&["create", "namespace", "planning"]);
    k.kubectl_ok(&["create", "namespace", "imaging"]);
    k.apply(&manifests);
    for ns in ["planning", "imaging"] {
        k.apply(&deployment_yaml(ns, "worker", 1));
    }
    let kubeconfig = k.service_account_kubeconfig("planscale", "planscale", None);
    let policies = tempfile::tempdir().unwrap();
    for ns in ["planning", "imaging"] {
        // No Prometheus: the planner holds, and the bounds raise 1 to 3.
        std::fs::write(
            policies.path().join(format!("{ns}.yaml")),
            format!(
                "name: {ns}-worker
target: {{kind: Deployment, namespace: {ns}, name: worker}}
replicas: {{min: 3, max: 10}}
capacity: {{per_replica: 1, per: 1m, startup: 1m}}
demand: {{arrivals: {{series: jobs}}}}
slo: {{max_wait: 5m}}
forecast: {{step: 1m, history: 1d, horizon: 2h, seasonal_periods: [1d]}}
scaling: {{mode: scale, interval: 1m}}
"
            ),
        )
        .unwrap();
    }
    let mut ps = Planscale::start_leader(
        k.dir.path(),
        &kubeconfig,
        policies.path(),
        &["--namespaces", &watched],
    );
    let admin = k.admin_client().await;
    let planning: Api<Deployment> = Api::namespaced(admin.clone(), "planning");
    let imaging: Api<Deployment> = Api::namespaced(admin.clone(), "imaging");
    wait_for("planning/worker at 3", Duration::from_secs(120), || async {
        (replicas(&planning, "worker").await == 3).then_some(())
    })
    .await;
    let refused = ps
        .log()
        .into_iter()
        .find(|l| message(l) == "invalid policy file; the other policies keep running")
        .expect("the policy outside the watched namespaces is refused");
    let why = refused["fields"]["error"].as_str().unwrap_or("");
    assert!(
        why.contains("target.namespace") && why.contains("imaging"),
        "{why}"
    );
    let status = ps.terminate(Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", ps.log_text());
    assert_eq!(replicas(&imaging, "worker").await, 1);

    let audit: Vec<serde_json::Value> = k
        .audit()
        .into_iter()
        .filter(|e| e["user"]["username"] == SERVICE_ACCOUNT_USER)
        .collect();
    assert!(!audit.is_empty());
    for e in &audit {
        let o = &e["objectRef"];
        let ns = o["namespace"].as_str();
        let allowed = match o["resource"].as_str() {
            Some("leases") => ns == Some("planscale"),
            _ => ns == Some("planning"),
        };
        assert!(allowed, "a call outside the watched namespace: {e}");
        assert_ne!(e["responseStatus"]["code"], 403, "refused: {e}");
    }
    let wrote = k.audited_writes(SERVICE_ACCOUNT_USER, "deployments", Some("scale"), "worker");
    assert_eq!(wrote, vec![("patch".to_string(), 200)]);
}

fn port(p: &Value) -> (u64, String) {
    (
        p["port"].as_u64().expect("a numeric port"),
        p["protocol"].as_str().unwrap_or("TCP").to_string(),
    )
}

/// Every egress rule of the shipped NetworkPolicy (in both variants) names
/// its destinations and its ports: DNS to the cluster DNS Pods in
/// kube-system; the API server, the HTTPS schedule sources and the HTTPS
/// calendar sources (each a `VALUE:` to set) by ipBlock;
/// Prometheus by namespace and Pod selectors, on the port of
/// PLANSCALE_PROMETHEUS_URL.
#[test]
fn every_egress_rule_names_its_destinations_and_ports() {
    for variant in [Variant::ClusterWide, Variant::Namespaced] {
        let docs = documents(&variant.render());
        let np = of_kind(&docs, "NetworkPolicy");
        assert_eq!(np.len(), 1, "{variant:?}");
        let spec = &np[0]["spec"];
        assert_eq!(
            spec["policyTypes"],
            serde_yaml::from_str::<Value>("[Ingress, Egress]").unwrap()
        );
        let rules = spec["egress"].as_sequence().expect("egress rules");
        let mut seen = Vec::new();
        for r in rules {
            let to = r["to"].as_sequence().filter(|t| !t.is_empty());
            let to =
                to.unwrap_or_else(|| panic!("{variant:?}: an egress rule without `to`: {r:?}"));
            let ports: BTreeSet<(u64, String)> = r["ports"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{variant:?}: an egress rule without ports: {r:?}"))
                .iter()
                .map(port)
                .collect();
            for peer in to {
                let kind = if let Some(cidr) = peer["ipBlock"]["cidr"].as_str() {
                    assert!(cidr != "0.0.0.0/0" && cidr.contains('/'), "{cidr}");
                    "ipBlock"
                } else {
                    let ns = peer["namespaceSelector"]["matchLabels"].as_mapping();
                    let pods = peer["podSelector"]["matchLabels"].as_mapping();
                    assert!(
                        ns.is_some_and(|m| !m.is_empty()) && pods.is_some_and(|m| !m.is_empty()),
                        "{variant:?}: a selector peer must name both a namespace and Pods: {peer:?}"
                    );
                    "selector"
                };
                seen.push((kind, ports.clone(), peer.clone()));
            }
        }
        let tcp = |p: u64| (p, "TCP".to_string());
        let dns: BTreeSet<_> = [(53, "UDP".to_string()), tcp(53)].into();
        let api: BTreeSet<_> = [tcp(443), tcp(6443)].into();
        let prom_port = container_env(&docs, "PLANSCALE_PROMETHEUS_URL")
            .and_then(|u| u.rsplit(':').next().and_then(|p| p.parse::<u64>().ok()))
            .expect("PLANSCALE_PROMETHEUS_URL with a port");
        let prom: BTreeSet<_> = [tcp(prom_port)].into();
        let https: BTreeSet<_> = [tcp(443)].into();
        let by_ports = |kind: &str, ports: &BTreeSet<(u64, String)>| -> Vec<&Value> {
            seen.iter()
                .filter(|(k, p, _)| *k == kind && p == ports)
                .map(|(_, _, peer)| peer)
                .collect()
        };
        let dns_peers = by_ports("selector", &dns);
        assert_eq!(dns_peers.len(), 1, "{variant:?}: DNS: {seen:?}");
        assert_eq!(
            dns_peers[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            "kube-system"
        );
        assert_eq!(
            dns_peers[0]["podSelector"]["matchLabels"]["k8s-app"],
            "kube-dns"
        );
        assert_eq!(
            by_ports("ipBlock", &api).len(),
            1,
            "{variant:?}: API server: {seen:?}"
        );
        assert_eq!(
            by_ports("selector", &prom).len(),
            1,
            "{variant:?}: Prometheus: {seen:?}"
        );
        let https_peers = by_ports("ipBlock", &https);
        assert_eq!(
            https_peers.len(),
            2,
            "{variant:?}: HTTPS schedule and calendar sources: {seen:?}"
        );
        assert_ne!(
            https_peers[0]["ipBlock"]["cidr"], https_peers[1]["ipBlock"]["cidr"],
            "{variant:?}: the calendar sources are their own VALUE"
        );
        assert_eq!(
            seen.len(),
            5,
            "{variant:?}: no other destinations: {seen:?}"
        );
    }
}

/// The destinations a user must set are marked `VALUE:` in the source file
/// (the rendered manifest drops comments): the schedule's and the calendar's
/// HTTPS sources among them, each on its own ipBlock.
#[test]
fn the_https_sources_are_values_to_set() {
    let text = std::fs::read_to_string(format!("{DEPLOY}/base/networkpolicy.yaml")).unwrap();
    for what in ["schedule sources' addresses", "calendar sources' addresses"] {
        let line = text
            .lines()
            .find(|l| l.contains(&format!("# VALUE: {what}")))
            .unwrap_or_else(|| panic!("no `VALUE: {what}` in networkpolicy.yaml"));
        assert!(line.trim_start().starts_with("cidr:"), "{line}");
    }
}

#[test]
fn shipped_policies_are_valid() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_planscale"))
        .arg("validate")
        .arg(format!("{DEPLOY}/base/policies"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_keda_components_pass_a_server_side_dry_run() {
    let k = Kube::start();
    k.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: planscale}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: planning}\n");
    for (sub, components) in [
        ("", vec!["components/keda"]),
        ("", vec!["components/keda", "components/keda-tls"]),
        ("namespaced", vec!["components/keda", "components/keda-tls"]),
    ] {
        let manifests = for_v1_20(&render_with(sub, &components));
        let out = k.kubectl_with(
            &k.admin_kubeconfig,
            &["apply", "--dry-run=server", "-f", "-"],
            Some(&manifests),
        );
        assert!(
            out.status.success(),
            "{sub:?} {components:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The scaler's port, in the container, the Service and the NetworkPolicy:
/// open to KEDA's operator only; the metrics port stays as it was.
#[test]
fn the_keda_component_opens_the_scaler_to_keda_only() {
    let docs = documents(&render_with("", &["components/keda"]));
    assert_eq!(
        container_env(&docs, "PLANSCALE_KEDA_LISTEN").as_deref(),
        Some("0.0.0.0:9090")
    );
    let deployment = of_kind(&docs, "Deployment")[0];
    let ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
        .as_sequence()
        .unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["name"] == "grpc-keda" && p["containerPort"].as_u64() == Some(9090)),
        "{ports:?}"
    );
    let svc = of_kind(&docs, "Service")[0];
    let sp = svc["spec"]["ports"].as_sequence().unwrap();
    assert!(
        sp.iter()
            .any(|p| p["name"] == "grpc-keda" && p["port"].as_u64() == Some(9090)),
        "{sp:?}"
    );
    let np = of_kind(&docs, "NetworkPolicy")[0];
    let ingress = np["spec"]["ingress"].as_sequence().unwrap();
    assert_eq!(ingress.len(), 2, "{ingress:?}");
    let keda: Vec<&Value> = ingress
        .iter()
        .filter(|r| r["ports"][0]["port"].as_u64() == Some(9090))
        .collect();
    assert_eq!(keda.len(), 1, "{ingress:?}");
    let from = keda[0]["from"]
        .as_sequence()
        .expect("a `from` on the scaler's rule");
    assert_eq!(from.len(), 1);
    assert_eq!(
        from[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "keda"
    );
    assert!(
        from[0]["podSelector"]["matchLabels"]
            .as_mapping()
            .is_some_and(|m| !m.is_empty())
    );
    // TLS: the three files from one Secret.
    let docs = documents(&render_with(
        "",
        &["components/keda", "components/keda-tls"],
    ));
    for (var, file) in [
        ("PLANSCALE_KEDA_TLS_CERT", "tls.crt"),
        ("PLANSCALE_KEDA_TLS_KEY", "tls.key"),
        ("PLANSCALE_KEDA_TLS_CLIENT_CA", "ca.crt"),
    ] {
        assert_eq!(
            container_env(&docs, var),
            Some(format!("/etc/planscale/keda-tls/{file}"))
        );
    }
}

/// The example ScaledObject reaches the Service's scaler port, names a
/// shipped policy with its target and bounds, and carries the behaviour,
/// polling interval and cooldown that `predictive-via-keda` simulates.
#[test]
fn the_example_scaledobject_is_what_simulate_replays() {
    use planscale::sim::hpa::{Behaviour, PolicyKind, Select};
    use planscale::sim::keda;
    let text =
        std::fs::read_to_string(format!("{DEPLOY}/examples/keda/scaledobject.yaml")).unwrap();
    let so: Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(so["kind"], "ScaledObject");
    let spec = &so["spec"];
    let trigger = &spec["triggers"][0];
    assert_eq!(trigger["type"], "external-push");
    // The address: the Service of the keda component, in planscale's namespace.
    let docs = documents(&render_with("", &["components/keda"]));
    let svc = of_kind(&docs, "Service")[0];
    let port = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "grpc-keda")
        .and_then(|p| p["port"].as_u64())
        .unwrap();
    assert_eq!(
        trigger["metadata"]["scalerAddress"].as_str().unwrap(),
        format!(
            "{}.{}.svc.cluster.local:{port}",
            svc["metadata"]["name"].as_str().unwrap(),
            svc["metadata"]["namespace"].as_str().unwrap()
        )
    );
    // The policy: shipped, with the ScaledObject's target and bounds.
    let name = trigger["metadata"]["policy"].as_str().unwrap();
    let loaded = planscale::policy::Policy::load(std::path::Path::new(&format!(
        "{DEPLOY}/base/policies/{name}.yaml"
    )))
    .unwrap();
    let p = &loaded.policy;
    assert_eq!(p.name, name);
    assert_eq!(
        so["metadata"]["namespace"].as_str(),
        Some(p.target.namespace.as_str())
    );
    assert_eq!(
        spec["scaleTargetRef"]["name"].as_str(),
        Some(p.target.name.as_str())
    );
    assert_eq!(
        spec["minReplicaCount"].as_u64(),
        Some(u64::from(p.replicas.min))
    );
    assert_eq!(
        spec["maxReplicaCount"].as_u64(),
        Some(u64::from(p.replicas.max))
    );
    assert_eq!(
        spec["pollingInterval"].as_i64(),
        Some(keda::POLLING_INTERVAL_SECS)
    );
    assert_eq!(
        spec["cooldownPeriod"].as_i64(),
        Some(keda::PLANSCALE_COOLDOWN_SECS)
    );
    // The behaviour, rule by rule.
    let Behaviour::Rules { up, down } = keda::planscale_behaviour() else {
        panic!("planscale_behaviour has rules");
    };
    let behavior = &spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"];
    for (key, rules) in [("scaleUp", up), ("scaleDown", down)] {
        let b = &behavior[key];
        assert_eq!(
            b["stabilizationWindowSeconds"].as_i64(),
            Some(rules.stabilisation_secs),
            "{key}"
        );
        let select = match rules.select {
            Select::Max => "Max",
            Select::Min => "Min",
            Select::Disabled => "Disabled",
        };
        assert_eq!(b["selectPolicy"].as_str(), Some(select), "{key}");
        let shipped: Vec<(String, u64, i64)> = b["policies"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["type"].as_str().unwrap().to_string(),
                    x["value"].as_u64().unwrap(),
                    x["periodSeconds"].as_i64().unwrap(),
                )
            })
            .collect();
        let simulated: Vec<(String, u64, i64)> = rules
            .policies
            .iter()
            .map(|x| {
                let kind = match x.kind {
                    PolicyKind::Pods => "Pods",
                    PolicyKind::Percent => "Percent",
                };
                (kind.to_string(), u64::from(x.value), x.period_secs)
            })
            .collect();
        assert_eq!(shipped, simulated, "{key}");
    }
}
