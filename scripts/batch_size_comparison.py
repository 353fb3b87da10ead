#!/usr/bin/env python3
"""Two sweeps of one model at batch sizes 32 and 256, for the LR Finder tab.

A 20-64-5 MLP with SGD (momentum 0.9) on generated 5-class data, each sweep
with the validation overlay; the batch-32 one is verified by trials within a tenth of a
40-epoch training (`train_steps`: 4,400 steps; a tenth of 3,300 cannot hold its 150-step sweep and the trials). Writes
runs bs32 (its trials in bs32/trial_*) and bs256 under LOGDIR (default logs/batch_sizes);
`tensorboard --logdir LOGDIR` then overlays them in the LR Finder tab.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("logdir", nargs="?", default=os.path.join("logs", "batch_sizes"))
    args = parser.parse_args(argv)

    import keras
    import numpy as np

    from tb_lrfinder import find_lr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, 20)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(20, 5)) + 0.5 * rng.normal(size=(4096, 5)), axis=1)
    for batch_size in (32, 256):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(5, activation="softmax")])
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
        result = find_lr(model, x[:3500], y[:3500], batch_size=batch_size, min_lr=1e-5, num_steps=150, verbose=0,
                         log_dir=os.path.join(args.logdir, f"bs{batch_size}"), validation_data=(x[3500:], y[3500:]),
                         train_steps=40 * -(-3500 // 32) if batch_size == 32 else None)
        print(f"batch {batch_size}: rate {result.learning_rate:.3g}; {result.analysis.stop.message}")
    print(f"tensorboard --logdir {args.logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
