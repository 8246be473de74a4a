//! planscale's forecaster side by side with statsmodels' Holt-Winters, in one run.
//!
//! ```text
//! cargo run --release --example compare_holt_winters -- [OPTIONS] SERIES.csv...
//!   --python PATH   interpreter with compare/requirements.txt installed
//!                   (default: .venv/bin/python, made by `make venv`)
//!   --repeats N     timed repeats of every fit + predict, both tools (default 3)
//!   --origins N     forecast origins per series (default 6)
//!   --json PATH     also write every window's figures as JSON
//!   --statsforecast the statsforecast comparison instead (below)
//!   --timeout S     with --statsforecast: AutoARIMA's time box per window (10)
//!   --arima-every N with --statsforecast: AutoARIMA on every N-th window (1)
//!   --peers LIST    with --statsforecast: the peer models, comma-separated
//!                   (default statsmodels-hw and the statsforecast models)
//! ```
//!
//! Each series is a CSV `timestamp,value` at a regular step (the NAB files in
//! `../shared/data/nab`); a missing step is filled by linear interpolation,
//! the same input for both tools. The daily period `m` is one day in steps.
//!
//! Per series the training window is 28 days, or the whole days in 70 % of
//! the series when it is shorter; `--origins` forecast origins are spread
//! evenly from the first origin with a full window to the last with a full
//! 48-step horizon after it. At every origin both tools fit on the same
//! window and forecast [`H`] = 48 steps:
//! - planscale: the automatic [`Engine`] the controller and the simulator use
//!   (model choice by rolling-origin backtest, residual quantiles), given the
//!   daily period only, as statsmodels is; also reported: the same engine with
//!   the daily and weekly periods a policy would give, and the single model
//!   closest to Holt-Winters (`day-damped`: daily seasonal profile + damped
//!   Holt trend), and the simple seasonal-profile model (the first
//!   forecaster of the simulator and the controller, before the engine);
//! - statsmodels: `ExponentialSmoothing` (additive damped trend, additive
//!   daily seasonality), run by `compare/peers.py` in a child process.
//!
//! Timed: fit + predict only, in both tools (not process start, not file
//! reading), the median of `--repeats` runs per window. The series are run
//! one after the other, planscale then statsmodels for each, so both see the
//! same machine load. Accuracy: MASE per window, scaled by the in-sample
//! seasonal naive error with period `m` (as in M4), averaged over windows.
//!
//! `--statsforecast` (issue 13): each series of at least three weeks is
//! averaged per clock hour (statsforecast's seasonal ETS takes at most 24
//! seasonal states; M4 Hourly is hourly too), and planscale's engine with the
//! daily and weekly periods (24, 168: what an hourly policy gives) runs beside
//! statsmodels' Holt-Winters and statsforecast's seasonal naive, AutoETS,
//! AutoTheta, MSTL (24, 168) and AutoARIMA (time-boxed) on the same 28-day
//! windows at `--origins` origins. Forecasts are scored clamped at 0, every
//! model alike. One table per series; `--json` writes them.

#[path = "support/peer.rs"]
mod peer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use peer::{Job, ModelRuns, Summary, Window, mean, run_peer, timed};
use planscale::forecast::{
    Engine, EngineConfig, Forecaster, SeasonalProfile, accuracy, univariate,
};
use planscale::series::{Grid, Series};
use serde::Serialize;

/// Forecast horizon in steps (the issue's 48 steps; M4 Hourly's horizon too).
const H: usize = 48;
/// Longest training window, days.
const MAX_TRAIN_DAYS: usize = 28;
/// Share of a short series used for training (the rest holds the origins).
const TRAIN_SHARE: f64 = 0.7;
/// The quantile the controller asks for (its default policy level); part of
/// planscale's timed predict.
const LEVEL: f64 = 0.9;

/// A series on a regular grid, gaps filled.
#[derive(Debug, Clone, PartialEq)]
struct Loaded {
    name: String,
    start: DateTime<Utc>,
    step_secs: i64,
    values: Vec<f64>,
    /// Steps that were missing and filled by interpolation.
    filled: usize,
}

