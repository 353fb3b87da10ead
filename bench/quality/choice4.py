#!/usr/bin/env python3
"""Choice 4 (DECISIONS.md): what the recommended rate should be where the analysis is not confident.

On the fourteen tasks choice 4 was made on (every task but those of
`tasks.HELD_OUT_4` and the later rounds), prints
each candidate's regret (points against the best grid rate, as `score.py`
counts it) on all sweeps, on the confident ones and on the others, worst
case first. Every candidate keeps today's rate on confident sweeps unless it
says otherwise. No TensorFlow; a few seconds.

    python bench/quality/choice4.py
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import score  # noqa: E402
import tasks as task_rounds  # noqa: E402
from tasks import HELD_OUT_4, momentum_lag  # noqa: E402

from tb_lrfinder.analysis.rules import safe_rate  # noqa: E402
from tb_lrfinder.core.smoothing import centered_ema  # noqa: E402


def readings(sweep) -> dict:
    """The pieces a candidate may combine, for one sweep: today's rate, the two
    readings of the minimum (lag-corrected) and whether the analysis is confident."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = score._analysis(sweep)
    if result.recommended is None or result.safe is None:
        return {"rate": None}
    rates, losses, lag = score.curve_to_stop(sweep)
    finite = np.isfinite(losses)
    rates, losses = rates[finite], losses[finite]
    _, corrected, _ = safe_rate(rates, losses, np.arange(len(rates)), momentum_lag=momentum_lag(sweep["task"]))
    centered = centered_ema(losses, result.smoothing)
    return {
        "rate": result.recommended.learning_rate,
        "median_min": corrected,
        "ema_min": float(rates[int(np.nanargmin(centered))]) / lag,
        "confident": result.recommended.confident,
        "unclear": any("minimum is unclear" in c for c in result.recommended.caveats),
        "low": float(sweep["learning_rate"][0]),
        "high": float(sweep["learning_rate"][-1]),
    }


def _clip(rate, r):
    return float(np.clip(rate, r["low"], r["high"]))


CANDIDATES = {
    "today: r_min / 1.5": lambda r: r["rate"],
    "not confident: r_min / 3": lambda r: r["rate"] if r["confident"] else _clip(r["median_min"] / 3, r),
    "not confident: lower minimum / 1.5":
        lambda r: r["rate"] if r["confident"] else _clip(min(r["median_min"], r["ema_min"]) / 1.5, r),
    "minimum unclear: lower minimum / 1.5":
        lambda r: _clip(min(r["median_min"], r["ema_min"]) / 1.5, r) if r["unclear"] else r["rate"],
    "always: lower minimum / 1.5": lambda r: _clip(min(r["median_min"], r["ema_min"]) / 1.5, r),
    "not confident: geometric mean of minima / 1.5":
        lambda r: r["rate"] if r["confident"] else _clip(np.sqrt(r["median_min"] * r["ema_min"]) / 1.5, r),
    "not confident: lower minimum / 3":
        lambda r: r["rate"] if r["confident"] else _clip(min(r["median_min"], r["ema_min"]) / 3, r),
}


def main() -> int:
    truth = score.load_truth()
    later = [t for k in range(4, 11) for t in getattr(task_rounds, f"HELD_OUT_{k}")]
    sweeps = [s for s in score.load_sweeps() if s["task"] not in later]
    rows = []
    for sweep in sweeps:
        r = readings(sweep)
        t = truth[sweep["task"]]
        for name, candidate in CANDIDATES.items():
            rate = float(sweep["learning_rate"][0]) if r["rate"] is None else candidate(r)
            rows.append((name, sweep["task"], bool(r.get("confident")), t["best"] - score.score_at(t, rate)))
    tasks = sorted({s["task"] for s in sweeps})
    print(f"{len(tasks)} tasks, {len(sweeps)} sweeps (held out of this choice: {', '.join(HELD_OUT_4)})\n")
    print("| candidate | all: mean / worst / past cliff | confident: mean / worst | not confident: mean / worst |")
    print("| --- | --- | --- | --- |")
    results = []
    for name in CANDIDATES:
        mine = [row for row in rows if row[0] == name]
        regret = np.array([row[3] for row in mine])
        confident = np.array([row[2] for row in mine])
        results.append((regret.max(), regret.mean(), name, regret, confident))
    for worst, mean, name, regret, confident in sorted(results, key=lambda x: (round(x[0], 6), x[1])):
        def part(mask):
            return f"{regret[mask].mean():.2f} / {regret[mask].max():.2f}" if mask.any() else "-"
        print(f"| {name} | {mean:.2f} / {worst:.2f} / {int((regret > score.CLIFF).sum())} | {part(confident)} | "
              f"{part(~confident)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
