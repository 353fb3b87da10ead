"""A range test driven by a custom training loop, for any `tf.distribute` strategy.

Keras's `fit` fails under `MultiWorkerMirroredStrategy` (keras issue 20585);
`sweep_custom_loop` runs the sweep with `strategy.run` instead:

* the loss of each step is the global batch's (per-replica losses averaged
  over the global batch and all-reduced), so every worker sees the same value
  and takes the same stop decision (the collectives stay in step);
* only the chief writes the TensorBoard run; every worker's `StepRecorder`
  applies the stop rule to the same points (the graph is the same everywhere);
* the model's variables are snapshotted before and put back after, also on
  error; the sweep's optimizer is its own.
"""

from __future__ import annotations

import os

import tensorflow as tf

from tb_lrfinder.core.validation import int_at_least, positive_float, rate_range
from tb_lrfinder.results.result import RangeTestResult
from tb_lrfinder.results.runs import read_range_test_run
from tb_lrfinder.sweep.plan import sweep_plan
from tb_lrfinder.sweep.recorder import StepRecorder
from tb_lrfinder.sweep.schedules import lr_range_schedule
from tb_lrfinder.training.checks import check_tensorflow_backend
from tb_lrfinder.training.data import batch_size_used
from tb_lrfinder.training.model_state import restore, snapshot


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process is the one that writes (the chief, or worker 0 without one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def sweep_custom_loop(
    model,
    dataset: tf.data.Dataset,
    loss_fn,
    optimizer,
    *,
    strategy: tf.distribute.Strategy | None = None,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    stop_factor: float = 4.0,
    smoothing: float = 0.9,
    log_dir: str | os.PathLike,
) -> RangeTestResult | None:
    """Run a range test with a custom loop under `strategy`.

    Args:
      model: a `keras.Model` built in `strategy.scope()`.
      dataset: yields (x, y) batches of the *global* batch size.
      loss_fn: a per-example loss, `loss_fn(y_true, y_pred)` -> shape [batch]
        (e.g. a Keras loss built with `reduction=None`).
      optimizer: a new optimizer created in `strategy.scope()`; its rate is
        replaced by the sweep's schedule.
      strategy: defaults to the current strategy.
      min_lr, max_lr, num_steps, stop_factor, smoothing: as for `find_lr`.
      log_dir: the run directory (written by the chief only).

    Returns:
      On the chief, a `RangeTestResult`; on the other workers, None.
    """
    check_tensorflow_backend("sweep_custom_loop")
    min_lr, max_lr = rate_range(min_lr, max_lr)
    num_steps = int_at_least("num_steps", num_steps, 2)
    stop_factor = positive_float("stop_factor", stop_factor)
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    log_dir = os.fspath(log_dir)
    optimizer.learning_rate = lr_range_schedule(min_lr, max_lr, num_steps)
    plan = sweep_plan(min_lr, max_lr, num_steps, batch_size_used(dataset, None), optimizer)
    recorder = StepRecorder(log_dir if chief else None, stop_factor=stop_factor, smoothing=smoothing,
                            max_steps=num_steps, plan=plan)
    saved = snapshot(model.variables)

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            per_example = loss_fn(y, model(x, training=True))
            loss = tf.nn.compute_average_loss(per_example)  # over the global batch
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        grads = tape.gradient(loss, model.trainable_variables)
        point = (tf.identity(tf.convert_to_tensor(optimizer.iterations)), tf.convert_to_tensor(optimizer.learning_rate),
                 tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, loss))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return point

    @tf.function
    def train_step(batch):
        # Every replica holds the same point: the first replica's is the step's.
        return tuple(strategy.experimental_local_results(value)[0] for value in strategy.run(replica_step, args=batch))

    try:
        iterator = iter(strategy.experimental_distribute_dataset(dataset))
        for _ in range(num_steps):
            try:
                batch = next(iterator)
            except StopIteration:
                break
            step, rate, loss = train_step(batch)
            if recorder.record(int(step), float(rate), float(loss)):
                break
    finally:
        # The weights are put back whatever failed, the log's close included;
        # errors of the user's model or data (and Ctrl-C) come through as raised.
        try:
            recorder.close()
        finally:
            restore(model.variables, saved)
    if not chief:
        return None
    return read_range_test_run(log_dir, smoothing=smoothing, stop_factor=stop_factor, planned_steps=num_steps)
