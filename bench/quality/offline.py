#!/usr/bin/env python3
"""Policies scored on the recorded data alone, before any is built (see DECISIONS.md, session 12).

Each policy here is a change to what `find_lr(verify=True)` would answer that
the records already hold the answer for, so it costs seconds to score and
nothing to run. Both are scored on the tasks of rounds 1 to 10 only (the
development data); the later rounds' tasks are left out.

* `extend`: where a 100-step sweep ran to its last step without diverging,
  sweep again with 300 steps (its twin in `records.sweeps()`: same task, data
  order and range) and verify the rate read from that sweep (its record in
  `verified_wide_choice12`, verification as it was when these policies
  were scored, before choice 13). Printed: regret of the verified rate without and
  with the extension, per task where it differs, and its cost.
* `backoff`: the verified rate divided by a constant factor (short trials
  favour higher rates than a training of the whole budget may survive).
  Printed per factor: mean and worst regret, sweeps past the cliff, tasks
  whose mean regret is above 1 and 2 points.

    python bench/quality/offline.py
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
import score  # noqa: E402

from tb_lrfinder.analysis.types import NEVER_DIVERGED  # noqa: E402

BACKOFF_FACTORS = (1.0, 2**0.25, 2**0.5, 2**0.75, 2.0, 2**1.5, 4.0)


def development_rows() -> pd.DataFrame:
    """One row per recorded sweep of rounds 1-10 with its verification record."""
    truth, sweeps = score.load_truth(), score.load_sweeps()
    found = {(r["task"], r["num_steps"], r["order"]): r  # verification when these were scored
             for r in records.verified("verified_wide_choice12")}
    rows = []
    for sweep in sweeps:
        record = found.get((sweep["task"], sweep["num_steps"], sweep["order"]))
        if record is None or score.round_of(sweep["task"]) > 10:
            continue
        t = truth[sweep["task"]]
        rows.append({"task": sweep["task"], "num_steps": sweep["num_steps"], "order": sweep["order"],
                     "stop": score._analysis(sweep).stop.reason, "verified_rate": record["rate"],
                     "regret": t["best"] - score.score_at(t, record["rate"]),
                     "sweep_steps": len(sweep["step"]), "steps": len(sweep["step"]) + record["steps"],
                     "grid": t["trainings"] * t["steps"]})
    return pd.DataFrame(rows)


def extend(rows: pd.DataFrame) -> None:
    pairs = rows[rows.num_steps == 100].merge(rows[rows.num_steps == 300], on=["task", "order"],
                                              suffixes=("", "_300"))
    extended = pairs["stop"].isin(NEVER_DIVERGED)
    policy = np.where(extended, pairs["regret_300"], pairs["regret"])
    # Extended: the 100-step sweep (no trials around its rate), then the 300-step sweep and its trials.
    cost = np.where(extended, pairs["sweep_steps"] + pairs["steps_300"], pairs["steps"]) / pairs["grid"]
    print(f"extend: {int(extended.sum())} of {len(pairs)} 100-step sweeps never diverged")
    print(f"  verified regret, 100-step sweeps as they are: mean {pairs['regret'].mean():.2f}, "
          f"worst {pairs['regret'].max():.2f}; with the extension: mean {policy.mean():.2f}, worst {policy.max():.2f}")
    print(f"  cost with the extension: {cost.mean():.1%} of the grid on average, at most {cost.max():.1%}")
    by_task = pairs.assign(policy=policy).groupby("task")[["regret", "policy"]].mean()
    changed = by_task[(by_task["regret"] - by_task["policy"]).abs() > 0.5].sort_values("policy", ascending=False)
    print("  tasks whose mean regret moves by more than 0.5 (without -> with):")
    for task, row in changed.iterrows():
        print(f"    {task}: {row['regret']:.2f} -> {row['policy']:.2f}")


def backoff(rows: pd.DataFrame) -> None:
    truth = score.load_truth()
    print("backoff: the verified rate / factor")
    print(f"  {'factor':>6} {'mean':>6} {'worst':>6} {'past cliff':>10} {'tasks > 1':>9} {'tasks > 2':>9}")
    for factor in BACKOFF_FACTORS:
        regret = np.array([truth[t]["best"] - score.score_at(truth[t], rate / factor)
                           for t, rate in zip(rows["task"], rows["verified_rate"])])
        per_task = pd.Series(regret).groupby(rows["task"].to_numpy()).mean()
        print(f"  {factor:>6.3f} {regret.mean():>6.2f} {regret.max():>6.2f} {int((regret > score.CLIFF).sum()):>10} "
              f"{int((per_task > 1).sum()):>9} {int((per_task > 2).sum()):>9}")


def main() -> int:
    rows = development_rows()
    print(f"{len(rows)} sweeps of rounds 1-10 ({rows['task'].nunique()} tasks)\n")
    extend(rows)
    print()
    backoff(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
