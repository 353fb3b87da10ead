#!/usr/bin/env python3
"""Score learning-rate rules on the recorded sweeps against the ground truth.

For every task of `tasks.py`, `records.truth()` holds the test score (accuracy x
100, or R^2 x 100) of trainings at log-spaced constant rates, several seeds
each, and `records.sweeps()` the range tests recorded on several data orders (see
`remake.py`). A rule reads one sweep's curve and names a rate; its regret on
that sweep is

    regret = best grid score - score at the rule's rate

in points, where a rate's score is the mean over seeds, interpolated
linearly in log(rate) between grid points (the grid's end value outside it).
A rule that names no rate scores as the sweep's first rate would.

Prints, per rule: mean and worst regret, and how often it lands past the
cliff (regret > 20 points), on the tasks the rules were chosen on and,
apart, on the tasks held out of the latest round (`tasks.HELD_OUT_17`, or
of an earlier one with `--held-out-round`; see DECISIONS.md;
`--skip-held-out` leaves them out, for use while choosing).
Needs no TensorFlow; a few seconds.

    python bench/quality/score.py                # every rule
    python bench/quality/score.py --by-task      # the recommended rule, task by task
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import baselines  # noqa: E402
import records  # noqa: E402
import tasks  # noqa: E402
from tasks import momentum_lag, rate_is_step_size  # noqa: E402

from tb_lrfinder.analysis.curve import analyze, combine  # noqa: E402
from tb_lrfinder.analysis.rules import lag_shift  # noqa: E402
from tb_lrfinder.analysis.verdicts import FINAL_TIE, Trial, conclude  # noqa: E402

HELD_OUT_ROUNDS = {1: tasks.HELD_OUT, 2: tasks.HELD_OUT_2, 3: tasks.HELD_OUT_3, 4: tasks.HELD_OUT_4,
                   5: tasks.HELD_OUT_5, 6: tasks.HELD_OUT_6, 7: tasks.HELD_OUT_7, 8: tasks.HELD_OUT_8,
                   9: tasks.HELD_OUT_9, 10: tasks.HELD_OUT_10, 11: tasks.HELD_OUT_11,
                   12: tasks.HELD_OUT_12, 13: tasks.HELD_OUT_13, 14: tasks.HELD_OUT_14,
                   15: tasks.HELD_OUT_15, 16: tasks.HELD_OUT_16, 17: tasks.HELD_OUT_17}
"""The tasks held out of each choice (DECISIONS.md), by round."""

def round_of(task: str) -> int:
    """The round a task came in with: the choice it was held out of (round 1: the first seven)."""
    return max([k for k, held in HELD_OUT_ROUNDS.items() if task in held and k > 1], default=1)


HELD_OUT = HELD_OUT_ROUNDS[max(HELD_OUT_ROUNDS)]
"""The tasks scored apart as held out (`--held-out-round`; default: the latest choice's)."""

CLIFF = 20.0
"""Regret (points) beyond which a rate counts as past the cliff."""


def load_truth():
    """task -> (log10 rates, mean score per rate, best score, steps per training, trainings)."""
    truth = {}
    for task, entry in records.truth().items():
        runs = pd.DataFrame(entry["runs"])
        means = runs.groupby("rate")["score"].mean()
        truth[task] = {
            "log_rates": np.log10(means.index.to_numpy()),
            "scores": means.to_numpy(),
            "best": float(means.max()),
            "best_rate": float(means.idxmax()),
            "steps": entry["steps_per_training"],
            "trainings": len(runs),
        }
    return truth


def load_sweeps():
    """The recorded sweeps (`records.sweeps()`), each with its curve as numpy arrays."""
    return [with_arrays(sweep) for sweep in records.sweeps()]


def with_arrays(sweep: dict) -> dict:
    """A recorded sweep (as JSON holds it) with its curve as numpy arrays (a missing loss as NaN), in place."""
    sweep["loss"] = np.array([np.nan if v is None else v for v in sweep["loss"]], dtype=np.float64)
    sweep["learning_rate"] = np.asarray(sweep["learning_rate"], dtype=np.float64)
    sweep["step"] = np.asarray(sweep["step"], dtype=np.int64)
    return sweep


def score_at(truth_of_task, rate: float) -> float:
    return float(np.interp(np.log10(rate), truth_of_task["log_rates"], truth_of_task["scores"]))


def _frame(sweep):
    return pd.DataFrame({"step": sweep["step"], "learning_rate": sweep["learning_rate"], "loss": sweep["loss"]})


def _analysis(sweep):
    if "_analysis" not in sweep:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sweep["_analysis"] = analyze(_frame(sweep), planned_steps=sweep["num_steps"],
                                                  momentum_lag=momentum_lag(sweep["task"]),
                                                  rate_is_step_size=rate_is_step_size(sweep["task"]))
    return sweep["_analysis"]


def curve_to_stop(sweep):
    """(rates, losses, lag factor) of a sweep as its analysis reads it: the curve
    up to its stop (the stop point kept unless the loss diverged there), and
    `lag_shift`, the factor the safe rule takes out of its rates."""
    result = _analysis(sweep)
    all_rates = sweep["learning_rate"]
    usable = int(np.searchsorted(sweep["step"], result.stop.step)) + (result.stop.reason != "diverged")
    growth = (all_rates[-1] / all_rates[0]) ** (1.0 / (len(all_rates) - 1))
    return all_rates[:usable], sweep["loss"][:usable], lag_shift(growth, momentum_lag(sweep["task"]))


def project_rule(attribute):
    def rule(sweep):
        result = _analysis(sweep)
        if attribute == "recommended":
            return None if result.recommended is None else result.recommended.learning_rate
        suggestion = getattr(result, attribute)
        return None if suggestion is None else suggestion.learning_rate

    rule.__name__ = attribute
    return rule


RULES = {
    "recommended": project_rule("recommended"),
    "steepest": project_rule("steepest"),
    "min_loss_div10": project_rule("min_loss_div10"),
    "valley": project_rule("valley"),
    "fastai_valley": baselines.fastai_rule(baselines.valley),
    "fastai_minimum": baselines.fastai_rule(baselines.minimum),
    "fastai_steep": baselines.fastai_rule(baselines.steep),
}


def regrets(rule, truth, sweeps) -> pd.DataFrame:
    rows = []
    for sweep in sweeps:
        t = truth[sweep["task"]]
        rate = rule(sweep)
        if rate is None or not np.isfinite(rate) or rate <= 0:
            rate = float(sweep["learning_rate"][0])
        rows.append({"task": sweep["task"], "order": sweep["order"], "num_steps": sweep["num_steps"], "rate": rate,
                     "regret": t["best"] - score_at(t, rate), "held_out": sweep["task"] in HELD_OUT})
    return pd.DataFrame(rows)


def repeated(rule, k: int):
    """The rule applied to k sweeps of one task (different data orders): for
    the recommended rule, `combine` (what `find_lr(repeats=k)` does),
    else the geometric median of its rates. Scored over every k-subset of the
    orders."""
    def combined(group):
        if rule.__name__ == "recommended":
            combined_rec = combine([_analysis(s) for s in group])
            return float(group[0]["learning_rate"][0]) if combined_rec is None else combined_rec.learning_rate
        rates = [rule(s) for s in group]
        rates = [r if r is not None and r > 0 else float(s["learning_rate"][0]) for r, s in zip(rates, group)]
        return float(np.exp(np.median(np.log(rates))))

    combined.__name__ = f"{rule.__name__} x{k}"
    return combined


def repeated_regrets(rule, k, truth, sweeps) -> pd.DataFrame:
    groups = {}
    for sweep in sweeps:
        groups.setdefault((sweep["task"], sweep["num_steps"]), []).append(sweep)
    rows = []
    for (task, num_steps), members in groups.items():
        t = truth[task]
        for subset in itertools.combinations(sorted(members, key=lambda s: s["order"]), k):
            rate = rule(list(subset))
            rows.append({"task": task, "order": tuple(s["order"] for s in subset), "num_steps": num_steps,
                         "rate": rate, "regret": t["best"] - score_at(t, rate), "held_out": task in HELD_OUT})
    return pd.DataFrame(rows)


VERIFIED = (("verified (find_lr verify=True: 5 trials from rate / 4 to rate x 4, none at or above a diverged one, "
              "a window below where all diverge, windows above where the highest did best after a sweep that never "
              "diverged, a plateau tried again with 4x longer trials; choice 13)", "verified_wide", 0.0),
            ("verified within one training at most (rejected, session 21: sweep + trials a tenth of the training, "
             "raised to first rounds of 10 steps but never past one training; 100-step sweeps)",
             "verified_share", None),
            ("verified without the training's length (find_lr(verify=True) without train_steps: trials of at most "
             "about one pass over the data, first rounds of at least 10 steps, a last pair that trains on while the "
             "budget holds; 100-step sweeps)", "verified_pass_pair", None),
            ("verified without the training's length, before the last pair trained on (session 24)",
             "verified_pass", None),
            ("verified, told the training's length (the option train_steps=the budget: as above, the last pair "
             "trained that long and judged there, a first round on a plateau drops none, a tie in the last "
             "comparison to the lower rate; choices 15 and 16)", "verified_budget", FINAL_TIE),
            ("verified, train_steps, before choice 16 (choice 15: the lowest held-out loss wins)",
             "verified_budget", 0.0),
            ("verified, with choice 16's tie (not adopted without train_steps)", "verified_wide", FINAL_TIE),
            ("verified, choice 14 (train_steps, a first round on a plateau ranked like any other)",
             "verified_budget_choice14", None),
            ("verified, choice 12 (as choice 13, but a plateau confirms nothing)", "verified_wide_choice12", None),
            ("verified, choice 10 (as above, without the windows above)", "verified_wide_choice10", None),
            ("verified, choice 11 (rejected: windows above after every sweep)", "verified_wide_choice11", None),
            ("verified, choice 7 (as above, but a noise-level rise on a plateau counted as divergence)",
             "verified_wide_choice7", None),
            ("verified, capped (5 trials up to the range's top; find_lr before choice 7)", "verified_capped", None),
            ("verified, rule 1 (the previous safe rule, r_min / 2; 70 sweeps)", "verified_capped_rule1", None),
            ("verified, uncapped (5 trials up to 4x; the first design; 70 sweeps)", "verified", None))
"""(name, records, tie): `tie` None scores the rate each record holds; a number re-concludes the
recorded trials with `verify.conclude(..., tie=tie)` (the rule of the last comparison is all that
differs, so the trials are the same; round 16's records of the default were made while choice 16
applied there too)."""


def verified_rate(record: dict, tie: float | None) -> float:
    """The rate a recorded verification confirms: as recorded, or re-concluded from its trials with `tie`."""
    if tie is None:
        return record["rate"]
    trials = tuple(Trial(t["rate"], tuple(math.inf if v is None else v for v in t["losses"]), t["steps"], None,
                         t["diverged"], t.get("first_round_steps", 0)) for t in record["trials"])
    unconfirmed = record["rate"] if record["recommended"] is None else record["recommended"]  # see verified.py
    return conclude(trials, record["initial_loss"], unconfirmed, tie=tie).learning_rate


def verified_regrets(truth, sweeps, name, tie=None) -> pd.DataFrame | None:
    """Regret of the rate verification confirmed (see `verified.py`, `verified_rate`), and the
    compute of sweep + trials as a fraction of the grid's, per sweep; `name`: the variant's records
    (`records.verified`), None where there are none."""
    found = {(r["task"], r["num_steps"], r["order"]): r for r in records.verified(name)}
    if not found:
        return None
    rows = []
    for sweep in sweeps:
        record = found.get((sweep["task"], sweep["num_steps"], sweep["order"]))
        if record is None:
            continue
        t = truth[sweep["task"]]
        rate = verified_rate(record, tie)
        rows.append({"task": sweep["task"], "order": sweep["order"], "num_steps": sweep["num_steps"],
                     "rate": rate, "regret": t["best"] - score_at(t, rate),
                     "held_out": sweep["task"] in HELD_OUT,
                     "compute": (len(sweep["step"]) + record["steps"]) / (t["trainings"] * t["steps"]),
                     "trainings": (len(sweep["step"]) + record["steps"]) / t["steps"]})
    return pd.DataFrame(rows) if rows else None


def no_worse(before: pd.Series, after: pd.Series) -> bool:
    """The rules of choice of session 24 (DECISIONS.md): `after`'s regrets are no worse than `before`'s
    in mean and worst, and pass the cliff no more often."""
    return bool(after.mean() <= before.mean() and after.max() <= before.max()
                and (after > CLIFF).sum() <= (before > CLIFF).sum())


def summary(frame: pd.DataFrame) -> dict:
    out = {}
    for part, rows in (("chosen on", frame[~frame["held_out"]]), ("held out", frame[frame["held_out"]]),
                       ("all", frame)):
        if len(rows):
            # mean over sweeps; worst over tasks of the task's worst sweep
            out[part] = (rows["regret"].mean(), rows["regret"].max(), int((rows["regret"] > CLIFF).sum()), len(rows))
    return out


def print_table(named_frames) -> None:
    header = "| rule | chosen-on tasks: mean / worst / past cliff | held-out tasks: mean / worst / past cliff | all: mean / worst |"
    print(header)
    print("| --- | --- | --- | --- |")
    for name, frame in named_frames:
        s = summary(frame)

        def cell(part):
            if part not in s:
                return "-"
            mean, worst, cliff, n = s[part]
            return f"{mean:.2f} / {worst:.2f} / {cliff} of {n}"

        all_mean, all_worst = s["all"][:2]
        print(f"| {name} | {cell('chosen on')} | {cell('held out')} | {all_mean:.2f} / {all_worst:.2f} |")


def by_task(frame: pd.DataFrame, truth) -> None:
    print("| task | held out | best grid rate: score | rule's rates (min-max) | mean regret | worst regret |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task, rows in frame.groupby("task", sort=False):
        t = truth[task]
        print(f"| {task} | {'yes' if task in HELD_OUT else 'no'} | {t['best_rate']:.3g}: {t['best']:.2f} | "
              f"{rows['rate'].min():.3g}-{rows['rate'].max():.3g} | {rows['regret'].mean():.2f} | {rows['regret'].max():.2f} |")


def confidence(truth, sweeps) -> None:
    """What the confidence flag is worth: the recommended rate's regret on the
    sweeps it calls confident and on the others."""
    rows = []
    for sweep in sweeps:
        t = truth[sweep["task"]]
        recommended = _analysis(sweep).recommended
        rate = recommended.learning_rate if recommended is not None else float(sweep["learning_rate"][0])
        rows.append({"confident": recommended is not None and recommended.confident,
                     "held_out": sweep["task"] in HELD_OUT, "regret": t["best"] - score_at(t, rate)})
    frame = pd.DataFrame(rows)
    print("| tasks | recommendation | sweeps | mean regret | worst regret | past the cliff |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (held_out, flag), rows in frame.groupby(["held_out", "confident"]):
        print(f"| {'held out' if held_out else 'chosen on'} | {'confident' if flag else 'not confident'} | {len(rows)} | "
              f"{rows['regret'].mean():.2f} | {rows['regret'].max():.2f} | {int((rows['regret'] > CLIFF).sum())} |")


def compute(truth, sweeps) -> None:
    print("| task | trainings in the grid | steps each | grid steps | sweep steps (mean) | sweep / grid |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task, t in truth.items():
        grid = t["trainings"] * t["steps"]
        points = [len(s["step"]) for s in sweeps if s["task"] == task]
        mean = float(np.mean(points)) if points else float("nan")
        print(f"| {task} | {t['trainings']} | {t['steps']} | {grid} | {mean:.0f} | {mean / grid:.3f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", nargs="*", default=list(RULES))
    parser.add_argument("--by-task", action="store_true", help="per task, for each rule in --rules")
    parser.add_argument("--repeats", type=int, nargs="*", default=[3],
                        help="also score each rule on k sweeps of a task combined (k data orders)")
    parser.add_argument("--num-steps", type=int, nargs="*", help="only sweeps of these lengths")
    parser.add_argument("--held-out-round", type=int, nargs="+", choices=sorted(HELD_OUT_ROUNDS),
                        default=[max(HELD_OUT_ROUNDS)],
                        help="score apart the tasks held out of these rounds' choices (default: the latest)")
    parser.add_argument("--skip-held-out", action="store_true", help="leave the held-out tasks out")
    parser.add_argument("--upto", type=int, choices=sorted(HELD_OUT_ROUNDS),
                        help="only the tasks of rounds 1 to this one (with --held-out-round, the data as it stood then)")
    # e.g. --held-out-round 7 8 9: the rounds held out of the curve rule since its last change (choice 6)
    args = parser.parse_args(argv)
    global HELD_OUT
    HELD_OUT = tuple(task for k in args.held_out_round for task in HELD_OUT_ROUNDS[k])
    truth = load_truth()
    if args.upto:
        truth = {task: t for task, t in truth.items() if round_of(task) <= args.upto}
    if args.skip_held_out:
        truth = {task: t for task, t in truth.items() if task not in HELD_OUT}
    sweeps = [s for s in load_sweeps() if s["task"] in truth and (not args.num_steps or s["num_steps"] in args.num_steps)]
    print(f"{len(truth)} tasks ({len([t for t in truth if t in HELD_OUT])} held out), {len(sweeps)} sweeps; "
          f"regret in points (accuracy or R^2 x 100) against the best grid rate; past cliff: regret > {CLIFF:g}\n")
    frames = [(name, regrets(RULES[name], truth, sweeps)) for name in args.rules]
    for k in args.repeats:
        frames += [(f"{name}, {k} sweeps", repeated_regrets(repeated(RULES[name], k), k, truth, sweeps))
                   for name in args.rules[:1]]
    verified = [(name, verified_regrets(truth, sweeps, file, tie)) for name, file, tie in VERIFIED]
    verified = [(name, frame) for name, frame in verified if frame is not None]
    frames = verified + frames
    print_table(frames)
    for name, frame in verified:
        print(f"\n{name}: sweep + trials cost {frame['trainings'].mean():.2f} trainings of the budget on "
              f"average (at most {frame['trainings'].max():.2f}), {100 * frame['compute'].mean():.1f}% of the "
              f"grid's steps (at most {100 * frame['compute'].max():.1f}%), over {len(frame)} sweeps")
    if args.by_task:
        for name, frame in frames:
            print(f"\n{name}:")
            by_task(frame, truth)
    print("\nthe confidence flag:")
    confidence(truth, sweeps)
    print("\ncompute:")
    compute(truth, sweeps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
