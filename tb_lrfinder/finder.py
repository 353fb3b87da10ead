"""`find_lr`: run a range test on a compiled Keras model, then put it back.

The sweep trains with a *separate* optimizer (a copy of the model's, driven by
`lr_range_schedule`) while `StepLogger` writes every step to TensorBoard. The
model's variables (weights, seed-generator states, metric states) are
snapshotted first and assigned back afterwards, and the model's own optimizer
object, never touched, is put back: weights and optimizer come back bit for
bit, also when the sweep diverged, raised, or was interrupted with Ctrl-C.

The log is then read back through `reader` and analysed by `analysis`, so
`find_lr` shows exactly what `scripts/analyze.py` would show for that run.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import analysis as analysis_module
from . import pipeline, reader, tags
from ._validation import int_at_least, positive_float, rate_range
from .errors import LRFinderError


@dataclass(frozen=True)
class RangeTestResult:
    """What a range test found.

    Attributes:
      frame: one row per logged step: step, learning_rate, loss (the batch's
        true loss), smoothed_loss (debiased EMA).
      analysis: suggestions, recommended rate and stop point.
      log_dir: the TensorBoard run directory holding the sweep.
      planned_steps: steps the sweep was asked to run.
      validation_cost: with a validation overlay, what it cost
        (see `StepLogger.validation_cost`), else None.
    """

    frame: pd.DataFrame
    analysis: analysis_module.Analysis
    log_dir: str
    planned_steps: int
    validation_cost: dict | None = None

    @property
    def learning_rate(self) -> float | None:
        """The recommended learning rate, or None if the curve was unreadable."""
        rec = self.analysis.recommended
        return None if rec is None else rec.learning_rate


def _default_log_dir() -> str:
    return os.path.join("logs", time.strftime("range_test-%Y%m%d-%H%M%S"))


def _sweep_optimizer(optimizer, schedule):
    """A fresh optimizer like `optimizer` (same class and settings) driven by `schedule`."""
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:  # LossScaleOptimizer: copy the wrapper around a copied inner optimizer
        config = optimizer.get_config()
        config["inner_optimizer"] = _sweep_optimizer(inner, schedule)
        return type(optimizer)(**config)
    config = optimizer.get_config()
    config["learning_rate"] = schedule
    return type(optimizer).from_config(config)


def _is_dataset(x) -> bool:
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


def _batches_available(x, batch_size: int | None) -> int | None:
    """Batches one pass over `x` yields, when that can be known up front."""
    if _is_dataset(x):
        cardinality = int(x.cardinality())
        return cardinality if cardinality >= 0 else None
    first = x[0] if isinstance(x, (list, tuple)) else (next(iter(x.values())) if isinstance(x, dict) else x)
    if hasattr(first, "shape") and len(getattr(first, "shape", ())) > 0:
        return math.ceil(int(first.shape[0]) / (batch_size or 32))
    return None


def _snapshot(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def _restore(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


def find_lr(
    model,
    x=None,
    y=None,
    *,
    batch_size: int | None = None,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    stop_factor: float = 4.0,
    smoothing: float = 0.9,
    log_dir: str | os.PathLike | None = None,
    optimizer=None,
    shuffle: bool = True,
    verbose="auto",
    report: bool = True,
    validation_data=None,
    validation_every: int = 10,
    validation_samples: int = 256,
) -> RangeTestResult:
    """Run a learning-rate range test on a compiled model and analyse it.

    The rate grows as min_lr * (max_lr/min_lr) ** (step/num_steps) for up to
    `num_steps` optimizer steps (fewer if the data runs out), one pass over
    the data. The sweep stops early at the first NaN/inf loss or once the
    smoothed loss exceeds `stop_factor` times its best. Rate and true batch
    loss of every step go to a TensorBoard run in `log_dir`.

    Afterwards the model's variables and its optimizer are exactly as before.

    Args:
      model: a compiled `keras.Model`.
      x, y: training data as for `model.fit` (arrays, or a `tf.data.Dataset` of
        batches as `x`).
      batch_size: batch size for array data (Keras's default: 32).
      min_lr, max_lr: the swept range of rates (0 < min_lr < max_lr).
      num_steps: optimizer steps of the full sweep (>= 2).
      stop_factor: divergence threshold on the smoothed loss (> 1).
      smoothing: EMA coefficient beta in [0, 1).
      log_dir: TensorBoard run directory for the sweep; a new one under
        `logs/` by default. It must not already hold event files.
      optimizer: an unbuilt optimizer to sweep with (created in the model's
        strategy scope, if any); by default a copy of the model's own (same
        class and settings, rate replaced by the sweep).
      shuffle: shuffle array data, as `fit` does.
      verbose: passed to `fit` (Keras's progress bar by default).
      report: write the analysis (Markdown table, plot, HParams) into the
        run for TensorBoard's text, image and HParams dashboards.
      validation_data: (x_val, y_val) for the validation overlay: the loss on
        its first `validation_samples` samples every `validation_every` steps
        is logged beside the training loss, and the analysis says where the
        two part ways. Its cost is in `result.validation_cost`.

    Returns:
      A `RangeTestResult` (frame, analysis, log_dir).

    Raises:
      LRFinderError: bad arguments, an uncompiled model, an unwritable log
        directory, or a sweep that failed (the cause is chained). The model is
        restored in every case, also on KeyboardInterrupt (re-raised as is).

    Example:

    >>> import keras, numpy as np, os, tempfile
    >>> from tb_lrfinder import find_lr
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
    >>> x = np.random.rand(640, 4); y = x.sum(axis=1, keepdims=True)
    >>> result = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=1.0,
    ...                  num_steps=20, verbose=0, log_dir=os.path.join(tempfile.mkdtemp(), "sweep"))
    >>> result.frame.columns.tolist()
    ['step', 'learning_rate', 'loss', 'smoothed_loss']
    """
    min_lr, max_lr = rate_range(min_lr, max_lr)
    num_steps = int_at_least("num_steps", num_steps, 2)
    stop_factor = positive_float("stop_factor", stop_factor)
    if batch_size is not None:
        batch_size = int_at_least("batch_size", batch_size, 1)
    if x is None:
        raise LRFinderError("x (the training data) is required")
    if getattr(model, "optimizer", None) is None:
        raise LRFinderError(
            "the model is not compiled: call model.compile(optimizer=..., loss=...) before find_lr"
        )
    log_dir = os.fspath(log_dir) if log_dir is not None else _default_log_dir()
    if os.path.isdir(log_dir) and any("tfevents" in f for f in os.listdir(log_dir)):
        raise LRFinderError(
            f"log_dir {log_dir!r} already holds a TensorBoard run; give a new directory"
        )

    from .logger import StepLogger, accumulation_steps
    from .schedule import lr_range_schedule

    accumulation = accumulation_steps(optimizer if optimizer is not None else model.optimizer)
    schedule = lr_range_schedule(min_lr, max_lr, num_steps, gradient_accumulation_steps=accumulation)
    if optimizer is None:
        # Under tf.distribute, optimizer variables (the step counter the
        # schedule reads) must be created in the model's strategy scope.
        with model.distribute_strategy.scope():
            sweep_optimizer = _sweep_optimizer(model.optimizer, schedule)
    else:
        sweep_optimizer = optimizer
        if getattr(optimizer, "built", False):
            raise LRFinderError("optimizer must be a new, unbuilt optimizer for the sweep")
        optimizer.learning_rate = schedule
    # A loss-scale optimizer's skipped updates do not advance the step: allow
    # as many extra attempts as steps, and end at num_steps applied updates.
    loss_scaled = hasattr(sweep_optimizer, "inner_optimizer")
    logger = StepLogger(
        # With steps_per_execution > 1, fit rounds its steps up to whole blocks.
        log_dir, stop_factor=stop_factor, smoothing=smoothing, max_steps=num_steps, validation_data=validation_data,
        validation_every=validation_every, validation_samples=validation_samples,
    )

    # fit counts micro-batches; num_steps counts applied updates.
    available = _batches_available(x, batch_size)
    attempts = num_steps * accumulation * (2 if loss_scaled else 1)
    steps = attempts if available is None else min(attempts, available)

    saved = _ModelState(model)
    try:
        model.optimizer = sweep_optimizer
        model.train_function = None
        model.fit(
            x, y,
            batch_size=batch_size,
            epochs=1,
            steps_per_epoch=steps,
            callbacks=[logger],
            verbose=verbose,
            shuffle=shuffle and not _is_dataset(x),  # a Dataset shuffles itself
        )
    except KeyboardInterrupt:
        raise
    except LRFinderError:
        raise
    except Exception as exc:
        raise LRFinderError(
            f"the range test failed ({type(exc).__name__}: {exc}); "
            "the model and its optimizer were restored"
        ) from exc
    finally:
        logger.detach()
        saved.restore()

    run = pipeline.analyze_run(
        reader.read_scalars(log_dir), ".", name=log_dir, directory=log_dir, lr_tag=tags.LEARNING_RATE,
        loss_tag=tags.LOSS, smoothing=smoothing, stop_factor=stop_factor, planned_steps=num_steps,
    )
    if report:
        from .tensorboard_report import write_report

        write_report(run, hparams={
            "num_steps": num_steps,
            "batch_size": batch_size if batch_size is not None else "dataset",
            "optimizer": type(sweep_optimizer).__name__,
        })
    return RangeTestResult(run.frame, run.analysis, log_dir, num_steps, logger.validation_cost)


class _ModelState:
    """The parts of a model a sweep changes, to be put back exactly."""

    def __init__(self, model):
        self.model = model
        self.variables = list(model.variables) + list(getattr(model, "metrics_variables", []))
        self.values = _snapshot(self.variables)
        self.optimizer = model.optimizer
        self.train_function = model.train_function
        self.stop_training = model.stop_training
        self.history = getattr(model, "history", None)

    def restore(self):
        model = self.model
        _restore(self.variables, self.values)
        model.optimizer = self.optimizer
        model.train_function = self.train_function
        model.stop_training = self.stop_training
        if self.history is not None:
            model.history = self.history