/// Parses a NAB-style CSV (`timestamp,value`, timestamps `YYYY-MM-DD HH:MM:SS`
/// in UTC, ascending). The step is the most common spacing; missing steps are
/// filled linearly. Errors name the file and line.
fn parse_series(text: &str, file: &str) -> anyhow::Result<Loaded> {
    let mut rows: Vec<(DateTime<Utc>, f64)> = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (ts, v) = line.split_once(',').with_context(|| {
            format!(
                "{file}:{}: expected `timestamp,value`, found {line:?}",
                i + 1
            )
        })?;
        let t = NaiveDateTime::parse_from_str(ts.trim(), "%Y-%m-%d %H:%M:%S")
            .with_context(|| {
                format!(
                    "{file}:{}: expected a timestamp like 2014-07-01 00:30:00, found {ts:?}",
                    i + 1
                )
            })?
            .and_utc();
        let v: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(|| format!("{file}:{}: expected a finite number, found {v:?}", i + 1))?;
        if let Some((prev, _)) = rows.last()
            && t <= *prev
        {
            bail!("{file}:{}: timestamp {t} is not after {prev}", i + 1);
        }
        rows.push((t, v));
    }
    if rows.len() < 3 {
        bail!("{file}: expected at least 3 rows, found {}", rows.len());
    }
    let mut gaps: BTreeMap<i64, usize> = BTreeMap::new();
    for w in rows.windows(2) {
        *gaps.entry((w[1].0 - w[0].0).num_seconds()).or_default() += 1;
    }
    let step = gaps
        .iter()
        .max_by_key(|(gap, count)| (**count, -**gap))
        .map(|(gap, _)| *gap)
        .unwrap_or(1);
    let start = rows[0].0;
    let span = (rows[rows.len() - 1].0 - start).num_seconds();
    let n = (span / step) as usize + 1;
    let mut values = vec![f64::NAN; n];
    for (t, v) in &rows {
        let off = (*t - start).num_seconds();
        if off % step != 0 {
            bail!("{file}: timestamp {t} is off the {step}-second grid that starts at {start}");
        }
        values[(off / step) as usize] = *v;
    }
    let filled = values.iter().filter(|v| v.is_nan()).count();
    let mut last = 0;
    for i in 1..n {
        if values[i].is_nan() {
            continue;
        }
        for j in last + 1..i {
            values[j] =
                values[last] + (values[i] - values[last]) * (j - last) as f64 / (i - last) as f64;
        }
        last = i;
    }
    let name = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_string(), |s| s.to_string_lossy().into_owned());
    Ok(Loaded {
        name,
        start,
        step_secs: step,
        values,
        filled,
    })
}

/// The training length for a series of `n` points with `day` steps a day:
/// [`MAX_TRAIN_DAYS`] days, or the whole days in [`TRAIN_SHARE`] of it.
fn train_len(n: usize, day: usize) -> usize {
    let share_days = (n as f64 * TRAIN_SHARE) as usize / day.max(1);
    share_days.clamp(1, MAX_TRAIN_DAYS) * day
}

/// Forecast origins (index of the first forecast step): `k` of them spread
/// evenly over `[train, n − h]`, each with `train` points before it and `h`
/// after. Empty if the series is too short for one.
fn origins(n: usize, train: usize, h: usize, k: usize) -> Vec<usize> {
    let Some(last) = n.checked_sub(h).filter(|l| *l >= train) else {
        return Vec::new();
    };
    if k <= 1 || last == train {
        return vec![last];
    }
    let span = last - train;
    let mut out: Vec<usize> = (0..k).map(|i| train + span * i / (k - 1)).collect();
    out.dedup();
    out
}

/// A series' training length and `k` origins (see [`train_len`], [`origins`]).
fn windowing(s: &Loaded, day: usize, k: usize) -> anyhow::Result<(usize, Vec<usize>)> {
    let train = train_len(s.values.len(), day);
    let cuts = origins(s.values.len(), train, H, k);
    if cuts.is_empty() {
        bail!(
            "{}: {} points are too few for a {train}-point window and {H} steps",
            s.name,
            s.values.len()
        );
    }
    Ok((train, cuts))
}

