import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

# A script the distributed test runs in its own process; importing it here
# (as --doctest-modules would) would run it.
collect_ignore = ["distributed_sweep.py", "multiworker_sweep.py", "jax_sweep.py"]


@pytest.fixture
def tiny_data():
    """A separable 3-class problem: 512 samples of 8 features."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    w = rng.normal(size=(8, 3))
    y = np.argmax(x @ w, axis=1).astype("int32")
    return x, y


@pytest.fixture
def make_mlp():
    """Factory of a tiny compiled MLP (deterministic initial weights)."""
    import keras

    def make(optimizer=None, steps_per_execution=1, dropout=False, seed=1):
        keras.utils.set_random_seed(seed)
        layers = [keras.Input((8,)), keras.layers.Dense(16, activation="relu")]
        if dropout:
            layers.append(keras.layers.Dropout(0.3, seed=seed))
        layers.append(keras.layers.Dense(3, activation="softmax"))
        model = keras.Sequential(layers)
        model.compile(
            optimizer=optimizer or keras.optimizers.SGD(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=steps_per_execution,
        )
        return model

    return make


@pytest.fixture
def protobuf_parses(monkeypatch):
    """A list that grows by one for each event parsed with protobuf (`Event.FromString`)."""
    from tensorboard.compat.proto import event_pb2

    calls = []
    original = event_pb2.Event.FromString
    monkeypatch.setattr(event_pb2.Event, "FromString", lambda data: calls.append(1) or original(data))
    return calls
