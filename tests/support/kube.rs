//! Test harness: a real kube-apiserver v1.20.2 and etcd (and, on request,
//! kube-controller-manager) on free loopback ports, in a temporary directory,
//! killed by PID when dropped (also when a test panics).
//!
//! The apiserver binaries are built once by `scripts/k8s-apiserver.sh` and
//! cached in `~/.cache/planscale/k8s-1.20.2` (or `$PLANSCALE_K8S_CACHE`);
//! etcd is Debian's `etcd-server`. A missing binary fails the test with the
//! setup command: the integration tests must run in CI, they are not skipped.
//!
//! Two users: `admin` (system:masters) and `limited` (no rights until a test
//! binds a role to it). Include with `#[path = "support/kube.rs"] mod kube_support;`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One cluster at a time per test binary: each is ~350 MB and the machine has 2 cores.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub const ADMIN_TOKEN: &str = "admintoken";
pub const LIMITED_TOKEN: &str = "limitedtoken";

/// Directory with kube-apiserver and kube-controller-manager.
pub fn k8s_bin_dir() -> PathBuf {
    let dir = std::env::var_os("PLANSCALE_K8S_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/planscale/k8s-1.20.2")
        });
    for b in ["kube-apiserver", "kube-controller-manager"] {
        assert!(
            dir.join(b).is_file(),
            "{} is missing: run `scripts/k8s-apiserver.sh` (or `make test`) once to build and cache it",
            dir.join(b).display()
        );
    }
    dir
}

fn etcd_bin() -> PathBuf {
    for p in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("etcd is not installed: run `scripts/k8s-apiserver.sh` (installs Debian's etcd-server)")
}

/// A free loopback port (bound then released; the race is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running etcd + kube-apiserver (+ controller-manager); everything is killed on drop.
pub struct Kube {
    children: Vec<(&'static str, Child)>,
    /// kube-apiserver's command line, for [`Kube::restart_apiserver`].
    apiserver_args: Vec<String>,
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub admin_kubeconfig: PathBuf,
    pub limited_kubeconfig: PathBuf,
    _guard: MutexGuard<'static, ()>,
}

impl Kube {
    /// etcd and kube-apiserver only (no controllers: Deployments get no Pods).
    pub fn start() -> Kube {
        Self::start_inner(false)
    }

    /// Also kube-controller-manager (Deployments get ReplicaSets and Pending Pods).
    pub fn start_with_controller_manager() -> Kube {
        Self::start_inner(true)
    }

