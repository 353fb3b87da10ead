"""One worker of the MultiWorkerMirroredStrategy test (run by test_distributed.py).

argv: task_index port0 port1 log_dir
"""

import json
import os
import sys

index, port0, port1, log_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"127.0.0.1:{port0}", f"127.0.0.1:{port1}"]},
    "task": {"type": "worker", "index": index},
})
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()

import keras  # noqa: E402

from tb_lrfinder.training.custom_loop import sweep_custom_loop

rng = np.random.default_rng(0)
x = rng.normal(size=(1024, 8)).astype("float32")
y = np.argmax(x @ rng.normal(size=(8, 3)), axis=1).astype("int32")
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).with_options(options)

with strategy.scope():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    optimizer = keras.optimizers.SGD(0.01)
before = [v.numpy().copy() for v in model.variables]
loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
result = sweep_custom_loop(model, dataset, loss_fn, optimizer, strategy=strategy, min_lr=1e-3, max_lr=0.5,
                           num_steps=20, stop_factor=1e6, log_dir=log_dir)
restored = all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables))
print(json.dumps({
    "index": index,
    "chief_result": result is not None,
    "steps": None if result is None else result.frame["step"].tolist(),
    "restored": restored,
}), flush=True)
