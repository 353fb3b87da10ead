"""A range test in a JAX training loop, run by test_other_backends.py in its own process, as on
a machine without TensorFlow (importing it fails here): `lr_range_schedule` drives SGD with
momentum, `sweep_plan` and `StepRecorder` record it. Prints one JSON line: the points."""

import json
import os
import sys


class NoTensorFlow:
    """Makes `import tensorflow` fail, as where it is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTensorFlow())
os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from tb_lrfinder import StepRecorder, lr_range_schedule, sweep_plan
from tb_lrfinder.results.runs import analyze_paths
from tb_lrfinder.sweep.schedules import one_cycle_from

MIN_LR, MAX_LR, STEPS, BATCH = 1e-4, 10.0, 40, 32

rng = np.random.default_rng(0)
x = rng.normal(size=(256, 4)).astype("float32")
y = x.sum(axis=1, keepdims=True)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
schedule = lr_range_schedule(MIN_LR, MAX_LR, num_steps=STEPS)
optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
optimizer.build(model.trainable_variables)
loss_fn = keras.losses.MeanSquaredError()


def loss_of(trainable, non_trainable, xb, yb):
    predictions, non_trainable = model.stateless_call(trainable, non_trainable, xb)
    return loss_fn(yb, predictions), non_trainable


def step_of(optimizer):
    """A jitted training step with `optimizer`: (loss, new state) from (state, x, y)."""

    @jax.jit
    def train_step(state, xb, yb):
        trainable, non_trainable, optimizer_vars = state
        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable, non_trainable, xb, yb)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return loss, (trainable, non_trainable, optimizer_vars)

    return train_step


start = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
state = (*start, [v.value for v in optimizer.variables])
train_step = step_of(optimizer)
points = []
plan = sweep_plan(MIN_LR, MAX_LR, STEPS, BATCH, optimizer)
with StepRecorder(sys.argv[1], stop_factor=4.0, max_steps=STEPS, plan=plan) as recorder:
    for step in range(STEPS):
        rate = float(schedule(step))  # the rate of this step's update, read before it
        first = step * BATCH % len(x)
        loss, state = train_step(state, x[first:first + BATCH], y[first:first + BATCH])
        points.append((step, rate, float(loss)))
        if recorder.record(step, rate, float(loss)):
            break

# A training from the result: 1cycle over the recommended range, from the model's start.
(result,), _ = analyze_paths([sys.argv[1]])
schedule = one_cycle_from(result.recommended, total_steps=20)
optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
optimizer.build(model.trainable_variables)
state = (*start, [v.value for v in optimizer.variables])
train_step = step_of(optimizer)
for step in range(20):
    first = step * BATCH % len(x)
    loss, state = train_step(state, x[first:first + BATCH], y[first:first + BATCH])
print(json.dumps({"points": points, "backend": keras.backend.backend(), "one_cycle_loss": float(loss),
                  "one_cycle_rates": [float(schedule(step)) for step in (0, 9, 18, 20)]}))