/// MASE of `forecast` against `actual`, scaled by the seasonal naive error
/// (period `m`) of `train`.
fn mase(train: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> f64 {
    accuracy::mase(actual, forecast, accuracy::mase_scale(train, m))
}

/// The peer's training windows: `train` points before each origin.
fn windows_of(
    values: &[f64],
    cuts: &[usize],
    train: usize,
    day: usize,
    week: usize,
) -> Vec<Window> {
    cuts.iter()
        .map(|&cut| Window {
            train: values[cut - train..cut].to_vec(),
            period: day,
            week,
            x_train: None,
            x_future: None,
        })
        .collect()
}

/// The engine the controller builds for a policy (`forecast::engine_for`),
/// with the given periods and the 48-step horizon.
fn engine(periods: Vec<usize>, day: usize) -> Engine {
    Engine::new(EngineConfig {
        periods,
        horizon: H,
        max_lag: None,
        // As `EngineConfig::for_policy`: origins one horizon apart (6 half a
        // day apart until 2026-12-03, when the NAB figures of
        // docs/PERFORMANCE.md were measured).
        origins: EngineConfig::ORIGINS,
        origin_spacing: H,
        reselect_every: day.max(1),
        reselect_phase: 0,
        ridge: 1e-3,
        models: None,
        spread_windows: vec![1, 2, 4],
        calendar: None,
    })
}

/// planscale's fit + predict on one window: (point forecast, model name).
fn planscale_forecast(
    train: &[f64],
    start: DateTime<Utc>,
    step: i64,
    periods: &[usize],
) -> anyhow::Result<(Vec<f64>, String)> {
    let day = periods[0];
    let mut e = engine(periods.to_vec(), day);
    let history = Series::new(Grid::new(start, step, train.len()), train.to_vec());
    e.fit(&history, None)?;
    let f = e.predict(H, &[LEVEL], None)?;
    Ok((f.point, f.model))
}

/// The seasonal-profile model (`forecast::SeasonalProfile`, the average of the
/// last 4 days at each phase) on one window: the simulator's and the
/// controller's forecaster before the engine, kept as a baseline.
fn profile_forecast(
    train: &[f64],
    start: DateTime<Utc>,
    step: i64,
    day: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut m = SeasonalProfile::new(&[day], 4);
    m.fit(
        &Series::new(Grid::new(start, step, train.len()), train.to_vec()),
        None,
    )?;
    Ok(m.predict(H, &[LEVEL], None)?.point)
}

/// Figures for one window.
#[derive(Debug, Clone, Serialize)]
struct WindowFigures {
    origin: DateTime<Utc>,
    planscale_model: String,
    planscale_secs: f64,
    statsmodels_secs: f64,
    mase_planscale: f64,
    mase_statsmodels: f64,
    mase_planscale_dayweek: f64,
    mase_day_damped: f64,
    day_damped_secs: f64,
    mase_profile: f64,
    profile_secs: f64,
}

/// Figures for one series: means over its windows.
#[derive(Debug, Clone, Serialize)]
struct SeriesFigures {
    series: String,
    step_secs: i64,
    period: usize,
    train_points: usize,
    filled: usize,
    windows: Vec<WindowFigures>,
    planscale_secs: f64,
    statsmodels_secs: f64,
    mase_planscale: f64,
    mase_statsmodels: f64,
    mase_planscale_dayweek: f64,
    mase_day_damped: f64,
    day_damped_secs: f64,
    mase_profile: f64,
    profile_secs: f64,
}

impl SeriesFigures {
    fn new(s: &Loaded, period: usize, train: usize, windows: Vec<WindowFigures>) -> Self {
        let avg = |f: fn(&WindowFigures) -> f64| mean(windows.iter().map(f));
        SeriesFigures {
            series: s.name.clone(),
            step_secs: s.step_secs,
            period,
            train_points: train,
            filled: s.filled,
            planscale_secs: avg(|w| w.planscale_secs),
            statsmodels_secs: avg(|w| w.statsmodels_secs),
            mase_planscale: avg(|w| w.mase_planscale),
            mase_statsmodels: avg(|w| w.mase_statsmodels),
            mase_planscale_dayweek: avg(|w| w.mase_planscale_dayweek),
            mase_day_damped: avg(|w| w.mase_day_damped),
            day_damped_secs: avg(|w| w.day_damped_secs),
            mase_profile: avg(|w| w.mase_profile),
            profile_secs: avg(|w| w.profile_secs),
            windows,
        }
    }
}

/// Both tools on every origin of one series.
fn compare_series(
    s: &Loaded,
    python: &Path,
    repeats: usize,
    k: usize,
) -> anyhow::Result<(SeriesFigures, peer::PeerOutput)> {
    if 86_400 % s.step_secs != 0 {
        bail!(
            "{}: a step of {} s does not divide a day",
            s.name,
            s.step_secs
        );
    }
    let day = (86_400 / s.step_secs) as usize;
    let week = 7 * day;
    let (train, cuts) = windowing(s, day, k)?;
    let time = |i: usize| s.start + chrono::TimeDelta::seconds(s.step_secs * i as i64);
    let mut ours = Vec::new();
    for &cut in &cuts {
        let y = &s.values[cut - train..cut];
        let start = time(cut - train);
        let (result, secs) = timed(repeats, || {
            planscale_forecast(y, start, s.step_secs, &[day])
        });
        let (point, model) = result?;
        let (dw, _) = planscale_forecast(y, start, s.step_secs, &[day, week])?;
        let (dd, dd_secs) = timed(repeats, || univariate::forecast("day-damped", y, &[day], H));
        let dd = dd.context("day-damped does not apply to this window")?;
        let (sp, sp_secs) = timed(repeats, || profile_forecast(y, start, s.step_secs, day));
        let sp = sp?;
        ours.push((cut, point, model, secs, dw, (dd, dd_secs), (sp, sp_secs)));
    }
    let windows = windows_of(&s.values, &cuts, train, day, week);
    let models = vec![peer::HOLT_WINTERS.to_string()];
    let answer = run_peer(
        python,
        &Job {
            horizon: H,
            repeats,
            models: models.clone(),
            timeout: 0.0,
            boxed_every: 1,
            windows: &windows,
        },
    )?;
    let hw: Vec<(Vec<f64>, f64)> = answer
        .results
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let p = &r[peer::HOLT_WINTERS];
            p.ok()
                .map(|(f, secs)| (f.to_vec(), secs))
                .with_context(|| format!("{}: statsmodels window {i}: {}", s.name, p.status))
        })
        .collect::<anyhow::Result<_>>()?;
    let figures = ours
        .into_iter()
        .zip(&hw)
        .map(
            |((cut, point, model, secs, dw, (dd, dd_secs), (sp, sp_secs)), (hw, hw_secs))| {
                let y = &s.values[cut - train..cut];
                let actual = &s.values[cut..cut + H];
                WindowFigures {
                    origin: time(cut),
                    planscale_model: model,
                    planscale_secs: secs,
                    statsmodels_secs: *hw_secs,
                    mase_planscale: mase(y, actual, &point, day),
                    mase_statsmodels: mase(y, actual, hw, day),
                    mase_planscale_dayweek: mase(y, actual, &dw, day),
                    mase_day_damped: mase(y, actual, &dd, day),
                    day_damped_secs: dd_secs,
                    mase_profile: mase(y, actual, &sp, day),
                    profile_secs: sp_secs,
                }
            },
        )
        .collect();
    Ok((SeriesFigures::new(s, day, train, figures), answer))
}

