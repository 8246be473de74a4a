//! planscale's forecaster side by side with statsmodels' Holt-Winters, in one run.
//!
//! ```text
//! cargo run --release --example compare_holt_winters -- [OPTIONS] SERIES.csv...
//!   --python PATH   interpreter with compare/requirements.txt installed
//!                   (default: .venv/bin/python, made by `make venv`)
//!   --repeats N     timed repeats of every fit + predict, both tools (default 3)
//!   --origins N     forecast origins per series (default 6)
//!   --json PATH     also write every window's figures as JSON
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
//!   daily seasonality), run by `compare/holt_winters.py` in a child process.
//!
//! Timed: fit + predict only, in both tools (not process start, not file
//! reading), the median of `--repeats` runs per window. The series are run
//! one after the other, planscale then statsmodels for each, so both see the
//! same machine load. Accuracy: MASE per window, scaled by the in-sample
//! seasonal naive error with period `m` (as in M4), averaged over windows.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use planscale::forecast::{
    Engine, EngineConfig, Forecaster, SeasonalProfile, accuracy, univariate,
};
use planscale::series::{Grid, Series};
use serde::{Deserialize, Serialize};

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

/// MASE of `forecast` against `actual`, scaled by the seasonal naive error
/// (period `m`) of `train`.
fn mase(train: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> f64 {
    accuracy::mase(actual, forecast, accuracy::mase_scale(train, m))
}

/// Runs `f` `repeats` times; returns its last output and the median time (s).
fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut secs = Vec::new();
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        out = Some(f());
        secs.push(t0.elapsed().as_secs_f64());
    }
    (out.expect("at least one repeat"), median(&mut secs))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// The engine the controller builds for a policy (`forecast::engine_for`),
/// with the given periods and the 48-step horizon.
fn engine(periods: Vec<usize>, day: usize) -> Engine {
    Engine::new(EngineConfig {
        periods,
        horizon: H,
        max_lag: None,
        origins: 6,
        origin_spacing: (day / 2).max(1),
        reselect_every: day.max(1),
        ridge: 1e-3,
        models: None,
        spread_windows: vec![1, 2, 4],
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

/// One training window, as sent to the peer.
#[derive(Debug, Clone, Serialize)]
struct Window {
    train: Vec<f64>,
    period: usize,
}

#[derive(Debug, Serialize)]
struct Job<'a> {
    horizon: usize,
    repeats: usize,
    windows: &'a [Window],
}

/// What `compare/holt_winters.py` prints.
#[derive(Debug, Deserialize, Serialize)]
struct PeerOutput {
    tool: String,
    versions: BTreeMap<String, String>,
    settings: serde_json::Value,
    results: Vec<PeerResult>,
}

#[derive(Debug, Deserialize, Serialize)]
struct PeerResult {
    forecast: Vec<f64>,
    seconds: Vec<f64>,
}

/// Checks the peer's answer against the job: one result per window, each
/// with `h` finite values and at least one timing.
fn check_peer(out: &PeerOutput, windows: usize, h: usize) -> anyhow::Result<()> {
    if out.results.len() != windows {
        bail!(
            "statsmodels returned {} results, expected one per window ({windows})",
            out.results.len()
        );
    }
    for (i, r) in out.results.iter().enumerate() {
        if r.forecast.len() != h || r.seconds.is_empty() {
            bail!(
                "statsmodels window {i}: expected {h} forecast values and timings, found {} values and {} timings",
                r.forecast.len(),
                r.seconds.len()
            );
        }
    }
    Ok(())
}

/// Runs the peer script on `windows` with `python`.
fn run_peer(python: &Path, windows: &[Window], repeats: usize) -> anyhow::Result<PeerOutput> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compare/holt_winters.py");
    let dir = tempfile::tempdir().context("creating a temporary directory for the job")?;
    let job_path = dir.path().join("job.json");
    std::fs::write(
        &job_path,
        serde_json::to_vec(&Job {
            horizon: H,
            repeats,
            windows,
        })?,
    )?;
    let out = Command::new(python)
        .arg(&script)
        .arg(&job_path)
        .output()
        .with_context(|| {
            format!(
                "starting {} (make the environment with `make venv`, or pass --python)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            python.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let parsed: PeerOutput = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("reading the JSON printed by {}", script.display()))?;
    check_peer(&parsed, windows.len(), H)?;
    Ok(parsed)
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

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
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
) -> anyhow::Result<(SeriesFigures, PeerOutput)> {
    if 86_400 % s.step_secs != 0 {
        bail!(
            "{}: a step of {} s does not divide a day",
            s.name,
            s.step_secs
        );
    }
    let day = (86_400 / s.step_secs) as usize;
    let week = 7 * day;
    let train = train_len(s.values.len(), day);
    let cuts = origins(s.values.len(), train, H, k);
    if cuts.is_empty() {
        bail!(
            "{}: {} points are too few for a {train}-point window and {H} steps",
            s.name,
            s.values.len()
        );
    }
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
    let windows: Vec<Window> = cuts
        .iter()
        .map(|&cut| Window {
            train: s.values[cut - train..cut].to_vec(),
            period: day,
        })
        .collect();
    let peer = run_peer(python, &windows, repeats)?;
    let figures = ours
        .into_iter()
        .zip(&peer.results)
        .map(
            |((cut, point, model, secs, dw, (dd, dd_secs), (sp, sp_secs)), p)| {
                let y = &s.values[cut - train..cut];
                let actual = &s.values[cut..cut + H];
                WindowFigures {
                    origin: time(cut),
                    planscale_model: model,
                    planscale_secs: secs,
                    statsmodels_secs: median(&mut p.seconds.clone()),
                    mase_planscale: mase(y, actual, &point, day),
                    mase_statsmodels: mase(y, actual, &p.forecast, day),
                    mase_planscale_dayweek: mase(y, actual, &dw, day),
                    mase_day_damped: mase(y, actual, &dd, day),
                    day_damped_secs: dd_secs,
                    mase_profile: mase(y, actual, &sp, day),
                    profile_secs: sp_secs,
                }
            },
        )
        .collect();
    Ok((SeriesFigures::new(s, day, train, figures), peer))
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

fn main() -> anyhow::Result<()> {
    let usage = "usage: compare_holt_winters [--python PATH] [--repeats N] [--origins N] [--json PATH] SERIES.csv...";
    let mut args = std::env::args().skip(1);
    let mut python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let (mut repeats, mut k) = (3usize, 6usize);
    let mut json: Option<PathBuf> = None;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--python" => python = args.next().context(usage)?.into(),
            "--repeats" => repeats = args.next().context(usage)?.parse()?,
            "--origins" => k = args.next().context(usage)?.parse()?,
            "--json" => json = Some(args.next().context(usage)?.into()),
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

    #[test]
    fn peer_output_is_checked_against_the_job() {
        let ok = PeerOutput {
            tool: "t".into(),
            versions: BTreeMap::new(),
            settings: serde_json::json!({}),
            results: vec![PeerResult {
                forecast: vec![1.0; 3],
                seconds: vec![0.1],
            }],
        };
        check_peer(&ok, 1, 3).unwrap();
        assert!(
            check_peer(&ok, 2, 3)
                .unwrap_err()
                .to_string()
                .contains("expected one per window")
        );
        assert!(
            check_peer(&ok, 1, 4)
                .unwrap_err()
                .to_string()
                .contains("window 0")
        );
        let (out, med) = timed(3, || 42);
        assert_eq!(out, 42);
        assert!(med >= 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
