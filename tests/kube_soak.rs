//! Soak, a measurement (ignored by default): `planscale run` with 200
//! policies for 10 minutes against the real test kube-apiserver (v1.20, the
//! shipped RBAC, leader election) and a loopback fake Prometheus
//! (tests/support/measure.rs: seven days of 1-minute history per policy, new
//! points every minute), every policy refitting every minute
//! (`forecast.refit_every: 1m` on a 1-minute step: a refit is due at every
//! new point of history). Half the policies are in `scale` mode, half
//! `forecast-only`.
//!
//! Every ~30 s it samples the planscale process: resident memory
//! (/proc/PID/status VmRSS), threads (/proc/PID/task), open sockets
//! (/proc/PID/fd links to `socket:`), CPU time (user + system, /proc/PID/stat)
//! and the fit and loop counts from its `/metrics`. After the warm-up
//! (default 2 minutes) it asserts: resident memory within 5 % of the first
//! sample after the warm-up, no growth in threads or sockets (the largest
//! value of the last third of the samples is no larger than the largest of
//! the first third), every policy refitted at least once per minute but one,
//! and no errors.
//!
//!   cargo test --release --test kube_soak -- --ignored --nocapture
//!
//! `PLANSCALE_SOAK_POLICIES` (200), `PLANSCALE_SOAK_MINUTES` (10) and
//! `PLANSCALE_SOAK_WARMUP_MINUTES` (2) change the size and the length.

