#!/usr/bin/env python3
"""Verification on the quality benchmark: does checking the rate fix the worst cases?

For every recorded sweep (`records.sweeps()`), the recommended rate is read from
its curve as `find_lr` would, then `verify_rate` trains 5 candidates from
rate/4 up to rate*4, with windows above or below where the first round
ends at an edge (`--variant wide`, what `find_lr(verify=True)` does; choices
7-13 in DECISIONS.md; `--variant budget` as wide, told the task's training
length, `train_steps`, choices 15 and 16) or up to the top of the recommended range (`--variant
capped`, before choice 7) on the task's model (the sweep's seed) with a
fifth of the training data held out, by successive halving (first round: a
quarter of one pass over the data). The records-only variants are the
results of earlier versions of `verify_rate`: `uncapped` the first design
(up to rate*4, a rate above one that diverged still trusted),
`wide_choice7` wide before choice 8, `wide_choice10` wide before choice 11
(no windows above), `wide_choice11` the rejected choice 11 (windows above
after every sweep), `wide_choice12` wide before choice 13 (a plateau
confirms nothing), `budget_choice14` budget before choice 15.
`--reuse VARIANT` copies that variant's record of a sweep where the new one
would train exactly the same trials (for budget from budget_choice14: where
the first round did not end on a plateau, see `first_round_plateau`), marked
`reused_from`, and runs the rest. `--add-initial-loss` writes the starting
model's held-out loss into records made before it was recorded, so that
`score.py` can conclude their trials again under a changed last comparison
(choice 16).
The winner and the optimizer steps spent are appended to
`raw/verified_<variant>.jsonl.gz` (`raw/verified.jsonl.gz` for uncapped;
resumable, `records.py`), which `score.py` scores beside the curve-only rules.

    python bench/quality/verified.py --worker 0/2 & python bench/quality/verified.py --worker 1/2
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import score  # noqa: E402
import tasks  # noqa: E402
from remake import start_worker  # noqa: E402

VARIANTS = {"wide": "candidates up to 4x the rate, none trusted at or above a diverged one, windows above where the "
                    "highest did best on a sweep that never diverged, a plateau tried again with 4x longer trials "
                    "(what find_lr does)",
            "budget": "as wide, told the length of the training the rate is for (train_steps: the grid's steps per "
                      "training), so the last pair trains that long; a first round on a plateau drops none (choice 15); "
                      "a near tie in the last comparison goes to the lower rate (choice 16: records made before it "
                      "hold the rate without it, and score.py concludes their trials again)",
            "share": "as wide, within a budget told the training's length (rejected in session 21): sweep and "
                     "trials at most a tenth of the grid's steps per training, raised to give first rounds of 10 "
                     "steps but never past one training; nothing verified where the sweep alone takes that; the "
                     "100-step sweeps only (on trainings this short a tenth never holds the trials, so find_lr now "
                     "judges at the training's length instead: the budget variant)",
            "pass": "as wide, without the training's length: sweep then trials of at most about one pass over the "
                    "data (find_lr(verify=True) without train_steps: verify_step.trial_budget_of); the 100-step "
                    "sweeps only; the record of verify_rate before pass_pair's change",
            "pass_pair": "as pass, with the last pair training on, each round twice the last, while another round "
                         "fits the budget (session 24; pass holds the records made before)",
            "budget_choice14": "as budget, but a first round on a plateau is ranked like any other (choice 14)",
            "wide_choice12": "as wide, but a plateau confirms nothing (choice 12)",
            "wide_choice10": "as wide, without windows above (choice 10)",
            "wide_choice11": "as wide, with windows above after every sweep (choice 11, rejected)",
            "capped": "candidates up to the top of the recommended range (find_lr before choice 7)",
            "wide_choice7": "as wide, before a plateau stopped counting as a divergence (choice 8)",
            "uncapped": "candidates up to 4x the rate (the first design, before the rule for diverged trials)"}
RECORDS_ONLY = ("pass", "wide_choice7", "wide_choice10", "wide_choice11", "wide_choice12", "budget_choice14", "uncapped")
"""Variants whose data are the record of an earlier `verify_rate`: they cannot be rerun."""


def raw_name(variant: str) -> str:
    """The name of a variant's raw records (`records.read`): verified_<variant>, verified for uncapped."""
    return "verified" if variant == "uncapped" else f"verified_{variant}"


