"""Step recording: one range test's points, the online stop rule, and the run they go to.

`StepRecorder` is the one host-side recorder of a sweep. `callback.StepLogger`
feeds it the points of `model.fit`, `custom_loop.sweep_custom_loop` those of
its own loop, and a user's custom loop can call it directly. For each point
(step, rate, the loss of that step's batch) it keeps the source article's
debiased moving average of the loss,

    avg_n = beta * avg_{n-1} + (1 - beta) * loss_n,  smoothed_n = avg_n / (1 - beta**n)

(n counts finite losses), writes rate, loss and smoothed loss to the run, and
*halts* after the first point whose loss is NaN/inf or whose smoothed loss
passes the stop rule (`analysis.diverged`), or after step `max_steps - 1`.
Points after a halt are dropped: the log ends where the sweep stopped.
No TensorFlow: events go through `events.EventFileWriter`.
"""

from __future__ import annotations

import math
import operator
import os
import time

from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.scalar import metadata as scalar_metadata

from tb_lrfinder.core.divergence import diverged, floor_scale
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.smoothing import time_constant
from tb_lrfinder.core.validation import fraction, int_at_least, positive_float
from tb_lrfinder.core.validation import stop_factor as checked_stop_factor
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.writer import EventFileWriter


def _description(text: str) -> bytes:
    return scalar_metadata.create_summary_metadata(display_name="", description=text).SerializeToString()


_LOG_RATE_AXIS = " The step axis is a log-rate axis."


_PLAN = _description("The sweep's plan (one value at step 0), so that readers of the run know what it was asked to do.")


TAG_METADATA = {
    tags.LEARNING_RATE: _description("Learning rate applied at this optimizer step. The sweep grows the rate "
                                     "exponentially, so the step axis is a log-rate axis."),
    tags.LOSS: _description("True loss of this step's batch (before the update), not the running mean of the "
                            "epoch." + _LOG_RATE_AXIS),
    tags.SMOOTHED_LOSS: _description("Debiased exponential moving average of the loss (the stop rule's curve)."
                                     + _LOG_RATE_AXIS),
    tags.VAL_LOSS: _description("Loss on a fixed validation subsample, every few steps (the weights of that step, "
                                "before its update). Where it parts from the training loss, over-fitting or "
                                "instability shows first." + _LOG_RATE_AXIS),
    tags.SKIPPED_UPDATES: _description("Attempts at this optimizer step whose update was skipped (non-finite "
                                       "gradients under mixed-precision loss scaling; the step and rate did not "
                                       "advance). Not divergence."),
    **dict.fromkeys(tags.PLAN_TAGS, _PLAN),
}
"""Serialized `SummaryMetadata` per tag (a description TensorBoard shows beside the chart)."""


def layout_summary() -> summary_pb2.Summary:
    """A custom-scalars layout that groups the sweep's charts (built without TensorFlow)."""
    from tensorboard.compat.proto import tensor_pb2, types_pb2
    from tensorboard.plugins.custom_scalar import layout_pb2
    from tensorboard.plugins.custom_scalar import metadata as custom_scalar_metadata

    def chart(title, *tags_):
        patterns = [f"^{tag}$" for tag in tags_]
        return layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=patterns))

    layout = layout_pb2.Layout(category=[layout_pb2.Category(
        title="learning-rate range test (step axis = log rate)",
        chart=[chart("loss: raw, smoothed, validation", tags.LOSS, tags.SMOOTHED_LOSS, tags.VAL_LOSS),
               chart("learning rate", tags.LEARNING_RATE)],
    )])
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[layout.SerializeToString()])
    tensor.tensor_shape.SetInParent()
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=custom_scalar_metadata.CONFIG_SUMMARY_TAG, tensor=tensor,
        metadata=custom_scalar_metadata.create_summary_metadata())])


_POINT_TAGS = (tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS)


