//! The comparison's shared half: the job sent to `compare/peers.py` (the
//! statsmodels and statsforecast side), its answer, timing, and the scoring
//! and table of every model on the same windows. Used by
//! `examples/compare_holt_winters.rs` (NAB), `examples/m4_hourly.rs` (M4
//! Hourly) and `examples/clinic_backtest.rs` (the departments); included by
//! `#[path]`, so each example stays one command.

#![allow(dead_code)] // each example uses part of it

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use planscale::forecast::accuracy;
use serde::{Deserialize, Serialize};

/// The statsforecast models of the schedule-blind comparison (issue 13), in
/// the order of the table.
pub const SF_BLIND: [&str; 5] = [
    "sf-snaive",
    "sf-autoets",
    "sf-autotheta",
    "sf-mstl",
    "sf-autoarima",
];
/// The statsforecast models that take the appointment counts as regressors.
pub const SF_EXOG: [&str; 2] = ["sf-autoarima-x", "sf-mstl-x"];
/// The first comparison's peer.
pub const HOLT_WINTERS: &str = "statsmodels-hw";

/// One training window, as sent to the peer.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub train: Vec<f64>,
    /// Daily period in steps.
    pub period: usize,
    /// Weekly period in steps (MSTL's second season).
    pub week: usize,
    /// Regressors over the training part, one row per step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_train: Option<Vec<Vec<f64>>>,
    /// Regressors over the horizon, one row per step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_future: Option<Vec<Vec<f64>>>,
}

/// What the peer is asked to do.
#[derive(Debug, Clone, Serialize)]
pub struct Job<'a> {
    pub horizon: usize,
    pub repeats: usize,
    pub models: Vec<String>,
    /// Seconds per window for the models with an AutoARIMA inside.
    pub timeout: f64,
    /// Those models run on every `boxed_every`-th window only.
    pub boxed_every: usize,
    pub windows: &'a [Window],
}

/// What `compare/peers.py` prints.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PeerOutput {
    pub tool: String,
    pub versions: BTreeMap<String, String>,
    pub settings: serde_json::Value,
    /// Per window, per model.
    pub results: Vec<BTreeMap<String, PeerResult>>,
}

/// One model on one window.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PeerResult {
    /// `None` unless `status` is `ok`.
    pub forecast: Option<Vec<f64>>,
    pub seconds: Vec<f64>,
    /// `ok`, `timeout (N s)`, `skipped …` or `error: …`.
    pub status: String,
}

impl PeerResult {
    /// The forecast and the median time, when the model finished.
    pub fn ok(&self) -> Option<(&[f64], f64)> {
        let f = self.forecast.as_deref().filter(|_| self.status == "ok")?;
        Some((f, median(&mut self.seconds.clone())))
    }
}

/// Checks the peer's answer against the job: one result per window with every
/// model, each that finished with `h` finite values and a timing.
pub fn check_peer(
    out: &PeerOutput,
    windows: usize,
    models: &[String],
    h: usize,
) -> anyhow::Result<()> {
    if out.results.len() != windows {
        bail!(
            "the peer returned {} results, expected one per window ({windows})",
            out.results.len()
        );
    }
    for (i, r) in out.results.iter().enumerate() {
        for m in models {
            let p = r
                .get(m)
                .with_context(|| format!("peer window {i}: no result for {m}"))?;
            if p.status == "ok"
                && (p.forecast.as_ref().is_none_or(|f| f.len() != h) || p.seconds.is_empty())
            {
                bail!(
                    "peer window {i}, {m}: expected {h} forecast values and timings, found {} values and {} timings",
                    p.forecast.as_ref().map_or(0, Vec::len),
                    p.seconds.len()
                );
            }
        }
    }
    Ok(())
}

/// Runs `compare/peers.py` on `job` with `python`.
pub fn run_peer(python: &Path, job: &Job) -> anyhow::Result<PeerOutput> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compare/peers.py");
    let dir = tempfile::tempdir().context("creating a temporary directory for the job")?;
    let job_path = dir.path().join("job.json");
    std::fs::write(&job_path, serde_json::to_vec(job)?)?;
    let out = Command::new(python)
        .arg(&script)
        .arg(&job_path)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| {
            format!(
                "starting {} (make the environment with `make venv`, or pass --python)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({})",
            python.display(),
            script.display(),
            out.status
        );
    }
    let parsed: PeerOutput = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("reading the JSON printed by {}", script.display()))?;
    check_peer(&parsed, job.windows.len(), &job.models, job.horizon)?;
    Ok(parsed)
}

