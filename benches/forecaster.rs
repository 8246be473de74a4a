//! Forecaster fit + predict on 28 days of 5-minute demand (8,064 points) of
//! the seeded clinic, 48 hours ahead (576 steps) at the policy's quantile:
//! - `engine/no-covariates`: the automatic engine (`forecast::engine_for`),
//!   model choice by backtest included (a fresh engine every iteration);
//! - `engine/covariates`: the same with appointment start counts, so the
//!   schedule regression is a candidate;
//! - `engine/refit`: an engine that has chosen its model refits on the same
//!   history (the hourly refit between daily re-selections);
//! - `seasonal-profile`: the simple model the simulator and the controller
//!   used before the engine (a baseline);
//! - `engine-1-minute/*`: the same three engine cases on 28 days at 1 minute
//!   (40,320 points, daily and weekly periods of 1,440 and 10,080 steps);
//! - `engine-scaling/covariates/{7,14,28,56}d`: the full fit with covariates
//!   on 1×, 2×, 4× and 8× a week of 5-minute history (cost should grow
//!   linearly, not with the season length);
//! - `engine-candidate/<model>`: the engine restricted to one candidate
//!   (28 days at 5 minutes with covariates): what each model adds.
//!
//! Measured in CPU time (user + system, [`common::cpu::CpuTime`]), not wall
//! time: on a shared machine the wall clock counts the others' load.
//!
//! `cargo bench --bench forecaster` (`-- engine-1-minute` for one group).

mod common;

use std::hint::black_box;

use common::FitInput;
use common::cpu::CpuTime;
use common::fit_input;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use planscale::forecast::working::WORKING_MODEL;
use planscale::forecast::{
    Engine, EngineConfig, Forecaster, SCHEDULE_MODEL, SeasonalProfile, engine_for, univariate,
};

fn bench(c: &mut Criterion<CpuTime>) {
    let FitInput {
        p,
        history,
        past,
        future,
        horizon,
        levels,
    } = fit_input(300, 28);

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

    let one = fit_input(60, 28);
    let mut group = c.benchmark_group("forecaster/engine-1-minute");
    group.sample_size(10);
    group.bench_function("no-covariates", |b| {
        b.iter(|| {
            let mut e = engine_for(&one.p);
            e.fit(black_box(&one.history), None).expect("fit");
            e.predict(one.horizon, &one.levels, None).expect("predict")
        })
    });
    group.bench_function("covariates", |b| {
        b.iter(|| {
            let mut e = engine_for(&one.p);
            e.fit(black_box(&one.history), Some(&one.past))
                .expect("fit");
            e.predict(one.horizon, &one.levels, Some(&one.future))
                .expect("predict")
        })
    });
    let mut chosen = engine_for(&one.p);
    chosen.fit(&one.history, Some(&one.past)).expect("fit");
    group.bench_function("refit", |b| {
        b.iter(|| {
            chosen
                .fit(black_box(&one.history), Some(&one.past))
                .expect("fit");
            chosen
                .predict(one.horizon, &one.levels, Some(&one.future))
                .expect("predict")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("forecaster/engine-scaling");
    group.sample_size(10);
    for days in [7u32, 14, 28, 56] {
        let i = fit_input(300, days);
        group.bench_with_input(
            BenchmarkId::new("covariates", format!("{days}d")),
            &i,
            |b, i| {
                b.iter(|| {
                    let mut e = engine_for(&i.p);
                    e.fit(black_box(&i.history), Some(&i.past)).expect("fit");
                    e.predict(i.horizon, &i.levels, Some(&i.future))
                        .expect("predict")
                })
            },
        );
    }
    group.finish();

    // What each candidate costs on its own: the engine restricted to one
    // model (its backtest at every origin, the pools, the predict), 28 days
    // of 5-minute history with covariates. Alone, `median` fits its seven
    // members; in the full engine it reads their backtest forecasts.
    let mut group = c.benchmark_group("forecaster/engine-candidate");
    group.sample_size(10);
    let names = [SCHEDULE_MODEL, WORKING_MODEL]
        .into_iter()
        .chain(univariate::MODELS.iter().copied());
    for name in names {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut cfg = EngineConfig::for_policy(&p);
                cfg.models = Some(vec![name.to_string()]);
                let mut e = Engine::new(cfg);
                e.fit(black_box(&history), Some(&past)).expect("fit");
                e.predict(horizon, &levels, Some(&future)).expect("predict")
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = bench
}
criterion_main!(benches);
