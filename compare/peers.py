#!/usr/bin/env python3
"""The peer side of planscale's comparison examples: statsmodels and statsforecast.

Reads a job (JSON) written by a Rust example (`examples/compare_holt_winters.rs`,
`examples/m4_hourly.rs`, `examples/clinic_backtest.rs`): the horizon, how many
timed repeats, the peer models to run, a time box, and the training windows
(values, daily and weekly period in steps, and optionally exogenous regressors
for the training part and the horizon). For each window and model it fits the
model, forecasts the horizon and times fit + forecast only (not the import,
not reading the job, not starting a process). Writes one JSON object to
stdout: the versions used, each model's settings, and per window and model
the forecast, the time of each repeat (s) and a status.

Models (names as in the job):
- `statsmodels-hw`: statsmodels' Holt-Winters, additive damped trend and
  additive daily seasonality (the first comparison's peer, settings unchanged);
- `sf-snaive`, `sf-autoets`, `sf-autotheta`, `sf-mstl`, `sf-autoarima`:
  statsforecast's SeasonalNaive, AutoETS, AutoTheta (daily season), MSTL
  (daily and weekly seasons, its default AutoETS trend model) and AutoARIMA
  (daily season), all with statsforecast's defaults otherwise;
- `sf-autoarima-x`, `sf-mstl-x`: the two that take exogenous regressors,
  given the window's `x_train` / `x_future`: AutoARIMA (regression with ARIMA
  errors) and MSTL whose trend model is a non-seasonal AutoARIMA with the
  regressors (MSTL passes them to its trend model; AutoETS takes none).

Time box: models with an ARIMA inside (`BOXED`) run in a forked child per
window; one still running after `timeout` seconds is killed and reported as
`timeout` (statsforecast's AutoARIMA takes 20-100 s on one 700-960 point
hourly series here). They run on every `boxed_every`-th window only (the
others are `skipped`), and once (the first repeat's time), however many
repeats the job asks for.

Usage: peers.py JOB.json
"""

import json
import multiprocessing
import os
import sys
import time
import warnings

import numpy as np
import scipy
import statsmodels
from statsmodels.tsa.holtwinters import ExponentialSmoothing

# The first peer's configuration, fixed before any figure was seen: textbook
# additive Holt-Winters with the damped trend that is usually more accurate over
# long horizons; initial states estimated by statsmodels' default optimiser.
SETTINGS = {
    "trend": "add",
    "damped_trend": True,
    "seasonal": "add",
    "initialization_method": "estimated",
}


def holt_winters(train, period, horizon):
    model = ExponentialSmoothing(
        np.asarray(train, dtype=float),
        trend=SETTINGS["trend"],
        damped_trend=SETTINGS["damped_trend"],
        seasonal=SETTINGS["seasonal"],
        seasonal_periods=period,
        initialization_method=SETTINGS["initialization_method"],
    )
    return model.fit().forecast(horizon)


def statsforecast_models():
    """Name -> (factory(period, week), takes exogenous regressors, description).

    Imported lazily so that a job with statsmodels only does not need
    statsforecast installed."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    return {
        "sf-snaive": (lambda p, w: SeasonalNaive(season_length=p), False, "SeasonalNaive(season_length=day)"),
        "sf-autoets": (lambda p, w: AutoETS(season_length=p), False, "AutoETS(season_length=day)"),
        "sf-autotheta": (lambda p, w: AutoTheta(season_length=p), False, "AutoTheta(season_length=day)"),
        "sf-mstl": (
            lambda p, w: MSTL(season_length=[p, w]),
            False,
            "MSTL(season_length=[day, week]) (trend: AutoETS(model='ZZN'))",
        ),
        "sf-autoarima": (lambda p, w: AutoARIMA(season_length=p), False, "AutoARIMA(season_length=day)"),
        "sf-autoarima-x": (
            lambda p, w: AutoARIMA(season_length=p),
            True,
            "AutoARIMA(season_length=day) with X",
        ),
        "sf-mstl-x": (
            lambda p, w: MSTL(season_length=[p, w], trend_forecaster=AutoARIMA(season_length=1)),
            True,
            "MSTL(season_length=[day, week], trend_forecaster=AutoARIMA(season_length=1)) with X",
        ),
    }


# Models with an AutoARIMA inside: time-boxed per window.
BOXED = {"sf-autoarima", "sf-autoarima-x", "sf-mstl-x"}


def make_runner(name, registry):
    """A function (train, period, week, x_train, x_future, horizon) -> forecast."""
    if name == "statsmodels-hw":
        return lambda y, p, w, xt, xf, h: holt_winters(y, p, h)
    if name not in registry:
        raise SystemExit(f"unknown model {name!r}: expected statsmodels-hw or one of {sorted(registry)}")
    factory, exog, _ = registry[name]

    def run(y, p, w, xt, xf, h):
        model = factory(p, w)
        y = np.asarray(y, dtype=float)
        if exog:
            out = model.forecast(
                y=y,
                h=h,
                X=np.asarray(xt, dtype=float),
                X_future=np.asarray(xf, dtype=float),
            )
        else:
            out = model.forecast(y=y, h=h)
        return out["mean"]

    return run


def describe(name, registry):
    if name == "statsmodels-hw":
        return {"ExponentialSmoothing": SETTINGS}
    return registry[name][2]


def _child(conn, run, args):
    try:
        t0 = time.perf_counter()
        f = run(*args)
        conn.send(("ok", [float(v) for v in f], time.perf_counter() - t0))
    except Exception as e:  # reported, not raised: one failed window is data
        conn.send(("error", f"{type(e).__name__}: {e}"[:300], None))
    conn.close()


def boxed(run, args, timeout):
    """Runs `run(*args)` in a forked child; kills it after `timeout` s."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, run, args))
    p.start()
    child.close()
    if parent.poll(timeout):
        status, value, secs = parent.recv()
        p.join()
        if status == "ok":
            return {"forecast": value, "seconds": [secs], "status": "ok"}
        return {"forecast": None, "seconds": [], "status": "error: " + value}
    p.kill()
    p.join()
    return {"forecast": None, "seconds": [], "status": f"timeout ({timeout:g} s)"}