/// The peer's tool, versions and settings, for a JSON report.
pub fn meta(out: &PeerOutput) -> serde_json::Value {
    serde_json::json!({"tool": out.tool, "versions": out.versions, "settings": out.settings})
}

/// Writes a JSON report (pretty) and says so on stderr.
pub fn write_json(path: &Path, doc: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(doc)?)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Runs `f` `repeats` times; returns its last output and the median time (s).
pub fn timed<T>(repeats: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut secs = Vec::new();
    let mut out = None;
    for _ in 0..repeats.max(1) {
        let t0 = Instant::now();
        out = Some(f());
        secs.push(t0.elapsed().as_secs_f64());
    }
    (out.expect("at least one repeat"), median(&mut secs))
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

pub fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Regressor rows for steps `from..to`: per type, its count at lags
/// `0..=lags` steps (zeros before the series starts), so a peer sees the
/// appointments planscale's lag kernels see.
pub fn lagged(counts: &[Vec<f64>], from: usize, to: usize, lags: usize) -> Vec<Vec<f64>> {
    (from..to)
        .map(|t| {
            counts
                .iter()
                .flat_map(|c| {
                    (0..=lags).map(move |l| {
                        t.checked_sub(l)
                            .and_then(|i| c.get(i))
                            .copied()
                            .unwrap_or(0.0)
                    })
                })
                .collect()
        })
        .collect()
}

/// One window's score of one model: MASE (scaled by the training window's
/// seasonal naive error at the daily period, as in M4), sMAPE, and the
/// fit + predict time. Forecasts are scored clamped at 0 (demand is never
/// negative), every model alike.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scored {
    pub mase: f64,
    pub smape: f64,
    pub secs: f64,
}

pub fn score(train: &[f64], actual: &[f64], forecast: &[f64], m: usize, secs: f64) -> Scored {
    let f: Vec<f64> = forecast.iter().map(|v| v.max(0.0)).collect();
    Scored {
        mase: accuracy::mase(actual, &f, accuracy::mase_scale(train, m)),
        smape: accuracy::smape(actual, &f),
        secs,
    }
}

/// Every window's score (or why there is none) of one model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelRuns {
    pub model: String,
    /// Per window: the score, or the peer's status.
    pub windows: Vec<Result<Scored, String>>,
}

impl ModelRuns {
    pub fn new(model: &str) -> Self {
        ModelRuns {
            model: model.to_string(),
            windows: Vec::new(),
        }
    }

    pub fn push_peer(&mut self, p: &PeerResult, train: &[f64], actual: &[f64], m: usize) {
        self.windows.push(match p.ok() {
            Some((f, secs)) => Ok(score(train, actual, f, m, secs)),
            None => Err(p.status.clone()),
        });
    }

    /// Windows where the model finished.
    pub fn finished(&self) -> Vec<bool> {
        self.windows.iter().map(Result::is_ok).collect()
    }
}

/// A model's figures on one data set.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub model: String,
    /// `planscale`, `statsmodels` or `statsforecast`.
    pub tool: String,
    /// Given the appointment counts.
    pub schedule: bool,
    pub windows: usize,
    /// Windows where it finished.
    pub finished: usize,
    /// Means over the windows where it finished.
    pub mase: f64,
    pub smape: f64,
    /// M4's OWA (M4 only), over the windows where it finished.
    pub owa: Option<f64>,
    /// Mean fit + predict time per window, seconds.
    pub secs: f64,
    /// How many windows ended how (`ok`, `timeout (10 s)`, …).
    pub statuses: BTreeMap<String, usize>,
    /// planscale's MASE on the windows where this model finished (when it
    /// finished on some but not all).
    pub planscale_mase_same_windows: Option<f64>,
    /// MASE per window (`None`: not finished), for finding where a model
    /// loses.
    pub mase_per_window: Vec<Option<f64>>,
}

pub fn tool_of(model: &str) -> &'static str {
    if model.starts_with("sf-") {
        "statsforecast"
    } else if model.starts_with("statsmodels") {
        "statsmodels"
    } else {
        "planscale"
    }
}

