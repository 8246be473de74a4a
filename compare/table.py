#!/usr/bin/env python3
"""One Markdown table from the comparison's JSON files (`make compare-statsforecast`).

Reads the files written with `--json` by `examples/m4_hourly.rs --peer`,
`examples/compare_holt_winters.rs --statsforecast` and
`examples/clinic_backtest.rs --compare`, and prints two tables: every data set's
schedule-blind models (MASE, OWA on M4, mean fit + predict time per window),
then the departments' schedule-aware models and planscale's p90 coverage on busy
steps. "best" is the statsforecast model with the lowest MASE among those that
finished on every window; gap = planscale's MASE minus its MASE (the issue's
acceptance: at most +0.02); ratio = its time / planscale's (acceptance: at least 20).

Usage: table.py FILE.json...
"""

import json
import sys

BLIND = [
    ("planscale", "planscale"),
    ("planscale-blind", "planscale"),
    ("sf-snaive", "sNaive"),
    ("sf-autoets", "AutoETS"),
    ("sf-autotheta", "AutoTheta"),
    ("sf-mstl", "MSTL"),
    ("sf-autoarima", "AutoARIMA"),
    ("statsmodels-hw", "statsmodels HW"),
]
AWARE = [
    ("planscale-aware", "planscale"),
    ("sf-autoarima-x", "AutoARIMA + X"),
    ("sf-mstl-x", "MSTL (ARIMA trend) + X"),
]


def ms(secs):
    if secs != secs:  # NaN
        return "-"
    return f"{secs * 1e3:.1f} ms" if secs < 1 else f"{secs:.2f} s"


def cell(row):
    if row is None:
        return "not run"
    if row["finished"] == 0:
        why = ", ".join(f"{s} ×{n}" for s, n in row["statuses"].items() if s != "ok")
        return f"0/{row['windows']} finished: {why}"
    text = f"{row['mase']:.3f}"
    if row.get("owa") is not None:
        text += f" · OWA {row['owa']:.3f}"
    text += f" · {ms(row['secs'])}"
    if row["finished"] < row["windows"]:
        text += f" · {row['finished']}/{row['windows']} finished"
        if row.get("planscale_mase_same_windows") is not None:
            text += f" (planscale {row['planscale_mase_same_windows']:.3f} there)"
    return text


def verdict(rows, ours, schedule):
    mine = next((r for r in rows if r["model"] == ours), None)
    peers = [
        r
        for r in rows
        if r["tool"] == "statsforecast" and r["schedule"] == schedule and r["finished"] == r["windows"]
    ]
    if mine is None or not peers:
        return ["-", "-", "-"]
    best = min(peers, key=lambda r: r["mase"])
    name = dict(BLIND + AWARE).get(best["model"], best["model"])
    gap = mine["mase"] - best["mase"]
    ratio = best["secs"] / mine["secs"]
    return [
        f"{name} {best['mase']:.3f}",
        f"{gap:+.3f} ({'met' if gap <= 0.02 else 'not met'})",
        f"{ratio:.0f}× ({'met' if ratio >= 20 else 'not met'})",
    ]


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    docs = [json.load(open(p, encoding="utf-8")) for p in argv[1:]]
    head = ["data set", "windows"] + [n for m, n in BLIND if m != "planscale-blind"]
    head += ["best statsforecast", "planscale gap", "speed ratio"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    aware_lines = []
    for doc in docs:
        for s in doc["series"]:
            rows = {r["model"]: r for r in s["rows"]}
            ours = "planscale" if "planscale" in rows else "planscale-blind"
            cells = [cell(rows.get(ours))] + [cell(rows.get(m)) for m, _ in BLIND[2:]]
            windows = s.get("windows") or len(s.get("origins", []))
            print(
                "| "
                + " | ".join([s["series"], str(windows)] + cells + verdict(s["rows"], ours, False))
                + " |"
            )
            if "planscale-aware" in rows:
                cov = s.get("p90_coverage_busy", {})
                cov5 = s.get("p90_coverage_busy_5min", {})
                aware_lines.append(
                    [s["series"], str(windows)]
                    + [cell(rows.get(m)) for m, _ in AWARE]
                    + verdict(s["rows"], "planscale-aware", True)
                    + verdict(s["rows"], "planscale-aware", False)[:2]
                    + [
                        " / ".join(
                            f"{cov.get(m, float('nan')):.3f}" for m in ("planscale-blind", "planscale-aware")
                        ),
                        " / ".join(
                            f"{cov5.get(m, float('nan')):.3f}" for m in ("planscale-blind", "planscale-aware")
                        ),
                    ]
                )
    if aware_lines:
        head = ["department / series", "windows"] + [n for _, n in AWARE]
        head += [
            "best statsforecast + X",
            "planscale gap",
            "speed ratio",
            "best blind statsforecast",
            "aware planscale's gap to it",
            "p90 busy coverage, 1 h (blind / aware)",
            "p90 busy coverage, 5 min (blind / aware)",
        ]
        print()
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for line in aware_lines:
            print("| " + " | ".join(line) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
