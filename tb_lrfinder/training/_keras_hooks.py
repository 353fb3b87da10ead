"""The one adapter between tb_lrfinder and Keras beyond its documented use.

Keras has no public hook that hands a callback the loss of each batch (its
`logs["loss"]` is the epoch's running mean), nor one that runs a callback's
graph ops inside the compiled train step. `install_step_hook` gets both
by wrapping the model's train step. It relies on these Keras 3 behaviours,
each checked by `tests/test_keras_hooks.py`:

1. `model.make_train_function(force=True)` builds `model.train_function`
   around `model.train_step` as found on the model (Keras binds it when it
   builds; the shadow stays for the whole fit, so a lookup at trace time
   would find it too);
2. the train step (Keras's own, and custom ones written after Keras's guide)
   computes the batch's loss with `model.compute_loss(...)`, looked up on the
   model, before it applies the update;
3. `fit` calls `model.train_function(iterator)` for each block of
   `steps_per_execution` steps, looked up after `on_train_begin`, and the
   logs it gets back are the block's last train step's.

Nothing private is read or written: the model's `train_step`,
`compute_loss` and `train_function` are shadowed by instance attributes
while the hook is installed (one `fit`), then put back.
"""

from __future__ import annotations

import contextlib
import threading

from tb_lrfinder.core.errors import LRFinderError

_CARRIED = "_tb_lrfinder_carried"


_STEP_LOGS = "_tb_lrfinder_step_logs"  # a train step's own logs, where they are not a dict


def install_step_hook(model, *, before_update, after_step, take):
    """Replace `model`'s train function by one whose train steps also report
    to the caller; return a function that puts the model back as it was.

    In the compiled step, `before_update(loss, data)` is called at the step's
    first `compute_loss` (its result: the batch's loss), and
    `after_step(noted)` with what it returned once the train step is done;
    `after_step`'s tensors come back with the block's logs, and on the host
    `take(carried)` receives them after each block. Keras gets the train
    step's own logs. Under a distribution strategy each replica's train step
    is traced in its own thread: what a step noted is kept per thread.

    Raises (from the installed train function):
      LRFinderError: the train step never called `compute_loss`.
    """
    original_train_step, original_compute_loss = model.train_step, model.compute_loss
    saved_train_function = model.train_function
    tracing = threading.local()  # the train step being traced in this thread: (data, noted)

    def compute_loss(*args, **kwargs):
        loss = original_compute_loss(*args, **kwargs)
        step = getattr(tracing, "step", None)
        if step is not None and not step[1]:
            step[1].append(before_update(loss, step[0]))
        return loss

    def train_step(data):
        tracing.step = (data, [])
        try:
            logs = original_train_step(data)
        finally:
            noted, tracing.step = tracing.step[1], None
        if not noted:
            return logs
        carried = after_step(noted[0])
        # A train step's logs that are not a dict travel inside ours.
        return {**logs, _CARRIED: carried} if isinstance(logs, dict) else {_STEP_LOGS: logs, _CARRIED: carried}

    # Both are looked up on the model while the train step is traced, during fit.
    shadows = [_attribute_set(model, "train_step", train_step), _attribute_set(model, "compute_loss", compute_loss)]
    for shadow in shadows:
        shadow.__enter__()
    model.make_train_function(force=True)
    compiled = model.train_function

    def train_function(iterator):
        logs = compiled(iterator)
        if not (isinstance(logs, dict) and _CARRIED in logs):
            raise LRFinderError(
                "StepLogger saw no loss: the model's train_step never called compute_loss(). Call it from "
                "your train_step, or record from your own loop with StepRecorder.record(step, rate, loss)."
            )
        logs = dict(logs)  # the carried tensors are not for the progress bar or History
        take(logs.pop(_CARRIED))
        return logs.pop(_STEP_LOGS, logs)

    model.train_function = train_function

    def uninstall():
        model.train_function = saved_train_function
        for shadow in reversed(shadows):
            shadow.__exit__(None, None, None)

    return uninstall


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