    fn start_inner(with_cm: bool) -> Kube {
        let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let bins = k8s_bin_dir();
        let etcd = etcd_bin();
        let dir = tempfile::Builder::new()
            .prefix("planscale-kube-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let (client_port, peer_port, port) = (free_port(), free_port(), free_port());

        // Service-account signing key.
        let key = d.join("sa.key");
        let pubkey = d.join("sa.pub");
        run(Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048"));
        run(Command::new("openssl")
            .args(["rsa", "-in"])
            .arg(&key)
            .args(["-pubout", "-out"])
            .arg(&pubkey));
        std::fs::write(
            d.join("tokens.csv"),
            format!("{ADMIN_TOKEN},admin,1,\"system:masters\"\n{LIMITED_TOKEN},limited,2,\n"),
        )
        .unwrap();

        // Every request in the audit log (one JSON object a line), once it is
        // answered: tests read who wrote what, and what the server answered.
        std::fs::write(
            d.join("audit-policy.yaml"),
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n",
        )
        .unwrap();

        let mut k = Kube {
            children: Vec::new(),
            apiserver_args: Vec::new(),
            port,
            admin_kubeconfig: d.join("admin.kubeconfig"),
            limited_kubeconfig: d.join("limited.kubeconfig"),
            dir,
            _guard: guard,
        };
        let d = k.dir.path().to_path_buf();
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        k.spawn(
            "etcd",
            Command::new(etcd)
                .arg("--name=planscale-test")
                .arg(format!("--data-dir={}", d.join("etcd").display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster=planscale-test={peer_url}"))
                .arg("--log-level=warn"),
        );
        k.apiserver_args = vec![
            format!("--etcd-servers={client_url}"),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", d.join("certs").display()),
            format!("--token-auth-file={}", d.join("tokens.csv").display()),
            "--authorization-mode=RBAC".into(),
            format!("--service-account-key-file={}", pubkey.display()),
            format!("--service-account-signing-key-file={}", key.display()),
            "--service-account-issuer=https://kubernetes.default.svc".into(),
            "--service-cluster-ip-range=10.0.0.0/24".into(),
            "--enable-priority-and-fairness=false".into(),
            format!(
                "--audit-policy-file={}",
                d.join("audit-policy.yaml").display()
            ),
            format!("--audit-log-path={}", d.join("audit.log").display()),
            // Written before the answer is sent: a test reads it right after.
            "--audit-log-mode=blocking".into(),
            "--v=0".into(),
        ];
        let args = k.apiserver_args.clone();
        k.spawn(
            "kube-apiserver",
            Command::new(bins.join("kube-apiserver")).args(&args),
        );
        let server = format!("https://127.0.0.1:{port}");
        write_kubeconfig(&k.admin_kubeconfig, &server, ADMIN_TOKEN);
        write_kubeconfig(&k.limited_kubeconfig, &server, LIMITED_TOKEN);
        k.wait_ready();
        if with_cm {
            let kc = k.admin_kubeconfig.clone();
            k.spawn(
                "kube-controller-manager",
                Command::new(bins.join("kube-controller-manager"))
                    .arg(format!("--kubeconfig={}", kc.display()))
                    .arg("--controllers=deployment,replicaset,garbagecollector,namespace,serviceaccount,serviceaccount-token")
                    .arg(format!("--service-account-private-key-file={}", key.display()))
                    .arg("--leader-elect=false")
                    .arg("--bind-address=127.0.0.1")
                    .arg("--secure-port=0")
                    .arg("--port=0"),
            );
        }
        k
    }

    fn spawn(&mut self, name: &'static str, cmd: &mut Command) {
        // Appended to: a restarted process keeps its earlier log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.children.push((name, child));
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = self.kubectl(&["get", "--raw", "/readyz"]);
            if out.status.success() {
                // RBAC bootstrap roles are in place once this answers for the admin.
                if self
                    .kubectl(&["get", "clusterrole", "admin"])
                    .status
                    .success()
                {
                    return;
                }
            }
            let mut exited = None;
            for (name, c) in &mut self.children {
                if let Ok(Some(st)) = c.try_wait() {
                    exited = Some((*name, st));
                }
            }
            if let Some((name, st)) = exited {
                panic!("{name} exited early ({st}):\n{}", self.log_tail(name));
            }
            if Instant::now() > deadline {
                panic!(
                    "kube-apiserver not ready after 90 s:\n{}",
                    self.log_tail("kube-apiserver")
                );
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Kill kube-apiserver (SIGKILL) and leave etcd running.
    pub fn stop_apiserver(&mut self) {
        if let Some(i) = self
            .children
            .iter()
            .position(|(n, _)| *n == "kube-apiserver")
        {
            let (_, mut c) = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start kube-apiserver again on the same port, certificates and etcd
    /// (after [`Kube::stop_apiserver`]) and wait until it serves.
    pub fn start_apiserver(&mut self) {
        assert!(
            !self.children.iter().any(|(n, _)| *n == "kube-apiserver"),
            "stop the API server first"
        );
        let args = self.apiserver_args.clone();
        self.spawn(
            "kube-apiserver",
            Command::new(k8s_bin_dir().join("kube-apiserver")).args(&args),
        );
        self.wait_ready();
    }

    /// Every request the API server has answered, from its audit log (one
    /// `audit.k8s.io/v1` Event each, at level Metadata: verb, user, object,
    /// response code), in the order they were logged.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("audit.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The writes (`patch`, `update`, `create`) `user` made to
    /// `resource[/subresource]` named `name`, as `(verb, response code)`.
    pub fn audited_writes(
        &self,
        user: &str,
        resource: &str,
        subresource: Option<&str>,
        name: &str,
    ) -> Vec<(String, u64)> {
        self.audit()
            .into_iter()
            .filter(|e| e["user"]["username"] == user)
            .filter(|e| matches!(e["verb"].as_str(), Some("patch" | "update" | "create")))
            .filter(|e| {
                let o = &e["objectRef"];
                o["resource"] == resource
                    && o["subresource"].as_str() == subresource
                    && o["name"] == name
            })
            .map(|e| {
                (
                    e["verb"].as_str().unwrap_or("").to_string(),
                    e["responseStatus"]["code"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// The last lines of a process's log.
    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(format!("{name}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Run kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with(&self.admin_kubeconfig, args, None)
    }

    /// Run kubectl as the admin and panic with its output unless it succeeds; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run kubectl with `kubeconfig`, feeding `stdin` if given.
    pub fn kubectl_with(&self, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new("kubectl");
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl (at /usr/bin/kubectl)");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Apply YAML as the admin.
    pub fn apply(&self, yaml: &str) {
        let out = self.kubectl_with(&self.admin_kubeconfig, &["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// deploy/ rendered by kustomize, for the v1.20 test server: the shipped
    /// PodDisruptionBudget is `policy/v1` (GA in 1.21; `v1beta1` is gone since
    /// 1.25), which v1.20 only serves as `policy/v1beta1` with the same fields.
    pub fn deploy_manifests_for_v1_20(&self) -> String {
        let m = self.kubectl_ok(&["kustomize", concat!(env!("CARGO_MANIFEST_DIR"), "/deploy")]);
        let from = "apiVersion: policy/v1\nkind: PodDisruptionBudget";
        assert!(m.contains(from), "the PDB is policy/v1 in deploy/");
        m.replace(
            from,
            "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget",
        )
    }

    /// Apply deploy/ and bind its roles to the harness's `limited` user as well as
    /// to the ServiceAccount, so the controller runs with exactly those rights.
    pub fn install_rbac_for_limited_user(&self) {
        self.apply(&self.deploy_manifests_for_v1_20());
        self.apply(concat!(
            "apiVersion: rbac.authorization.k8s.io/v1\n",
            "kind: ClusterRoleBinding\n",
            "metadata: {name: planscale-limited}\n",
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: planscale}\n",
            "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: limited}]\n",
            "---\n",
            "apiVersion: rbac.authorization.k8s.io/v1\n",
            "kind: RoleBinding\n",
            "metadata: {name: planscale-limited, namespace: planscale}\n",
            "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: planscale-leader-election}\n",
            "subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: limited}]\n",
        ));
    }

    /// A token of ServiceAccount `namespace/name` from the TokenRequest API
    /// (`kubectl create token`), for running planscale as that ServiceAccount
    /// with exactly the rights deploy/ binds to it.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=2h"])
            .trim()
            .to_string()
    }

    /// A kubeconfig (written into the test directory) for ServiceAccount
    /// `namespace/name`, talking to `server` (default: the API server itself).
    pub fn service_account_kubeconfig(
        &self,
        namespace: &str,
        name: &str,
        server: Option<&str>,
    ) -> PathBuf {
        let path = self
            .dir
            .path()
            .join(format!("sa-{namespace}-{name}.kubeconfig"));
        let direct = format!("https://127.0.0.1:{}", self.port);
        write_kubeconfig(
            &path,
            server.unwrap_or(&direct),
            &self.service_account_token(namespace, name),
        );
        path
    }

    /// A kube client for a kubeconfig written by this harness.
    pub async fn client(kubeconfig: &Path) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let cfg =
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .expect("kube config");
        kube::Client::try_from(cfg).expect("kube client")
    }

    pub async fn admin_client(&self) -> kube::Client {
        Self::client(&self.admin_kubeconfig).await
    }

    pub async fn limited_client(&self) -> kube::Client {
        Self::client(&self.limited_kubeconfig).await
    }
}

impl Drop for Kube {
    fn drop(&mut self) {
        // Reverse order: controller-manager, apiserver, then etcd.
        for (_, c) in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A Deployment `namespace/name` with `replicas` (no controller-manager: its
/// Pods are never made unless the test starts one).
pub fn deployment_yaml(namespace: &str, name: &str, replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: w, image: worker:1}}]}}
"
    )
}

/// `spec.replicas` of Deployment `name` (1 when unset, as the API defaults it).
pub async fn replicas(api: &kube::Api<k8s_openapi::api::apps::v1::Deployment>, name: &str) -> i32 {
    api.get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.replicas)
        .unwrap_or(1)
}

/// Set Deployment `name` to `n` replicas through its scale subresource (a
/// person, or another writer).
pub async fn scale(api: &kube::Api<k8s_openapi::api::apps::v1::Deployment>, name: &str, n: i32) {
    api.patch_scale(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(serde_json::json!({"spec": {"replicas": n}})),
    )
    .await
    .expect("the scale write");
}

/// `spec.replicas` of one Deployment as seen by a watch opened by
/// [`ReplicaWatch::start`]: the first value, then every change, in order.
pub struct ReplicaWatch {
    seen: std::sync::Arc<Mutex<Vec<i32>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplicaWatch {
    /// Open the watch; returns once it has seen the Deployment's current value.
    pub async fn start(
        api: kube::Api<k8s_openapi::api::apps::v1::Deployment>,
        name: &str,
    ) -> ReplicaWatch {
        use futures::StreamExt;
        use kube::runtime::{WatchStreamExt, watcher};
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let stream = watcher(api, cfg).applied_objects();
        let out = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(item) = stream.next().await {
                let Ok(d) = item else { continue };
                let r = d.spec.and_then(|s| s.replicas).unwrap_or(1);
                let mut v = out.lock().unwrap_or_else(|p| p.into_inner());
                if v.last() != Some(&r) {
                    v.push(r);
                }
            }
        });
        let w = ReplicaWatch { seen, task };
        let deadline = Instant::now() + Duration::from_secs(30);
        while w.seen().is_empty() {
            assert!(Instant::now() < deadline, "the watch saw nothing in 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        w
    }

    /// The values seen so far.
    pub fn seen(&self) -> Vec<i32> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for ReplicaWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A kubeconfig for `server` with a bearer `token`; an https server's
/// certificate (the test server's own, self-signed) is not verified.
pub fn write_kubeconfig(path: &Path, server: &str, token: &str) {
    let skip = if server.starts_with("https://") {
        "\n    insecure-skip-tls-verify: true"
    } else {
        ""
    };
    std::fs::write(
        path,
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {server}{skip}
users:
- name: user
  user:
    token: {token}
contexts:
- name: test
  context: {{cluster: test, user: user, namespace: default}}
current-context: test
"
        ),
    )
    .unwrap();
}
