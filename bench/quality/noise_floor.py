#!/usr/bin/env python3
"""How finely can the benchmark's ground truth judge a rate? Its noise floor, task by task.

`records.truth()` holds, per task, the test score of trainings at log-spaced
constant rates with a few seeds each; `score.py` judges a rate by the mean
over seeds, interpolated linearly in log(rate). This prints what that truth
can and cannot resolve:

- the standard error of the best rate's mean score (sample std / sqrt(seeds));
- the width, in decades, of the window of rates within `--tolerance` points
  of the best (by the same interpolation), beside the grid's spacing;
- a grid search on k seeds: the rate whose mean over k of the seeds is
  highest, trained at full length and judged by the test score itself,
  for every choice of k seeds. Its regret is taken against the mean of all
  seeds (its own seeds included, which flatters it) and against the mean of
  the other seeds only. It costs k/seeds of the grid, far above a tenth;
- beside it, the recorded verifications (`verified_wide`, the default,
  and `verified_budget`, `train_steps`; see `score.py`) judged the way the
  one-seed grid search is judged against the seeds it did not see: against
  the mean of 2 of the 3 seeds, averaged over the three pairs.

No TensorFlow; a second.

    python bench/quality/noise_floor.py
    python bench/quality/noise_floor.py --tolerance 1 --by-task
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import records  # noqa: E402
import score  # noqa: E402


def scores_by_seed(entry: dict) -> pd.DataFrame:
    """rate x seed -> test score, from one task of `records.truth()`."""
    return pd.DataFrame(entry["runs"]).pivot(index="rate", columns="seed", values="score")


def standard_error_at_best(table: pd.DataFrame) -> float:
    """Standard error (points) of the mean score at the rate whose mean is highest."""
    best = table.loc[table.mean(axis=1).idxmax()]
    return float(best.std(ddof=1) / np.sqrt(len(best)))


def tolerance_window(table: pd.DataFrame, tolerance: float) -> float:
    """Width (decades) of the contiguous window of rates, around the best, whose
    interpolated mean score is within `tolerance` points of the best."""
    means = table.mean(axis=1)
    log_rates = np.log10(means.index.to_numpy())
    fine = np.linspace(log_rates[0], log_rates[-1], 100_001)
    inside = np.interp(fine, log_rates, means.to_numpy()) >= means.max() - tolerance
    low = high = int(np.argmin(np.abs(fine - np.log10(means.idxmax()))))
    while low > 0 and inside[low - 1]:
        low -= 1
    while high < len(fine) - 1 and inside[high + 1]:
        high += 1
    return float(fine[high] - fine[low])


def grid_search_regrets(table: pd.DataFrame, k: int) -> list[tuple[float, float]]:
    """For every choice of k seeds: the regret of the rate with the best mean over those
    seeds, against the mean of all seeds and against the mean of the other seeds."""
    every = table.mean(axis=1)
    out = []
    for chosen in itertools.combinations(table.columns, k):
        pick = table[list(chosen)].mean(axis=1).idxmax()
        others = table.drop(columns=list(chosen)).mean(axis=1)
        out.append((float(every.max() - every[pick]), float(others.max() - others[pick])))
    return out


def regret_against_seed_pairs(table: pd.DataFrame, rate: float) -> float:
    """The regret of `rate` against the mean score of 2 of the seeds (interpolated in log(rate)
    as `score.py` does), averaged over every pair of seeds."""
    log_rates = np.log10(table.index.to_numpy())
    regrets = []
    for pair in itertools.combinations(table.columns, 2):
        means = table[list(pair)].mean(axis=1).to_numpy()
        regrets.append(means.max() - score.score_at({"log_rates": log_rates, "scores": means}, rate))
    return float(np.mean(regrets))


def verification_against_seed_pairs(tables: dict[str, pd.DataFrame]) -> list[tuple[str, float, float]]:
    """(variant, mean regret against seed pairs, mean share of the grid's steps) of each recorded verification."""
    truth, sweeps = score.load_truth(), score.load_sweeps()
    out = []
    for name, path, tie in (("verification, default", "verified_wide", None),
                            ("verification, train_steps", "verified_budget", score.FINAL_TIE)):
        frame = score.verified_regrets(truth, sweeps, path, tie)
        if frame is None:
            continue
        regrets = [regret_against_seed_pairs(tables[task], rate) for task, rate in zip(frame["task"], frame["rate"])]
        out.append((f"{name} ({len(frame)} sweeps)", float(np.mean(regrets)), float(frame["compute"].mean())))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tolerance", type=float, default=1.0, help="points (default 1, issue 16's target)")
    parser.add_argument("--by-task", action="store_true", help="a row per task")
    args = parser.parse_args(argv)

    raw = records.truth()
    rows = []
    searches = []
    tables = {task: scores_by_seed(entry) for task, entry in raw.items()}
    for task, table in tables.items():
        row = {"task": task, "seeds": table.shape[1],
               "standard error at best": standard_error_at_best(table),
               "window (decades)": tolerance_window(table, args.tolerance),
               "grid spacing (decades)": float(np.diff(np.log10(table.index.to_numpy())).mean())}
        for k in range(1, table.shape[1]):
            regrets = np.array(grid_search_regrets(table, k))
            searches += [{"task": task, "k": k, "all seeds": a, "other seeds": o} for a, o in regrets]
            row[f"{k}-seed grid: worst (all seeds)"] = regrets[:, 0].max()
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("task")
    searches = pd.DataFrame(searches)
    tol = args.tolerance

    print(f"{len(frame)} tasks; tolerance {tol:g} points; score.py's truth: the mean over "
          f"{frame['seeds'].min()}-{frame['seeds'].max()} seeds per rate\n")
    print("| what | tasks |")
    print("| --- | --- |")
    print(f"| standard error of the best rate's mean above {tol:g} point(s) | "
          f"{int((frame['standard error at best'] > tol).sum())} |")
    print(f"| window within {tol:g} point(s) of the best narrower than the grid's spacing | "
          f"{int((frame['window (decades)'] < frame['grid spacing (decades)']).sum())} |")
    print(f"| window narrower than 0.1 decade (a factor 1.26) | {int((frame['window (decades)'] < 0.1).sum())} |")
    print()
    print("grid search on k seeds at full length, judged by the test score (it costs k / seeds of the grid):\n")
    print(f"| k | against | mean regret | worst regret | tasks whose worst is above {tol:g} |")
    print("| --- | --- | --- | --- | --- |")
    for k, part in searches.groupby("k"):
        for against in ("all seeds", "other seeds"):
            worst = part.groupby("task")[against].max()
            print(f"| {k} | {against} | {part[against].mean():.2f} | {worst.max():.2f} | {int((worst > tol).sum())} |")
    if all(table.shape[1] == 3 for table in tables.values()):
        print()
        print("judged alike, against the mean of 2 seeds the rate was not chosen on:\n")
        print("| method | share of the grid's steps | mean regret |")
        print("| --- | --- | --- |")
        one_seed = searches[searches["k"] == 1]["other seeds"].mean()
        print(f"| grid search on 1 seed | {1 / 3:.1%} | {one_seed:.2f} |")
        for name, regret, cost in verification_against_seed_pairs(tables):
            print(f"| {name} | {cost:.1%} | {regret:.2f} |")
    if args.by_task:
        print()
        with pd.option_context("display.max_rows", None, "display.width", 200):
            print(frame.sort_values("window (decades)").round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
