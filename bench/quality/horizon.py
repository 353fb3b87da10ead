#!/usr/bin/env python3
"""The short-horizon bias of verification's trials on longer trainings, and budgeted verification's regret.

`--set long` (the default) or `--set mid` (`tasks.TRAINING_SETS`). From `raw/<set>_truth.jsonl.gz`
(`long.py truth`): for each task of the set and each horizon (2%, 5%, 10%
of the training), the grid rate with the lowest mean test loss at that horizon (what trials of that
length, started as the training starts, would choose), how far it lies from the rate that scores
best at the training's end (decades), and the regret (points) of that rate divided by a correction
c at the end, for each c in `CORRECTIONS`. The correction is chosen on the set's tasks not held out
(worst case first, then the mean; for the long set, `tasks.LONG_CHOICE`) and reported on the held-out
ones apart.

From `raw/<set>_verified.jsonl.gz` (`long.py verify`): budgeted verification's rate as recorded,
its regret at the training's end, its cost as a share of the training. For the mid set, the rule of
choice of DECISIONS.md (session 24): one training's budget (share 1.0) against the full-length check
(share 0.1, which a tenth of these trainings cannot hold).

No TensorFlow; runs in about a second.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import tasks  # noqa: E402
from score import CLIFF, no_worse  # noqa: E402

HORIZONS = ("0.02", "0.05", "0.1")
CORRECTIONS = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def truth_tables(training_set: str = "long") -> dict[str, pd.DataFrame]:
    """task -> one row per grid rate: mean end score, mean test loss at each horizon (inf where a seed's was not
    finite), sorted by rate."""
    frames = {}
    rows = records.read(f"{training_set}_truth")
    for task in tasks.TRAINING_SETS[training_set][0]:
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


def bias(frames: dict[str, pd.DataFrame], held_out: tuple[str, ...] = tasks.LONG_HELD_OUT) -> pd.DataFrame:
    rows = []
    for task, table in frames.items():
        best = table.loc[table["score"].idxmax()]
        for h in HORIZONS:
            chosen = float(table.loc[table[f"loss@{h}"].idxmin(), "rate"])
            row = {"task": task, "horizon": float(h), "held_out": task in held_out,
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


def verified_frame(frames: dict[str, pd.DataFrame], training_set: str = "long",
                   records_name: str | None = None) -> pd.DataFrame | None:
    """Each recorded verification of the set (`<set>_verified`, or `records_name`): its rate's regret, the
    curve's, the share of the training it took."""
    held_out = tasks.TRAINING_SETS[training_set][1]
    rows = []
    for r in records.read(records_name or f"{training_set}_verified"):
        if r["task"] not in frames:
            continue
        table = frames[r["task"]]
        best = float(table["score"].max())
        rate = r["use"]
        rows.append({"task": r["task"], "order": r["order"], "share_asked": r["share"],
                     "held_out": r["task"] in held_out, "rate": rate,
                     "regret": np.nan if rate is None else best - score_at(table, rate),
                     "curve_regret": np.nan if r["recommended"] is None else best - score_at(table, r["recommended"]),
                     "share": (r["sweep_steps"] + r["trial_steps"]) / r["train_steps"]})
    return pd.DataFrame(rows) if rows else None


def one_training_adopted(choice: pd.DataFrame) -> bool | None:
    """The mid set's rule of choice (DECISIONS.md, session 24), on its chosen-on runs: one training's
    budget (share 1.0) replaces the full-length check (share 0.1) if its worst and mean regret are no
    worse and it passes the cliff no more often (None: either is missing)."""
    today, one = (choice[choice["share_asked"] == share]["regret"] for share in (0.1, 1.0))
    if today.empty or one.empty:
        return None
    return no_worse(today, one)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=list(tasks.TRAINING_SETS), default="long")
    args = parser.parse_args(argv)
    held_out = tasks.TRAINING_SETS[args.set][1]
    frames = truth_tables(args.set)
    if not frames:
        print(f"no ground truth for the {args.set} set yet: run bench/quality/long.py --set {args.set} truth")
        return 1
    frame = bias(frames, held_out)
    pd.set_option("display.width", 200)
    print("Short-horizon bias: the rate with the lowest test loss after a share of the training, against the "
          "rate that scores best at its end (decades; > 0: the short horizon picks a higher rate)")
    print(frame.pivot(index="task", columns="horizon", values="decades").round(2).to_string())
    c = choose(frame)
    chosen_on = tuple(task for task in frames if task not in held_out)
    print(f"\nRegret (points at the training's end) of that rate divided by c; c chosen on {chosen_on}: {c:g}")
    for held, name in ((False, "choice tasks"), (True, "held-out tasks")):
        part = frame[frame["held_out"] == held]
        if part.empty:
            continue
        cells = ", ".join(f"/{k:g}: {part[f'regret/{k:g}'].mean():.2f} / {part[f'regret/{k:g}'].max():.2f}"
                          for k in CORRECTIONS)
        print(f"  {name} (mean / worst over tasks x horizons): {cells}")
    verified = verified_frame(frames, args.set)
    if verified is not None:
        print("\nBudgeted verification (long.py verify): mean / worst regret, past the cliff, share of the training "
              "(mean / most), against the curve's own rate")
        for share, runs in verified.groupby("share_asked"):
            for name, part in (("choice", runs[~runs["held_out"]]), ("held-out", runs[runs["held_out"]]),
                               ("all", runs)):
                print(f"  share {share:g}, {name} tasks ({len(part)} runs): {part['regret'].mean():.2f} / "
                      f"{part['regret'].max():.2f} / {int((part['regret'] > CLIFF).sum())}; cost "
                      f"{part['share'].mean():.1%} / {part['share'].max():.1%}; curve's rate "
                      f"{part['curve_regret'].mean():.2f} / {part['curve_regret'].max():.2f} / "
                      f"{int((part['curve_regret'] > CLIFF).sum())}")
        if args.set == "mid":
            print("\n  by task (mean regret; share 0.1 = the full-length check, 1.0 = one training; curve):")
            table = verified.pivot_table(index="task", columns="share_asked", values="regret", aggfunc="mean")
            table["curve"] = verified.groupby("task")["curve_regret"].mean()
            print(table.round(2).to_string())
            adopted = one_training_adopted(verified[~verified["held_out"]])
            print(f"\n  one training's budget adopted where a tenth cannot hold the trials (rule of choice, "
                  f"chosen-on tasks): {'not decided: runs missing' if adopted is None else adopted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
