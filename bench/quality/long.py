#!/usr/bin/env python3
"""Longer trainings (issue 34): ground truth with the short horizons, and budgeted verification.

`--set long` (the default): the long tasks (`tasks.LONG_TASKS`, 3,000+ optimizer steps); `--set mid`:
the mid-length ones (`tasks.MID_TASKS`, 1,000-1,500 steps), recorded in `raw/mid_*` instead of
`raw/long_*`.

* `truth`: every task of the set trained for its budget at
  `--rates` log-spaced constant rates over its grid, `--seeds` seeds each. Each training also
  records its test loss and score at `HORIZONS` of its steps (2%, 5%, 10%): a trial that trains
  that share of the training from the same start at the same rate sees exactly that model, so the
  rate that is best at a horizon against the rate that is best at the end is the short-horizon
  bias of trials of that length (`raw/<set>_truth.jsonl.gz`).
* `verify`: `find_lr(verify=True, train_steps=N, verify_budget=<share>)` on each long task and
  `--orders` data orders, for each share in `--shares` (`raw/<set>_verified.jsonl.gz`).

Appended as results come; an interrupted run resumes. `--worker i/n` splits the jobs over processes.

    python bench/quality/long.py truth --worker 0/2 & python bench/quality/long.py truth --worker 1/2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import records  # noqa: E402
import tasks  # noqa: E402
from remake import start_worker  # noqa: E402

HORIZONS = (0.02, 0.05, 0.1)
"""Shares of a training at which each ground-truth training is also scored."""


def _test_loss(model, name: str, prediction: np.ndarray) -> float | None:
    """The compiled loss of `prediction` on the task's test set (None where it is not finite)."""
    import keras

    (_, _), (_, y_test) = tasks.data(name)
    loss = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
    value = float(np.mean(np.asarray(loss(y_test, prediction.astype("float32")))))
    return value if np.isfinite(value) else None


def train_with_horizons(name: str, rate: float, *, seed: int) -> dict:
    """A ground-truth training of the task at a constant `rate`, scored at `HORIZONS` and at its end."""
    import keras

    task = tasks.ALL_TASKS[name]
    (x, y), (x_test, _) = tasks.data(name)
    total = tasks.steps_per_training(name)
    model = tasks.build(name, float(rate), seed=seed)
    at = {max(1, round(share * total)): share for share in HORIZONS}
    found = {}

    def measure():
        prediction = np.asarray(model(x_test, training=False), dtype=np.float64)
        return tasks.score_prediction(name, prediction), _test_loss(model, name, prediction)

    class Horizons(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if self.steps in at:
                found[at[self.steps]] = measure()

    model.fit(x, y, batch_size=task.batch_size, epochs=task.epochs, verbose=0, shuffle=True, callbacks=[Horizons()])
    score, loss = measure()
    return {"task": name, "rate": float(rate), "seed": seed, "steps": total, "score": score, "test_loss": loss,
            "horizons": {str(share): {"score": found[share][0], "test_loss": found[share][1]} for share in HORIZONS}}


def run_verify(name: str, order: int, share: float) -> dict:
    """`find_lr` with a budgeted verification on the long task, as a user would call it."""
    from tb_lrfinder import find_lr

    task = tasks.ALL_TASKS[name]
    (x, y), _ = tasks.data(name)
    total = tasks.steps_per_training(name)
    model = tasks.build(name, 1e-3, seed=order)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        result = find_lr(model, x, y, batch_size=task.batch_size, verbose=0, report=False, verify=True,
                         train_steps=total, verify_budget=share, log_dir=os.path.join(root, "sweep"))
    verification = result.verification
    return {"task": name, "order": order, "share": share, "train_steps": total,
            "recommended": None if result.recommended is None else result.recommended.learning_rate,
            "use": result.learning_rate,
            "verified": verification.learning_rate if verification is not None and verification.confirmed else None,
            "sweep_steps": len(result.curve["step"]),
            "trial_steps": verification.steps if verification is not None else 0,
            "trials": [{"rate": t.learning_rate, "steps": t.steps, "losses": [v if v < float("inf") else None
                                                                            for v in t.losses]}
                       for t in (verification.trials if verification is not None else ())],
            "seconds": time.perf_counter() - started}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("truth", "verify"))
    parser.add_argument("--set", choices=list(tasks.TRAINING_SETS), default="long")
    parser.add_argument("--tasks", nargs="*", default=None, help="only these tasks of the set")
    parser.add_argument("--rates", type=int, default=13, help="grid points per task (log-spaced over its grid)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--orders", type=int, default=5)
    parser.add_argument("--shares", type=float, nargs="*", default=[0.1])
    parser.add_argument("--worker", default="0/1", help="i/n: run every n-th job, starting at the i-th")
    args = parser.parse_args(argv)
    index, count = start_worker(args.worker)
    names = args.tasks or list(tasks.TRAINING_SETS[args.set][0])
    truth_records, verified_records = f"{args.set}_truth", f"{args.set}_verified"
    if args.what == "truth":
        done = {(r["task"], r["rate"], r["seed"]) for r in records.read(truth_records)}
        jobs = [(name, float(rate), seed) for name in names
                for rate in tasks.grid_rates(tasks.ALL_TASKS[name], args.rates) for seed in range(args.seeds)]
    else:
        done = {(r["task"], r["order"], r["share"]) for r in records.read(verified_records)}
        jobs = [(name, 100 + order, share) for share in args.shares for name in names
                for order in range(args.orders)]
    for i, job in enumerate(jobs):
        if i % count != index or job in done:
            continue
        started = time.perf_counter()
        if args.what == "truth":
            record = train_with_horizons(*job[:2], seed=job[2])
            records.append(truth_records, record)
            print(f"{job[0]} rate {job[1]:.3g} seed {job[2]}: {record['score']:.2f} "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)
        else:
            record = run_verify(*job)
            records.append(verified_records, record)
            print(f"{job[0]} order {job[1]} share {job[2]}: verified {record['verified']} "
                  f"({record['sweep_steps']} + {record['trial_steps']} steps, {record['seconds']:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