def first_round_plateau(record: dict) -> bool:
    """Whether a verification's first round (windows included) left no surviving
    candidate below the start's held-out loss by `verify.PLATEAU` (as
    `verify_rate` judges it then, from each trial's first loss)."""
    from tb_lrfinder.analysis.verdicts import diverged_trial, improved

    first = [(t["rate"], float("inf") if t["losses"][0] is None else t["losses"][0]) for t in record["trials"]]
    ceiling = min((rate for rate, loss in first if diverged_trial(loss, record["initial_loss"])), default=float("inf"))
    return not any(improved(loss, record["initial_loss"]) for rate, loss in first if rate < ceiling)


def budget_left_for_a_pair(record: dict) -> bool:
    """Whether a budgeted verification left at least two rounds of its shortest first round to each
    of two candidates: a superset of the searches whose last pair now trains on (`successive_halving`);
    the others spent their budget as planned and would train exactly the same trials."""
    first = [t.get("first_round_steps") or t["steps"] for t in record["trials"]]
    return bool(first) and record.get("budget") is not None and record["budget"] - record["steps"] >= 4 * min(first)


REUSABLE = {("budget", "budget_choice14"): lambda record: not first_round_plateau(record),
            ("pass_pair", "pass"): lambda record: not budget_left_for_a_pair(record)}
"""(variant, earlier variant) -> which of the earlier variant's records the variant would repeat trial for trial."""