class StepRecorder:
    """Records a sweep's steps to a TensorBoard run and decides when it stops.

    Args:
      log_dir: the run directory (created if missing); None records without
        writing (a worker that is not the chief).
      stop_factor: divergence threshold (> 1), or None for no stop rule.
      smoothing: EMA coefficient beta in [0, 1).
      max_steps: the last step recorded is `max_steps - 1`; None for no limit.
        With `detect_skips`, the halt comes with the first point past it.
      detect_skips: a point at the same step as the previous one is a retry of
        a skipped update (a loss-scale optimizer met non-finite gradients):
        it replaces that point and is counted under `tags.SKIPPED_UPDATES`.
      flush_secs: events reach the disk at least this often (seconds) while
        points come in, so the sweep can be watched live; `close` flushes.
      plan: tag -> value (see `tags.PLAN_*`), written at step 0 so that
        readers know what the sweep was asked to do.

    Raises:
      LRFinderError: a bad option (named), or a log directory that cannot be written.

    Example (a custom loop: pull step, rate and loss to the host each step):

    >>> import tempfile
    >>> from tb_lrfinder import StepRecorder
    >>> with StepRecorder(tempfile.mkdtemp(), stop_factor=4.0) as recorder:
    ...     for step, loss in enumerate([1.0, 0.8, 0.7, 50.0]):
    ...         if recorder.record(step, 1e-3 * 2**step, loss):
    ...             break
    >>> recorder.stop_step
    3
    """

    def __init__(self, log_dir: str | os.PathLike | None, *, stop_factor: float | None = None,
                 smoothing: float = 0.9, max_steps: int | None = None, detect_skips: bool = False,
                 flush_secs: float = 2.0, plan: dict[str, float] | None = None):
        self.stop_factor, self.smoothing, flush_secs = checked_options(stop_factor, smoothing, flush_secs)
        self.max_steps = None if max_steps is None else int_at_least("max_steps", max_steps, 1)
        self.detect_skips = detect_skips
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self.halted = False
        self.stop_step: int | None = None
        self.last_step: int | None = None
        self.smoothed = math.nan  # of the last point recorded
        self.best = math.inf  # the lowest smoothed loss so far
        self.training_samples = 0
        self.validation_evaluations = 0
        self._average, self._bias = 0.0, 1.0
        self._window = time_constant(self.smoothing)
        self._first_losses: list[float] = []  # the first time constant of finite losses
        self._negative = False  # whether a loss was below zero
        self._floor_scale = 0.0  # see analysis.diverged: 0 until a loss is negative
        self._before_last = self._state()
        self._skipped = 0
        self._events = None
        if self.log_dir is not None:
            self._events = EventFileWriter(self.log_dir, flush_secs=flush_secs, metadata=TAG_METADATA)
            self._events.summary(layout_summary(), step=0)
            if plan:
                self._events.scalars(0, tuple(plan), tuple(float(v) for v in plan.values()), time.time())

    @property
    def stopped(self) -> bool:
        """Whether the stop rule (not `max_steps`) halted the sweep."""
        return self.stop_step is not None

    def record(self, step: int, learning_rate: float, loss: float, *, wall_time: float | None = None,
               update: bool = True, validation_loss: float = math.nan, samples: int = 0) -> bool:
        """Take one train step's point; return whether the sweep has halted.

        Args:
          step: the optimizer step the rate was applied at (before the update).
          learning_rate: the rate applied at that step.
          loss: the loss of that step's batch, before the update.
          wall_time: seconds since the epoch (default: now).
          update: False for a micro-step of gradient accumulation (only its
            samples count).
          validation_loss: logged beside the loss where not NaN.
          samples: training examples of the step, for `training_samples`.
        """
        if self.halted:
            return True
        if type(step) is not int or not _MIN_STEP <= step <= _MAX_STEP:  # (the checks cost ~0.1 us a step)
            step = checked_step(step)
        if type(loss) is not float:
            loss = checked_number("loss", loss)
        if type(learning_rate) is not float:
            learning_rate = checked_number("learning_rate", learning_rate)
        self.training_samples += samples
        if not update:
            return False
        if self.max_steps is not None and step >= self.max_steps:
            self.halted = True
            return True
        repeat = self.detect_skips and step == self.last_step
        if repeat:  # the retry replaces the skipped attempt, in the EMA too
            self._skipped += 1
            self._restore(self._before_last)
        else:
            self._skipped = 0
            self._before_last = self._state()
        finite = math.isfinite(loss)
        if finite:  # the EMA advances by finite losses only
            beta = self.smoothing
            starting = len(self._first_losses) < self._window
            if starting:
                self._first_losses.append(loss)
            if starting or (loss < 0 and not self._negative):
                self._negative = self._negative or loss < 0
                self._floor_scale = floor_scale(self._first_losses, beta, negative=self._negative)
            self._average = beta * self._average + (1.0 - beta) * loss
            self._bias *= beta
            self.smoothed = self._average / (1.0 - self._bias)
            self.best = min(self.best, self.smoothed)
        else:
            self.smoothed = math.nan
        names, values = _POINT_TAGS, (learning_rate, loss, self.smoothed)
        if repeat:
            names, values = names + (tags.SKIPPED_UPDATES,), values + (float(self._skipped),)
        if not math.isnan(validation_loss):
            names, values = names + (tags.VAL_LOSS,), values + (validation_loss,)
            self.validation_evaluations += 1
        if self._events is not None:
            now = time.time() if wall_time is None else wall_time
            self._events.scalars(step, names, values, now)
            self._events.maybe_flush(now)
        self.last_step = step
        if self.stop_factor is not None and (
                not finite or diverged(self.smoothed, self.best, self.stop_factor, self._floor_scale)):
            self.stop_step, self.halted = step, True
        # The last step ends the sweep; with skip detection only once the
        # next attempt shows that its update was applied (not retried).
        elif self.max_steps is not None and step >= self.max_steps - 1 and not self.detect_skips:
            self.halted = True
        return self.halted

    def _state(self) -> tuple:
        """What a retried step (a skipped update) rolls back."""
        return self._average, self._bias, self.best, len(self._first_losses), self._negative

    def _restore(self, state: tuple) -> None:
        self._average, self._bias, self.best, kept, self._negative = state
        del self._first_losses[kept:]
        self._floor_scale = floor_scale(self._first_losses, self.smoothing, negative=self._negative)

    def flush(self) -> None:
        """Write the points recorded so far to disk."""
        if self._events is not None:
            self._events.flush()

    def close(self) -> None:
        """Flush and close the run's event file (idempotent)."""
        if self._events is not None:
            self._events.close()

    def __enter__(self) -> StepRecorder:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


