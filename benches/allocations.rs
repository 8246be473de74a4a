//! Heap allocations of the forecaster and the replay, counted by a counting
//! global allocator (`stats_alloc`, this bench binary only: the library and
//! the controller keep the system allocator).
//!
//! - a fit with model choice (backtest of every candidate, schedule model
//!   included) and its predict, at 7, 14, 28 and 56 days of 5-minute history
//!   and at 28 days of 1-minute history: an allocation per step of history
//!   would grow the count with the history;
//! - a refit + predict between re-selections;
//! - a replay per strategy over 14 and 28 days at 5 minutes: the extra
//!   allocations of the 14 days more, per simulation tick (15 s) and per
//!   decision, are what a step of the replay allocates.
//!
//! `cargo bench --bench allocations` (prints a Markdown table; no criterion:
//! a count is not a distribution).

mod common;

use std::alloc::System;

use planscale::forecast::engine_for;
use planscale::sim::{self, Scenario, Strategy};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocations (reallocations included) and bytes allocated while `f` runs.
fn count<T>(f: impl FnOnce() -> T) -> (usize, usize, T) {
    let region = Region::new(GLOBAL);
    let v = f();
    let s = region.change();
    (s.allocations + s.reallocations, s.bytes_allocated, v)
}

fn fit_row(step_secs: u64, days: u32) {
    let input = common::fit_input(step_secs, days);
    let history = &input.history;
    let mut e = engine_for(&input.p);
    let (fit_n, fit_b, _) = count(|| input.fit_predict(&mut e));
    // The same engine again: a refit between re-selections.
    let (re_n, re_b, _) = count(|| input.fit_predict(&mut e));
    println!(
        "| fit at {} s, {days} d ({} steps) | {fit_n} | {:.1} | {:.3} | {re_n} | {:.2} |",
        step_secs,
        history.len(),
        fit_b as f64 / 1048576.0,
        fit_n as f64 / history.len() as f64,
        re_b as f64 / 1048576.0,
    );
}

/// Allocations, bytes, replayed seconds and the simulation's tick (s).
fn replay(strategy: Strategy, days: u32) -> (usize, usize, u64, i64) {
    let p = common::policy(300);
    let g = common::department(days, 300);
    // One day of warm-up: the predictive strategy fits from the first hour.
    let scenario = Scenario::new(p, &g.recording, g.schedule.clone(), 86_400)
        .expect("the generated department fits the policy");
    let (n, b, report) = count(|| sim::simulate(&scenario, &[strategy], &mut |_| {}));
    (n, b, days as u64 * 86_400, report.tick_seconds)
}

fn main() {
    // criterion's harness flags (`--bench`) are accepted and ignored.
    println!(
        "| case | allocations | MiB | per history step | refit + predict allocations | refit MiB |"
    );
    println!("|---|---|---|---|---|---|");
    for days in [7, 14, 28, 56] {
        fit_row(300, days);
    }
    fit_row(60, 28);
    println!();
    println!(
        "| replay at 5 min | allocations, 14 d | allocations, 28 d | per simulation tick of the 14 d more | per decision | MiB, 28 d |"
    );
    println!("|---|---|---|---|---|---|");
    let p = common::policy(300);
    let interval = p.scaling.interval.secs().max(1);
    for (name, s) in [
        ("predictive", Strategy::Predictive),
        ("hpa", Strategy::Hpa),
        ("keda", Strategy::Keda),
        ("static:6", Strategy::Static(6)),
        ("oracle", Strategy::Oracle),
    ] {
        let (a, _, secs_a, _) = replay(s, 14);
        let (b, bytes, secs_b, tick) = replay(s, 28);
        let extra = b.saturating_sub(a) as f64;
        let secs = (secs_b - secs_a) as f64;
        println!(
            "| {name} | {a} | {b} | {:.3} | {:.2} | {:.1} |",
            extra / (secs / tick.max(1) as f64),
            extra / (secs / interval as f64),
            bytes as f64 / 1048576.0
        );
    }
}
