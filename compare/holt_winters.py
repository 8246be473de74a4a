#!/usr/bin/env python3
"""The peer side of `examples/compare_holt_winters.rs`: statsmodels' Holt-Winters.

Reads a job (JSON) written by the Rust command: the horizon, how many timed
repeats, and the training windows (values and daily period in steps). For each
window it fits `statsmodels.tsa.holtwinters.ExponentialSmoothing` with an
additive damped trend and additive seasonality of the window's daily period,
forecasts the horizon, and times fit + forecast only (not the import, not
reading the job). Writes one JSON object to stdout: the versions used, the
model settings, and per window the forecast and the time of each repeat (s).

Usage: holt_winters.py JOB.json
"""

import json
import sys
import time
import warnings

import numpy as np
import scipy
import statsmodels
from statsmodels.tsa.holtwinters import ExponentialSmoothing

# The peer's configuration, fixed before any figure was seen: textbook additive
# Holt-Winters with the damped trend that is usually more accurate over long
# horizons; initial states estimated by statsmodels' default optimiser.
SETTINGS = {
    "trend": "add",
    "damped_trend": True,
    "seasonal": "add",
    "initialization_method": "estimated",
}


def fit_predict(train, period, horizon):
    model = ExponentialSmoothing(
        np.asarray(train, dtype=float),
        trend=SETTINGS["trend"],
        damped_trend=SETTINGS["damped_trend"],
        seasonal=SETTINGS["seasonal"],
        seasonal_periods=period,
        initialization_method=SETTINGS["initialization_method"],
    )
    fitted = model.fit()
    return fitted.forecast(horizon)


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        job = json.load(f)
    horizon = int(job["horizon"])
    repeats = max(1, int(job["repeats"]))
    windows = job["windows"]
    # statsmodels warns about convergence on some windows; the forecast is still
    # what a user of its defaults gets, so keep it and do not flood stderr.
    warnings.simplefilter("ignore")
    # One untimed fit of a small series first: the first call pays for lazy
    # imports and caches, which are not part of fitting.
    fit_predict([float(i % 4) + 0.1 * i for i in range(32)], 4, horizon)
    results = []
    for w in windows:
        period = int(w["period"])
        seconds = []
        forecast = None
        for _ in range(repeats):
            t0 = time.perf_counter()
            forecast = fit_predict(w["train"], period, horizon)
            seconds.append(time.perf_counter() - t0)
        results.append(
            {
                "forecast": [float(v) for v in forecast],
                "seconds": seconds,
            }
        )
    json.dump(
        {
            "tool": "statsmodels ExponentialSmoothing",
            "versions": {
                "python": sys.version.split()[0],
                "statsmodels": statsmodels.__version__,
                "numpy": np.__version__,
                "scipy": scipy.__version__,
            },
            "settings": SETTINGS,
            "results": results,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
