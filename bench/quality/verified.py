#!/usr/bin/env python3
"""Verification on the quality benchmark: does checking the rate fix the worst cases?

For every recorded sweep (`sweeps.json`), the recommended rate is read from
its curve as `find_lr` would, then `verify_rate` trains 5 candidates from
rate/4 up to rate*4, with windows above or below where the first round
ends at an edge (`--variant wide`, what `find_lr(verify=True)` does; choices
7-13 in DECISIONS.md; `--variant budget` as wide, told the task's training
length, `train_steps`, choice 14) or up to the top of the recommended range (`--variant
capped`, before choice 7) on the task's model (the sweep's seed) with a
fifth of the training data held out, by successive halving (first round: a
quarter of one pass over the data). The records-only variants are the
results of earlier versions of `verify_rate`: `uncapped` the first design
(up to rate*4, a rate above one that diverged still trusted),
`wide_choice7` wide before choice 8, `wide_choice10` wide before choice 11
(no windows above), `wide_choice11` the rejected choice 11 (windows above
after every sweep), `wide_choice12` wide before choice 13 (a plateau
confirms nothing).
The winner and the optimizer steps spent are appended to
`raw/verified_<variant>.jsonl` (resumable) and merged into
`verified_<variant>.json` (`verified.json` for uncapped), which `score.py`
scores beside the curve-only rules.

    python bench/quality/verified.py --worker 0/2 & python bench/quality/verified.py --worker 1/2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import score  # noqa: E402
import tasks  # noqa: E402
from remake import _append, _read_jsonl, start_worker  # noqa: E402

VARIANTS = {"wide": "candidates up to 4x the rate, none trusted at or above a diverged one, windows above where the "
                    "highest did best on a sweep that never diverged, a plateau tried again with 4x longer trials "
                    "(what find_lr does)",
            "budget": "as wide, told the length of the training the rate is for (train_steps: the grid's steps per "
                      "training), so the last pair trains that long (choice 14)",
            "wide_choice12": "as wide, but a plateau confirms nothing (choice 12)",
            "wide_choice10": "as wide, without windows above (choice 10)",
            "wide_choice11": "as wide, with windows above after every sweep (choice 11, rejected)",
            "capped": "candidates up to the top of the recommended range (find_lr before choice 7)",
            "wide_choice7": "as wide, before a plateau stopped counting as a divergence (choice 8)",
            "uncapped": "candidates up to 4x the rate (the first design, before the rule for diverged trials)"}
RECORDS_ONLY = ("wide_choice7", "wide_choice10", "wide_choice11", "wide_choice12", "uncapped")
"""Variants whose data are the record of an earlier `verify_rate`: they cannot be rerun."""


def paths(variant: str) -> tuple[str, str]:
    """(raw results, merged file) of a variant."""
    suffix = "" if variant == "uncapped" else f"_{variant}"
    return os.path.join(HERE, "raw", f"verified{suffix}.jsonl"), os.path.join(HERE, f"verified{suffix}.json")


def merge(variant: str) -> None:
    raw, merged = paths(variant)
    records = sorted(_read_jsonl(raw), key=lambda r: (r["task"], r["num_steps"], r["order"]))
    with open(merged + ".tmp", "w") as handle:
        json.dump(records, handle, indent=1)
    os.replace(merged + ".tmp", merged)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default="0/1", help="i/n: every n-th sweep, from the i-th")
    parser.add_argument("--variant", choices=list(VARIANTS), default="wide")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these tasks' sweeps")
    parser.add_argument("--merge-only", action="store_true")
    args = parser.parse_args(argv)
    if args.merge_only:
        merge(args.variant)
        return 0
    if args.variant in RECORDS_ONLY:
        parser.error(f"the {args.variant} variant is the record of an earlier verify_rate; it cannot be rerun")
    raw, _ = paths(args.variant)
    index, count = start_worker(args.worker)

    from tb_lrfinder.verify import verify_rate, windows_above_for

    done = {(r["task"], r["num_steps"], r["order"]) for r in _read_jsonl(raw)}
    steps_of = {task: truth["steps"] for task, truth in score.load_truth().items()}
    for i, sweep in enumerate(score.load_sweeps()):
        key = (sweep["task"], sweep["num_steps"], sweep["order"])
        if i % count != index or key in done or (args.tasks and sweep["task"] not in args.tasks):
            continue
        analysis = score._analysis(sweep)
        if analysis.recommended is None:
            continue
        recommended = analysis.recommended.learning_rate
        max_rate = analysis.recommended.high if args.variant == "capped" else None
        started = time.perf_counter()
        task = tasks.TASKS[sweep["task"]]
        (x, y), _ = tasks.data(sweep["task"])
        model = tasks.build(sweep["task"], 1e-3, seed=sweep["order"])
        above = windows_above_for(analysis.stop.reason) if args.variant in ("wide", "budget") else 0
        train_steps = steps_of[key[0]] if args.variant == "budget" else None
        result = verify_rate(model, x, y, learning_rate=recommended, max_rate=max_rate, windows_above=above,
                             batch_size=task.batch_size, train_steps=train_steps)
        _append(raw, {"task": key[0], "num_steps": key[1], "order": key[2], "recommended": recommended,
                      "rate": result.learning_rate, "steps": result.steps, "initial_loss": result.initial_loss,
                      "confirmed": result.confirmed, "plateau": result.plateau,
                      "trials": [{"rate": t.learning_rate, "losses": [v if v < float("inf") else None for v in t.losses],
                                  "steps": t.steps, "diverged": t.diverged, "first_round_steps": t.first_round_steps}
                                 for t in result.trials]})
        print(f"{key}: {recommended:.3g} -> {result.learning_rate:.3g} ({result.steps} steps, "
              f"{time.perf_counter() - started:.1f} s)", flush=True)
    merge(args.variant)
    return 0


if __name__ == "__main__":
    sys.exit(main())