impl Summary {
    /// Summarises `runs`; `reference` (planscale's runs on the same windows)
    /// gives its MASE on the windows this model finished.
    pub fn new(runs: &ModelRuns, schedule: bool, reference: Option<&ModelRuns>) -> Self {
        let ok: Vec<&Scored> = runs
            .windows
            .iter()
            .filter_map(|w| w.as_ref().ok())
            .collect();
        let mut statuses = BTreeMap::new();
        for w in &runs.windows {
            let s = match w {
                Ok(_) => "ok".to_string(),
                Err(e) => e.clone(),
            };
            *statuses.entry(s).or_default() += 1;
        }
        let partial = ok.len() < runs.windows.len();
        let planscale_mase_same_windows =
            reference.filter(|_| partial && !ok.is_empty()).map(|r| {
                mean(
                    r.windows
                        .iter()
                        .zip(&runs.windows)
                        .filter(|(_, w)| w.is_ok())
                        .filter_map(|(p, _)| p.as_ref().ok().map(|s| s.mase)),
                )
            });
        Summary {
            model: runs.model.clone(),
            tool: tool_of(&runs.model).to_string(),
            schedule,
            windows: runs.windows.len(),
            finished: ok.len(),
            mase: mean(ok.iter().map(|s| s.mase)),
            smape: mean(ok.iter().map(|s| s.smape)),
            owa: None,
            secs: mean(ok.iter().map(|s| s.secs)),
            statuses,
            planscale_mase_same_windows,
            mase_per_window: runs
                .windows
                .iter()
                .map(|w| w.as_ref().ok().map(|s| s.mase))
                .collect(),
        }
    }
}

/// planscale against the best statsforecast model that finished on every
/// window, among those given the appointment counts or not (`schedule`):
/// (that model, planscale's MASE gap to it, its time / planscale's).
pub fn verdict<'a>(
    rows: &'a [Summary],
    planscale: &str,
    schedule: bool,
) -> Option<(&'a Summary, f64, f64)> {
    let ours = rows.iter().find(|r| r.model == planscale)?;
    let best = rows
        .iter()
        .filter(|r| r.tool == "statsforecast" && r.schedule == schedule && r.finished == r.windows)
        .min_by(|a, b| a.mase.total_cmp(&b.mase))?;
    Some((best, ours.mase - best.mase, best.secs / ours.secs))
}

/// The table of one data set: one row per model.
pub fn table(title: &str, rows: &[Summary]) -> String {
    let mut out = format!(
        "{title}\n  {:<26} {:>9} {:>8} {:>8} {:>7} {:>12}  {}\n",
        "model", "finished", "MASE", "sMAPE", "OWA", "ms/window", "not finished"
    );
    for r in rows {
        let other: Vec<String> = r
            .statuses
            .iter()
            .filter(|(s, _)| *s != "ok")
            .map(|(s, n)| format!("{s} ×{n}"))
            .collect();
        let same = r
            .planscale_mase_same_windows
            .map(|m| format!(" (planscale {m:.3} on these windows)"))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<26} {:>4}/{:<4} {:>8.3} {:>8.3} {:>7} {:>12.2}  {}{same}\n",
            r.model,
            r.finished,
            r.windows,
            r.mase,
            r.smape,
            r.owa.map_or("-".to_string(), |o| format!("{o:.3}")),
            r.secs * 1e3,
            other.join(", ")
        ));
    }
    out
}

