"""The source article's experiment: MNIST, a simple CNN, SGD, batch 64.

Building blocks for `examples/mnist_experiment.py` and `bench/`:
the model, one training run with per-epoch test metrics and wall time, and
the side-by-side table. Needs TensorFlow.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import keras

OPTIMIZERS = {"sgd": keras.optimizers.SGD, "adam": keras.optimizers.Adam}


def simple_cnn(learning_rate, *, seed: int = 0, optimizer: str = "sgd") -> keras.Model:
    """The article's "simple model", compiled with SGD (or Adam) at `learning_rate`.

    Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2x2) ->
    Dropout(0.25) -> Flatten -> Dense(128, relu) -> Dropout(0.5) ->
    Dense(10, softmax); categorical cross-entropy.
    """
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), activation="relu"),
            keras.layers.Conv2D(64, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="simple_cnn",
    )
    model.compile(
        optimizer=OPTIMIZERS[optimizer](learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@dataclass(frozen=True)
class EpochRow:
    """One epoch of a training run: losses, test accuracy and wall time (s)."""

    epoch: int
    train_loss: float
    test_loss: float
    test_accuracy: float
    wall_s: float


class _EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train(model, train_data, test_data, *, epochs: int, batch_size: int, log_dir: str | None, verbose=2) -> list[EpochRow]:
    """Train for `epochs`, evaluating on the test set after each; log to TensorBoard."""
    timer = _EpochTimer()
    callbacks = [timer]
    if log_dir is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.fspath(log_dir)))
    history = model.fit(
        *train_data,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=test_data,
        callbacks=callbacks,
        verbose=verbose,
    ).history
    return [
        EpochRow(
            epoch + 1,
            float(history["loss"][epoch]),
            float(history["val_loss"][epoch]),
            float(history["val_accuracy"][epoch]),
            timer.seconds[epoch],
        )
        for epoch in range(epochs)
    ]


def comparison_table(runs: dict[str, list[EpochRow]]) -> str:
    """Per epoch, side by side: train loss, test loss, test accuracy, wall time of each run."""
    names = list(runs)
    header = ["epoch"] + [f"{name}: {col}" for name in names for col in ("train loss", "test loss", "test acc", "time s")]
    rows = [header]
    for i in range(max(len(r) for r in runs.values())):
        row = [str(i + 1)]
        for name in names:
            if i < len(runs[name]):
                e = runs[name][i]
                row += [f"{e.train_loss:.4f}", f"{e.test_loss:.4f}", f"{e.test_accuracy:.4f}", f"{e.wall_s:.1f}"]
            else:
                row += ["-"] * 4
        rows.append(row)
    return "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], ["---"] * len(header)] + rows[1:])
