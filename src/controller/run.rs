//! `planscale run`: the supervisor. Starts the telemetry server and the
//! leader election, runs one task per policy, reloads the policy directory,
//! and stops gracefully: on shutdown every policy task finishes its current
//! iteration, the Lease is released, and the server stops.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Result;
use super::cluster::{Cluster, KubeCluster, TargetRef};
use super::election::{Election, LeaseConfig};
use super::reload;
use super::runner::{Ctx, PolicyRunner, backoff};
use super::settings::Settings;
use super::sources::{MetricSource, ScheduleSource};
use crate::policy::{LoadedPolicy, Mode};
use crate::telemetry::{self, PolicyLabels, Telemetry};

struct Running {
    loaded: LoadedPolicy,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// When the task last finished an iteration (successful or not).
    beat: Arc<Mutex<Instant>>,
    interval: StdDuration,
}

/// How long a policy task may go without finishing an iteration before
/// `/healthz` fails (an iteration stuck on I/O): three intervals plus the
/// longest backoff and a margin for a slow first fit.
pub fn stall_limit(interval: StdDuration) -> StdDuration {
    interval * 3 + StdDuration::from_secs(15 * 60)
}

/// Run the controller until `shutdown` completes, with the given client and sources.
pub async fn run<M: MetricSource, S: ScheduleSource>(
    settings: Settings,
    client: kube::Client,
    metrics: M,
    schedule: S,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let t = Telemetry::new();
    let (stop_server, server_rx) = watch::channel(false);
    let (addr, server) = telemetry::serve(settings.listen, t.clone(), server_rx.clone()).await?;
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    let board = crate::keda::Board::default();
    let keda_server = match settings.keda_listen {
        Some(listen) => {
            let tls = settings.keda_tls();
            let scaler = crate::keda::Scaler::new(board.clone(), t.metrics.clone())
                .ready_when(t.health.ready.clone());
            match crate::keda::serve(listen, tls.as_ref(), scaler, server_rx).await {
                Ok((addr, task)) => {
                    tracing::info!(%addr, tls = tls.is_some(), mutual_tls = settings.keda_tls_client_ca.is_some(), "serving KEDA's external scaler (gRPC externalscaler.ExternalScaler)");
                    Some(task)
                }
                Err(e) => {
                    let _ = stop_server.send(true);
                    let _ = server.await;
                    return Err(super::Error::Settings(e.to_string()));
                }
            }
        }
        None => None,
    };

    tokio::pin!(shutdown);
    let identity = settings.identity();
    let election = if settings.leader_election {
        let cfg = LeaseConfig {
            namespace: settings.lease_namespace(),
            name: settings.lease_name.clone(),
            identity: identity.clone(),
            duration: StdDuration::from_secs(settings.lease_duration.secs()),
            grace: StdDuration::from_secs((settings.lease_duration.secs() / 3).max(1)),
        };
        // The API server may be unreachable at start: retry with backoff
        // (2 s doubling to 60 s) until it answers or we are told to stop.
        let mut failures = 0u32;
        loop {
            match Election::start(client.clone(), &cfg).await {
                Ok(e) => break e,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    t.metrics.error("", e.kind());
                    let d = backoff(failures, StdDuration::from_secs(60))
                        .min(StdDuration::from_secs(60));
                    tracing::warn!(error = %e, retry_in_s = d.as_secs(), "cannot start leader election; retrying");
                    tokio::select! {
                        _ = &mut shutdown => {
                            let _ = stop_server.send(true);
                            let _ = server.await;
                            if let Some(k) = keda_server {
                                let _ = k.await;
                            }
                            return Err(e);
                        }
                        _ = tokio::time::sleep(d) => {}
                    }
                }
            }
        }
    } else {
        Election::always_leader()
    };
    let leader = election.subscribe();
    let leader_gauge = {
        let mut rx = election.subscribe();
        let g = t.metrics.leader.clone();
        tokio::spawn(async move {
            loop {
                let is = *rx.borrow_and_update();
                g.set(i64::from(is));
                tracing::info!(identity = %identity, leader = is, "leadership");
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
    };

    let ctx = Arc::new(Ctx {
        cluster: KubeCluster::new(client, Some(settings.identity())),
        metrics,
        schedule,
        telemetry: t.metrics.clone(),
        leader,
        keda: board.clone(),
        pipeline: super::pipeline::Pipeline::default(),
    });
    let mut running: HashMap<String, Running> = HashMap::new();
    let mut last_fp = None;
    loop {
        let fp = reload::fingerprint(&settings.policies);
        if last_fp != Some(fp) {
            last_fp = Some(fp);
            apply_reload(&settings, &ctx, &t, &mut running).await;
            t.health.ready.set(true);
        }
        let stalled: Vec<&String> = running
            .iter()
            .filter(|(_, r)| {
                r.beat
                    .lock()
                    .map(|b| b.elapsed() > stall_limit(r.interval))
                    .unwrap_or(true)
            })
            .map(|(n, _)| n)
            .collect();
        if !stalled.is_empty() {
            tracing::error!(policies = ?stalled, "policy loops stalled: failing /healthz");
        }
        t.health.live.set(stalled.is_empty());
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tokio::time::sleep(StdDuration::from_secs(settings.reload_interval.secs())) => {}
        }
    }

    tracing::info!("shutting down: stopping policy loops");
    t.health.ready.set(false);
    for (_, r) in running.drain() {
        let _ = r.stop.send(true);
        let _ = r.task.await;
    }
    // The Lease task releases the Lease once every receiver of its channel is
    // gone: the policy tasks have ended, so drop the context and the gauge task.
    drop(ctx);
    leader_gauge.abort();
    let _ = leader_gauge.await;
    tracing::info!("releasing the Lease");
    let released = election.stop().await;
    // End the KEDA scaler's open streams, then stop the servers.
    board.clear();
    let _ = stop_server.send(true);
    let _ = server.await;
    if let Some(k) = keda_server {
        let _ = k.await;
    }
    released
}

async fn apply_reload<C: Cluster, M: MetricSource, S: ScheduleSource>(
    settings: &Settings,
    ctx: &Arc<Ctx<C, M, S>>,
    t: &Telemetry,
    running: &mut HashMap<String, Running>,
) {
    let (valid, errors) = reload::load(&settings.policies, &settings.namespaces);
    for e in &errors {
        tracing::error!(error = %e, "invalid policy file; the other policies keep running");
        t.metrics.error("", "policy_invalid");
    }
    t.metrics.policies_invalid.set(errors.len() as i64);
    let current: HashMap<String, LoadedPolicy> = running
        .iter()
        .map(|(k, r)| (k.clone(), r.loaded.clone()))
        .collect();
    let plan = reload::plan(&current, valid, &errors);
    for name in &plan.keep_stale {
        tracing::warn!(policy = %name, "policy file is invalid now; keeping its last good version running");
    }
    for name in plan.stop {
        if let Some(r) = running.remove(&name) {
            let _ = r.stop.send(true);
            let _ = r.task.await;
            ctx.keda.remove(&name);
            ctx.pipeline.withdraw(&name);
            t.metrics.forget_policy(&name);
            tracing::info!(policy = %name, "policy removed");
            if r.loaded.policy.scaling.mode == Mode::HpaFloor && *ctx.leader.borrow() {
                restore_floor(ctx, &r.loaded, t).await;
            }
        }
    }
    for lp in plan.start {
        let name = lp.policy.name.clone();
        if let Some(old) = running.remove(&name) {
            let _ = old.stop.send(true);
            let _ = old.task.await;
            // Leaving hpa-floor mode gives the HPA its own floor back.
            if old.loaded.policy.scaling.mode == Mode::HpaFloor
                && lp.policy.scaling.mode != Mode::HpaFloor
                && *ctx.leader.borrow()
            {
                restore_floor(ctx, &old.loaded, t).await;
            }
            tracing::info!(policy = %name, "policy changed; restarting its loop");
        } else {
            tracing::info!(policy = %name, file = %lp.path.display(), mode = %lp.policy.scaling.mode, "policy loaded");
        }
        let (stop, stop_rx) = watch::channel(false);
        let interval = settings
            .interval
            .map(|d| StdDuration::from_secs(d.secs()))
            .unwrap_or_else(|| StdDuration::from_secs(lp.policy.scaling.interval.secs().max(1)));
        let beat = Arc::new(Mutex::new(Instant::now()));
        ctx.keda
            .register(&name, crate::keda::PolicyInfo::of(&lp.policy, interval));
        let max_staleness =
            chrono::TimeDelta::try_seconds(settings.schedule_max_staleness.secs_i64())
                .unwrap_or(chrono::TimeDelta::MAX);
        let task = tokio::spawn(drive(
            PolicyRunner::new(lp.clone())
                .with_schedule_max_staleness(max_staleness)
                .with_tick_interval(
                    chrono::TimeDelta::from_std(interval).unwrap_or(chrono::TimeDelta::MAX),
                ),
            ctx.clone(),
            interval,
            stop_rx,
            beat.clone(),
        ));
        running.insert(
            name,
            Running {
                loaded: lp,
                stop,
                task,
                beat,
                interval,
            },
        );
    }
    t.metrics.policies_running.set(running.len() as i64);
}

async fn restore_floor<C: Cluster, M, S>(ctx: &Ctx<C, M, S>, lp: &LoadedPolicy, t: &Telemetry) {
    let target = TargetRef::from(&lp.policy.target);
    match ctx.cluster.restore_hpa_floor(&target).await {
        Ok(Some(a)) => {
            t.metrics.conflicts(&lp.policy.name, a.conflicts);
            tracing::info!(policy = %lp.policy.name, from = a.from, to = a.to, "restored the HPA's original minReplicas")
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(policy = %lp.policy.name, error = %e, "could not restore the HPA's original minReplicas");
            t.metrics.error(&lp.policy.name, e.kind());
        }
    }
}

/// One policy's task: tick every interval, back off after failures, stop on request.
async fn drive<C: Cluster, M: MetricSource, S: ScheduleSource>(
    mut runner: PolicyRunner,
    ctx: Arc<Ctx<C, M, S>>,
    interval: StdDuration,
    mut stop: watch::Receiver<bool>,
    beat: Arc<Mutex<Instant>>,
) {
    let name = runner.policy().name.clone();
    let labels = PolicyLabels {
        policy: name.clone(),
    };
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let result = runner.tick(Utc::now(), &ctx).await;
        ctx.telemetry
            .loop_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        if let Ok(mut b) = beat.lock() {
            *b = Instant::now();
        }
        let delay = match result {
            Ok(_) => {
                failures = 0;
                interval
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                ctx.telemetry.error(&name, e.kind());
                let d = backoff(failures, interval);
                tracing::warn!(policy = %name, error = %e, failures, retry_in_s = d.as_secs(), "loop iteration failed; backing off");
                d
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
}
