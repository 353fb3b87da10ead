"""`StepLogger`: the Keras callback that records every optimizer step of `model.fit`.

In the compiled train step it notes the step's point (optimizer step, rate,
the loss of the batch) before the update; `fit` hands the points back after
each block of `steps_per_execution` steps, and a `recorder.StepRecorder`
writes them to the run and applies the stop rule. The hook into the train
step is `_keras_hooks`, the one place that depends on how Keras builds it.
"""

from __future__ import annotations

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.validation import int_at_least
from tb_lrfinder.sweep.plan import (
    accumulation_steps,
    optimizer_plan,
    updating_optimizer,
)
from tb_lrfinder.sweep.recorder import StepRecorder, checked_options
from tb_lrfinder.training._keras_hooks import install_step_hook
from tb_lrfinder.training.checks import check_tensorflow_backend


class StepLogger(keras.callbacks.Callback):
    """Logs the rate and the true loss of every optimizer step of `model.fit`.

    The loss is the one the train step computes with `model.compute_loss`,
    so it is the loss of the batch (regularization included), not the running
    mean `fit` reports in `logs["loss"]`; the rate is `optimizer.learning_rate`
    at that step; the step is `optimizer.iterations` before the update. Every
    step is logged, also with `steps_per_execution > 1`. With gradient
    accumulation, one point per applied update: the mean loss of its
    micro-batches.

    With `stop_factor`, training stops once the sweep diverged (see
    `recorder.StepRecorder`), and with `max_steps` once that many optimizer
    steps were logged; steps a compiled block runs after that point are not
    logged.

    `plan` (tag -> value, see `tags.PLAN_*`) is written at step 0, with the
    optimizer's momentum lag and whether its rate is a step size added where
    it does not give them (the analysis needs both). With
    `progress` 1 (or 2: one line at the end, for logs), a progress bar shows
    the steps done of `max_steps`, the current rate and the smoothed true
    loss with its best so far (pass `verbose=0` to `fit`).

    With `validation_data`, the loss on its first `validation_samples`
    samples is computed every `validation_every` steps, in the same compiled
    step, and logged beside the training loss (tag `tags.VAL_LOSS`); it is the
    data loss of the compiled loss function (regularization excluded).
    `validation_cost` then says what it cost.

    Between `on_train_begin` and `on_train_end` the model's train function is
    one that also notes the points (see `_keras_hooks`); `detach()` puts the
    model back and closes the run (idempotent; call it in a `finally` if `fit`
    may raise).

    Example:

    >>> import keras, numpy as np, tempfile
    >>> from tb_lrfinder import StepLogger, lr_range_schedule
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(lr_range_schedule(1e-4, 1.0, 8)), "mse")
    >>> x, y = np.ones((64, 3)), np.ones((64, 1))
    >>> _ = model.fit(x, y, batch_size=8, verbose=0,
    ...               callbacks=[StepLogger(tempfile.mkdtemp())])
    """

    # No per-batch hook: the points come back with the train function's
    # outputs, so `fit` may dispatch callbacks in a worker thread.
    async_safe = True

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        stop_factor: float | None = None,
        smoothing: float = 0.9,
        flush_secs: float = 2.0,
        max_steps: int | None = None,
        validation_data=None,
        validation_every: int = 10,
        validation_samples: int = 256,
        plan: dict[str, float] | None = None,
        progress: int = 0,
    ):
        super().__init__()
        check_tensorflow_backend("StepLogger")
        self.log_dir = os.fspath(log_dir)
        # Validated now, so that a bad argument fails before `fit` starts.
        self.stop_factor, self.smoothing, self.flush_secs = checked_options(stop_factor, smoothing, flush_secs)
        self.max_steps = None if max_steps is None else int_at_least("max_steps", max_steps, 1)
        self.validation_every = int_at_least("validation_every", validation_every, 1)
        self._validation = None
        if validation_data is not None:
            self._validation = _validation_subsample(validation_data, validation_samples)
        self.plan = dict(plan or {})
        self.progress = int(progress)
        self.recorder: StepRecorder | None = None
        self._uninstall = None

    @property
    def stopped(self) -> bool:
        """Whether the stop rule ended the sweep."""
        return self.recorder is not None and self.recorder.stopped

    @property
    def stop_step(self) -> int | None:
        """The step at which the stop rule ended the sweep (the last one logged), or None."""
        return None if self.recorder is None else self.recorder.stop_step

    def on_train_begin(self, logs=None):
        model = self.model
        if model.optimizer is None:
            raise LRFinderError("StepLogger needs a compiled model (model.optimizer is None)")
        self._accumulation = accumulation_steps(model.optimizer)
        self._loss_fn = _plain_loss(model) if self._validation is not None else None
        self.recorder = StepRecorder(
            self.log_dir, stop_factor=self.stop_factor, smoothing=self.smoothing, max_steps=self.max_steps,
            # A loss-scale optimizer's skipped update repeats its step.
            detect_skips=isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer),
            flush_secs=self.flush_secs, plan={**optimizer_plan(model.optimizer), **self.plan},
        )
        self._progress_bar = None
        if self.progress:
            self._progress_bar = keras.utils.Progbar(self.max_steps, verbose=self.progress, unit_name="step",
                                                     stateful_metrics=["rate", "smoothed_loss", "best"])
        # A block of steps_per_execution train steps hands back only its last
        # step's outputs: each step writes its row into a buffer at a running count.
        self._capacity = int(getattr(model, "steps_per_execution", 1) or 1)
        self._rows_read = 0
        with model.distribute_strategy.scope():
            def variable(value, dtype=tf.float64):
                return tf.Variable(value, dtype=dtype, trainable=False,
                                   aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

            self._micro_losses = variable([0.0, 0.0]) if self._accumulation > 1 else None  # sum, count
            if self._capacity > 1:
                self._buffer = variable(np.zeros([self._capacity, len(_COLUMNS)]))
                self._rows = variable(0, tf.int64)  # rows noted so far
        self._uninstall = install_step_hook(model, before_update=self._before_update, after_step=self._after_step,
                                            take=self._take)

    def _before_update(self, loss, data):
        """In the compiled step, at the batch's loss, before the update:
        [step, rate, loss, validation loss (NaN unless due), samples]."""
        replica = tf.distribute.get_replica_context()
        replicas = replica.num_replicas_in_sync if replica is not None else 1
        if replicas > 1:
            # Keras scales each replica's loss by 1/replicas; their sum is the global batch's.
            loss = replica.all_reduce(tf.distribute.ReduceOp.SUM, loss)
        optimizer = updating_optimizer(self.model.optimizer)
        step = tf.cast(optimizer.iterations, tf.float64)
        validation_loss = tf.constant(math.nan, tf.float64)
        if self._validation is not None:
            due = tf.equal(step % self.validation_every, 0)
            if self._micro_losses is not None:  # once per update: at its last micro-batch
                due = tf.logical_and(due, self._micro_losses[1] + 1 >= self._accumulation)
            validation_loss = tf.cond(due, self._validation_loss, lambda: tf.constant(math.nan, tf.float64))
            samples = tf.cast(tf.shape(tf.nest.flatten(data)[0])[0] * replicas, tf.float64)
        else:
            samples = tf.constant(0.0, tf.float64)  # counted for the validation cost only
        return [step, tf.cast(optimizer.learning_rate, tf.float64), tf.cast(tf.reshape(loss, []), tf.float64),
                validation_loss, samples]

    def _after_step(self, point):
        """In the compiled step, after the update: the step's row; with
        `steps_per_execution > 1`, the row goes into the buffer at the running
        count, and the buffer comes back with the count of rows noted so far."""
        step, rate, loss, validation_loss, samples = point
        update = tf.constant(1.0, tf.float64)
        if self._micro_losses is not None:
            # One point per applied update: the mean loss of its micro-batches.
            total = self._micro_losses.assign_add(tf.stack([loss, 1.0]))
            applied = tf.cast(updating_optimizer(self.model.optimizer).iterations, tf.float64)
            update = tf.cast(applied > step, tf.float64)
            loss = total[0] / total[1]
            self._micro_losses.assign(total * (1.0 - update))
        row = tf.stack([step, rate, loss, update, validation_loss, samples])
        if self._capacity == 1:
            return {"row": row}
        count = self._rows.assign_add(1)  # rows noted, this one included
        self._buffer[(count - 1) % self._capacity].assign(row)
        return {"buffer": self._buffer.value(), "count": count}

    def _validation_loss(self):
        x, y = self._validation
        return tf.cast(tf.reduce_mean(self._loss_fn(y, self.model(x, training=False))), tf.float64)

    def _take(self, carried) -> None:
        """On the host, after a block: record its rows; stop `fit` once the recorder halted."""
        if "row" in carried:
            rows = [carried["row"].numpy().tolist()]
        else:
            table, count = carried["buffer"].numpy().tolist(), int(carried["count"].numpy())
            if count - self._rows_read > self._capacity:  # a block's outputs were dropped (not by Keras >= 3.8)
                raise LRFinderError(f"StepLogger lost {count - self._rows_read - self._capacity} steps' points: "
                                    f"more than steps_per_execution={self._capacity} steps in one block")
            rows = [table[row % self._capacity] for row in range(self._rows_read, count)]
            self._rows_read = count
        now = time.time()
        recorder = self.recorder
        for step, rate, loss, update, validation_loss, samples in rows:
            recorder.record(int(step), rate, loss, wall_time=now, update=update > 0.5,
                            validation_loss=validation_loss, samples=int(samples))
        if self._progress_bar is not None and recorder.last_step is not None:
            self._progress_bar.update(recorder.last_step + 1, values=[
                ("rate", rows[-1][1]), ("smoothed_loss", recorder.smoothed), ("best", recorder.best),
            ], finalize=recorder.halted)
        if recorder.halted:
            self.model.stop_training = True

    @property
    def validation_cost(self) -> dict | None:
        """What the validation overlay cost: its forward passes, in samples and
        as a share of the sweep's training work (a training step counted as 3
        forward passes of its batch: forward, and backward at about twice that)."""
        if self._validation is None or self.recorder is None:
            return None
        train_samples, evaluations = self.recorder.training_samples, self.recorder.validation_evaluations
        per_evaluation = int(tf.shape(tf.nest.flatten(self._validation[0])[0])[0])
        return {
            "evaluations": evaluations,
            "samples_per_evaluation": per_evaluation,
            "validation_forward_samples": evaluations * per_evaluation,
            "training_samples": train_samples,
            "relative_cost": evaluations * per_evaluation / (3 * train_samples) if train_samples else float("nan"),
        }

    def on_train_end(self, logs=None):
        self.detach()

    def detach(self) -> None:
        """Put the model's own train function back and close the run."""
        if self._uninstall is None:
            return
        uninstall, self._uninstall = self._uninstall, None
        try:
            uninstall()
        finally:
            self.recorder.close()


_COLUMNS = ("step", "rate", "loss", "update", "validation_loss", "samples")


def _validation_subsample(data, samples: int):
    """The first `samples` examples of (x, y) arrays, as constant tensors."""
    samples = int_at_least("validation_samples", samples, 1)
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise LRFinderError("validation_data must be a tuple (x_val, y_val) of arrays")
    return tuple(tf.nest.map_structure(lambda a: tf.constant(a[:samples]), part) for part in data)


def _plain_loss(model):
    """The model's compiled loss as a function (y_true, y_pred) -> per-sample losses."""
    loss = getattr(model, "loss", None)
    try:
        return keras.losses.get(loss)
    except (ValueError, TypeError):
        raise LRFinderError(
            f"the validation overlay needs a single compiled loss (a name or a keras Loss); got {loss!r}"
        ) from None
