//! One controller loop iteration over 50 policies: `PolicyRunner::tick` for
//! each, in turn, with in-memory sources (`MemoryMetrics` serving 28 days of
//! 5-minute history per policy, `MemorySchedule`) and an in-memory cluster.
//! Each tick observes the target, fetches the history (a clone of the cached
//! series, as the metrics cache hands it out), refreshes the schedule,
//! forecasts, decides and explains (the bundled policy is `forecast-only`).
//! - `no-refit`: the model was fitted at the first tick; the steady state
//!   between the policy's hourly refits;
//! - `refit`: every tick refits (`refit_every` set to one second), the cost
//!   of the iteration in which all 50 refit at once.
//!
//! `cargo bench --bench controller`

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use planscale::controller::memory::MemoryCluster;
use planscale::controller::runner::Ctx;
use planscale::controller::sources::{MemoryMetrics, MemorySchedule};
use planscale::controller::{Observation, PolicyRunner};
use planscale::policy::{Duration, LoadedPolicy};
use tokio::sync::watch;

/// Policies in one loop iteration (the figure).
const POLICIES: usize = 50;

/// The loop's context with in-memory sources.
type MemoryCtx = Ctx<MemoryCluster, MemoryMetrics, MemorySchedule>;

/// 50 runners over the bundled policy (renamed), their context, the time of
/// the first tick (the end of the history), and the leader flag's sender.
fn setup(
    refit_every: Duration,
) -> (
    Vec<PolicyRunner>,
    MemoryCtx,
    DateTime<Utc>,
    watch::Sender<bool>,
) {
    let g = common::department(28, 300);
    let base = common::policy(300);
    let history = common::arrivals(&g, &base);
    let now = history.grid.end();
    let metrics = MemoryMetrics::default();
    let schedule = MemorySchedule::default();
    schedule.set(g.schedule.clone());
    let runners = (0..POLICIES)
        .map(|i| {
            let mut p = base.clone();
            p.name = format!("policy-{i:02}");
            p.target.name = format!("worker-{i:02}");
            p.forecast.refit_every = refit_every;
            metrics.set(
                &p.name,
                Observation {
                    history: history.clone(),
                    utilisation: Some(0.6),
                    queue_depth: Some(2.0),
                    completions: None,
                },
            );
            PolicyRunner::new(LoadedPolicy {
                path: format!("policies/policy-{i:02}.yaml").into(),
                policy: p,
            })
        })
        .collect();
    let (tx, rx) = watch::channel(true);
    let ctx = Ctx {
        cluster: MemoryCluster::with(4),
        metrics,
        schedule,
        telemetry: planscale::telemetry::Metrics::default(),
        leader: rx,
        keda: planscale::keda::Board::default(),
        pipeline: Default::default(),
    };
    (runners, ctx, now, tx)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("controller/tick-50-policies");
    group.sample_size(10);
    for (name, every) in [
        ("no-refit", Duration::from_days(365)),
        ("refit", Duration::from_secs(1)),
    ] {
        let (mut runners, ctx, start, _leader) = setup(every);
        let mut now = start;
        // The first tick fits every model.
        rt.block_on(async {
            for r in &mut runners {
                r.tick(now, &ctx).await.expect("tick");
            }
        });
        group.bench_function(name, |b| {
            b.iter(|| {
                // One second later each iteration: the stabilisation window
                // keeps a bounded state, and `refit` is always due.
                now += TimeDelta::seconds(1);
                rt.block_on(async {
                    for r in &mut runners {
                        r.tick(now, &ctx).await.expect("tick");
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
