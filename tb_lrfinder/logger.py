"""The step logger: rate and true batch loss of every optimizer step.

Two ways in:

* `StepLogger` is a Keras callback for `model.fit`: the compiled train step
  notes each step's point (step, rate, the loss of that batch, not the
  running mean `fit` reports in `logs["loss"]`), also with
  `steps_per_execution > 1`; after each block of steps, `step_recorder`
  applies the divergence guard and `event_writer` writes the points.
* `StepWriter` writes one (step, learning rate, loss) record to a TensorBoard
  run through a `tf.summary` file writer, from eager code or inside a
  `tf.function` (a custom training loop), and keeps the same divergence
  guard in-graph. Its per-step graph has no conditional and no flush.

Tags come from `tags`; the reader never imports this module.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf
from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

from . import tags
from ._validation import fraction, int_at_least, positive_float
from .errors import LRFinderError
from .event_writer import ScalarEventWriter
from .step_recorder import StepRecorder


def _checked_writer_options(stop_factor, smoothing, flush_secs):
    if stop_factor is not None:
        stop_factor = positive_float("stop_factor", stop_factor)
        if stop_factor <= 1.0:
            raise LRFinderError(f"stop_factor must be > 1, got {stop_factor!r}")
    return stop_factor, fraction("smoothing", smoothing), positive_float("flush_secs", flush_secs)


def _scalar_metadata(description: str) -> bytes:
    return scalar_metadata.create_summary_metadata(
        display_name="", description=description
    ).SerializeToString()


_LR_METADATA = _scalar_metadata(
    "Learning rate applied at this optimizer step. The sweep grows the rate "
    "exponentially, so the step axis is a log-rate axis."
)
_LOSS_METADATA = _scalar_metadata(
    "True loss of this step's batch (before the update), not the running mean "
    "of the epoch. The step axis is a log-rate axis."
)
_VAL_METADATA = _scalar_metadata(
    "Loss on a fixed validation subsample, every few steps (the weights of that step, "
    "before its update). Where it parts from the training loss, over-fitting or "
    "instability shows first. The step axis is a log-rate axis."
)
_SKIPPED_METADATA = _scalar_metadata(
    "Attempts at this optimizer step whose update was skipped (non-finite gradients "
    "under mixed-precision loss scaling; the step and rate did not advance). Not divergence."
)
_SMOOTHED_METADATA = _scalar_metadata(
    "Debiased exponential moving average of the loss (the stop rule's curve). "
    "The step axis is a log-rate axis."
)

_PLAN_METADATA = _scalar_metadata(
    "The sweep's plan (one value at step 0), so readers of the run, TensorBoard's LR Finder tab included, "
    "know what the sweep was asked to do."
)

_TAG_METADATA = {
    tags.LEARNING_RATE: _LR_METADATA, tags.LOSS: _LOSS_METADATA, tags.SMOOTHED_LOSS: _SMOOTHED_METADATA,
    tags.VAL_LOSS: _VAL_METADATA, tags.SKIPPED_UPDATES: _SKIPPED_METADATA,
    **dict.fromkeys(tags.PLAN_TAGS, _PLAN_METADATA),
}


def _layout_summary() -> bytes:
    """A custom-scalars layout that groups the sweep's charts."""
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary

    def chart(title, *patterns):
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=list(patterns)))

    layout = layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title="learning-rate range test (step axis = log rate)",
                chart=[
                    chart("loss: raw, smoothed, validation", f"^{tags.LOSS}$", f"^{tags.SMOOTHED_LOSS}$",
                          f"^{tags.VAL_LOSS}$"),
                    chart("learning rate", f"^{tags.LEARNING_RATE}$"),
                ],
            )
        ]
    )
    return custom_scalar_summary.pb(layout).SerializeToString()


# The writer's state: one float64 vector, read once and assigned once per step
# (separate variables cost a read and an assign each, and their ops). EMA:
# average, bias (beta ** finite points); best smoothed loss; halted and stopped
# flags (0/1); the last point recorded (step, rate, loss, smoothed loss), which
# a write after the halt writes again; skipped updates in a row at the last step.
(_AVERAGE, _BIAS, _BEST, _HALTED, _STOPPED,
 _LAST_STEP, _LAST_RATE, _LAST_LOSS, _LAST_SMOOTHED, _SKIPPED) = range(10)
