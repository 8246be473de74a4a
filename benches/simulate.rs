//! `sim::simulate` over 4 weeks of the seeded clinic at a 1-minute step
//! (40,320 steps; the simulation ticks every 15 s) with every strategy:
//! predictive, the HPA, a static count, the static count that matches
//! predictive's SLO attainment, and the oracle. Per strategy as well, so the
//! cost of each is visible.
//!
//! `cargo bench --bench simulate`

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use planscale::sim::{self, Scenario, Strategy};

fn bench(c: &mut Criterion) {
    let p = common::policy(60);
    let g = common::department(28, 60);
    // One week of warm-up, as the bundled simulation has history before it measures.
    let scenario = Scenario::new(p, &g.recording, g.schedule.clone(), 7 * 86_400)
        .expect("the generated department fits the policy");
    let all = [
        Strategy::Predictive,
        Strategy::Hpa,
        Strategy::Static(6),
        Strategy::StaticMatch,
        Strategy::Oracle,
    ];
    let mut group = c.benchmark_group("simulate/4-weeks-1-minute");
    group.sample_size(10);
    group.bench_function("all-strategies", |b| {
        b.iter(|| sim::simulate(&scenario, &all, &mut |_| {}))
    });
    for (name, s) in [
        ("predictive", Strategy::Predictive),
        ("hpa", Strategy::Hpa),
        ("oracle", Strategy::Oracle),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| sim::simulate(&scenario, &[s], &mut |_| {}))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
