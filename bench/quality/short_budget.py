#!/usr/bin/env python3
"""Short trainings given `train_steps`: the full-length check, or trials of about one pass? (issue 34)

Where a tenth of `train_steps` cannot hold the sweep and the trials, `find_lr(verify=True)` either
judges the last pair at the training's whole length (`verified_budget`) or budgets the trials at
about one pass over the data, as it does without `train_steps` (`verified_pass`). The rule of choice
(DECISIONS.md, session 24, written before this was run on the whole): on the tasks not held out of
the latest round and on the same 100-step sweeps, the one-pass budget is adopted if its worst and
mean regret are both no worse than the full-length check's and it passes the cliff no more often.
The held-out tasks are printed apart and do not enter the choice. Reads the records only (seconds).
The one-pass records are those the choice was made on (`verified_pass`, before the last pair trained
on within the budget: `last_pair.py`).

    python bench/quality/short_budget.py
"""

from __future__ import annotations

import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import score  # noqa: E402

CANDIDATES = (("judged at the training's whole length (today)", "verified_budget", score.FINAL_TIE),
              ("trials of about one pass over the data", "verified_pass", None))


def frames(truth, sweeps) -> dict[str, pd.DataFrame]:
    """Each candidate's regret and cost per sweep, on the sweeps both have records of."""
    found = {name: score.verified_regrets(truth, sweeps, file, tie) for name, file, tie in CANDIDATES}
    keys = None
    for frame in found.values():
        index = set(zip(frame["task"], frame["order"], frame["num_steps"]))
        keys = index if keys is None else keys & index
    return {name: frame[[key in keys for key in zip(frame["task"], frame["order"], frame["num_steps"])]]
            for name, frame in found.items()}


def line(frame: pd.DataFrame) -> str:
    """mean / worst regret / past the cliff, and the cost in trainings (mean / most)."""
    return (f"{frame['regret'].mean():.2f} / {frame['regret'].max():.2f} / {int((frame['regret'] > score.CLIFF).sum())}"
            f" past the cliff over {len(frame)} sweeps; sweep + trials {frame['trainings'].mean():.2f} trainings "
            f"(at most {frame['trainings'].max():.2f})")


def main() -> int:
    truth = score.load_truth()
    sweeps = [s for s in score.load_sweeps() if s["num_steps"] == 100]
    found = frames(truth, sweeps)
    curve = score.regrets(score.RULES[next(iter(score.RULES))], truth, sweeps)
    for part, held in (("chosen on", (False,)), ("held out", (True,)), ("all", (False, True))):
        print(f"{part} ({len({t for t in truth if (t in score.HELD_OUT) in held})} tasks):")
        for name, frame in found.items():
            print(f"  {name}: {line(frame[frame['held_out'].isin(held)])}")
        rows = curve[curve["held_out"].isin(held)]
        print(f"  the curve's own rate: {rows['regret'].mean():.2f} / {rows['regret'].max():.2f} / "
              f"{int((rows['regret'] > score.CLIFF).sum())} past the cliff")
    today, one_pass = (frame[~frame["held_out"]] for frame in found.values())
    print(f"\nadopted (the one-pass budget where a tenth cannot hold the trials): {score.no_worse(today['regret'], one_pass['regret'])}")
    print("\nworst sweeps of the one-pass budget (all tasks):")
    both = found[CANDIDATES[1][0]].merge(found[CANDIDATES[0][0]], on=["task", "order", "num_steps"],
                                         suffixes=("", "_today"))
    columns = ["task", "order", "held_out", "regret", "regret_today", "trainings", "trainings_today"]
    print(both.sort_values("regret", ascending=False)[columns].head(12).round(2).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