_INITIAL_STATE = (0.0, 1.0, float("inf"), 0.0, 0.0, -1.0, float("nan"), float("nan"), float("nan"), 0.0)


def _scalar(value, dtype):
    """`value` as a scalar tensor of `dtype` (no op for one already so)."""
    value = tf.cast(value, dtype)
    return value if value.shape.rank == 0 else tf.reshape(value, [])


class StepWriter:
    """Writes per-step learning rate and loss scalars to one TensorBoard run.

    It keeps the source article's smoothed loss in a TensorFlow variable, a
    debiased exponential moving average,

        avg_n = beta * avg_{n-1} + (1 - beta) * loss_n,  smoothed_n = avg_n / (1 - beta**n)

    which it also logs (tag `tags.SMOOTHED_LOSS`), and it *stops* (records
    nothing new, and `stopped` turns true) at the
    first step whose loss is NaN/inf or whose smoothed loss exceeds the best
    smoothed loss so far by `stop_factor`, if given (for a positive best loss:
    smoothed > stop_factor * best; in general smoothed - best > (stop_factor - 1) * |best|).

    Steps written after the halt add nothing: such a call writes the last
    recorded point again (same step, same values), which TensorBoard and
    `reader` keep once. That keeps the per-step graph free of conditionals,
    which cost more than the logging itself in a tiny model's train step.

    Args:
      log_dir: TensorBoard run directory (created if missing).
      stop_factor: divergence threshold (> 1), or None for no guard.
      smoothing: EMA coefficient beta in [0, 1).
      flush_secs: while steps are written, the writer flushes at least this
        often (seconds), so a sweep can be watched live; `flush` and `close`
        flush at once.
      max_steps: optimizer steps after which nothing more is written
        (`halted` turns true), or None.
      detect_skips: count repeated steps as skipped updates (for a
        loss-scale optimizer; see `write`).
      strategy: the `tf.distribute` strategy `write` is called under, if any:
        the guard's state is then kept in a variable that only the first
        replica writes (summaries, too, are written by the first replica only).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        stop_factor: float | None = None,
        smoothing: float = 0.9,
        flush_secs: float = 2.0,
        max_steps: int | None = None,
        detect_skips: bool = False,
        strategy=None,
    ):
        self.log_dir = os.fspath(log_dir)
        self.detect_skips = detect_skips
        self.stop_factor, self.smoothing, flush_secs = _checked_writer_options(
            stop_factor, smoothing, flush_secs
        )
        flush_millis = int(1000 * flush_secs)
        self.max_steps = None if max_steps is None else int_at_least("max_steps", max_steps, 1)
        try:
            os.makedirs(self.log_dir, exist_ok=True)
            self._writer = tf.summary.create_file_writer(
                self.log_dir, max_queue=1000, flush_millis=flush_millis
            )
        except (OSError, tf.errors.OpError) as exc:
            raise LRFinderError(
                f"cannot write TensorBoard events to log_dir {self.log_dir!r}: {exc}"
            ) from None
        with self._writer.as_default():
            tf.summary.experimental.write_raw_pb(_layout_summary(), step=0)
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            self._state = tf.Variable(
                _INITIAL_STATE, dtype=tf.float64, trainable=False,
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
        self._write_function = tf.function(self._write, autograph=False)

    def _read(self, index: int):
        return self._state[index].numpy()

    @property
    def stopped(self) -> bool:
        """Whether the divergence guard has stopped the sweep."""
        return bool(self._read(_STOPPED))

    @property
    def halted(self) -> bool:
        """Whether nothing more will be written: the guard stopped, or the step
        `max_steps - 1` was written. One variable read."""
        return bool(self._read(_HALTED))

    @property
    def stop_step(self) -> int | None:
        """The step at which the guard stopped (the last one recorded), or None."""
        state = self._state.numpy()
        return int(state[_LAST_STEP]) if state[_STOPPED] else None

    def write(self, step, learning_rate, loss, record=True):
        """Record one optimizer step; usable inside a `tf.function`.

        A step equal to the previous one means the previous attempt's update
        was skipped (a loss-scale optimizer that met non-finite gradients):
        with `detect_skips` it is counted under `tags.SKIPPED_UPDATES`, and
        the retry's loss and rate replace the attempt's.

        Args:
          step: the optimizer step the rate was applied at (read it *before*
            the update, e.g. `tf.identity(optimizer.iterations)`).
          learning_rate: the rate applied at that step.
          loss: the loss of that step's batch (a scalar).
          record: a bool (tensor): False makes the call a no-op.

        Returns:
          A boolean tensor: whether writing has halted (after this step).

        Only the ops the writer's options need are traced, and no conditional
        unless `record` is a tensor or `detect_skips` is on: this runs once
        per training step, so it is kept small.
        """
        step = tf.cast(step, tf.int64)
        learning_rate = _scalar(learning_rate, tf.float32)
        loss = _scalar(loss, tf.float32)
        if tf.distribute.has_strategy():  # replica-context variables: trace in place
            return self._write(step, learning_rate, loss, record)
        # One trace per writer, not one per trace of the caller (Keras traces
        # a train step twice); grappler inlines the call.
        return self._write_function(step, learning_rate, loss, record)

    def _write(self, step, learning_rate, loss, record):
        """`write` on tensors: step int64, rate and loss float32 scalars.

        Every op here runs once per training step, and in a tiny model's step
        each op's scheduling costs about as much as its work: the state is
        updated with a single select (an inactive writer keeps its state), and
        the guard is one comparison that is false for NaN.
        """
        state = self._state.value()
        current = tf.unstack(state)
        active = tf.equal(current[_HALTED], 0.0)
        if record is not True:
            active = tf.logical_and(active, record)
        step64 = tf.cast(step, tf.float64)
        rate64 = tf.cast(learning_rate, tf.float64)
        loss64 = tf.cast(loss, tf.float64)
        beta = self.smoothing
        average = beta * current[_AVERAGE] + (1.0 - beta) * loss64
        bias = beta * current[_BIAS]
        smoothed = average / (1.0 - bias)
        if self.stop_factor is None:
            # The debiased EMA advances by finite losses only. (With the guard,
            # a non-finite loss halts the writer, so its EMA is never used.)
            finite = tf.math.is_finite(loss64)
            average = tf.where(finite, average, current[_AVERAGE])
            bias = tf.where(finite, bias, current[_BIAS])
            smoothed = tf.where(finite, smoothed, tf.constant(float("nan"), tf.float64))
        best, stopped, halted = current[_BEST], current[_STOPPED], current[_HALTED]
        if self.stop_factor is not None:
            best = tf.minimum(best, smoothed)
            # `within` is false for a NaN or infinite loss (the difference is
            # NaN or inf). Not `logical_not(within)`: grappler rewrites that
            # into `>`, which is false for NaN.
            within = smoothed - best <= (self.stop_factor - 1.0) * tf.abs(best)
            stopped = 1.0 - tf.cast(within, tf.float64)
            halted = stopped
        if self.max_steps is not None:
            reached = tf.cast(step >= self.max_steps - 1, tf.float64)
            halted = reached if self.stop_factor is None else tf.maximum(stopped, reached)
        skipped = current[_SKIPPED]
        if self.detect_skips:
            repeat = tf.logical_and(active, tf.equal(step64, current[_LAST_STEP]))
            skipped = tf.where(repeat, skipped + 1.0, tf.constant(0.0, tf.float64))
        candidate = [None] * len(current)
        candidate[_AVERAGE], candidate[_BIAS], candidate[_BEST] = average, bias, best
        candidate[_HALTED], candidate[_STOPPED], candidate[_SKIPPED] = halted, stopped, skipped
        candidate[_LAST_STEP], candidate[_LAST_RATE], candidate[_LAST_LOSS] = step64, rate64, loss64
        candidate[_LAST_SMOOTHED] = smoothed
        # An inactive writer (halted, or `record` false) keeps its whole state.
        new = tf.where(active, tf.stack(candidate), state)
        self._state.assign(new)
        first = tf.less(current[_LAST_STEP], 0.0)  # no point recorded yet
        if record is True:
            # Once halted, write the last recorded point again: no conditional.
            last_step = tf.cast(new[_LAST_STEP], tf.int64)
            rate, last_loss, last_smoothed = tf.unstack(tf.cast(new[_LAST_RATE:_LAST_SMOOTHED + 1], tf.float32))
            self._write_point(last_step, rate, last_loss, last_smoothed, True, first)
        else:
            self._write_point(step, learning_rate, loss, tf.cast(smoothed, tf.float32), active, first)
        if self.detect_skips:
            self._emit(step, ((tags.SKIPPED_UPDATES, tf.cast(skipped, tf.float32), _SKIPPED_METADATA),), repeat)
        return new[_HALTED] > 0.0

    def _write_point(self, step, learning_rate, loss, smoothed, record, first):
        # The plugin metadata goes with a tag's first event only, as TF1's
        # FileWriter did and TensorBoard expects (it keeps the first), not with
        # every event as tf.summary.write does: a 3000-step log is 0.6 MB, not 1.8.
        def metadata(serialized):
            return tf.where(first, tf.constant(serialized), tf.constant(b""))

        self._emit(step, ((tags.LEARNING_RATE, learning_rate, metadata(_LR_METADATA)),
                          (tags.LOSS, loss, metadata(_LOSS_METADATA)),
                          (tags.SMOOTHED_LOSS, smoothed, metadata(_SMOOTHED_METADATA))), record)

    def _emit(self, step, summaries, record=True):
        """Write (tag, scalar, metadata) summaries at `step` where `record` holds.

        The summary op itself, with the tag verbatim (no enclosing name scope,
        `while/` or `compile_loss/`, leaks into it), not `tf.summary.write`:
        leaving `writer.as_default()` in a graph adds a flush of the writer,
        an fsync (0.24 ms here), to every step; the writer flushes every
        `flush_secs` instead. Under a distribution strategy, only the first
        replica writes, as with `tf.summary`. The writes are chained: side by
        side, they contend for the writer's lock from several threads.
        """
        replica = tf.distribute.get_replica_context() if tf.distribute.has_strategy() else None
        if replica is not None:
            first_replica = tf.equal(replica.replica_id_in_sync_group, 0)
            record = first_replica if record is True else tf.logical_and(record, first_replica)

        def write():
            written = []
            for tag, value, metadata in summaries:
                with tf.control_dependencies(written):
                    written = [tf.raw_ops.WriteSummary(
                        writer=self._writer._resource, step=step, tensor=value, tag=tag, summary_metadata=metadata,
                    )]
            with tf.control_dependencies(written):
                return tf.constant(True)

        if record is True:
            write()
        else:
            tf.cond(record, write, lambda: tf.constant(False))

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class StepLogger(keras.callbacks.Callback):
    """Logs the rate and the true loss of every optimizer step of `model.fit`.

    The loss is taken inside the compiled train step, from the model's
    `compute_loss`, so it is the loss of the batch (regularization included),
    not the running mean `fit` reports; the rate is the optimizer's rate at
    that step; the step is `optimizer.iterations` before the update. Every
    step is logged, also with `steps_per_execution > 1`.

    The compiled step only notes its point (step, rate, loss) in a small
    buffer that `fit` hands back with each block of steps (at one step per
    execution, the point itself); the rate is the tensor the optimizer
    computed for its update, not the schedule evaluated again. The points are
    written to the TensorBoard run from Python, by a `StepRecorder` that also
    keeps the smoothed loss and the divergence guard. In the TensorFlow
    profiler (tiny MLP), that is 3 graph ops a step at one step per
    execution and 6 at 16, where three summary ops and the guard in the
    graph were about 30 (20-30% of a 0.4 ms step); on the host, about 3 µs a
    step in isolation (see `bench/overhead.py`). The buffer is float32, the
    event file's type, unless the fit's steps go beyond float32's exact
    integers (2**24). Custom training loops log with `StepWriter`, in-graph.

    With `stop_factor`, training stops once the sweep diverged (see
    `StepRecorder`), and with `max_steps` once that many optimizer steps were
    logged; steps a compiled block runs after that point are not logged.

    `plan` (tag -> value, see `tags.PLAN_*`) is written at step 0, so that
    a reader knows what the sweep was asked to do. With `progress` 1 (or 2:
    one line at the end, for logs), a progress bar shows the steps done of
    `max_steps`, the current rate and the smoothed true loss with its best so
    far (pass `verbose=0` to `fit`).

    With `validation_data`, the loss on its first `validation_samples`
    samples is computed every `validation_every` steps, in the same compiled
    step, and logged beside the training loss (tag `tags.VAL_LOSS`); it is the
    data loss of the compiled loss function (regularization excluded).
    `validation_cost` then says what it cost.

    The model's `train_function` is swapped for a logged one between
    `on_train_begin` and `on_train_end`; `detach()` puts the original back
    (idempotent; call it in a `finally` if `fit` may raise).

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
        self.plan = dict(plan or {})
        self.progress = int(progress)
        self._progress_bar = None
        self._validation = None
        if validation_data is not None:
            self._validation = _validation_subsample(validation_data, validation_samples)
        self.validation_every = int_at_least("validation_every", validation_every, 1)
        # Validated now, so a bad argument fails before `fit` starts.
        self.stop_factor, self.smoothing, self.flush_secs = _checked_writer_options(
            stop_factor, smoothing, flush_secs
        )
        self.max_steps = None if max_steps is None else int_at_least("max_steps", max_steps, 1)
        self.log_dir = os.fspath(log_dir)
        self.recorder: StepRecorder | None = None
        self._events: ScalarEventWriter | None = None
        self._saved_train_function = None
        self._attached = False

    @property
    def stopped(self) -> bool:
        """Whether the divergence guard stopped the sweep."""
        return self.recorder is not None and self.recorder.stopped

    @property
    def stop_step(self) -> int | None:
        """The step at which the guard stopped the sweep (the last one logged), or None."""
        return None if self.recorder is None else self.recorder.stop_step

    def on_train_begin(self, logs=None):
        model = self.model
        if model.optimizer is None:
            raise LRFinderError("StepLogger needs a compiled model (model.optimizer is None)")
        optimizer = model.optimizer
        # Micro-batches per applied update, and a loss-scale optimizer (whose
        # skipped updates repeat a step): both fixed for this fit.
        self._accumulation = accumulation_steps(optimizer)
        loss_scaled = hasattr(optimizer, "inner_optimizer")
        self._events = ScalarEventWriter(self.log_dir, flush_secs=self.flush_secs, metadata=_TAG_METADATA)
        self._events.summary(summary_pb2.Summary.FromString(_layout_summary()), step=0)
        if self.plan:
            self._events.scalars(0, tuple(self.plan), tuple(float(v) for v in self.plan.values()), time.time())
        if self.progress:
            self._progress_bar = keras.utils.Progbar(self.max_steps, verbose=self.progress, unit_name="step",
                                                     stateful_metrics=["rate", "smoothed_loss", "best"])
        self.recorder = StepRecorder(
            self._events, stop_factor=self.stop_factor, smoothing=self.smoothing, max_steps=self.max_steps,
            detect_skips=loss_scaled,
        )
        self._columns = ["step", "rate", "loss"]
        if self._accumulation > 1:
            self._columns.append("record")
        if self._validation is not None:
            self._columns += ["validation_loss", "samples"]
            self._loss_fn = _plain_loss(model)
        # One row per train step of a block; the block's last step returns them all.
        self._capacity = int(getattr(model, "steps_per_execution", 1) or 1)
        # float32, the event file's type (rate and loss as they are: no cast
        # ops), where every step of this fit is exact in float32; else float64.
        self._dtype = tf.float32 if _last_step(model, self.params) < 2**24 else tf.float64
        # The rate the optimizer computes for its update, taken rather than
        # computed again (five graph ops per step) where it is computed in the
        # train step's own graph: not inside a conditional (gradient
        # accumulation, loss scaling) nor a cross-replica call.
        self._take_rate = not (
            self._accumulation > 1 or loss_scaled or model.distribute_strategy.num_replicas_in_sync > 1
        )
        # Where every train step applies one update (Keras's own train step on
        # trainable weights, the rate taken), consecutive steps have
        # consecutive `iterations`: the step places its point (row step %
        # capacity) and the host tells a block's rows by their steps. Else
        # (a custom train step may update zero times or twice) a row count does.
        self._by_step = (self._capacity > 1 and self._take_rate and bool(model.trainable_weights)
                         and type(model).train_step is keras.Model.train_step)
        # Only the variables this fit needs (creating one costs about a millisecond).
        with model.distribute_strategy.scope():
            def variable(value, dtype):
                return tf.Variable(value, dtype=dtype, trainable=False,
                                   aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

            if self._accumulation > 1:
                self._micro_losses = variable(0.0, tf.float64)
            if self._capacity > 1:
                empty = np.zeros([self._capacity, len(self._columns)])
                empty[:, 0] = -1  # a step column below every step: no row is taken before it is written
                self._points = variable(empty, self._dtype)
                if not self._by_step:
                    self._rows = variable([[0]], tf.int64)
        self._rows_read = 0
        self._newest_step = -1.0  # of the points taken (by-step buffer)
        self._saved_train_function = model.train_function
        self._attached = True
        original_train_step = model.train_step

        def logged_train_step(data):
            noted, rates = [], []
            with _recording_compute_loss(model, lambda loss: noted.append(self._note(loss, data))), \
                    _recording_learning_rate(optimizer if self._take_rate else None, rates.append):
                logs = original_train_step(data)
            if noted:
                points, rows = self._buffer(noted[0], rates)
                ours = {_POINTS_LOG: points, **({} if rows is None else {_ROWS_LOG: rows})}
                # A train step's logs that are not a dict travel inside ours.
                logs = {**logs, **ours} if isinstance(logs, dict) else {_STEP_LOGS: logs, **ours}
            return logs

        # `make_train_function` reads `self.train_step` once, when it builds
        # the function; the instance attribute is needed only for that call.
        with _attribute_set(model, "train_step", logged_train_step):
            model.make_train_function(force=True)
        logged_train_function = model.train_function

        def train_function(iterator):
            logs = logged_train_function(iterator)
            if not (isinstance(logs, dict) and _POINTS_LOG in logs):
                raise LRFinderError(
                    "StepLogger saw no loss: the model's train_step never called "
                    "compute_loss(). Call it from your train_step, or log from "
                    "your own loop with StepWriter.write(step, rate, loss)."
                )
            logs = dict(logs)  # the points are not for the progress bar or History
            points, rows = logs.pop(_POINTS_LOG), logs.pop(_ROWS_LOG, None)
            self._take(points, rows)
            return logs.pop(_STEP_LOGS, logs)

        model.train_function = train_function

    def _note(self, loss, data):
        """In the compiled step, before the update: this step's point, as a
        dict of scalar tensors (the rate only where it is not taken from the
        optimizer's update)."""
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            # Keras scales each replica's loss by 1/replicas; their sum is the
            # loss of the global batch.
            loss = replica.all_reduce(tf.distribute.ReduceOp.SUM, loss)
        optimizer = self.model.optimizer
        # Read here, before the update: reads and writes of one variable run in program order.
        step = tf.convert_to_tensor(optimizer.iterations)
        point = {"step": step, "loss": loss if loss.shape.rank == 0 else tf.reshape(loss, [])}
        if not self._take_rate:
            point["rate"] = tf.convert_to_tensor(optimizer.learning_rate)
        record = True  # every train step is an update, unless accumulating
        accumulation = self._accumulation
        if accumulation > 1:
            # One point per applied update: the mean loss of its micro-batches,
            # at its last micro-step (where the rate is the one applied).
            micro = tf.convert_to_tensor(_inner(optimizer)._iterations) % accumulation
            total = self._micro_losses.assign_add(tf.cast(point["loss"], tf.float64))
            record = tf.equal(micro, accumulation - 1)
            point["loss"] = total / accumulation
            point["record"] = record
            self._micro_losses.assign(tf.where(record, tf.constant(0.0, tf.float64), total))
        if self._validation is not None:
            due = tf.logical_and(record, tf.equal(step % self.validation_every, 0))
            point["validation_loss"] = tf.cond(  # in the buffer's type: no cast outside the branch
                due, self._validation_loss, lambda: tf.constant(float("nan"), self._dtype)
            )
            samples = tf.shape(tf.nest.flatten(data)[0])[0]
            if replica is not None:
                samples *= replica.num_replicas_in_sync
            point["samples"] = samples
        return point

    def _buffer(self, point, rates):
        """In the compiled step, after the update: put the point in the block's
        buffer, with the rate the update used (the first of `rates`, the
        optimizer's own, made in this graph).

        Returns (buffer, rows noted before this one), the tensors `fit` hands
        back; at one step per execution, the buffer is the row itself, and
        where the step places the row (`_by_step`) there is no count (None)."""
        if "rate" not in point:
            rate = next((r for r in rates if isinstance(r, tf.Tensor) and r.graph is point["loss"].graph), None)
            # A train step that did not update (or not in its own graph): the
            # rate at this step, as the optimizer computes it.
            point["rate"] = rate if rate is not None else _rate_at(self.model.optimizer, point["step"])
        row = tf.stack([tf.cast(point[name], self._dtype) for name in self._columns])
        if self._capacity == 1:  # the block is this step: no buffer, no count
            return row, None
        if self._by_step:
            noted = None
            at = tf.reshape(point["step"] % self._capacity, [1, 1])
        else:
            noted = self._rows.value()  # rows noted before this one, shape [1, 1]: scatter's index
            self._rows.assign_add(tf.ones([1, 1], tf.int64))
            at = noted % self._capacity
        # In place (one op; a scatter into a copy and an assign were two), then
        # read for `fit` to hand back: resource ops on one variable run in order.
        self._points.scatter_nd_update(at, tf.reshape(row, [1, len(self._columns)]))
        return self._points.value(), noted

    def _take(self, points, rows) -> None:
        """On the host, after a block: record its new points; stop `fit` once halted.

        `points`: the block's buffer (at one step per execution, the point);
        `rows`: the rows noted before the block's last step, where a count
        places them (else None)."""
        table = points.numpy()
        if table.ndim == 1:  # one step per execution: the point itself
            block = [table.tolist()]
        elif rows is None:  # placed by step: this block's rows are those past the newest taken
            fresh = table[table[:, 0] > self._newest_step]
            block = fresh[np.argsort(fresh[:, 0])].tolist()
            if block:
                self._newest_step = block[-1][0]
        else:  # placed by a count: the last step returns the rows noted before its own
            count = int(rows.numpy()[0, 0]) + 1
            if count - self._rows_read > self._capacity:  # cannot happen with Keras's fit; it would lose points
                raise LRFinderError(f"StepLogger: {count - self._rows_read} steps in one block, "
                                    f"more than steps_per_execution={self._capacity}")
            block = [table[row % self._capacity].tolist() for row in range(self._rows_read, count)]
            self._rows_read = count
        now = time.time()
        add = self.recorder.add
        for step, rate, loss, *extra in block:
            if extra:
                values = dict(zip(self._columns[3:], extra))
                add(int(step), rate, loss, now, record=values.get("record", 1.0) > 0.5,
                    validation_loss=values.get("validation_loss", math.nan), samples=int(values.get("samples", 0)))
            else:
                add(int(step), rate, loss, now)
        self._events.maybe_flush(now)  # live in TensorBoard, every flush_secs
        if self._progress_bar is not None and block:
            self._show_progress(block[-1])
        if self.recorder.halted:
            self.model.stop_training = True

    def _show_progress(self, point) -> None:
        recorder = self.recorder
        if recorder.last_step is None:
            return
        self._progress_bar.update(recorder.last_step + 1, values=[
            ("rate", point[1]), ("smoothed_loss", recorder.smoothed), ("best", recorder.best),
        ], finalize=recorder.halted)

    def _validation_loss(self):
        x, y = self._validation
        y_pred = self.model(x, training=False)
        return tf.cast(tf.reduce_mean(self._loss_fn(y, y_pred)), self._dtype)

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
        """Restore the model's own train function and close the event file."""
        if not self._attached:
            return
        self._attached = False
        self.model.train_function = self._saved_train_function
        self._saved_train_function = None
        self._events.close()


# Carried from the compiled step to `train_function`'s wrapper, then removed.
_POINTS_LOG = "_tb_lrfinder_points"
_ROWS_LOG = "_tb_lrfinder_rows"
_STEP_LOGS = "_tb_lrfinder_step_logs"  # a train step's own logs, where they are not a dict


def _inner(optimizer):
    """The optimizer that holds the schedule and counters (a LossScaleOptimizer's inner one)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def _last_step(model, params) -> float:
    """The largest step `fit` (with `params`, as Keras passes callbacks) can reach; inf if unknown."""
    steps, epochs = (params or {}).get("steps"), (params or {}).get("epochs")
    if not steps or not epochs:
        return math.inf
    return int(model.optimizer.iterations.numpy()) + steps * epochs


def _rate_at(optimizer, step):
    """The optimizer's learning rate at `step` (its schedule's, or its fixed rate)."""
    schedule = getattr(_inner(optimizer), "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule(step)
    return tf.convert_to_tensor(optimizer.learning_rate)


def accumulation_steps(optimizer) -> int:
    """Micro-batches per applied update (Keras's `gradient_accumulation_steps`), 1 if none."""
    return int(getattr(_inner(optimizer), "gradient_accumulation_steps", None) or 1)


def _validation_subsample(data, samples: int):
    """The first `samples` examples of (x, y) arrays, as constant tensors."""
    samples = int_at_least("validation_samples", samples, 1)
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise LRFinderError("validation_data must be a tuple (x_val, y_val) of arrays")
    x, y = data
    return (
        tf.nest.map_structure(lambda a: tf.constant(a[:samples]), x),
        tf.nest.map_structure(lambda a: tf.constant(a[:samples]), y),
    )


def _plain_loss(model):
    """The model's compiled loss as a function (y_true, y_pred) -> per-sample losses."""
    loss = getattr(model, "loss", None)
    try:
        return keras.losses.get(loss)
    except (ValueError, TypeError):
        raise LRFinderError(
            f"the validation overlay needs a single compiled loss (a name or a keras Loss); got {loss!r}"
        ) from None


@contextlib.contextmanager
def _recording_compute_loss(model, record):
    """While tracing a train step, pass the first `compute_loss` result to `record`."""
    original = model.compute_loss
    recorded = False

    def compute_loss(*args, **kwargs):
        nonlocal recorded
        loss = original(*args, **kwargs)
        if not recorded:
            recorded = True
            record(loss)
        return loss

    with _attribute_set(model, "compute_loss", compute_loss):
        yield


@contextlib.contextmanager
def _recording_learning_rate(optimizer, record):
    """While tracing a train step, pass each rate `optimizer` computes to `record`
    (no-op for None, or an optimizer without Keras 3's `_get_current_learning_rate`)."""
    original = getattr(optimizer, "_get_current_learning_rate", None)
    if original is None:
        yield
        return

    def current_learning_rate():
        rate = original()
        record(rate)
        return rate

    with _attribute_set(optimizer, "_get_current_learning_rate", current_learning_rate):
        yield


@contextlib.contextmanager
def _attribute_set(obj, name, value):
    """Set an instance attribute for the block; restore what was there."""
    missing = object()
    previous = obj.__dict__.get(name, missing)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if previous is missing:
            delattr(obj, name)
        else:
            setattr(obj, name, previous)
