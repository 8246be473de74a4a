//! Acceptance of the schedule-aware forecast on generated departments
//! (seeded, deterministic; no files read): over a 48-hour horizon in a
//! rolling-origin backtest, the schedule regression beats the best
//! schedule-blind model in MASE, and its p90 covers 85–95 % of held-out points.

use planscale::example::Department;
use planscale::forecast::backtest::{self, Score};
use planscale::forecast::{EngineConfig, SCHEDULE_MODEL, univariate};
use planscale::schedule::{start_counts, types_of};

/// 5-minute steps: one day, the 48-hour horizon.
const DAY: usize = 288;
const H: usize = 576;

fn scores(dep: &Department, seed: u64, column: &str, max_lag_hours: usize) -> Vec<Score> {
    let g = dep.generate(seed);
    let series = g.recording.series(column).expect("column");
    let types = types_of(&g.schedule);
    let cov = start_counts(&g.schedule, &series.grid, &types);
    let cfg = EngineConfig {
        periods: vec![DAY, 7 * DAY],
        horizon: H,
        max_lag: Some(max_lag_hours * 12),
        origins: 4,
        origin_spacing: DAY / 2,
        reselect_every: DAY,
        ridge: 1e-3,
        models: None,
    };
    // Origins from day 21 every 3 days, each followed by a full 48 hours.
    let origins = backtest::origins(series.len(), 21 * DAY, 3 * DAY, H);
    assert!(origins.len() >= 4, "{} origins", origins.len());
    let mut models = vec![SCHEDULE_MODEL];
    models.extend(univariate::MODELS.iter().copied());
    backtest::evaluate(&cfg, &series, Some(&cov), &origins, H, &models).expect("backtest")
}

fn check(scores: &[Score], min_gain: f64) {
    let sched = &scores[0];
    assert_eq!(sched.model, SCHEDULE_MODEL);
    assert_eq!(sched.used, vec![SCHEDULE_MODEL.to_string()], "{sched:?}");
    let blind = scores[1..]
        .iter()
        .min_by(|a, b| a.mase.total_cmp(&b.mase))
        .expect("blind models");
    let gain = 1.0 - sched.mase / blind.mase;
    eprintln!(
        "schedule MASE {:.3}, best blind {} {:.3}, gain {:.1} %, p90 coverage {:.4} ({:.4} where work is expected)",
        sched.mase,
        blind.model,
        blind.mase,
        100.0 * gain,
        sched.coverage_p90,
        sched.coverage_p90_busy
    );
    assert!(
        gain >= min_gain,
        "schedule MASE {:.3} vs best blind {} {:.3}: gain {:.3}",
        sched.mase,
        blind.model,
        blind.mase,
        gain
    );
    assert!(
        (0.85..=0.95).contains(&sched.coverage_p90),
        "p90 coverage {:.3}",
        sched.coverage_p90
    );
}

#[test]
fn bundled_clinic_autocontouring_is_sharper_with_the_schedule() {
    check(
        &scores(&Department::bundled(), 42, "autocontour_jobs", 2),
        0.25,
    );
}

#[test]
fn second_department_autocontouring_is_sharper_with_the_schedule() {
    // Measured 26.0 % (MASE 0.481 against weeks-mean 0.650), p90 coverage
    // 0.950. With the mean as the point it was 22.7 %: the true expected value
    // itself only gains 25.2 % here; counts are forecast by their median.
    let mut dep = Department::second();
    dep.days = 35;
    check(&scores(&dep, 2, "autocontour_jobs", 4), 0.25);
}
