//! deploy/ against a real kube-apiserver (v1.20.2): every shipped manifest is
//! accepted by a server-side dry run, and the example policies are valid.

#[path = "support/kube.rs"]
mod kube_support;

use kube_support::Kube;

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

#[test]
fn kustomize_base_passes_a_server_side_dry_run() {
    let k = Kube::start();
    // A server-side dry run cannot create the namespace its other objects go
    // into, so the namespace exists first (as it does on a second apply).
    k.kubectl_ok(&["apply", "-f", &format!("{DEPLOY}/namespace.yaml")]);
    // `kubectl apply --dry-run=server -k deploy/`, with the one difference the
    // v1.20 server needs: PodDisruptionBudget as policy/v1beta1 (same fields).
    let manifests = k.deploy_manifests_for_v1_20();
    let out = k.kubectl_with(
        &k.admin_kubeconfig,
        &["apply", "--dry-run=server", "-f", "-"],
        Some(&manifests),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in [
        "namespace/planscale",
        "serviceaccount/planscale",
        "clusterrole.rbac.authorization.k8s.io/planscale",
        "role.rbac.authorization.k8s.io/planscale-leader-election",
        "configmap/planscale-policies",
        "deployment.apps/planscale",
        "service/planscale",
        "poddisruptionbudget.policy/planscale",
        "networkpolicy.networking.k8s.io/planscale",
    ] {
        assert!(stdout.contains(kind), "{kind} missing from:\n{stdout}");
    }

    // Exactly as written, `-k deploy/` differs only in the PDB's API version.
    let out = k.kubectl(&["apply", "--dry-run=server", "-k", DEPLOY]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("deployment.apps/planscale"),
        "{stdout}{stderr}"
    );
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            line.contains("PodDisruptionBudget")
                || line.contains("ensure CRDs are installed first"),
            "unexpected error: {line}"
        );
    }
}

#[test]
fn shipped_policies_are_valid() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_planscale"))
        .arg("validate")
        .arg(format!("{DEPLOY}/policies"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