def direct(run, args, repeats):
    seconds, forecast = [], None
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            forecast = run(*args)
            seconds.append(time.perf_counter() - t0)
    except Exception as e:
        return {"forecast": None, "seconds": [], "status": f"error: {type(e).__name__}: {e}"[:300]}
    f = [float(v) for v in forecast]
    if not all(np.isfinite(f)):
        return {"forecast": None, "seconds": seconds, "status": "error: not finite"}
    return {"forecast": f, "seconds": seconds, "status": "ok"}


def warm_up(runners, horizon):
    """One untimed fit of every model on a small series: the first call pays for
    lazy imports and caches, which are not part of fitting."""
    rng = np.random.default_rng(0)
    y = [float(i % 4) + 0.1 * i + rng.random() for i in range(64)]
    x = rng.random((64 + horizon, 2)).tolist()
    for run in runners.values():
        try:
            run(y, 4, 8, x[:64], x[64:], horizon)
        except Exception:
            pass


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    horizon = int(job["horizon"])
    repeats = max(1, int(job["repeats"]))
    models = job.get("models") or ["statsmodels-hw"]
    timeout = float(job.get("timeout", 10.0))
    every = max(1, int(job.get("boxed_every", 1)))
    windows = job["windows"]
    # statsmodels warns about convergence on some windows and statsforecast
    # about near-singular fits; the forecast is still what a user of their
    # defaults gets, so keep it and do not flood stderr.
    warnings.simplefilter("ignore")
    registry = statsforecast_models() if any(m != "statsmodels-hw" for m in models) else {}
    runners = {m: make_runner(m, registry) for m in models}
    warm_up(runners, horizon)
    results = []
    started = time.perf_counter()
    for i, w in enumerate(windows):
        args = (
            w["train"],
            int(w["period"]),
            int(w.get("week") or 7 * int(w["period"])),
            w.get("x_train"),
            w.get("x_future"),
            horizon,
        )
        row = {}
        for m, run in runners.items():
            needs_x = m in registry and registry[m][1]
            if needs_x and w.get("x_train") is None:
                row[m] = {"forecast": None, "seconds": [], "status": "skipped: no regressors"}
            elif m in BOXED:
                row[m] = (
                    boxed(run, args, timeout)
                    if i % every == 0
                    else {"forecast": None, "seconds": [], "status": f"skipped (every {every}th window)"}
                )
            else:
                row[m] = direct(run, args, repeats)
        results.append(row)
        if (i + 1) % 25 == 0 or i + 1 == len(windows):
            print(
                f"peers: {i + 1}/{len(windows)} windows, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    versions = {
        "python": sys.version.split()[0],
        "statsmodels": statsmodels.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    if registry:
        import pandas
        import statsforecast

        versions["statsforecast"] = statsforecast.__version__
        versions["pandas"] = pandas.__version__
    json.dump(
        {
            "tool": "compare/peers.py",
            "versions": versions,
            "settings": {
                "models": {m: describe(m, registry) for m in models},
                "timeout_s": timeout,
                "boxed": sorted(BOXED & set(models)),
                "boxed_every": every,
                "cpus": os.cpu_count(),
            },
            "results": results,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
