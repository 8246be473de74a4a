//! The scaling table: CPU time (user + system, all threads) of a fit with
//! model choice and of a replay, at 1×, 2×, 4× and 8× the history, at
//! 5-minute and 1-minute steps.
//!
//! - fit: `engine_for(policy)`, fit with appointment covariates (so the
//!   schedule regression competes) + predict over the horizon, on 14, 28, 56
//!   and 112 days of the seeded clinic; the median of 7 runs (5 at 1
//!   minute) after one that is not counted;
//! - replay: `sim::simulate` with every default strategy over 14, 28, 56 and
//!   112 days (one day of warm-up), once.
//!
//! The policy fits on at most `forecast.history` (28 days), so a replay
//! longer than that refits on the same length: its cost per replayed day
//! grows until then and is constant after, and a fit's grows with the history.
//!
//! `cargo bench --bench scaling` (prints a Markdown table).

mod common;

use std::time::Duration;

use common::cpu::cpu_time;
use planscale::forecast::engine_for;
use planscale::sim::{self, Scenario, Strategy};

/// 1× is two weeks: from then on every candidate model applies (the weekly
/// ones need two weeks of history), so the work per point is the same.
const DAYS: [u32; 4] = [14, 28, 56, 112];

fn fit_cpu(step_secs: u64, days: u32, runs: usize) -> Duration {
    let input = common::fit_input(step_secs, days);
    // One run first, not counted: the allocator takes its memory from the
    // system once (page faults are system time), as a long-running process has.
    input.fit_predict(&mut engine_for(&input.p));
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| cpu_time(|| input.fit_predict(&mut engine_for(&input.p))).1)
        .collect();
    times.sort();
    times[runs / 2]
}

fn replay_cpu(step_secs: u64, days: u32) -> Duration {
    let p = common::policy(step_secs);
    let g = common::department(days, step_secs as i64);
    let scenario = Scenario::new(p, &g.recording, g.schedule.clone(), 86_400)
        .expect("the generated department fits the policy");
    cpu_time(|| sim::simulate(&scenario, &Strategy::defaults(), &mut |_| {})).1
}

fn row(what: &str, times: &[Duration]) {
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.1}", t.as_secs_f64() * 1e3))
        .collect();
    let ratio = times[3].as_secs_f64() / times[0].as_secs_f64().max(1e-9);
    println!("| {what} | {} | {ratio:.2} |", ms.join(" | "));
}

fn main() {
    println!("| CPU ms | 14 d (1×) | 28 d (2×) | 56 d (4×) | 112 d (8×) | t(8×)/t(1×) |");
    println!("|---|---|---|---|---|---|");
    for (step, runs) in [(300, 7), (60, 5)] {
        let t: Vec<Duration> = DAYS.iter().map(|d| fit_cpu(step, *d, runs)).collect();
        row(&format!("fit + predict, {} min", step / 60), &t);
    }
    for step in [300, 60] {
        let t: Vec<Duration> = DAYS.iter().map(|d| replay_cpu(step, *d)).collect();
        row(&format!("replay, every strategy, {} min", step / 60), &t);
    }
}