/// The verdict line of one data set for one planscale row, against the
/// statsforecast models given the appointment counts or not (`schedule`).
pub fn verdict_line(rows: &[Summary], planscale: &str, schedule: bool) -> String {
    let against = if schedule { " with the counts" } else { "" };
    match verdict(rows, planscale, schedule) {
        Some((best, gap, ratio)) => format!(
            "  {planscale}: MASE gap to the best statsforecast model{against} ({} {:.3}) {gap:+.3} (acceptance ≤ +0.02: {}); its fit + predict takes {ratio:.0}× planscale's (acceptance ≥ 20×: {})\n",
            best.model,
            best.mase,
            if gap <= 0.02 { "met" } else { "not met" },
            if ratio >= 20.0 { "met" } else { "not met" },
        ),
        None => {
            format!("  {planscale}: no statsforecast model{against} finished on every window\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: &str, forecast: Option<Vec<f64>>) -> PeerResult {
        PeerResult {
            forecast,
            seconds: vec![0.2, 0.1, 0.3],
            status: status.into(),
        }
    }

    #[test]
    fn peer_output_is_checked_against_the_job() {
        let models = vec!["sf-autoets".to_string()];
        let one = |r: PeerResult| PeerOutput {
            tool: "t".into(),
            versions: BTreeMap::new(),
            settings: serde_json::json!({}),
            results: vec![BTreeMap::from([("sf-autoets".to_string(), r)])],
        };
        let ok = one(result("ok", Some(vec![1.0; 3])));
        check_peer(&ok, 1, &models, 3).unwrap();
        assert_eq!(ok.results[0]["sf-autoets"].ok().unwrap().1, 0.2);
        let e = check_peer(&ok, 2, &models, 3).unwrap_err().to_string();
        assert!(e.contains("expected one per window"), "{e}");
        let e = check_peer(&ok, 1, &models, 4).unwrap_err().to_string();
        assert!(e.contains("window 0, sf-autoets"), "{e}");
        let e = check_peer(&ok, 1, &["sf-mstl".to_string()], 3)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no result for sf-mstl"), "{e}");
        // A time-out carries no forecast and is not an error of the answer.
        let late = one(result("timeout (10 s)", None));
        check_peer(&late, 1, &models, 3).unwrap();
        assert!(late.results[0]["sf-autoets"].ok().is_none());
    }

    #[test]
    fn lagged_regressors_shift_each_type_and_pad_with_zeros() {
        let counts = vec![vec![1.0, 2.0, 3.0], vec![10.0, 20.0, 30.0]];
        assert_eq!(
            lagged(&counts, 0, 2, 1),
            vec![vec![1.0, 0.0, 10.0, 0.0], vec![2.0, 1.0, 20.0, 10.0]]
        );
        // Past the counts' end (the future beyond the book) is zero too.
        assert_eq!(lagged(&counts, 3, 4, 1), vec![vec![0.0, 3.0, 0.0, 30.0]]);
    }

    #[test]
    fn summary_keeps_unfinished_windows_apart_and_verdict_takes_the_best_complete_peer() {
        let s = |mase, secs| {
            Ok(Scored {
                mase,
                smape: 1.0,
                secs,
            })
        };
        let ours = ModelRuns {
            model: "planscale".into(),
            windows: vec![s(1.0, 0.01), s(0.5, 0.01)],
        };
        let ets = ModelRuns {
            model: "sf-autoets".into(),
            windows: vec![s(0.9, 0.5), s(0.7, 0.5)],
        };
        let arima = ModelRuns {
            model: "sf-autoarima".into(),
            windows: vec![Err("timeout (10 s)".into()), s(0.1, 9.0)],
        };
        let rows = vec![
            Summary::new(&ours, false, None),
            Summary::new(&ets, false, Some(&ours)),
            Summary::new(&arima, false, Some(&ours)),
        ];
        assert_eq!(rows[2].finished, 1);
        assert_eq!(rows[2].mase, 0.1);
        assert_eq!(rows[2].planscale_mase_same_windows, Some(0.5));
        assert_eq!(rows[2].statuses["timeout (10 s)"], 1);
        assert_eq!(rows[2].mase_per_window, vec![None, Some(0.1)]);
        assert_eq!(rows[1].planscale_mase_same_windows, None);
        // AutoARIMA did not finish everywhere: the best complete peer is AutoETS.
        let (best, gap, ratio) = verdict(&rows, "planscale", false).unwrap();
        assert_eq!(best.model, "sf-autoets");
        assert!((gap - (0.75 - 0.8)).abs() < 1e-12);
        assert!((ratio - 50.0).abs() < 1e-9);
        assert!(verdict_line(&rows, "planscale", false).contains("met"));
        assert!(verdict(&rows, "planscale", true).is_none());
        assert!(verdict_line(&rows, "planscale", true).contains("no statsforecast model with"));
    }

    #[test]
    fn scores_clamp_negative_forecasts_and_time_takes_the_median() {
        let train = [1.0, 3.0, 1.0, 3.0, 2.0, 4.0];
        // Seasonal differences (m = 2): 0, 0, 1, 1 → scale 0.5.
        let sc = score(&train, &[0.0, 1.0], &[-1.0, 1.0], 2, 0.1);
        assert_eq!(sc.mase, 0.0);
        let (out, med) = timed(3, || 42);
        assert_eq!(out, 42);
        assert!(med >= 0.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
        assert!(mean(std::iter::empty()).is_nan());
    }
}
