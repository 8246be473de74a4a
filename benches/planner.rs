//! One decision of the forecast-to-decision step (`Autoscaler::decide`, the
//! call simulate, run and forecast make): the bundled policy fitted on 28
//! days of the seeded clinic, current metrics, the forecast cached from the
//! fit (as between refits), and a planner state holding the last 15 minutes
//! of decisions (what the stabilisation window and the rate limits look at).
//!
//! `cargo bench --bench planner`

mod common;

use std::hint::black_box;

use chrono::TimeDelta;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use planscale::autoscale::{Autoscaler, Observation};

fn bench(c: &mut Criterion) {
    let p = common::policy(300);
    let g = common::department(28, 300);
    let history = common::arrivals(&g, &p);
    let mut a = Autoscaler::new(p.clone());
    a.refit(history.view(), &[]).expect("fit");
    let obs = Observation {
        current: 4,
        ready: 4,
        utilisation: Some(0.7),
        queue_depth: Some(3.0),
        history: Some(history.view()),
    };
    let now = history.grid.end() + TimeDelta::minutes(20);
    for k in (1..=15).rev() {
        a.decide(now - TimeDelta::minutes(k), &obs, &[]);
    }
    c.bench_function("autoscaler/decide", |b| {
        b.iter_batched(
            || a.clone(),
            |mut a| a.decide(black_box(now), black_box(&obs), &[]),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