_MIN_STEP, _MAX_STEP = -(2**63), 2**63 - 1
"""Steps TensorBoard can store (int64)."""


def checked_step(step: object) -> int:
    """`step` as an int within int64, or raise naming it (a float, a string, a step TensorBoard cannot store)."""
    if isinstance(step, bool):
        raise LRFinderError(f"step must be an integer, got {step!r}")
    try:
        value = operator.index(step)  # ints, numpy integers, integer scalar tensors; not 3.0
    except TypeError:
        raise LRFinderError(f"step must be an integer, got {_shown(step)} ({type(step).__name__})") from None
    if not _MIN_STEP <= value <= _MAX_STEP:
        raise LRFinderError(f"step {value} is beyond int64, the range TensorBoard stores steps in")
    return value


def checked_number(name: str, value: object) -> float:
    """`value` as a float (NaN and inf allowed: they are data), or raise naming `name`."""
    if value is None or isinstance(value, (str, bytes)):
        raise LRFinderError(f"{name} must be a number, got {_shown(value)}")
    try:
        return float(value)  # Python and numpy numbers, scalar tensors and arrays of one value
    except (TypeError, ValueError, OverflowError):
        raise LRFinderError(f"{name} must be a number, got {_shown(value)} ({type(value).__name__})") from None


def _shown(value: object, limit: int = 60) -> str:
    """repr(value), cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checked_options(stop_factor, smoothing, flush_secs) -> tuple[float | None, float, float]:
    """The recorder's options, validated (an error names the bad one)."""
    if stop_factor is not None:
        stop_factor = checked_stop_factor(stop_factor)
    return stop_factor, fraction("smoothing", smoothing), positive_float("flush_secs", flush_secs)
