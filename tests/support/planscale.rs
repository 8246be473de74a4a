//! Test harness: the real `planscale run` binary as a child process, with
//! JSON logs in a file, `/metrics` on a free loopback port, and a kill by PID
//! on drop (also when a test panics).
//!
//! Include with `#[path = "support/planscale.rs"] mod planscale_support;`.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One `planscale run` process.
pub struct Planscale {
    child: Option<Child>,
    /// Its stderr: one JSON object a line (`--log-format json`).
    pub log_path: PathBuf,
    /// Port of `/metrics`, `/healthz`, `/readyz` on 127.0.0.1.
    pub port: u16,
}

impl Planscale {
    /// Start `planscale --log-format json --log <filter> run --listen 127.0.0.1:<free port> <args>`
    /// with `KUBECONFIG=kubeconfig` and a 1-second `reload_interval`; the log
    /// goes to `<dir>/<name>.log`.
    pub fn start(dir: &Path, name: &str, kubeconfig: &Path, filter: &str, args: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_planscale"))
            .args(["--log-format", "json", "--log", filter, "run", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            // Policy files changed by a test are picked up within a second.
            .env("PLANSCALE_RELOAD_INTERVAL", "1s")
            .env_remove("PLANSCALE_PROMETHEUS_URL")
            .env_remove("PLANSCALE_CONFIG")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start planscale run");
        Planscale {
            child: Some(child),
            log_path,
            port,
        }
    }

    /// [`Planscale::start`] on the policy directory `policies`, every policy
    /// every second, leader election on (the Lease in namespace `planscale`),
    /// as identity `planscale-0`, with `extra` flags; log at info.
    pub fn start_leader(dir: &Path, kubeconfig: &Path, policies: &Path, extra: &[&str]) -> Self {
        Self::start_leader_logging(dir, kubeconfig, policies, extra, "info")
    }

    /// [`Planscale::start_leader`] logging at `log` (e.g. `trace`).
    pub fn start_leader_logging(
        dir: &Path,
        kubeconfig: &Path,
        policies: &Path,
        extra: &[&str],
        log: &str,
    ) -> Self {
        let policies = policies.display().to_string();
        let mut args = vec![
            "--policies",
            &policies,
            "--interval",
            "1s",
            "--lease-namespace",
            "planscale",
            "--identity",
            "planscale-0",
        ];
        args.extend_from_slice(extra);
        Self::start(dir, "planscale", kubeconfig, log, &args)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The log so far, one JSON object a line (lines that are not JSON are skipped).
    pub fn log(&self) -> Vec<serde_json::Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The log so far as text.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .and_then(|r| r.error_for_status())
            .expect("GET /metrics")
            .text()
            .await
            .expect("the /metrics body")
    }

    /// Kill the process (SIGKILL: no chance to release the Lease) and reap it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait up to `limit` for it to exit; its exit status.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let mut c = self.child.take().expect("a running process");
        let st = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "planscale run did not stop on SIGTERM within {limit:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Planscale {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The message of a JSON log line.
pub fn message(line: &serde_json::Value) -> &str {
    line["fields"]["message"].as_str().unwrap_or("")
}

/// The value of the sample `series` (name and labels exactly as exposed,
/// e.g. `planscale_errors_total{policy="p",kind="k"}`) on a `/metrics` page.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Wait (bounded) until `f` yields `Some`. The limit is a timeout for a
/// hung test, not an assertion on how fast something happens.
pub async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