/// The comparison table (one row per series).
fn table(rows: &[SeriesFigures]) -> String {
    let mut out = format!(
        "{:<30} {:>4} {:>6} {:>13} {:>13} {:>7} {:>9} {:>9}  {}\n",
        "series",
        "orig",
        "train",
        "planscale ms",
        "statsmdl ms",
        "ratio",
        "MASE ps",
        "MASE sm",
        "planscale models chosen"
    );
    for r in rows {
        let mut models: BTreeMap<&str, usize> = BTreeMap::new();
        for w in &r.windows {
            *models.entry(w.planscale_model.as_str()).or_default() += 1;
        }
        let models: Vec<String> = models.iter().map(|(m, c)| format!("{m} ×{c}")).collect();
        out.push_str(&format!(
            "{:<30} {:>4} {:>6} {:>13.2} {:>13.2} {:>6.0}x {:>9.3} {:>9.3}  {}\n",
            r.series,
            r.windows.len(),
            r.train_points,
            r.planscale_secs * 1e3,
            r.statsmodels_secs * 1e3,
            r.statsmodels_secs / r.planscale_secs,
            r.mase_planscale,
            r.mase_statsmodels,
            models.join(", ")
        ));
    }
    out
}

/// The variants table: the same engine with day + week periods, and the
/// single Holt-Winters-like model.
fn variants(rows: &[SeriesFigures]) -> String {
    let mut out = format!(
        "{:<30} {:>14} {:>16} {:>14} {:>13} {:>11}\n",
        "series", "MASE auto d+w", "MASE day-damped", "day-damped ms", "MASE profile", "profile ms"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<30} {:>14.3} {:>16.3} {:>14.3} {:>13.3} {:>11.3}\n",
            r.series,
            r.mase_planscale_dayweek,
            r.mase_day_damped,
            r.day_damped_secs * 1e3,
            r.mase_profile,
            r.profile_secs * 1e3
        ));
    }
    out
}

