//! How close the schedule regression gets to what is knowable: on a generated
//! department, in the rolling-origin backtest of `tests/forecast_clinic.rs`
//! (origins from day 21 every 3 days, 48-hour horizon), the MASE of
//! - the fitted schedule regression's mean, and its Poisson median;
//! - the generator's true expected demand given the bookings made by the
//!   origin (`Department::expectation`: its kernels with the no-show rate, the
//!   slots still to be booked, the background and the walk-ins' rate), and
//!   its Poisson median.
//!
//! Both see only the appointments booked by each origin; `--hindsight` gives
//! them the whole book (the truth then knows every booking ahead).
//!
//! `cargo run --release --example clinic_oracle -- [second|bundled|mrlinac|community] [--hindsight]`

use anyhow::Context;
use planscale::example::Department;
use planscale::forecast::backtest::{self, Prediction};
use planscale::forecast::kernel::{ScheduleRegression, lag_bins};
use planscale::forecast::poisson_median;
use planscale::schedule::{known_at, start_counts, types_of};
use planscale::series::Grid;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hindsight = args.iter().any(|a| a == "--hindsight");
    let which = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "second".into());
    let (dep, seed, max_lag) = match which.as_str() {
        "second" => {
            let mut d = Department::second();
            d.days = 35;
            (d, 2u64, 48usize)
        }
        "bundled" => (Department::bundled(), 42, 24),
        "mrlinac" | "community" => {
            let d = Department::by_name(&which).context("a department")?;
            let lag = (d.policy.max_lag_hours * 12) as usize;
            (d, 42, lag)
        }
        other => anyhow::bail!(
            "unknown department {other:?}: expected second, bundled, mrlinac or community"
        ),
    };
    let g = dep.generate(seed);
    let column = dep.policy.column;
    let s = g
        .recording
        .series(column)
        .with_context(|| format!("no {column} column"))?;
    anyhow::ensure!(s.grid.step_secs == 300, "a 5-minute department");
    let types = types_of(&g.schedule);
    let truth = dep.expectation(column)?;
    let (day, h) = (288, 576);
    let origins = backtest::origins(s.len(), 21 * day, 3 * day, h);
    let bins = lag_bins(max_lag, 12, (max_lag / 48).max(1));
    let phase0 = s.grid.start.timestamp().div_euclid(300) as usize;
    let end = s.grid.end() + chrono::TimeDelta::days(3650);
    // The four forecasts at every origin, then one backtest each.
    let mut at_origin: Vec<[Vec<f64>; 4]> = Vec::new();
    for &cut in &origins {
        let t = s.grid.time(cut);
        let book = if hindsight {
            g.schedule.clone()
        } else {
            known_at(&g.schedule, t)
        };
        let cov = start_counts(&book, &s.grid, &types);
        let y = &s.values[..cut];
        let past: Vec<Vec<f64>> = cov.values.iter().map(|c| c[..cut].to_vec()).collect();
        let all: Vec<Vec<f64>> = cov.values.iter().map(|c| c[..cut + h].to_vec()).collect();
        let week = if cut >= 14 * day { 7 * day } else { 0 };
        let fitted = ScheduleRegression::fit(y, &past, phase0, day, week, &bins, 1e-3).predict(
            &all,
            phase0,
            cut,
            cut + h,
        );
        // With hindsight every booking is known (as if booked long ago).
        let known = if hindsight { end } else { t };
        let expected = truth.arrivals(&Grid::new(t, 300, h), known, &book)?;
        let median = |v: &[f64]| -> Vec<f64> { v.iter().map(|m| poisson_median(*m)).collect() };
        let mean: Vec<f64> = fitted.iter().map(|v| v.max(0.0)).collect();
        at_origin.push([median(&mean), mean, median(&expected), expected]);
    }
    let mase: Vec<f64> = (0..4)
        .map(|k| {
            let bt = backtest::run(h, &origins, |cut| {
                let i = origins.iter().position(|o| *o == cut)?;
                Some(Prediction::point(at_origin[i][k].clone()))
            })
            .expect("finite forecasts");
            bt.score("", &s.values, day).mase
        })
        .collect();
    println!(
        "{which} ({column}{}): {} origins; MASE fitted median {:.3}, fitted mean {:.3}, true median {:.3}, true mean {:.3}",
        if hindsight { ", hindsight" } else { "" },
        origins.len(),
        mase[0],
        mase[1],
        mase[2],
        mase[3]
    );
    Ok(())
}
