#!/usr/bin/env python3
"""The short-horizon bias of verification's trials on long trainings, and budgeted verification's regret.

From `raw/long_truth.jsonl.gz` (`long.py truth`): for each long task and each horizon (2%, 5%, 10%
of the training), the grid rate with the lowest mean test loss at that horizon (what trials of that
length, started as the training starts, would choose), how far it lies from the rate that scores
best at the training's end (decades), and the regret (points) of that rate divided by a correction
c at the end, for each c in `CORRECTIONS`. The correction is chosen on `tasks.LONG_CHOICE` (worst
case first, then the mean) and reported on `tasks.LONG_HELD_OUT` apart.

From `raw/long_verified.jsonl.gz` (`long.py verify`): budgeted verification's rate as recorded,
its regret at the training's end, its cost as a share of the training.

No TensorFlow; runs in about a second.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import tasks  # noqa: E402

HORIZONS = ("0.02", "0.05", "0.1")
CORRECTIONS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
CLIFF = 20.0
"""Regret (points) beyond which a rate counts as past the cliff (as in `score.py`)."""


def truth_tables() -> dict[str, pd.DataFrame]:
    """task -> one row per grid rate: mean end score, mean test loss at each horizon (inf where a seed's was not
    finite), sorted by rate."""
    frames = {}
    rows = records.read("long_truth")
    for task in tasks.LONG_TASKS:
        own = [r for r in rows if r["task"] == task]
        if not own:
            continue
        table = pd.DataFrame([{"rate": r["rate"], "score": r["score"],
                               **{f"loss@{h}": np.inf if r["horizons"][h]["test_loss"] is None
                                  else r["horizons"][h]["test_loss"] for h in HORIZONS}} for r in own])
        frames[task] = table.groupby("rate").mean().reset_index().sort_values("rate")
    return frames


def score_at(table: pd.DataFrame, rate: float) -> float:
    """The end score at `rate`, interpolated in log(rate) between grid points (clamped at the grid's ends)."""
    return float(np.interp(np.log10(rate), np.log10(table["rate"]), table["score"]))


def bias(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for task, table in frames.items():
        best = table.loc[table["score"].idxmax()]
        for h in HORIZONS:
            chosen = float(table.loc[table[f"loss@{h}"].idxmin(), "rate"])
            row = {"task": task, "horizon": float(h), "held_out": task in tasks.LONG_HELD_OUT,
                   "best_rate": float(best["rate"]), "chosen": chosen,
                   "decades": float(np.log10(chosen / best["rate"]))}
            for c in CORRECTIONS:
                row[f"regret/{c:g}"] = float(best["score"]) - score_at(table, chosen / c)
            rows.append(row)
    return pd.DataFrame(rows)


def choose(frame: pd.DataFrame) -> float:
    """The correction with the least worst regret over the choice tasks' horizons (then the least mean)."""
    choice = frame[~frame["held_out"]]
    keyed = [(choice[f"regret/{c:g}"].max(), choice[f"regret/{c:g}"].mean(), c) for c in CORRECTIONS]
    return min(keyed)[2]


def verified_frame(frames: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    rows = []
    for r in records.read("long_verified"):
        if r["task"] not in frames:
            continue
        table = frames[r["task"]]
        best = float(table["score"].max())
        rate = r["use"]
        rows.append({"task": r["task"], "order": r["order"], "share_asked": r["share"],
                     "held_out": r["task"] in tasks.LONG_HELD_OUT, "rate": rate,
                     "regret": np.nan if rate is None else best - score_at(table, rate),
                     "curve_regret": np.nan if r["recommended"] is None else best - score_at(table, r["recommended"]),
                     "share": (r["sweep_steps"] + r["trial_steps"]) / r["train_steps"]})
    return pd.DataFrame(rows) if rows else None


def main() -> int:
    frames = truth_tables()
    if not frames:
        print("no long-training ground truth yet: run bench/quality/long.py truth")
        return 1
    frame = bias(frames)
    pd.set_option("display.width", 200)
    print("Short-horizon bias: the rate with the lowest test loss after a share of the training, against the "
          "rate that scores best at its end (decades; > 0: the short horizon picks a higher rate)")
    print(frame.pivot(index="task", columns="horizon", values="decades").round(2).to_string())
    c = choose(frame)
    print(f"\nRegret (points at the training's end) of that rate divided by c; c chosen on {tasks.LONG_CHOICE}: {c:g}")
    for held, name in ((False, "choice tasks"), (True, "held-out tasks")):
        part = frame[frame["held_out"] == held]
        if part.empty:
            continue
        cells = ", ".join(f"/{k:g}: {part[f'regret/{k:g}'].mean():.2f} / {part[f'regret/{k:g}'].max():.2f}"
                          for k in CORRECTIONS)
        print(f"  {name} (mean / worst over tasks x horizons): {cells}")
    verified = verified_frame(frames)
    if verified is not None:
        print("\nBudgeted verification (long.py verify): mean / worst regret, past the cliff, share of the training "
              "(mean / most), against the curve's own rate")
        for (share, held), part in verified.groupby(["share_asked", "held_out"]):
            print(f"  share {share:g}, {'held-out' if held else 'choice'} tasks ({len(part)} runs): "
                  f"{part['regret'].mean():.2f} / {part['regret'].max():.2f} / {int((part['regret'] > CLIFF).sum())}; "
                  f"cost {part['share'].mean():.1%} / {part['share'].max():.1%}; curve's rate "
                  f"{part['curve_regret'].mean():.2f} / {part['curve_regret'].max():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