def add_initial_loss(variant: str) -> None:
    """Add `initial_loss` to the records of `variant` that lack it: the held-out loss of the task's
    model (the sweep's seed) before training, on the part `verify_rate` holds out (one process)."""
    from tb_lrfinder.training.trials import _held_out_loss, _held_out_split

    found = records.read(raw_name(variant))
    for record in found:
        if "initial_loss" not in record:
            task = tasks.TASKS[record["task"]]
            (x, y), _ = tasks.data(record["task"])
            _, _, held_x, held_y = _held_out_split(x, y, 0.2)
            model = tasks.build(record["task"], 1e-3, seed=record["order"])
            record["initial_loss"] = _held_out_loss(model, held_x, held_y, task.batch_size)
    records.rewrite(raw_name(variant), found)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default="0/1", help="i/n: every n-th sweep, from the i-th")
    parser.add_argument("--variant", choices=list(VARIANTS), default="wide")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these tasks' sweeps")
    parser.add_argument("--add-initial-loss", action="store_true",
                        help="write into each record that lacks it the starting model's held-out loss, as verify_rate "
                             "measures it (older records; score.py re-concludes trials with it)")
    parser.add_argument("--reuse", default=None, help="an earlier variant whose records this one would repeat "
                        "(see REUSABLE): copied, not run")
    args = parser.parse_args(argv)
    if args.variant in RECORDS_ONLY:
        parser.error(f"the {args.variant} variant is the record of an earlier verify_rate; it cannot be rerun")
    raw = raw_name(args.variant)
    index, count = start_worker(args.worker)
    if args.add_initial_loss:
        add_initial_loss(args.variant)
        return 0

    import keras

    from tb_lrfinder.analysis.halving import halving_cost, search_for
    from tb_lrfinder.sweep.plan import rate_is_a_step_size
    from tb_lrfinder.training.settings import SweepSettings
    from tb_lrfinder.training.trials import verify_rate
    from tb_lrfinder.training.verify_step import trial_budget_of

    if args.reuse is not None and (args.variant, args.reuse) not in REUSABLE:
        parser.error(f"the {args.variant} variant cannot reuse {args.reuse}'s records")
    done = {(r["task"], r["num_steps"], r["order"]) for r in records.read(raw)}
    reusable = {} if args.reuse is None else {
        (r["task"], r["num_steps"], r["order"]): r for r in records.read(raw_name(args.reuse))
        if REUSABLE[args.variant, args.reuse](r)}
    if index == 0:
        for key, record in reusable.items():
            if key not in done:
                records.append(raw, {**record, "reused_from": args.reuse})
    done |= set(reusable)
    steps_of = {task: truth["steps"] for task, truth in score.load_truth().items()}
    for i, sweep in enumerate(score.load_sweeps()):
        key = (sweep["task"], sweep["num_steps"], sweep["order"])
        if i % count != index or key in done or (args.tasks and sweep["task"] not in args.tasks):
            continue
        analysis = score._analysis(sweep)
        started = time.perf_counter()
        task = tasks.TASKS[sweep["task"]]
        (x, y), _ = tasks.data(sweep["task"])
        model = tasks.build(sweep["task"], 1e-3, seed=sweep["order"])
        recommended = None if analysis.recommended is None else analysis.recommended.learning_rate
        if args.variant in ("share", "pass", "pass_pair") and key[1] != 100:  # find_lr's default sweep
            continue
        if args.variant in ("wide", "budget", "share", "pass", "pass_pair"):  # as find_lr(verify=True) searches
            search = search_for(recommended, analysis.stop.reason, candidates=5,
                                swept=(sweep["min_lr"], sweep["max_lr"]),
                                rate_is_step_size=rate_is_a_step_size(model.optimizer))
            if search is None:
                continue
        elif recommended is None:
            continue
        else:
            search = {"learning_rate": recommended, "windows_above": 0,
                      "max_rate": analysis.recommended.high if args.variant == "capped" else None}
        train_steps = steps_of[key[0]] if args.variant == "budget" else None
        # Unconfirmed, find_lr keeps the curve's rate (a rule naming none scores as the sweep's first rate).
        fallback = recommended if recommended is not None else float(sweep["learning_rate"][0])
        budget = None
        if args.variant == "share":
            training, swept = steps_of[key[0]], len(sweep["step"])  # the rejected rule, as it ran
            budget = max(math.ceil(0.1 * training), min(training, swept + halving_cost(search["candidates"]) * 10)) - swept
            if budget < search["candidates"]:  # find_lr verifies nothing: the sweep alone took the budget
                records.append(raw, {"task": key[0], "num_steps": key[1], "order": key[2], "recommended": recommended,
                                     "rate": fallback, "steps": 0, "confirmed": False, "plateau": False,
                                     "budget": budget, "trials": []})
                continue
        if args.variant in ("pass", "pass_pair"):  # as find_lr(verify=True) budgets its trials without train_steps
            settings = SweepSettings(batch_size=task.batch_size, candidates=search["candidates"])
            budget = trial_budget_of(model, x, settings, len(sweep["step"]), search["candidates"])[0]
        result = verify_rate(model, x, y, **search, batch_size=task.batch_size, train_steps=train_steps,
                             budget=budget, training_steps=steps_of[key[0]] if args.variant == "share" else None,
                             verbose=0)
        records.append(raw, {"task": key[0], "num_steps": key[1], "order": key[2], "recommended": recommended,
                      "rate": result.learning_rate if result.confirmed else fallback, "steps": result.steps,
                      "initial_loss": result.initial_loss, "confirmed": result.confirmed, "plateau": result.plateau,
                      **({"budget": budget} if budget is not None else {}),
                      "trials": [{"rate": t.learning_rate, "losses": [v if v < float("inf") else None for v in t.losses],
                                  "steps": t.steps, "diverged": t.diverged, "first_round_steps": t.first_round_steps}
                                 for t in result.trials]})
        print(f"{key}: {fallback:.3g} -> {result.learning_rate:.3g} ({result.steps} steps, "
              f"{time.perf_counter() - started:.1f} s)", flush=True)
        del model, result
        keras.backend.clear_session()  # else a worker holds every sweep's models and grows without bound
    return 0


if __name__ == "__main__":
    sys.exit(main())
