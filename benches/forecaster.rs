//! Forecaster fit + predict on 28 days of 5-minute demand (8,064 points) of
//! the seeded clinic, 48 hours ahead (576 steps) at the policy's quantile:
//! - `engine/no-covariates`: the automatic engine (`forecast::engine_for`),
//!   model choice by backtest included (a fresh engine every iteration);
//! - `engine/covariates`: the same with appointment start counts, so the
//!   schedule regression is a candidate;
//! - `engine/refit`: an engine that has chosen its model refits on the same
//!   history (the hourly refit between daily re-selections);
//! - `seasonal-profile`: the simple model the simulator and the controller's
//!   runner use today.
//!
//! `cargo bench --bench forecaster`

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use planscale::forecast::{Forecaster, SeasonalProfile, engine_for};

fn bench(c: &mut Criterion) {
    let p = common::policy(300);
    let g = common::department(28, 300);
    let history = common::arrivals(&g, &p);
    let horizon = (p.forecast.horizon.secs() / p.forecast.step.secs()) as usize;
    let levels = [p.forecast.quantile];
    let past = common::covariates(&g.schedule, &history.grid, &p);
    // The booked future: the first `horizon` steps of the same clinic days again
    // (a realistic count pattern; the values do not change the work done).
    let mut future = common::covariates(&g.schedule, &history.grid.head(horizon), &p);
    future.grid = history.grid.following(horizon);

    let mut group = c.benchmark_group("forecaster");
    group.sample_size(10);
    group.bench_function("engine/no-covariates", |b| {
        b.iter(|| {
            let mut e = engine_for(&p);
            e.fit(black_box(&history), None).expect("fit");
            e.predict(horizon, &levels, None).expect("predict")
        })
    });
    group.bench_function("engine/covariates", |b| {
        b.iter(|| {
            let mut e = engine_for(&p);
            e.fit(black_box(&history), Some(&past)).expect("fit");
            e.predict(horizon, &levels, Some(&future)).expect("predict")
        })
    });
    let mut chosen = engine_for(&p);
    chosen.fit(&history, Some(&past)).expect("fit");
    group.bench_function("engine/refit", |b| {
        b.iter(|| {
            chosen.fit(black_box(&history), Some(&past)).expect("fit");
            chosen
                .predict(horizon, &levels, Some(&future))
                .expect("predict")
        })
    });
    group.bench_function("seasonal-profile", |b| {
        b.iter(|| {
            let mut m = SeasonalProfile::new(&p.periods_in_steps(), 4);
            m.fit(black_box(&history), None).expect("fit");
            m.predict(horizon, &levels, None).expect("predict")
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
