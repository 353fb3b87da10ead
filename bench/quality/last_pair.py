#!/usr/bin/env python3
"""Budget left unspent by the last pair: does training it on help? (issue 34, DECISIONS.md session 24)

Within a budget, where divergence cuts the field to two early, the last pair used to train one round
and leave the rest of the budget unspent; now it trains on, each round twice the last, while another
round fits. Only the searches that left budget for that are rerun (`verified.budget_left_for_a_pair`,
a superset); the trainings are deterministic, so the others would repeat their records.

* `run [--set long|mid]`: a set's verifications as they were (`raw/<set>_verified_before_pair`) into
  `raw/<set>_verified` (what `horizon.py` reports), rerunning those searches with `long.run_verify`
  and copying the rest. The short tasks' one-pass runs are rerun by
  `verified.py --variant pass_pair --reuse pass`.
* `score` (the default; records only, seconds): both sets before and after, chosen-on and held-out
  apart, and the rule of choice.

    python bench/quality/last_pair.py run && python bench/quality/last_pair.py
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import horizon  # noqa: E402
import records  # noqa: E402
import score  # noqa: E402
import tasks  # noqa: E402
from verified import budget_left_for_a_pair  # noqa: E402

BEFORE, AFTER = "long_verified_before_pair", "long_verified"
"""The long tasks' records before the change and with it (`<set>_...` for the other sets)."""


def _long_budget(record: dict) -> dict:
    """A `long.run_verify` record with the budget its trials had (None: judged at the training's length)
    and `steps` spent, as `budget_left_for_a_pair` reads a `verified.py` record."""
    from tb_lrfinder.analysis.halving import trial_budget

    return {**record, "budget": trial_budget(record["share"], training_steps=record["train_steps"],
                                             swept_steps=record["sweep_steps"], candidates=5),  # as the runs
            "steps": record["trial_steps"],
            "trials": [{**t, "first_round_steps": None} for t in record["trials"]]}


def run(training_set: str) -> None:
    import long

    before, after = (name.replace("long", training_set, 1) for name in (BEFORE, AFTER))
    done = {(r["task"], r["order"], r["share"]) for r in records.read(after)}
    for record in records.read(before):
        key = (record["task"], record["order"], record["share"])
        if key in done:
            continue
        if budget_left_for_a_pair(_long_budget(record)):
            new = {**long.run_verify(*key), "rerun": True}
            print(f"{key}: {record['use']:.3g} ({record['trial_steps']} steps) -> {new['use']:.3g} "
                  f"({new['trial_steps']} steps)", flush=True)
        else:
            new = {**record, "reused_from": before}
        records.append(after, new)


def long_frames() -> tuple[pd.DataFrame, pd.DataFrame] | None:
    frames = horizon.truth_tables("long")
    after = horizon.verified_frame(frames, "long", records_name=AFTER)
    return None if after is None else (horizon.verified_frame(frames, "long", records_name=BEFORE), after)


def short_frames() -> tuple[pd.DataFrame, pd.DataFrame] | None:
    truth = score.load_truth()
    sweeps = [s for s in score.load_sweeps() if s["num_steps"] == 100]
    after = score.verified_regrets(truth, sweeps, "verified_pass_pair")
    if after is None:
        return None
    before = score.verified_regrets(truth, sweeps, "verified_pass")
    keys = set(zip(after["task"], after["order"]))
    return before[[k in keys for k in zip(before["task"], before["order"])]], after


def cells(frame: pd.DataFrame) -> str:
    regret = frame["regret"]
    return f"{regret.mean():.2f} / {regret.max():.2f} / {int((regret > score.CLIFF).sum())} ({len(frame)} runs)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", nargs="?", choices=("run", "score"), default="score")
    parser.add_argument("--set", choices=list(tasks.TRAINING_SETS), default="long", help="with run")
    args = parser.parse_args(argv)
    if args.what == "run":
        run(args.set)
        return 0
    verdicts = []
    for name, found in (("long tasks, a tenth", long_frames()), ("short tasks, one pass", short_frames())):
        if found is None:
            print(f"{name}: no records yet")
            verdicts.append(None)
            continue
        before, after = found
        print(f"{name} (mean / worst / past the cliff): before -> after")
        for part, held in (("chosen on", False), ("held out", True)):
            b, a = before[before["held_out"] == held], after[after["held_out"] == held]
            print(f"  {part}: {cells(b)} -> {cells(a)}")
        print(f"  all: {cells(before)} -> {cells(after)}")
        verdicts.append(score.no_worse(before[~before["held_out"]]["regret"], after[~after["held_out"]]["regret"]))
    adopted = None if None in verdicts else all(verdicts)
    print(f"\nthe last pair trains on (rule of choice, chosen-on runs): "
          f"{'not decided: records missing' if adopted is None else adopted}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
