#!/usr/bin/env python3
"""Remake the quality benchmark's recorded data: ground truth and sweeps.

* ground truth: every task trained for its budget at `--rates` log-spaced
  constant rates over its grid, with `--seeds` seeds (initialisation and data
  order) per rate, scored on its test set;
* sweeps: `find_lr` with its defaults (1e-7 to 10) at each of
  `--sweep-steps`, on `--orders` data orders (initialisation and shuffle
  seeds 100, 101, ...), the curve (step, rate, true batch loss) recorded.

Each result is appended to `raw/truth.jsonl.gz` or `raw/sweeps.jsonl.gz` as it
comes (`records.py`), so an interrupted run resumes where it stopped; the
tables the scoring reads are built from them on reading. Jobs can be split over processes with `--worker
i/n` (each process runs on one thread). About 12 minutes with two workers on 2 cores here.

    python bench/quality/remake.py --worker 0/2 & python bench/quality/remake.py --worker 1/2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import tasks  # noqa: E402


def start_worker(spec: str) -> tuple[int, int]:
    """(index, count) of a `--worker i/n` process, with TensorFlow on one thread (n processes share the cores)."""
    index, count = map(int, spec.split("/"))
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return index, count


def jobs(args):
    for name in args.tasks:
        for order in range(args.orders):
            for num_steps in args.sweep_steps:
                yield ("sweep", name, num_steps, 100 + order)
        for rate in tasks.grid_rates(tasks.TASKS[name], args.rates):
            for seed in range(args.seeds):
                yield ("truth", name, float(rate), seed)


def run_sweep(name, num_steps, order, max_lr=10.0):
    """`find_lr` on the task from 1e-7 to `max_lr` (its default top, 10, unless given), as recorded."""
    from tb_lrfinder import find_lr

    (x, y), _ = tasks.data(name)
    task = tasks.TASKS[name]
    model = tasks.build(name, 1e-3, seed=order)  # the rate is replaced by the sweep's
    with tempfile.TemporaryDirectory() as log_root:
        result = find_lr(model, x, y, batch_size=task.batch_size, num_steps=num_steps, max_lr=max_lr, verbose=0,
                         report=False, log_dir=os.path.join(log_root, "sweep"))
    frame = result.frame
    return {"task": name, "num_steps": num_steps, "order": order, "min_lr": 1e-7, "max_lr": max_lr,
            "stop": result.analysis.stop.reason,
            "step": frame["step"].astype(int).tolist(), "learning_rate": frame["learning_rate"].tolist(),
            "loss": [None if v != v else float(v) for v in frame["loss"]]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="*", default=list(tasks.TASKS))
    parser.add_argument("--rates", type=int, default=17, help="grid points per task (log-spaced over its grid)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--sweep-steps", type=int, nargs="*", default=[100, 300])
    parser.add_argument("--worker", default="0/1", help="i/n: run every n-th job, starting at the i-th")
    args = parser.parse_args(argv)
    index, count = start_worker(args.worker)
    done = {(r["task"], r["rate"], r["seed"]) for r in records.read("truth")}
    done |= {(r["task"], r["num_steps"], r["order"]) for r in records.read("sweeps")}
    for i, job in enumerate(jobs(args)):
        kind, name, a, b = job
        if i % count != index or (name, a, b) in done:
            continue
        started = time.perf_counter()
        if kind == "truth":
            record = {"task": name, "rate": a, "seed": b, "score": tasks.train_and_score(name, a, seed=b),
                      "steps": tasks.steps_per_training(name)}
            records.append("truth", record)
            print(f"{name} rate {a:.3g} seed {b}: {record['score']:.2f} ({time.perf_counter() - started:.1f} s)", flush=True)
        else:
            record = run_sweep(name, a, b)
            records.append("sweeps", record)
            print(f"{name} sweep {a} steps order {b}: {len(record['step'])} points, {record['stop']} "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
