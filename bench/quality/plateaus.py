#!/usr/bin/env python3
"""Which recorded verifications ended on a plateau? (DECISIONS.md, choice 13)

`verify.conclude` decides that from the trials and the starting model's
held-out loss; the records of `verified.py` before choice 13 hold the trials
but not that loss. This recomputes it for every recorded sweep exactly as
`verified.py` sets verification up (the task's model at the sweep's seed, a
fifth of the training data held out by `verify`'s own split), checks that
`conclude` then gives each record's rate back, and writes
`raw/plateaus.jsonl.gz` (task, num_steps, order, initial_loss, plateau), resumable.

    python bench/quality/plateaus.py --worker 0/2 & python bench/quality/plateaus.py --worker 1/2
"""

from __future__ import annotations

import argparse
import math
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import tasks  # noqa: E402
from remake import start_worker  # noqa: E402

RAW = "plateaus"
"""The raw records (`records.read`)."""


def trials_of(record) -> tuple:
    """The record's trials as `verify.Trial`s (one search: first rounds not recorded)."""
    from tb_lrfinder.analysis.verdicts import Trial

    return tuple(Trial(t["rate"], tuple(math.inf if v is None else v for v in t["losses"]), t["steps"], None,
                       t["diverged"]) for t in record["trials"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default="0/1", help="i/n: every n-th record, from the i-th")
    parser.add_argument("--records", default="verified_wide_choice12", help="the verification variant to look at")
    args = parser.parse_args(argv)
    index, count = start_worker(args.worker)

    from tb_lrfinder.analysis.verdicts import conclude
    from tb_lrfinder.training.trials import _held_out_loss, _held_out_split

    done = {(r["task"], r["num_steps"], r["order"]) for r in records.read(RAW)}
    for i, record in enumerate(records.read(args.records)):
        key = (record["task"], record["num_steps"], record["order"])
        if i % count != index or key in done:
            continue
        task = tasks.TASKS[record["task"]]
        (x, y), _ = tasks.data(record["task"])
        model = tasks.build(record["task"], 1e-3, seed=record["order"])
        _, _, held_x, held_y = _held_out_split(x, y, 0.2)
        initial = _held_out_loss(model, held_x, held_y, task.batch_size)
        verdict = conclude(trials_of(record), initial, record["recommended"])
        matches = math.isclose(verdict.learning_rate, record["rate"], rel_tol=1e-9)
        records.append(RAW, {"task": key[0], "num_steps": key[1], "order": key[2], "initial_loss": initial,
                      "plateau": verdict.plateau, "rate_matches_record": matches})
        print(f"{key}: initial {initial:.4g}, plateau {verdict.plateau}, rate matches {matches}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
