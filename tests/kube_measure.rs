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

use std::convert::Infallible;
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use kube_support::{Kube, free_port};

/// Number of policies (`PLANSCALE_MEASURE_POLICIES`, default 50).
fn policies() -> usize {
    std::env::var("PLANSCALE_MEASURE_POLICIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn param<'a>(form: &'a str, key: &str) -> Option<&'a str> {
    form.split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// Jobs per 5-minute step at unix time `t` for series `i`: a working-day bump.
fn demand(i: usize, t: i64) -> f64 {
    let hour = (t.rem_euclid(86_400)) / 3600;
    let base = 1.0 + (i % 5) as f64;
    if (8..16).contains(&hour) {
        base * 6.0
    } else {
        base
    }
}

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let form = if body.is_empty() {
        query
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let json = if path.ends_with("/query_range") {
        let num = |k| {
            param(&form, k)
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0) as i64
        };
        let (start, end, step) = (num("start"), num("end"), num("step").max(1));
        let q = param(&form, "query").unwrap_or("");
        let i: usize = q
            .chars()
            .filter(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        let mut values = String::new();
        let mut t = start;
        while t <= end {
            if !values.is_empty() {
                values.push(',');
            }
            let _ = write!(values, "[{t},\"{}\"]", demand(i, t));
            t += step;
        }
        format!(
            r#"{{"status":"success","data":{{"resultType":"matrix","result":[{{"metric":{{}},"values":[{values}]}}]}}}}"#
        )
    } else {
        r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#.to_string()
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json)))
        .unwrap())
}

async fn fake_prometheus() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await;
            });
        }
    });
    port
}

/// (sum, count) of the loop-duration histogram over all policies, and the number of policies with a decision.
async fn loop_stats(metrics_url: &str) -> (f64, f64, usize) {
    let text = reqwest::get(metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (mut sum, mut count, mut policies) = (0.0, 0.0, 0);
    for line in text.lines() {
        let value = || line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
        if line.starts_with("planscale_loop_duration_seconds_sum{") {
            sum += value();
            policies += 1;
        } else if line.starts_with("planscale_loop_duration_seconds_count{") {
            count += value();
        }
    }
    (sum, count, policies)
}

/// The process's CPU time so far (user + system, s) from `/proc/PID/stat`
/// (clock ticks of 1/100 s, `getconf CLK_TCK` on Linux).
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
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
    let mut child = Command::new(env!("CARGO_BIN_EXE_planscale"))
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
    let pid = child.id();
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
    let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
    let _ = child.kill();
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
    assert!(later.1 > first.1, "the loops kept running");
    assert!(
        !text.contains("planscale_errors_total{"),
        "no errors expected:\n{text}"
    );
}
