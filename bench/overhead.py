#!/usr/bin/env python3
"""What does logging every step cost? Side by side, in one process.

For each model (the article's simple CNN on MNIST-shaped data, a tiny MLP) and
each `steps_per_execution` (1, 16), four ways of running the same number of
optimizer steps with the same sweep schedule are timed, interleaved over
`--repeats` rounds; each round times the four one after the other (in an
order that changes from round to round, plain and find_lr always next to each
other), and the ratios printed are medians
of the per-round ratios, so that the machine's slow drifts (a shared VM: top
showed 50% CPU steal while this was written) cancel within a round:

* plain:   `model.fit` with the schedule, nothing logged;
* find_lr: `tb_lrfinder.find_lr(..., report=False)` (each step's point noted
           in the compiled step, the divergence guard and the event file
           written on the host, snapshot and restore of the model, read-back
           and analysis);
* logger:  `model.fit` with `StepLogger` alone: the per-step logging cost,
           without find_lr's one-off work (snapshot, read-back, analysis);
* classic: `model.fit` with a Python callback writing `tf.summary` from `logs`
           after each batch (the source article's approach; it logs a running
           mean, and only every `steps_per_execution` steps).

Rounds without the slow classic callback follow, `--pair-repeats` of them
(24 for the MLP, whose short runs are the noisier): plain between find_lr and
StepLogger alone, next to both. Every timed run starts after a full garbage
collection (untimed; see `_settled`).

Prints find_lr/plain (the median of the per-round ratios over all rounds;
then a 95% bootstrap interval of that median, and the lowest and highest
per-round ratio: the machine's noise), logger/plain (all rounds) and
classic/plain (the rounds of all four), and separately the one-off cost of
the TensorBoard report `find_lr` writes by default (Markdown, plot, HParams),
which does not grow with the number of steps. Targets: find_lr/plain <= 1.05 on the
CNN and <= 1.15 on the MLP. Input pipelines have tf.data autotune off (deleting
an autotuned iterator at the end of `fit` can block ~0.3 s).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from article_experiment import simple_cnn  # noqa: E402

from tb_lrfinder import find_lr, lr_range_schedule  # noqa: E402

MIN_LR, MAX_LR = 1e-5, 1e-3  # low enough that no sweep stops early


class ClassicLogger(keras.callbacks.Callback):
    """The source article's way: eager tf.summary from `logs` after each batch."""

    def __init__(self, log_dir):
        super().__init__()
        self.writer = tf.summary.create_file_writer(log_dir)

    def on_train_batch_end(self, batch, logs=None):
        with self.writer.as_default(step=batch):
            tf.summary.scalar("loss", logs["loss"])
            tf.summary.scalar("lr", self.model.optimizer.learning_rate)

    def on_train_end(self, logs=None):
        self.writer.close()


def make(kind, spe, schedule=None):
    """The article's CNN or a tiny MLP, compiled with SGD (at `schedule`, or 0.01)."""
    if kind == "cnn":
        model = simple_cnn(0.01)
    else:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.SGD(schedule or 0.01), "categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=spe)
    return model


def dataset(kind, batch):
    rng = np.random.default_rng(0)
    shape = (28, 28, 1) if kind == "cnn" else (32,)
    x = rng.random((4096,) + shape, dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 4096)]
    options = tf.data.Options()
    options.autotune.enabled = False
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True).repeat().with_options(options)


def _settled():
    """A full garbage collection, untimed, before each timed run.

    With TensorFlow loaded (~340k tracked objects here) a generation-2
    collection takes ~150 ms; left to chance, one lands in about one timed run
    in six, in plain `fit` as in `find_lr`. Collecting first puts every run at
    the same start: a 3000-step run then triggers only its own young
    collections (counted in its time), never an old one that earlier runs'
    garbage owed.
    """
    gc.collect()
    return time.perf_counter()


def time_fit(kind, spe, steps, data, callbacks=()):
    """Wall time of `fit` over `steps` steps with the sweep schedule and `callbacks`."""
    model = make(kind, spe, lr_range_schedule(MIN_LR, MAX_LR, steps))
    started = _settled()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=list(callbacks))
    return time.perf_counter() - started


def time_plain(kind, spe, steps, data, log_root):
    return time_fit(kind, spe, steps, data)


def time_classic(kind, spe, steps, data, log_root):
    return time_fit(kind, spe, steps, data, [ClassicLogger(tempfile.mkdtemp(dir=log_root))])


def time_logger(kind, spe, steps, data, log_root):
    from tb_lrfinder import StepLogger

    return time_fit(kind, spe, steps, data, [StepLogger(tempfile.mkdtemp(dir=log_root))])