#[path = "support/kube.rs"]
mod kube_support;
#[path = "support/measure.rs"]
mod measure_support;
#[path = "support/planscale.rs"]
mod planscale_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube_support::{Kube, deployment_yaml};
use measure_support::{cpu_secs, fake_prometheus, histogram_totals, sockets, status_kb, tasks};
use planscale_support::{Planscale, wait_for};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Refits per policy so far (`planscale_fit_duration_seconds_count`).
fn fits(page: &str) -> BTreeMap<String, f64> {
    page.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("planscale_fit_duration_seconds_count{policy=\"")?;
            let (policy, value) = rest.split_once("\"} ")?;
            Some((policy.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    tasks: usize,
    sockets: usize,
    cpu_s: f64,
    fits: BTreeMap<String, f64>,
    loops: f64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement (about 12 minutes): run with --release -- --ignored --nocapture"]
async fn memory_threads_and_sockets_stay_flat_with_200_policies_refitting_every_minute() {
    let n = setting("PLANSCALE_SOAK_POLICIES", 200) as usize;
    let minutes = setting("PLANSCALE_SOAK_MINUTES", 10);
    let warmup = setting("PLANSCALE_SOAK_WARMUP_MINUTES", 2);
    assert!(
        minutes > warmup + 2,
        "the soak must outlast its warm-up by 3 minutes"
    );

    let k = Kube::start();
    k.install_rbac_for_limited_user();
    let mut objects = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: planning}\n");
    let dir = tempfile::tempdir().unwrap();
    for i in 0..n {
        objects.push_str("---\n");
        objects.push_str(&deployment_yaml("planning", &format!("app-{i}"), 1));
        let mode = if i % 2 == 0 { "scale" } else { "forecast-only" };
        std::fs::write(
            dir.path().join(format!("app-{i}.yaml")),
            format!(
                "name: app-{i}\ntarget: {{kind: Deployment, namespace: planning, name: app-{i}}}\nreplicas: {{min: 1, max: 40}}\ncapacity: {{per_replica: 1, per: 1m, startup: 5m}}\ndemand: {{arrivals: {{series: jobs, query: sum(jobs_{i})}}}}\nslo: {{max_wait: 5m}}\nforecast: {{step: 1m, history: 7d, horizon: 2h, seasonal_periods: [1d], refit_every: 1m}}\nscaling: {{mode: {mode}, interval: 1m}}\n"
            ),
        )
        .unwrap();
    }
    k.apply(&objects);
    let prom = fake_prometheus().await;
    let policies = dir.path().display().to_string();
    let prom_url = format!("http://127.0.0.1:{prom}");
    let ps = Planscale::start(
        k.dir.path(),
        "planscale",
        &k.limited_kubeconfig,
        "warn",
        &[
            "--policies",
            &policies,
            "--prometheus-url",
            &prom_url,
            "--lease-namespace",
            "planscale",
            "--interval",
            "10s",
        ],
    );
    let pid = ps.pid().unwrap();
    // Every policy has decided once (fetched seven days, fitted, decided).
    wait_for(
        "every policy's first decision",
        Duration::from_secs(600),
        || async {
            let page = reqwest::get(format!("http://127.0.0.1:{}/metrics", ps.port))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            (histogram_totals(&page, "loop_duration_seconds").2 == n).then_some(())
        },
    )
    .await;

    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let total = Duration::from_secs(minutes * 60);
    loop {
        let page = ps.metrics().await;
        samples.push(Sample {
            at_s: started.elapsed().as_secs_f64(),
            rss_kib: status_kb(pid, "VmRSS:"),
            tasks: tasks(pid),
            sockets: sockets(pid),
            cpu_s: cpu_secs(pid),
            fits: fits(&page),
            loops: histogram_totals(&page, "loop_duration_seconds").1,
        });
        let s = samples.last().unwrap();
        println!(
            "{:6.0} s  VmRSS {:7} KiB  tasks {:3}  sockets {:4}  cpu {:7.1} s  fits {:6}  loops {:7}",
            s.at_s,
            s.rss_kib,
            s.tasks,
            s.sockets,
            s.cpu_s,
            s.fits.values().sum::<f64>(),
            s.loops
        );
        if started.elapsed() >= total {
            break;
        }
        tokio::time::sleep(Duration::from_secs(30).min(total - started.elapsed())).await;
    }
    let page = ps.metrics().await;
    let hwm = status_kb(pid, "VmHWM:");

    let after: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_s >= (warmup * 60) as f64)
        .collect();
    assert!(
        after.len() >= 6,
        "samples after the warm-up: {}",
        after.len()
    );
    let (first, last) = (after[0], after[after.len() - 1]);
    let (lo, hi) = (
        after.iter().map(|s| s.rss_kib).min().unwrap(),
        after.iter().map(|s| s.rss_kib).max().unwrap(),
    );
    let span_min = (last.at_s - first.at_s) / 60.0;
    let third = after.len() / 3;
    let max_of = |xs: &[&Sample], f: fn(&Sample) -> usize| xs.iter().map(|s| f(s)).max().unwrap();
    let (early, late) = (&after[..third], &after[after.len() - third..]);
    let refits: Vec<f64> = last
        .fits
        .iter()
        .map(|(p, v)| v - first.fits.get(p).copied().unwrap_or(0.0))
        .collect();
    let min_refits = refits.iter().copied().fold(f64::INFINITY, f64::min);
    let cpu = last.cpu_s - first.cpu_s;
    println!(
        "policies: {n}; after the {warmup}-min warm-up, over {span_min:.1} min: VmRSS {lo}..{hi} KiB \
         (first {} KiB, last {} KiB, {:+.2} %), peak (VmHWM) {hwm} KiB; tasks {}..{}; sockets {}..{}; \
         refits per policy >= {min_refits} ({} in all); CPU {cpu:.1} s ({:.2} cores)",
        first.rss_kib,
        last.rss_kib,
        (last.rss_kib as f64 / first.rss_kib as f64 - 1.0) * 100.0,
        after.iter().map(|s| s.tasks).min().unwrap(),
        after.iter().map(|s| s.tasks).max().unwrap(),
        after.iter().map(|s| s.sockets).min().unwrap(),
        after.iter().map(|s| s.sockets).max().unwrap(),
        refits.iter().sum::<f64>(),
        cpu / (span_min * 60.0),
    );

    assert!(
        !page.contains("planscale_errors_total{"),
        "no errors expected:\n{}",
        page.lines()
            .filter(|l| l.starts_with("planscale_errors_total"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(refits.len(), n, "every policy has fitted");
    assert!(
        min_refits >= span_min.floor() - 1.0,
        "every policy refits every minute: at least {} refits in {span_min:.1} min, found {min_refits}",
        span_min.floor() - 1.0
    );
    assert!(last.loops > first.loops, "the loops kept running");
    for s in &after {
        let off = (s.rss_kib as f64 / first.rss_kib as f64 - 1.0).abs();
        assert!(
            off <= 0.05,
            "resident memory not flat: {} KiB at {:.0} s, {:.1} % from {} KiB at {:.0} s",
            s.rss_kib,
            s.at_s,
            off * 100.0,
            first.rss_kib,
            first.at_s
        );
    }
    assert!(
        max_of(late, |s| s.tasks) <= max_of(early, |s| s.tasks),
        "threads grew: {:?}",
        after.iter().map(|s| s.tasks).collect::<Vec<_>>()
    );
    assert!(
        max_of(late, |s| s.sockets) <= max_of(early, |s| s.sockets),
        "sockets grew: {:?}",
        after.iter().map(|s| s.sockets).collect::<Vec<_>>()
    );
}