/// Shortest series the statsforecast comparison takes: three weeks, so that
/// the weekly cycle is seen at least twice in a training window (MSTL needs
/// two full cycles of every season).
const MIN_WEEKLY_DAYS: usize = 21;

/// The series' means per clock hour, from the first complete hour on (a
/// trailing partial hour is dropped): the statsforecast comparison's
/// resolution, seasons 24 and 168 as in M4 Hourly (statsforecast's seasonal
/// ETS takes at most 24 seasonal states).
fn to_hourly(s: &Loaded) -> anyhow::Result<Loaded> {
    if s.step_secs > 3600 || 3600 % s.step_secs != 0 {
        bail!(
            "{}: a step of {} s does not divide an hour",
            s.name,
            s.step_secs
        );
    }
    let k = (3600 / s.step_secs) as usize;
    let time = |i: usize| s.start + chrono::TimeDelta::seconds(s.step_secs * i as i64);
    let into_hour = |t: DateTime<Utc>| i64::from(t.minute() * 60 + t.second());
    let first = (0..k.min(s.values.len()))
        .find(|&i| into_hour(time(i)) < s.step_secs)
        .with_context(|| format!("{}: no complete hour", s.name))?;
    let values: Vec<f64> = s.values[first..]
        .chunks_exact(k)
        .map(|c| c.iter().sum::<f64>() / k as f64)
        .collect();
    let start = time(first) - chrono::TimeDelta::seconds(into_hour(time(first)));
    Ok(Loaded {
        name: s.name.clone(),
        start,
        step_secs: 3600,
        values,
        filled: s.filled,
    })
}

/// The statsforecast comparison of one (hourly) series: planscale's engine
/// with the daily and weekly periods an hourly policy gives, statsmodels'
/// Holt-Winters and the statsforecast models, on the same windows.
#[derive(Debug, Clone, Serialize)]
struct SfSeries {
    series: String,
    train_points: usize,
    origins: Vec<DateTime<Utc>>,
    rows: Vec<Summary>,
    /// How often the engine chose each model.
    planscale_models: BTreeMap<String, usize>,
}

/// The peer's settings: the same job shape for every series.
struct SfRun<'a> {
    python: &'a Path,
    models: Vec<String>,
    repeats: usize,
    origins: usize,
    timeout: f64,
    boxed_every: usize,
}

fn compare_statsforecast(s: &Loaded, run: &SfRun) -> anyhow::Result<(SfSeries, peer::PeerOutput)> {
    let (day, week) = (24, 168);
    let (train, cuts) = windowing(s, day, run.origins)?;
    let time = |i: usize| s.start + chrono::TimeDelta::seconds(s.step_secs * i as i64);
    let mut ours = ModelRuns::new("planscale");
    let mut chosen: BTreeMap<String, usize> = BTreeMap::new();
    for &cut in &cuts {
        let y = &s.values[cut - train..cut];
        let (result, secs) = timed(run.repeats, || {
            planscale_forecast(y, time(cut - train), s.step_secs, &[day, week])
        });
        let (point, model) = result?;
        *chosen.entry(model).or_default() += 1;
        ours.windows.push(Ok(peer::score(
            y,
            &s.values[cut..cut + H],
            &point,
            day,
            secs,
        )));
    }
    let windows = windows_of(&s.values, &cuts, train, day, week);
    let models = run.models.clone();
    eprintln!(
        "{}: {} windows of {train} hours, peers {models:?}",
        s.name,
        windows.len()
    );
    let answer = run_peer(
        run.python,
        &Job {
            horizon: H,
            repeats: run.repeats,
            models: models.clone(),
            timeout: run.timeout,
            boxed_every: run.boxed_every,
            windows: &windows,
        },
    )?;
    let mut rows = vec![Summary::new(&ours, false, None)];
    for m in &models {
        let mut runs = ModelRuns::new(m);
        for (&cut, r) in cuts.iter().zip(&answer.results) {
            runs.push_peer(
                &r[m],
                &s.values[cut - train..cut],
                &s.values[cut..cut + H],
                day,
            );
        }
        rows.push(Summary::new(&runs, false, Some(&ours)));
    }
    Ok((
        SfSeries {
            series: s.name.clone(),
            train_points: train,
            origins: cuts.iter().map(|&c| time(c)).collect(),
            rows,
            planscale_models: chosen,
        },
        answer,
    ))
}