def time_find_lr(kind, spe, steps, data, log_root):
    model = make(kind, spe)
    started = _settled()
    result = find_lr(model, data, min_lr=MIN_LR, max_lr=MAX_LR, num_steps=steps, verbose=0, report=False,
                     log_dir=os.path.join(tempfile.mkdtemp(dir=log_root), "run"))
    elapsed = time.perf_counter() - started
    assert len(result.frame) == steps, (len(result.frame), steps)
    return elapsed


def time_report(log_root):
    """The one-off cost of write_report on a finished sweep (plot included)."""
    from tb_lrfinder.reporting.writeback import write_report
    from tb_lrfinder.results.runs import analyze_paths

    model = make("mlp", 1)
    run_dir = os.path.join(tempfile.mkdtemp(dir=log_root), "run")
    find_lr(model, dataset("mlp", 32), min_lr=MIN_LR, max_lr=1.0, num_steps=200, verbose=0, report=False,
            log_dir=run_dir)
    (run,), _ = analyze_paths([run_dir])
    started = time.perf_counter()
    write_report(run)
    return time.perf_counter() - started


# Each round times the four in one of these orders: over four rounds each takes
# each place once, and plain and find_lr (the target's pair) are always next to
# each other, so that a change of the machine's load between them is rare.
_ORDERS = (
    ("plain", "find_lr", "logger", "classic"),
    ("find_lr", "plain", "classic", "logger"),
    ("logger", "classic", "plain", "find_lr"),
    ("classic", "logger", "find_lr", "plain"),
)
# The extra rounds: plain between find_lr and the logger alone, next to both.
_PAIR_ORDERS = (("find_lr", "plain", "logger"), ("logger", "plain", "find_lr"))


def median_interval(ratios, *, draws=2000, seed=0):
    """A 95% bootstrap interval of the median of `ratios` (percentiles 2.5 and 97.5)."""
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(np.asarray(ratios), (draws, len(ratios))), axis=1)
    return float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=8,
                        help="rounds of all four (a multiple of 4 balances the orders)")
    parser.add_argument("--pair-repeats", type=int, default=None,
                        help="extra rounds of plain between find_lr and StepLogger alone, for the target's "
                             "ratio; default 0 for the CNN, 24 for the MLP, whose short runs are the noisier")
    parser.add_argument("--cnn-steps", type=int, default=300)
    parser.add_argument("--mlp-steps", type=int, default=3000)
    parser.add_argument("--models", default="cnn,mlp", help="comma-separated subset of cnn,mlp")
    args = parser.parse_args(argv)
    methods = {"plain": time_plain, "find_lr": time_find_lr, "logger": time_logger, "classic": time_classic}
    print(f"{'model':<5} {'spe':>3} {'steps':>6} {'rounds':>6}  {'plain s':>8} {'find_lr s':>9}  "
          f"{'find_lr/plain':>13} {'(95% interval)':>15} {'(range)':>11} {'logger/plain':>12} {'classic/plain':>13}")
    with tempfile.TemporaryDirectory() as log_root:
        report_s = time_report(log_root)
        models = [m for m in (("cnn", args.cnn_steps, 64), ("mlp", args.mlp_steps, 32))
                  if m[0] in args.models.split(",")]
        for kind, steps, batch in models:
            for spe in (1, 16):
                data = dataset(kind, batch)
                for fn in methods.values():  # warm-up: first-use costs of TF and of each code path
                    fn(kind, spe, 2 * spe, data, log_root)
                pair_repeats = args.pair_repeats if args.pair_repeats is not None else {"cnn": 0, "mlp": 24}[kind]
                rounds = [_ORDERS[i % len(_ORDERS)] for i in range(args.repeats)]
                rounds += [_PAIR_ORDERS[i % len(_PAIR_ORDERS)] for i in range(pair_repeats)]
                times = []  # one {method: seconds} per round
                for order in rounds:
                    times.append({name: methods[name](kind, spe, steps, data, log_root) for name in order})

                def ratios(name):
                    return [t[name] / t["plain"] for t in times if name in t]

                target = ratios("find_lr")
                low, high = median_interval(target)
                print(f"{kind:<5} {spe:>3} {steps:>6} {len(times):>6}  "
                      f"{statistics.median(t['plain'] for t in times):>8.2f} "
                      f"{statistics.median(t['find_lr'] for t in times):>9.2f}  "
                      f"{statistics.median(target):>13.3f} {f'[{low:.3f}-{high:.3f}]':>15} "
                      f"{f'[{min(target):.2f}-{max(target):.2f}]':>11} "
                      f"{statistics.median(ratios('logger')):>12.3f} {statistics.median(ratios('classic')):>13.3f}",
                      flush=True)
    print(f"one-off TensorBoard report (text, plot, HParams) after a sweep: {report_s:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
