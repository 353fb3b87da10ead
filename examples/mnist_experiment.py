#!/usr/bin/env python3
"""The project's main job: the source article's MNIST experiment, reproduced.

1. Range test on a fresh simple CNN; print the analysis.
2. Train a fresh model at the untuned rate 1e-2.
3. Train a fresh model at the recommended rate.
4. Print both side by side per epoch.

Everything is logged under --logdir as TensorBoard runs (range_test,
baseline_lr_0.01, found_lr_<rate>): `tensorboard --logdir logs` shows them.
The runs an earlier run of this job left there are removed first.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # a checkout without install

from tb_lrfinder import LRFinderError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder with the four MNIST IDX .gz files (default: $TB_LRFINDER_MNIST_DIR, "
                        "else Keras's download, else the shipped sample)")
    parser.add_argument("--logdir", default="logs", help="TensorBoard root for the runs (default: logs)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--baseline-lr", type=float, default=1e-2)
    parser.add_argument("--min-lr", type=float, default=1e-5)
    parser.add_argument("--max-lr", type=float, default=10.0)
    parser.add_argument("--num-steps", type=int, default=200,
                        help="range-test steps (default 200: with the 5-epoch training, a tenth of it holds the "
                             "sweep and the verification trials)")
    parser.add_argument("--train-samples", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--quick", action="store_true",
                        help="a couple of minutes on 2 CPU cores: 12,000 training images, 2 epochs, 200 sweep steps")
    parser.add_argument("--one-cycle", action="store_true",
                        help="also train with a 1cycle schedule over the recommended range (run one_cycle_<low>_<high>)")
    parser.add_argument("--verify", action=argparse.BooleanOptionalAction, default=None,
                        help="confirm the recommended rate by short trials of 5 candidates around it "
                             "(default: on, off with --quick)")
    parser.add_argument("--verify-at-length", action="store_true",
                        help="with --verify: instead of a tenth of the trainings below (find_lr's default verify_budget), "
                             "train the last two candidates as long as they and judge them there (verify_budget=None; "
                             "about 2.7 trainings' worth of steps)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.verify is None:
        args.verify = not args.quick
    if args.quick:
        args.epochs = min(args.epochs, 2)
        args.train_samples = args.train_samples or 12000
        args.num_steps = min(args.num_steps, 200)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import mnist_data as mnist
    from article_experiment import comparison_table, simple_cnn, train

    from tb_lrfinder import find_lr
    from tb_lrfinder.reporting.text import cost_text, format_analysis
    from tb_lrfinder.sweep.schedules import one_cycle_from

    data = mnist.load_mnist(args.data_dir)
    print(f"MNIST source: {data.source}")
    x_train, y_train = mnist.prepare(data.x_train, data.y_train)
    x_test, y_test = mnist.prepare(data.x_test, data.y_test)
    if args.train_samples:
        x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    print(f"train {len(x_train)} / test {len(x_test)} images, batch {args.batch_size}, {args.epochs} epochs")

    sweep_dir = os.path.join(args.logdir, "range_test")
    # This job's runs of an earlier run of it (the training runs are named by their rate, which may differ
    # this time): gone, so that TensorBoard never shows a stale run beside the current ones.
    earlier = [path for pattern in ("range_test", "range_test_trial_*", "baseline_lr_*", "found_lr_*", "one_cycle_*")
               for path in glob.glob(os.path.join(args.logdir, pattern))]
    for old in earlier:
        shutil.rmtree(old, ignore_errors=True)
    if earlier:
        print(f"removed {len(earlier)} run(s) of an earlier run of this job from {args.logdir}")
    print(f"\n== range test: {args.min_lr:g} -> {args.max_lr:g} over {args.num_steps} steps ==")
    steps_per_epoch = -(-len(x_train) // args.batch_size)
    started = time.perf_counter()
    result = find_lr(
        simple_cnn(args.baseline_lr, seed=args.seed), x_train, y_train,
        batch_size=args.batch_size, min_lr=args.min_lr, max_lr=args.max_lr,
        num_steps=args.num_steps, log_dir=sweep_dir, verbose=2, verify=args.verify,
        train_steps=args.epochs * steps_per_epoch if args.verify else None,
        verify_budget=None if args.verify_at_length else 0.1,
    )
    sweep_s = time.perf_counter() - started
    print(format_analysis(result.analysis))
    if result.verification is not None:
        verification = result.verification
        print(f"verification: {verification.message}")
        print(f"  cost: {cost_text(verification)} = {(verification.sweep_steps + verification.steps) / steps_per_epoch:.2f} "
              "epochs")
    print(f"range test{' and verification' if result.verification else ''} took {sweep_s:.1f} s")
    found = result.learning_rate
    if found is None:
        print("error: the range test gave no recommended rate; see the stop reason above", file=sys.stderr)
        return 1

    plans = [(f"baseline_lr_{args.baseline_lr:g}", args.baseline_lr), (f"found_lr_{found:.3g}", found)]
    if args.one_cycle:
        schedule = one_cycle_from(result.analysis.recommended, args.epochs * steps_per_epoch)
        plans.append((f"one_cycle_{schedule.low:.3g}_{schedule.high:.3g}", schedule))
    runs = {}
    for name, rate in plans:
        run_dir = os.path.join(args.logdir, name)
        shutil.rmtree(run_dir, ignore_errors=True)
        label = f"rate {rate:.3g}" if isinstance(rate, float) else f"1cycle {rate.low:.3g} -> {rate.high:.3g} -> {rate.low * rate.final_fraction:.2g}"
        print(f"\n== training {name} (SGD, {label}) ==")
        runs[name] = train(
            simple_cnn(rate, seed=args.seed), (x_train, y_train), (x_test, y_test),
            epochs=args.epochs, batch_size=args.batch_size, log_dir=run_dir,
        )

    print("\n== side by side ==")
    print(comparison_table(runs))
    last = {name: rows[-1] for name, rows in runs.items()}
    for name, row in last.items():
        print(f"{name}: final test loss {row.test_loss:.4f}, test accuracy {row.test_accuracy:.4f}, "
              f"total train time {sum(r.wall_s for r in runs[name]):.0f} s")
    print(f"\nTensorBoard: tensorboard --logdir {args.logdir}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LRFinderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
