"""Run in a subprocess by test_distributed.py: a sweep under MirroredStrategy
over 2 logical CPU devices, checked against a single-device reference."""

import json
import os
import sys

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

from tb_lrfinder import find_lr, lr_range_schedule

log_dir = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 8)).astype("float32")
y = np.argmax(x @ rng.normal(size=(8, 3)), axis=1).astype("int32")
BATCH, STEPS = 32, 16


def build():
    keras.utils.set_random_seed(1)
    return keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])


# Reference: one device, global batches, by hand.
reference = build()
initial = reference.get_weights()
optimizer = keras.optimizers.SGD(lr_range_schedule(1e-3, 0.5, STEPS))
loss_fn = keras.losses.SparseCategoricalCrossentropy()
expected = []
for k in range(STEPS):
    xb, yb = x[k * BATCH:(k + 1) * BATCH], y[k * BATCH:(k + 1) * BATCH]
    with tf.GradientTape() as tape:
        loss = loss_fn(yb, reference(xb, training=True))
    optimizer.apply_gradients(zip(tape.gradient(loss, reference.trainable_variables), reference.trainable_variables))
    expected.append(float(loss))

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = build()
    model.set_weights(initial)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
before = [v.numpy().copy() for v in model.variables]
result = find_lr(model, x, y, batch_size=BATCH, min_lr=1e-3, max_lr=0.5, num_steps=STEPS, stop_factor=1e6,
                 shuffle=False, verbose=0, log_dir=log_dir)
restored = all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))
print(json.dumps({
    "replicas": strategy.num_replicas_in_sync,
    "steps": result.frame["step"].tolist(),
    "logged": result.frame["loss"].tolist(),
    "expected": expected,
    "restored": restored,
    "event_files": sorted(f for f in os.listdir(log_dir) if "tfevents" in f),
}))
