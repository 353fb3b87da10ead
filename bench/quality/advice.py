#!/usr/bin/env python3
"""What the analysis' advice gives: "raise max_lr" where a sweep never diverged.

A sweep that reaches its last step without diverging (stop reason `last_step`)
is not confident and says to raise `max_lr`: the top of the good range is
unknown. For every such recorded sweep (`records.sweeps()`), this sweeps the task
again as a user following that advice would: the same steps, data order and
seed, from the same 1e-7 but up to `--max-lr` (default 1000, 100x the default
top). The new sweeps are appended to `raw/advice.jsonl.gz` (resumable, `records.py`); `--score`
prints the recommended rate's regret (as `score.py` counts it) before and
after, per task, without TensorFlow.

    python bench/quality/advice.py --worker 0/2 & python bench/quality/advice.py --worker 1/2
    python bench/quality/advice.py --score
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import score  # noqa: E402
from remake import run_sweep, start_worker  # noqa: E402

RAW = "advice"
"""The raw records of the new sweeps (`records.read`)."""


def never_diverged(sweeps):
    return [s for s in sweeps if score._analysis(s).stop.reason == "last_step"]


def print_scores() -> None:
    import pandas as pd

    truth = score.load_truth()
    before = {(s["task"], s["num_steps"], s["order"]): s for s in never_diverged(score.load_sweeps())}
    after = {(r["task"], r["num_steps"], r["order"]): score.with_arrays(r) for r in records.read(RAW)}
    rows = []
    for key, old in before.items():
        if key not in after:
            continue
        new = after[key]
        t = truth[key[0]]
        regret = {}
        for label, sweep in (("before", old), ("after", new)):
            rate = score.RULES["recommended"](sweep) or float(sweep["learning_rate"][0])
            regret[label] = t["best"] - score.score_at(t, rate)
        rows.append({"task": key[0], "stop after": score._analysis(new).stop.reason, **regret})
    frame = pd.DataFrame(rows)
    print(f"{len(frame)} sweeps that never diverged, swept again up to the higher max_lr\n")
    print("| task | sweeps | diverged now | regret before: mean / worst | after: mean / worst |")
    print("| --- | --- | --- | --- | --- |")
    for task, g in list(frame.groupby("task")) + [("all", frame)]:
        print(f"| {task} | {len(g)} | {(g['stop after'] != 'last_step').sum()} | {g['before'].mean():.2f} / "
              f"{g['before'].max():.2f} | {g['after'].mean():.2f} / {g['after'].max():.2f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", default="0/1", help="i/n: every n-th sweep, from the i-th")
    parser.add_argument("--max-lr", type=float, default=1000.0)
    parser.add_argument("--score", action="store_true", help="print the regret before and after (no TensorFlow)")
    args = parser.parse_args(argv)
    if args.score:
        print_scores()
        return 0
    index, count = start_worker(args.worker)
    done = {(r["task"], r["num_steps"], r["order"]) for r in records.read(RAW)}
    for i, sweep in enumerate(never_diverged(score.load_sweeps())):
        key = (sweep["task"], sweep["num_steps"], sweep["order"])
        if i % count != index or key in done:
            continue
        record = run_sweep(*key, max_lr=args.max_lr)
        records.append(RAW, record)
        print(f"{key}: {len(record['step'])} points, {record['stop']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
