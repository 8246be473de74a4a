//! Scores a forecaster on the M4 Hourly subset (414 series, horizon 48, m = 24).
//!
//! `cargo run --release --example m4_hourly -- DIR [--method engine|engine-6x12h|auto|naive2|snaive|naive1|MODEL] [--series N]`
//! where DIR holds `Hourly-train.csv` and `Hourly-test.csv` (e.g.
//! `../shared/data/m4-hourly`). Prints per-method detail on stderr and, as the
//! last line on stdout, one JSON object with `series`, `smape`, `mase`,
//! `owa` (against Naive2 computed on the same series) and `seconds`.
//!
//! `engine` is the product's engine for hourly data (`engine_for` of an
//! hourly policy: 4 backtest origins one horizon apart); `engine-6x12h` the
//! same with the 6 origins half a day apart the product ran until 2026-12-03,
//! for comparison.
//!
//! With `--peer PYTHON` (an interpreter with compare/requirements.txt, made
//! by `make venv`) the product's engine and the peers of `compare/peers.py`
//! (`--peers`, comma-separated; default the statsforecast models) forecast
//! every series, each fit + predict timed (`--repeats`, median); AutoARIMA
//! is time-boxed per series (`--timeout` seconds) and tried on every
//! `--arima-every`-th series only. Prints one table (sMAPE, MASE, OWA, time
//! per series) and writes it as JSON with `--json PATH`.

#[path = "support/peer.rs"]
mod peer;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use planscale::forecast::{accuracy, evaluation, reference, univariate};
use planscale::policy::{Duration, Policy};

/// M4 Hourly: horizon and seasonal period.
const H: usize = 48;
const M: usize = 24;

fn read_rows(path: &Path) -> anyhow::Result<Vec<(String, Vec<f64>)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", path.display(), i + 2))?;
        let id = rec.get(0).unwrap_or_default().to_string();
        let mut values = Vec::new();
        for (j, field) in rec.iter().enumerate().skip(1) {
            if field.is_empty() {
                continue;
            }
            values.push(field.parse::<f64>().with_context(|| {
                format!(
                    "{}: row {}, column {}: expected a number, found {field:?}",
                    path.display(),
                    i + 2,
                    j + 1
                )
            })?);
        }
        rows.push((id, values));
    }
    Ok(rows)
}

/// The bundled policy (48-hour horizon, periods 1d and 7d) at a 1-hour step
/// and without a schedule: `engine_for` of it is the product's engine for
/// hourly data (periods 24 and 168 steps, horizon 48).
fn hourly_policy() -> anyhow::Result<Policy> {
    let mut p = Policy::from_str_named(
        include_str!("../policies/auto-contouring.yaml"),
        Path::new("policies/auto-contouring.yaml"),
    )?;
    p.forecast.step = Duration::from_hours(1);
    p.schedule = None;
    // Not a clinic's series: no working-time calendar.
    p.calendar = None;
    let cfg = planscale::forecast::EngineConfig::for_policy(&p);
    anyhow::ensure!(cfg.horizon == H && cfg.periods == [M, 7 * M]);
    Ok(p)
}

/// For comparison, not the product's configuration: the product's engine with
/// the 6 backtest origins half a day apart it ran until 2026-12-03 instead of
/// 4 one horizon apart.
fn six_half_days(p: &Policy) -> planscale::forecast::EngineConfig {
    let mut cfg = planscale::forecast::EngineConfig::for_policy(p);
    cfg.origins = 6;
    cfg.origin_spacing = M / 2;
    cfg
}

/// `--peer`: how to run the peers.
struct PeerRun {
    python: PathBuf,
    models: Vec<String>,
    repeats: usize,
    timeout: f64,
    every: usize,
    json: Option<PathBuf>,
}

/// An engine's fit + predict on one series: (point, model).
fn engine_forecast(
    mut e: planscale::forecast::Engine,
    y: &[f64],
) -> anyhow::Result<(Vec<f64>, String)> {
    use planscale::forecast::Forecaster;
    let grid = planscale::series::Grid::new(chrono::DateTime::UNIX_EPOCH, 3600, 0);
    e.fit(&planscale::series::Series::new(grid, y.to_vec()), None)?;
    let f = e.predict(H, &[], None)?;
    Ok((f.point, f.model))
}

