#!/usr/bin/env python3
"""Can any constant multiple of one curve feature keep every task within `--tolerance` points?

For each feature a curve-only rule could scale (the lag-corrected rate at
the minimum of the running median, as the safe rule reads it; the stop
rate; the rate where the loss has made k of its drop from start to
minimum), prints per task the range of multipliers m for which `m * feature`
lands within the tolerance of the best grid score on *every* sweep of the
task, and their intersection over tasks. An empty range means no rule of the
form `m * feature` can meet the tolerance there. No TensorFlow; a second.

    python bench/quality/feasibility.py                  # the tasks rules are chosen on
    python bench/quality/feasibility.py --all --tolerance 1
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import score  # noqa: E402
from tasks import HELD_OUT_10  # noqa: E402

from tb_lrfinder.analysis.rules import SAFE_SEARCH_DECADES, SAFE_WINDOW_DECADES  # noqa: E402
from tb_lrfinder.core.smoothing import rolling_median  # noqa: E402

DROPS = (0.5, 0.8, 0.9)


def features(sweep) -> dict[str, float]:
    """log10 of each feature's rate on one sweep, taken out the momentum lag."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = score._analysis(sweep)
    rates, losses, lag = score.curve_to_stop(sweep)
    per_decade = (len(rates) - 1) / np.log10(rates[-1] / rates[0])
    median = rolling_median(losses, round(SAFE_WINDOW_DECADES * per_decade))
    inside = (rates >= rates[-1] / 10.0**SAFE_SEARCH_DECADES) & np.isfinite(median)
    lowest = int(np.argmin(np.where(inside, median, np.inf)))
    start = float(np.nanmedian(losses[: max(3, len(losses) // 20)]))
    out = {"r_min": rates[lowest] / lag, "stop rate": analysis.stop.learning_rate / lag}
    for k in DROPS:
        reached = median[: lowest + 1] <= start - k * (start - median[lowest])
        out[f"{k:.0%} of the drop"] = rates[int(np.argmax(reached))] / lag
    return {name: float(np.log10(rate)) for name, rate in out.items()}


def tolerated(task_truth, tolerance: float) -> tuple[float, float]:
    """log10 rates (lowest, highest) whose interpolated score is within `tolerance` of the best."""
    grid = np.linspace(task_truth["log_rates"][0], task_truth["log_rates"][-1], 4000)
    good = grid[task_truth["best"] - np.interp(grid, task_truth["log_rates"], task_truth["scores"]) <= tolerance]
    return float(good.min()), float(good.max())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tolerance", type=float, default=3.0, help="regret in points (default 3)")
    parser.add_argument("--all", action="store_true", help=f"also the tasks held out of the latest choice: {HELD_OUT_10}")
    args = parser.parse_args(argv)
    truth = score.load_truth()
    names = [t for t in truth if args.all or t not in HELD_OUT_10]
    sweeps = [s for s in score.load_sweeps() if s["task"] in names]
    per_sweep = [(s["task"], features(s)) for s in sweeps]
    print(f"multipliers m (as powers of ten) keeping m * feature within {args.tolerance:g} points on every sweep "
          f"of a task; {len(names)} tasks, {len(sweeps)} sweeps")
    for feature in per_sweep[0][1]:
        print(f"\n{feature}:")
        lows, highs = [], []
        for task in names:
            low, high = tolerated(truth[task], args.tolerance)
            values = [f[feature] for t, f in per_sweep if t == task]
            need_low, need_high = low - min(values), high - max(values)
            lows.append(need_low)
            highs.append(need_high)
            verdict = "" if need_low <= need_high else "  none"
            print(f"  {task:26s} 10^[{need_low:+.2f}, {need_high:+.2f}]{verdict}")
        low, high = max(lows), min(highs)
        print(f"  {'every task':26s} 10^[{low:+.2f}, {high:+.2f}]{'' if low <= high else '  none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
