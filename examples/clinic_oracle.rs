//! How close the schedule regression gets to what is knowable: on a generated
//! department, in the rolling-origin backtest of `tests/forecast_clinic.rs`
//! (origins from day 21 every 3 days, 48-hour horizon), the MASE of
//! - the fitted schedule regression's mean, and its Poisson median;
//! - the generator's true expected demand given the bookings (its kernels
//!   with the no-show rate, the background and the add-ons' rate), and its
//!   Poisson median.
//!
//! `cargo run --release --example clinic_oracle -- [second|bundled]`

use planscale::example::{Application, Department};
use planscale::forecast::backtest::{self, Prediction};
use planscale::forecast::kernel::{ScheduleRegression, lag_bins};
use planscale::forecast::poisson_median;
use planscale::schedule::{start_counts, types_of};
use statrs::distribution::{ContinuousCDF, LogNormal};

fn main() -> anyhow::Result<()> {
    let which = std::env::args().nth(1).unwrap_or_else(|| "second".into());
    let (dep, seed, max_lag) = match which.as_str() {
        "second" => {
            let mut d = Department::second();
            d.days = 35;
            (d, 2u64, 48usize)
        }
        "bundled" => (Department::bundled(), 42, 24),
        other => anyhow::bail!("unknown department {other:?}: expected second or bundled"),
    };
    let g = dep.generate(seed);
    let s = g
        .recording
        .series("autocontour_jobs")
        .ok_or_else(|| anyhow::anyhow!("no autocontour_jobs column"))?;
    let types = types_of(&g.schedule);
    let cov = start_counts(&g.schedule, &s.grid, &types);
    let (day, h) = (288, 576);
    let origins = backtest::origins(s.len(), 21 * day, 3 * day, h);
    let bins = lag_bins(max_lag, 12, (max_lag / 48).max(1));
    let app = &dep.applications[0];
    // The generator's kernels: jobs × show rate × log-normal delay per 5-minute lag.
    let true_kernels: Vec<Vec<f64>> = types
        .iter()
        .map(|t| {
            let r = app.responses.iter().find(|r| r.kind == t.as_str());
            (0..=max_lag)
                .map(|lag| {
                    r.map_or(0.0, |r| {
                        let d = LogNormal::new(r.delay_median_min.ln(), r.delay_sigma)
                            .expect("valid log-normal");
                        r.jobs
                            * (1.0 - dep.no_show_rate)
                            * (d.cdf(((lag + 1) * 5) as f64) - d.cdf((lag * 5) as f64))
                    })
                })
                .collect()
        })
        .collect();
    let truth = planscale::forecast::kernel::Kernel {
        per_lag: true_kernels,
    };
    let phase0 = s.grid.start.timestamp().div_euclid(300) as usize;
    // The four forecasts at every origin, then one backtest each.
    let mut at_origin: Vec<[Vec<f64>; 4]> = Vec::new();
    for &cut in &origins {
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
        let effect = truth.effect(&all, cut, cut + h);
        let open_rate = app.background_per_hour / 12.0 + add_on_rate(&dep, app);
        let expected: Vec<f64> = (0..h)
            .map(|i| {
                let open = dep.is_working_time(s.grid.time(cut + i));
                effect[i] + if open { open_rate } else { 0.0 }
            })
            .collect();
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
        "{which}: {} origins; MASE fitted median {:.3}, fitted mean {:.3}, true median {:.3}, true mean {:.3}",
        origins.len(),
        mase[0],
        mase[1],
        mase[2],
        mase[3]
    );
    Ok(())
}

/// Jobs per 5-minute step from add-on cases, spread over the working hours.
fn add_on_rate(dep: &Department, app: &Application) -> f64 {
    let (h0, h1) = dep.working_hours;
    dep.add_ons_per_day
        .iter()
        .map(|(kind, mean)| {
            let jobs = app
                .responses
                .iter()
                .find(|r| r.kind == *kind)
                .map_or(0.0, |r| r.jobs);
            mean * jobs / (f64::from(h1 - h0) * 12.0)
        })
        .sum()
}
