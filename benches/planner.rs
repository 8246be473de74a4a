//! One planner decision (`plan::decide`): the bundled policy, a 48-hour
//! forecast of the seeded clinic at the policy's quantile, current metrics,
//! and a planner state holding the last 15 minutes of decisions (what the
//! stabilisation window and the rate limits look at).
//!
//! `cargo bench --bench planner`

mod common;

use std::hint::black_box;

use chrono::TimeDelta;
use criterion::{Criterion, criterion_group, criterion_main};
use planscale::forecast::{Forecaster, SeasonalProfile};
use planscale::plan::{self, ForecastView, Input, PlannerState};

fn bench(c: &mut Criterion) {
    let p = common::policy(300);
    let g = common::department(28, 300);
    let history = common::arrivals(&g, &p);
    let horizon = (p.forecast.horizon.secs() / p.forecast.step.secs()) as usize;
    let mut m = SeasonalProfile::new(&p.periods_in_steps(), 4);
    m.fit(&history, None).expect("fit");
    let f = m
        .predict(horizon, &[p.forecast.quantile], None)
        .expect("predict");
    let view = ForecastView {
        grid: f.grid,
        values: f.quantile(p.forecast.quantile),
        level: p.forecast.quantile,
    };
    // A weekday morning, one day into the forecast.
    let now = f.grid.start + TimeDelta::hours(32);
    let input = |at| Input {
        now: at,
        current: 4,
        ready: 4,
        utilisation: Some(0.7),
        queue_depth: Some(3.0),
        arrival_rate: Some(0.5 / 60.0),
        forecast: Some(view),
    };
    let mut state = PlannerState::default();
    for k in (1..=15).rev() {
        let d = plan::decide(&p, &input(now - TimeDelta::minutes(k)), &state);
        state.record(&p, &d);
    }
    let now_input = input(now);
    c.bench_function("planner/decide", |b| {
        b.iter(|| plan::decide(black_box(&p), black_box(&now_input), black_box(&state)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
