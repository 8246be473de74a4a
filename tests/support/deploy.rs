//! Test harness: deploy/'s variants rendered by `kubectl kustomize` (no API
//! server needed), parsed into YAML documents, and the RBAC permissions they
//! grant planscale's ServiceAccount.
//!
//! The variants: `deploy/` (cluster-wide), `deploy/namespaced`, and either of
//! them with the `components/hpa-floor` component, which the shipped
//! kustomizations leave commented out; [`Variant::render`] builds those from a
//! temporary kustomization next to them (kustomize loads bases and components
//! by relative path only).
//!
//! Include with `#[path = "support/deploy.rs"] mod deploy_support;`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

/// deploy/ in this repository.
pub const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

/// The user planscale's ServiceAccount authenticates as.
pub const SERVICE_ACCOUNT_USER: &str = "system:serviceaccount:planscale:planscale";

/// One RBAC permission: (API group, resource[/subresource], verb).
pub type Perm = (String, String, String);

/// A way to deploy planscale that deploy/ ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `deploy/`: a ClusterRole.
    ClusterWide,
    /// `deploy/` with `components/hpa-floor`.
    ClusterWideHpaFloor,
    /// `deploy/namespaced`: Roles in the watched namespaces.
    Namespaced,
    /// `deploy/namespaced` with `components/hpa-floor`.
    NamespacedHpaFloor,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::ClusterWide,
        Variant::ClusterWideHpaFloor,
        Variant::Namespaced,
        Variant::NamespacedHpaFloor,
    ];

    /// The kustomization's directory under deploy/, and whether it adds hpa-floor.
    fn parts(self) -> (&'static str, bool) {
        match self {
            Variant::ClusterWide => ("", false),
            Variant::ClusterWideHpaFloor => ("", true),
            Variant::Namespaced => ("namespaced", false),
            Variant::NamespacedHpaFloor => ("namespaced", true),
        }
    }

    /// A directory that `kubectl apply -k` takes for this variant: the shipped
    /// one, or (with hpa-floor) a temporary kustomization naming the shipped
    /// one and the component ([`compose`]).
    pub fn dir(self) -> (PathBuf, Option<tempfile::TempDir>) {
        let (sub, hpa) = self.parts();
        if !hpa {
            return (Path::new(DEPLOY).join(sub), None);
        }
        let tmp = compose(sub, &["components/hpa-floor"]);
        (tmp.path().to_path_buf(), Some(tmp))
    }

    /// `kubectl kustomize` of this variant.
    pub fn render(self) -> String {
        let (dir, _keep) = self.dir();
        kustomize(&dir)
    }
}

/// A temporary kustomization (inside the target directory's tmp folder)
/// naming the shipped one at `sub` under deploy/ and the `components`
/// (paths under deploy/): kustomize loads bases and components by relative
/// path only.
pub fn compose(sub: &str, components: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("planscale-variant-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let up = relative_to_root(tmp.path());
    let rel = |p: &Path| format!("{up}{}", p.display().to_string().trim_start_matches('/'));
    let components: Vec<String> = components
        .iter()
        .map(|c| rel(&Path::new(DEPLOY).join(c)))
        .collect();
    std::fs::write(
        tmp.path().join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [{}]\ncomponents: [{}]\n",
            rel(&Path::new(DEPLOY).join(sub)),
            components.join(", "),
        ),
    )
    .unwrap();
    tmp
}

/// `kubectl kustomize` of the shipped kustomization at `sub` with `components`.
pub fn render_with(sub: &str, components: &[&str]) -> String {
    let tmp = compose(sub, components);
    kustomize(tmp.path())
}

/// `../` once per component of `dir` (an absolute path): from `dir` to `/`.
fn relative_to_root(dir: &Path) -> String {
    "../".repeat(dir.components().count() - 1)
}

/// `kubectl kustomize DIR`; panics with kubectl's error.
pub fn kustomize(dir: &Path) -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl (at /usr/bin/kubectl)");
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Rendered manifests for the v1.20 test server: the shipped
/// PodDisruptionBudget is `policy/v1` (GA in 1.21; `v1beta1` is gone since
/// 1.25), which v1.20 only serves as `policy/v1beta1` with the same fields.
pub fn for_v1_20(manifests: &str) -> String {
    let from = "apiVersion: policy/v1\nkind: PodDisruptionBudget";
    assert!(manifests.contains(from), "the PDB is policy/v1 in deploy/");
    manifests.replace(
        from,
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget",
    )
}

/// The YAML documents of a multi-document stream.
pub fn documents(manifests: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(manifests)
        .map(|d| <Value as serde::Deserialize>::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// The documents of `kind`.
pub fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A Role or ClusterRole bound to `user` (a ServiceAccount's user name), and
/// the namespace it is bound in (`None`: cluster-wide, by a ClusterRoleBinding).
pub struct Bound<'a> {
    pub role: &'a Value,
    pub namespace: Option<String>,
}

/// Every role in `docs` that a binding in `docs` grants to `user`.
pub fn roles_bound_to<'a>(docs: &'a [Value], user: &str) -> Vec<Bound<'a>> {
    let mut out = Vec::new();
    for b in docs
        .iter()
        .filter(|d| d["kind"] == "RoleBinding" || d["kind"] == "ClusterRoleBinding")
    {
        let binds_user = b["subjects"].as_sequence().into_iter().flatten().any(|s| {
            s["kind"] == "ServiceAccount"
                && format!(
                    "system:serviceaccount:{}:{}",
                    s["namespace"].as_str().unwrap_or(""),
                    s["name"].as_str().unwrap_or("")
                ) == user
        });
        if !binds_user {
            continue;
        }
        let ns = b["metadata"]["namespace"].as_str().map(String::from);
        let (kind, name) = (&b["roleRef"]["kind"], &b["roleRef"]["name"]);
        let role = docs.iter().find(|r| {
            r["kind"] == *kind
                && r["metadata"]["name"] == *name
                && (*kind == "ClusterRole" || r["metadata"]["namespace"].as_str() == ns.as_deref())
        });
        let role = role.unwrap_or_else(|| {
            panic!("a binding names {kind:?} {name:?}, which the manifests do not have")
        });
        out.push(Bound {
            role,
            namespace: if b["kind"] == "ClusterRoleBinding" {
                None
            } else {
                ns
            },
        });
    }
    out
}

/// The permissions the roles bound to `user` grant, as (group, resource, verb).
pub fn granted(docs: &[Value], user: &str) -> BTreeSet<Perm> {
    let mut out = BTreeSet::new();
    for b in roles_bound_to(docs, user) {
        for rule in b.role["rules"].as_sequence().into_iter().flatten() {
            for g in str_list(&rule["apiGroups"]) {
                for r in str_list(&rule["resources"]) {
                    for v in str_list(&rule["verbs"]) {
                        out.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    out
}

/// One environment variable of planscale's container in the rendered Deployment.
pub fn container_env(docs: &[Value], name: &str) -> Option<String> {
    let d = of_kind(docs, "Deployment")
        .into_iter()
        .find(|d| d["metadata"]["name"] == "planscale")?;
    d["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str().map(String::from))
}