/// OWA of `runs` against Naive2 on the series where the model finished.
fn owa_of(runs: &peer::ModelRuns, naive2: &[peer::Scored]) -> f64 {
    let pairs: Vec<(&peer::Scored, &peer::Scored)> = runs
        .windows
        .iter()
        .zip(naive2)
        .filter_map(|(w, n)| w.as_ref().ok().map(|w| (w, n)))
        .collect();
    let m = |f: fn(&peer::Scored) -> f64, pick: usize| {
        peer::mean(pairs.iter().map(|p| f(if pick == 0 { p.0 } else { p.1 })))
    };
    accuracy::owa(
        m(|s| s.smape, 0),
        m(|s| s.mase, 0),
        m(|s| s.smape, 1),
        m(|s| s.mase, 1),
    )
}

/// The product's engine and the peers on all series, one table.
fn compare_peers(
    train: &[(String, Vec<f64>)],
    test: &[(String, Vec<f64>)],
    policy: &Policy,
    run: &PeerRun,
) -> anyhow::Result<()> {
    let mut ours = peer::ModelRuns::new("planscale");
    let mut naive2 = Vec::new();
    let mut chosen: std::collections::BTreeMap<String, usize> = Default::default();
    for ((_, y), (_, actual)) in train.iter().zip(test) {
        let (result, secs) = peer::timed(run.repeats, || {
            engine_forecast(planscale::forecast::engine_for(policy), y)
        });
        let (point, model) = result?;
        *chosen.entry(model).or_default() += 1;
        ours.windows
            .push(Ok(peer::score(y, actual, &point, M, secs)));
        naive2.push(peer::score(y, actual, &reference::naive2(y, M, H), M, 0.0));
    }
    let windows: Vec<peer::Window> = train
        .iter()
        .map(|(_, y)| peer::Window {
            train: y.clone(),
            period: M,
            week: 7 * M,
            x_train: None,
            x_future: None,
        })
        .collect();
    eprintln!(
        "planscale done ({} series); peers {:?} on the same series",
        windows.len(),
        run.models
    );
    let answer = peer::run_peer(
        &run.python,
        &peer::Job {
            horizon: H,
            repeats: run.repeats,
            models: run.models.clone(),
            timeout: run.timeout,
            boxed_every: run.every,
            windows: &windows,
        },
    )?;
    let mut rows = vec![peer::Summary::new(&ours, false, None)];
    rows[0].owa = Some(owa_of(&ours, &naive2));
    for m in &run.models {
        let mut runs = peer::ModelRuns::new(m);
        for ((r, (_, y)), (_, actual)) in answer.results.iter().zip(train).zip(test) {
            runs.push_peer(&r[m], y, actual, M);
        }
        let mut row = peer::Summary::new(&runs, false, Some(&ours));
        row.owa = Some(owa_of(&runs, &naive2));
        rows.push(row);
    }
    println!(
        "{}",
        peer::table(
            &format!(
                "M4 Hourly ({} series, horizon {H}, m = {M}); planscale chose {chosen:?}",
                windows.len()
            ),
            &rows
        )
    );
    print!("{}", peer::verdict_line(&rows, "planscale", false));
    if let Some(p) = &run.json {
        peer::write_json(
            p,
            &serde_json::json!({
                "dataset": "M4 Hourly",
                "resolution": "1h",
                "horizon": H,
                "repeats": run.repeats,
                "peer": peer::meta(&answer),
                "series": [{
                    "series": "M4 Hourly",
                    "windows": windows.len(),
                    "rows": rows,
                    "planscale_models": chosen,
                }],
            }),
        )?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut dir: Option<PathBuf> = None;
    let mut method = "engine".to_string();
    let mut limit = usize::MAX;
    let mut peer_run: Option<PeerRun> = None;
    let mut models: Vec<String> = peer::SF_BLIND.iter().map(|m| m.to_string()).collect();
    let (mut repeats, mut timeout, mut every) = (1usize, 10.0f64, 1usize);
    let mut json: Option<PathBuf> = None;
    let mut only: Option<Vec<String>> = None;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--method" => method = value()?,
            "--series" => limit = value()?.parse()?,
            "--peer" => {
                peer_run = Some(PeerRun {
                    python: value()?.into(),
                    models: Vec::new(),
                    repeats: 1,
                    timeout: 0.0,
                    every: 1,
                    json: None,
                })
            }
            "--peers" => models = value()?.split(',').map(str::to_string).collect(),
            "--repeats" => repeats = value()?.parse()?,
            "--timeout" => timeout = value()?.parse()?,
            "--arima-every" => every = value()?.parse()?,
            "--json" => json = Some(value()?.into()),
            "--models" => only = Some(value()?.split(',').map(str::to_string).collect()),
            _ if dir.is_none() => dir = Some(PathBuf::from(a)),
            _ => bail!("unexpected argument {a:?}"),
        }
    }
    let dir = dir.context(
        "usage: m4_hourly DIR [--method engine|engine-6x12h|auto|naive2|snaive|naive1|MODEL] [--series N] \
         [--models LIST] [--peer PYTHON [--peers LIST] [--repeats N] [--timeout SECONDS] [--arima-every N] [--json PATH]]",
    )?;
    let train = read_rows(&dir.join("Hourly-train.csv"))?;
    let test = read_rows(&dir.join("Hourly-test.csv"))?;
    if train.len() != test.len() {
        bail!("{} training rows but {} test rows", train.len(), test.len());
    }
    let policy = hourly_policy()?;
    if let Some(mut run) = peer_run {
        anyhow::ensure!(
            method == "engine",
            "--peer compares the product's engine: drop --method {method}"
        );
        for ((id, _), (tid, actual)) in train.iter().zip(&test) {
            anyhow::ensure!(
                id == tid && actual.len() == H,
                "series {id}: test row {tid} has {} values, expected {H}",
                actual.len()
            );
        }
        let n = limit.min(train.len());
        (run.models, run.repeats, run.timeout, run.every, run.json) =
            (models, repeats, timeout, every, json);
        return compare_peers(&train[..n], &test[..n], &policy, &run);
    }
    let started = Instant::now();
    let (mut s_sum, mut m_sum, mut s2_sum, mut m2_sum, mut n) = (0.0, 0.0, 0.0, 0.0, 0usize);
    let mut chosen: std::collections::BTreeMap<String, usize> = Default::default();
    for ((id, y), (tid, actual)) in train.iter().zip(&test).take(limit) {
        if id != tid || actual.len() != H {
            bail!(
                "series {id}: test row {tid} has {} values, expected {H}",
                actual.len()
            );
        }
        let f: Vec<f64> = match method.as_str() {
            "naive2" => reference::naive2(y, M, H),
            "snaive" => reference::seasonal_naive(y, M, H),
            "naive1" => reference::seasonal_naive(y, 1, H),
            "auto" => {
                let (point, model) = evaluation::ensemble(y, &[M, 7 * M], H);
                // Count the best-ranked member of the ensemble.
                let best = model.trim_start_matches("mean(").split([',', ')']).next();
                *chosen
                    .entry(best.unwrap_or_default().to_string())
                    .or_default() += 1;
                point
            }
            "engine" | "engine-6x12h" => {
                // The engine the controller builds for an hourly policy: single best
                // model by the policy's backtest (no ensemble).
                let mut cfg = if method == "engine-6x12h" {
                    six_half_days(&policy)
                } else {
                    planscale::forecast::EngineConfig::for_policy(&policy)
                };
                cfg.models = only.clone();
                let e = planscale::forecast::Engine::new(cfg);
                let (point, model) = engine_forecast(e, y)?;
                *chosen.entry(model).or_default() += 1;
                point
            }
            other => univariate::forecast(other, y, &[M, 7 * M], H)
                .with_context(|| format!("unknown method {other:?}"))?,
        };
        let f: Vec<f64> = f.iter().map(|v| v.max(0.0)).collect();
        let scale = accuracy::mase_scale(y, M);
        let n2 = reference::naive2(y, M, H);
        s_sum += accuracy::smape(actual, &f);
        m_sum += accuracy::mase(actual, &f, scale);
        s2_sum += accuracy::smape(actual, &n2);
        m2_sum += accuracy::mase(actual, &n2, scale);
        n += 1;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (smape, mase) = (s_sum / n as f64, m_sum / n as f64);
    let (smape2, mase2) = (s2_sum / n as f64, m2_sum / n as f64);
    let owa = accuracy::owa(smape, mase, smape2, mase2);
    if !chosen.is_empty() {
        eprintln!("best-ranked model per series: {chosen:?}");
    }
    eprintln!("naive2 on these series: smape {smape2:.3} mase {mase2:.3}");
    println!(
        "{}",
        serde_json::json!({
            "method": method,
            "series": n,
            "smape": (smape * 1000.0).round() / 1000.0,
            "mase": (mase * 1000.0).round() / 1000.0,
            "owa": (owa * 10000.0).round() / 10000.0,
            "seconds": (seconds * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
