//! Measurement, not a regular test (ignored by default): resident memory of
//! `planscale run` with 50 forecast-only policies against the real test
//! kube-apiserver and a local fake Prometheus (28 days of 5-minute history
//! per policy), the per-policy loop time from its own
//! `planscale_loop_duration_seconds` histogram (wall time), and the process's
//! CPU time per loop in steady state (`/proc/PID/stat`).
//!
//!   cargo test --release --test kube_measure -- --ignored --nocapture

#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/measure.rs"]
mod measure_support;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use kube_support::{Kube, free_port};
use measure_support::{cpu_secs, fake_prometheus, histogram_totals, status_kb};

/// Number of policies (`PLANSCALE_MEASURE_POLICIES`, default 50).
fn policies() -> usize {
    std::env::var("PLANSCALE_MEASURE_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// (sum, count) of the loop-duration histogram over all policies, and the number of policies with a decision.
async fn loop_stats(metrics_url: &str) -> (f64, f64, usize) {
    let text = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    histogram_totals(&text, "loop_duration_seconds")
}

/// Resident KiB per mapping of `/proc/PID/smaps`, summed by what is mapped
/// (a file's path, `[heap]`, `[stack]`, or `anonymous`), largest first.
fn resident_by_mapping(pid: u32) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let mut current = String::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            // "start-end perms offset dev inode [path]"
            current = words.nth(4).unwrap_or("anonymous").to_string();
        } else if first == "Rss:" {
            *by.entry(current.clone()).or_default() +=
                words.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    let mut v: Vec<(String, u64)> = by.into_iter().filter(|(_, kb)| *kb > 0).collect();
    v.sort_by_key(|(_, kb)| std::cmp::Reverse(*kb));
    v
}

/// The planscale process itself: `spawned`, or under a wrapper the
/// descendant of `spawned` that runs the planscale binary.
fn measured_pid(spawned: u32, wrapped: bool) -> u32 {
    if !wrapped {
        return spawned;
    }
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_planscale")).unwrap();
    for _ in 0..100 {
        let mut todo = vec![spawned];
        while let Some(p) = todo.pop() {
            if std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e == binary) {
                return p;
            }
            let children =
                std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
            todo.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no planscale process under the wrapper (pid {spawned})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: run with --release -- --ignored --nocapture"]
async fn resident_memory_and_loop_time_with_50_policies() {
    let k = Kube::start();
    k.install_rbac_for_limited_user();
    let n = policies();
    let mut objects = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: planning}\n");
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        let _ = write!(
            objects,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app-{i}, namespace: planning}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: app-{i}}}}}\n  template:\n    metadata: {{labels: {{app: app-{i}}}}}\n    spec: {{containers: [{{name: w, image: worker:1}}]}}\n"
        );
        std::fs::write(
            dir.path().join(format!("app-{i}.yaml")),
            format!(
                "name: app-{i}\ntarget: {{kind: Deployment, namespace: planning, name: app-{i}}}\nreplicas: {{min: 1, max: 30}}\ncapacity: {{per_replica: 1, per: 1m, startup: 5m}}\ndemand: {{arrivals: {{series: jobs, query: sum(jobs_{i})}}}}\nslo: {{max_wait: 5m}}\nforecast: {{step: 5m, history: 28d, horizon: 12h, seasonal_periods: [1d, 7d]}}\nscaling: {{mode: forecast-only, interval: 1m}}\n"
            ),
        )
        .unwrap();
    }
    k.apply(&objects);
    let prom = fake_prometheus().await;
    let port = free_port();
    let log = std::fs::File::create(k.dir.path().join("planscale.log")).unwrap();
    // `PLANSCALE_MEASURE_WRAP="heaptrack -o FILE"` (or valgrind, perf ...)
    // runs the binary under that command, for a heap profile of this load.
    let wrap: Vec<String> = std::env::var("PLANSCALE_MEASURE_WRAP")
        .map(|w| w.split_whitespace().map(String::from).collect())
        .unwrap_or_default();
    let mut command = match wrap.split_first() {
        Some((tool, args)) => {
            let mut c = Command::new(tool);
            c.args(args).arg(env!("CARGO_BIN_EXE_planscale"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_planscale")),
    };
    let mut child = command
        .args(["--log", "warn", "--log-format", "json", "run", "--policies"])
        .arg(dir.path())
        .args(["--prometheus-url", &format!("http://127.0.0.1:{prom}")])
        .args([
            "--lease-namespace",
            "planscale",
            "--lease-name",
            "planscale-leader",
            "--interval",
            "10s",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("KUBECONFIG", &k.limited_kubeconfig)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = measured_pid(child.id(), !wrap.is_empty());
    let url = format!("http://127.0.0.1:{port}/metrics");

    // First iterations: fetch 28 days, fit (model choice by backtest), decide.
    let mut first = (0.0, 0.0, 0);
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Ok(r) = reqwest::get(&url).await
            && r.status().is_success()
        {
            first = loop_stats(&url).await;
            if first.2 == n {
                break;
            }
        }
    }
    assert_eq!(
        first.2,
        n,
        "every policy ran once:\n{}",
        k.log_tail("planscale")
    );
    let rss_after_fit = status_kb(pid, "VmRSS:");
    let cpu_after_fit = cpu_secs(pid);
    // Steady state: incremental fetch, predict, decide; no refit within the hour.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let later = loop_stats(&url).await;
    let cpu = cpu_secs(pid) - cpu_after_fit;
    let rss = status_kb(pid, "VmRSS:");
    let hwm = status_kb(pid, "VmHWM:");
    // What the resident set is: the heap and stacks, and the binary's pages.
    let (anon, file) = (status_kb(pid, "RssAnon:"), status_kb(pid, "RssFile:"));
    let threads = status_kb(pid, "Threads:");
    let mappings = resident_by_mapping(pid);
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    if wrap.is_empty() {
        let _ = child.kill();
    } else {
        // Under a profiler: a clean exit, so that it writes its results.
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    let _ = child.wait();

    let steady = (later.0 - first.0) / (later.1 - first.1).max(1.0);
    println!("policies: {n} (forecast-only, 28 d of 5-min history each, 10 s interval)");
    println!(
        "first iterations (fetch 28 d + fit + decide): {:.1} ms mean over {} iterations",
        first.0 / first.1 * 1e3,
        first.1
    );
    println!(
        "steady-state iteration (incremental fetch + predict + decide): {:.2} ms mean over {} iterations",
        steady * 1e3,
        later.1 - first.1
    );
    println!(
        "steady-state CPU of the process (user + sys, all threads, the HTTP server and lease included): {:.3} s over {} iterations, {:.3} ms per iteration",
        cpu,
        later.1 - first.1,
        cpu / (later.1 - first.1).max(1.0) * 1e3
    );
    println!(
        "resident memory: {} KiB after the first fits, {} KiB after 60 s more, peak {} KiB",
        rss_after_fit, rss, hwm
    );
    println!(
        "of which anonymous (heap, stacks) {anon} KiB, file-backed (the binary's pages) {file} KiB; {threads} threads"
    );
    println!("resident by mapping (KiB):");
    for (what, kb) in mappings.iter().take(8) {
        println!("  {kb:>7}  {what}");
    }
    assert!(later.1 > first.1, "the loops kept running");
    assert!(
        !text.contains("planscale_errors_total{"),
        "no errors expected:\n{text}"
    );
}