/// `--statsforecast`: every series long enough for a weekly cycle, hourly.
fn main_statsforecast(files: &[PathBuf], run: &SfRun, json: Option<&Path>) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let mut meta = None;
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let raw = parse_series(&text, &f.display().to_string())?;
        let s = to_hourly(&raw)?;
        let days = s.values.len() / 24;
        if days < MIN_WEEKLY_DAYS {
            eprintln!(
                "{}: {days} days, fewer than {MIN_WEEKLY_DAYS} (three weeks): left out",
                s.name
            );
            continue;
        }
        let (row, answer) = compare_statsforecast(&s, run)?;
        println!(
            "{}",
            peer::table(
                &format!(
                    "{} (hourly means, {} windows of {} h, horizon {H} h); planscale chose {:?}",
                    row.series,
                    row.origins.len(),
                    row.train_points,
                    row.planscale_models
                ),
                &row.rows
            )
        );
        print!("{}", peer::verdict_line(&row.rows, "planscale", false));
        meta = Some(peer::meta(&answer));
        out.push(row);
    }
    if let Some(p) = json {
        peer::write_json(
            p,
            &serde_json::json!({
                "dataset": "NAB",
                "resolution": "1h",
                "horizon": H,
                "repeats": run.repeats,
                "peer": meta,
                "series": out,
            }),
        )?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let usage = "usage: compare_holt_winters [--python PATH] [--repeats N] [--origins N] [--json PATH] \
                 [--statsforecast [--timeout SECONDS] [--arima-every N] [--peers LIST]] SERIES.csv...";
    let mut args = std::env::args().skip(1);
    let mut python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let (mut repeats, mut k) = (3usize, 6usize);
    let mut json: Option<PathBuf> = None;
    let mut files = Vec::new();
    let (mut statsforecast, mut timeout, mut every) = (false, 10.0f64, 1usize);
    let mut models: Vec<String> = std::iter::once(peer::HOLT_WINTERS)
        .chain(peer::SF_BLIND)
        .map(String::from)
        .collect();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--python" => python = args.next().context(usage)?.into(),
            "--repeats" => repeats = args.next().context(usage)?.parse()?,
            "--origins" => k = args.next().context(usage)?.parse()?,
            "--json" => json = Some(args.next().context(usage)?.into()),
            "--statsforecast" => statsforecast = true,
            "--timeout" => timeout = args.next().context(usage)?.parse()?,
            "--arima-every" => every = args.next().context(usage)?.parse()?,
            "--peers" => {
                models = args
                    .next()
                    .context(usage)?
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "-h" | "--help" => {
                println!("{usage}");
                return Ok(());
            }
            _ if a.starts_with("--") => bail!("unknown option {a:?}\n{usage}"),
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        bail!("{usage}");
    }
    if statsforecast {
        let run = SfRun {
            python: &python,
            models,
            repeats,
            origins: k,
            timeout,
            boxed_every: every,
        };
        return main_statsforecast(&files, &run, json.as_deref());
    }
    let mut rows = Vec::new();
    let mut peer_meta = None;
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let s = parse_series(&text, &f.display().to_string())?;
        eprintln!(
            "{}: {} points of {} s{}",
            s.name,
            s.values.len(),
            s.step_secs,
            if s.filled > 0 {
                format!(", {} missing filled linearly", s.filled)
            } else {
                String::new()
            }
        );
        let (row, peer) = compare_series(&s, &python, repeats, k)?;
        peer_meta = Some((peer.tool, peer.versions, peer.settings));
        rows.push(row);
    }
    if let Some((tool, versions, settings)) = &peer_meta {
        println!("peer: {tool} {settings}, versions {versions:?}");
    }
    println!(
        "fit + predict of {H} steps, median of {repeats} runs per window, mean over windows; ratio = statsmodels / planscale"
    );
    print!("{}", table(&rows));
    println!("\nplanscale variants (same windows):");
    print!("{}", variants(&rows));
    let faster = rows.iter().all(|r| r.planscale_secs < r.statsmodels_secs);
    let no_worse = rows
        .iter()
        .filter(|r| r.mase_planscale <= r.mase_statsmodels)
        .count();
    println!(
        "\nplanscale faster on every series: {}; MASE no worse on {no_worse} of {}",
        if faster { "yes" } else { "no" },
        rows.len()
    );
    if let Some(p) = json {
        let (tool, versions, settings) = peer_meta.unwrap_or_default();
        let doc = serde_json::json!({
            "horizon": H,
            "repeats": repeats,
            "peer": {"tool": tool, "versions": versions, "settings": settings},
            "series": rows,
        });
        std::fs::write(&p, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_fills_a_missing_step_and_names_bad_lines() {
        let text = "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-14 14:35:00,2\n\
                    2014-02-14 14:45:00,4\n2014-02-14 14:50:00,5\n";
        let s = parse_series(text, "x/cpu.csv").unwrap();
        assert_eq!(s.name, "cpu");
        assert_eq!(s.step_secs, 300);
        assert_eq!(s.values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(s.filled, 1);
        let bad = "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-14 14:35:00,oops\n";
        let e = parse_series(bad, "cpu.csv").unwrap_err().to_string();
        assert!(e.contains("cpu.csv:3") && e.contains("oops"), "{e}");
        let backwards =
            "t,v\n2014-02-14 14:30:00,1\n2014-02-14 14:25:00,1\n2014-02-14 14:35:00,1\n";
        assert!(
            parse_series(backwards, "b.csv")
                .unwrap_err()
                .to_string()
                .contains("b.csv:3")
        );
    }

    #[test]
    fn origins_are_spread_and_keep_window_and_horizon_inside() {
        let o = origins(1000, 400, 48, 5);
        assert_eq!(o.first(), Some(&400));
        assert_eq!(o.last(), Some(&952));
        assert_eq!(o.len(), 5);
        assert!(o.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(origins(448, 400, 48, 8), vec![400]);
        assert!(origins(440, 400, 48, 8).is_empty());
        // Training windows: 28 days at most, else whole days in 70 % of the series.
        assert_eq!(train_len(10_320, 48), 28 * 48);
        assert_eq!(train_len(4032, 288), 9 * 288);
    }

    #[test]
    fn hourly_means_start_at_the_first_complete_clock_hour() {
        // 20-minute steps from 00:40: the first complete hour is 01:00-01:59.
        let s = Loaded {
            name: "x".into(),
            start: "2014-05-14T00:40:00Z".parse().unwrap(),
            step_secs: 1200,
            values: vec![9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
            filled: 0,
        };
        let h = to_hourly(&s).unwrap();
        assert_eq!(
            h.start,
            "2014-05-14T01:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(h.step_secs, 3600);
        // 01:00, 01:20, 01:40 → 2; 02:00.. → 5; the partial 03:00 hour is dropped.
        assert_eq!(h.values, vec![2.0, 5.0]);
        let odd = Loaded {
            step_secs: 7 * 60,
            ..s
        };
        assert!(to_hourly(&odd).is_err());
    }

    #[test]
    fn mase_is_zero_for_a_perfect_forecast_and_one_for_the_in_sample_naive_error() {
        let train = [1.0, 3.0, 1.0, 3.0, 2.0, 4.0];
        // Seasonal differences (m = 2): 0, 0, 1, 1 → scale 0.5.
        assert_eq!(mase(&train, &[5.0, 5.0], &[5.0, 5.0], 2), 0.0);
        assert!((mase(&train, &[5.0, 5.0], &[5.5, 4.5], 2) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn planscale_beats_seasonal_naive_on_a_noisy_daily_pattern() {
        // 20 days of 30-minute data: a daily shape plus deterministic noise.
        let day = 48;
        let mut s = 7u64;
        let mut noise = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let y: Vec<f64> = (0..20 * day)
            .map(|i| {
                10.0 + 5.0 * (i as f64 * std::f64::consts::TAU / day as f64).sin() + 2.0 * noise()
            })
            .collect();
        let cut = 19 * day;
        let start = Utc::now();
        let (f, model) = planscale_forecast(&y[..cut], start, 1800, &[day]).unwrap();
        assert_eq!(f.len(), H);
        let m = mase(&y[..cut], &y[cut..cut + H], &f, day);
        // Seasonal naive scores about 1 here; averaging models must do better.
        assert!(m < 0.9, "MASE {m} with {model}");
    }
}
