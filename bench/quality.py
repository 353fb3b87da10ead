#!/usr/bin/env python3
"""Does the recommended rate train well? A range test against a grid search.

On MNIST with the article's simple CNN and SGD, the same budget per point
(`--epochs` over `--train-samples` images, batch 64, same seed):

* grid: log-spaced rates, each trained and evaluated on the test set;
* range test: one sweep (one pass over the training subset), then a training
  at the recommended rate, and, for information, at each rule's rate.

Prints the accuracy at the recommended rate, the best grid accuracy, the
regret (difference, in accuracy points) and the compute ratio (range-test
steps / grid steps). Target: regret <= 0.5 points at <= 1/10 of the grid's
compute.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "..", "shared", "data", "mnist"))
    parser.add_argument("--train-samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="sgd")
    parser.add_argument("--grid", help="comma-separated rates (default: 7 log-spaced, 1e-3..1 for SGD, 1e-5..1e-2 for Adam)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.grid is None:
        args.grid = {"sgd": "0.001,0.003,0.01,0.03,0.1,0.3,1.0",
                     "adam": "0.00001,0.00003,0.0001,0.0003,0.001,0.003,0.01"}[args.optimizer]

    from tb_lrfinder import find_lr, mnist
    from tb_lrfinder.experiment import simple_cnn, train

    data = mnist.load_mnist(args.data_dir if os.path.isdir(args.data_dir) else None)
    x_train, y_train = mnist.prepare(data.x_train[: args.train_samples], data.y_train[: args.train_samples])
    x_test, y_test = mnist.prepare(data.x_test, data.y_test)
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    print(f"optimizer {args.optimizer}; MNIST: {data.source}; {len(x_train)} train images, {args.epochs} epochs x {steps_per_epoch} steps per point")

    def accuracy(rate):
        started = time.perf_counter()
        rows = train(simple_cnn(rate, seed=args.seed, optimizer=args.optimizer), (x_train, y_train), (x_test, y_test),
                     epochs=args.epochs, batch_size=args.batch_size, log_dir=None, verbose=0)
        acc = 100 * rows[-1].test_accuracy
        print(f"  rate {rate:<9.3g} test accuracy {acc:6.2f}%   ({time.perf_counter() - started:.0f} s)", flush=True)
        return acc

    print("grid search:")
    grid = [float(r) for r in args.grid.split(",")]
    grid_acc = {rate: accuracy(rate) for rate in grid}
    best_rate = max(grid_acc, key=grid_acc.get)

    print("range test:")
    with tempfile.TemporaryDirectory() as log_dir:
        result = find_lr(simple_cnn(grid[0], seed=args.seed, optimizer=args.optimizer), x_train, y_train, batch_size=args.batch_size,
                         min_lr=1e-5, max_lr=10.0, num_steps=steps_per_epoch,
                         log_dir=os.path.join(log_dir, "sweep"), verbose=0)
    sweep_steps = len(result.frame)
    rec = result.analysis.recommended
    print(f"  {sweep_steps} steps, stop {result.analysis.stop.reason} at rate {result.analysis.stop.learning_rate:.3g}")
    rule_acc = {}
    for suggestion in result.analysis.suggestions:
        print(f"  rule {suggestion.rule}: {suggestion.learning_rate:.3g}")
        rule_acc[suggestion.rule] = accuracy(suggestion.learning_rate)
    print(f"  recommended {rec.learning_rate:.3g} (range {rec.low:.3g}..{rec.high:.3g}, confident={rec.confident})")
    same = [r for r, s in ((s.rule, s) for s in result.analysis.suggestions) if math.isclose(s.learning_rate, rec.learning_rate)]
    rec_acc = rule_acc[same[0]] if same else accuracy(rec.learning_rate)

    grid_steps = len(grid) * args.epochs * steps_per_epoch
    print("\nresult:")
    print(f"  best grid rate      {best_rate:.3g}: {grid_acc[best_rate]:.2f}%")
    print(f"  recommended rate    {rec.learning_rate:.3g}: {rec_acc:.2f}%")
    for rule, acc in rule_acc.items():
        print(f"  rule {rule:<15} {acc:.2f}%")
    print(f"  regret              {grid_acc[best_rate] - rec_acc:.2f} accuracy points (target <= 0.5)")
    print(f"  compute ratio       {sweep_steps} / {grid_steps} = {sweep_steps / grid_steps:.3f} (target <= 0.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
