"""Training data as `fit` takes it: arrays (or lists / dicts of them), which `fit`
batches itself, or a stream of ready batches: a `tf.data.Dataset`, a
`keras.utils.PyDataset`, a generator or other iterator."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np


def is_dataset(x) -> bool:
    """Whether x is a `tf.data.Dataset`."""
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


def is_stream(x) -> bool:
    """Whether x is a stream of ready batches (see the module), not arrays: it cannot be
    split, indexed or reordered here, only iterated by `fit`."""
    import keras

    return is_dataset(x) or isinstance(x, (keras.utils.PyDataset, Iterator))


def batch_size_used(x, batch_size: int | None) -> int:
    """Samples per batch `fit` uses: `batch_size`, Keras's 32 for arrays, a Dataset's static batch size, or 0
    (not known: any other stream)."""
    if batch_size is not None:
        return batch_size
    if not is_stream(x):
        return 32
    if not is_dataset(x):
        return 0
    import tensorflow as tf

    specs = tf.nest.flatten(x.element_spec)
    size = specs[0].shape[0] if specs and specs[0].shape.rank else None
    return int(size) if size is not None else 0


def first_array(x):
    """The first array of array data (x itself, or the first of a list / dict)."""
    if isinstance(x, (list, tuple)):
        return x[0]
    if isinstance(x, dict):
        return next(iter(x.values()))
    return x


def batches_available(x, batch_size: int | None) -> int | None:
    """Batches one pass over `x` yields, when that can be known up front."""
    if is_dataset(x):
        cardinality = int(x.cardinality())
        return cardinality if cardinality >= 0 else None
    if is_stream(x):  # a PyDataset knows its length, an iterator does not
        return _py_dataset_batches(x)
    first = first_array(x)
    if hasattr(first, "shape") and len(getattr(first, "shape", ())) > 0:
        return math.ceil(int(first.shape[0]) / (batch_size or 32))
    return None


def _py_dataset_batches(x) -> int | None:
    """A `keras.utils.PyDataset`'s `num_batches` (None: infinite, not a PyDataset, or one that
    defines neither `num_batches` nor `__len__`)."""
    try:
        batches = getattr(x, "num_batches", None)
    except NotImplementedError:
        return None
    return int(batches) if batches is not None and batches > 0 else None


def take_rows(data, rows):
    """The rows `rows` of array data (and of each array of a list / dict); None stays None."""
    if data is None:
        return None
    if isinstance(data, dict):
        return {key: take_rows(value, rows) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(take_rows(value, rows) for value in data)
    return np.asarray(data)[rows]


SHORT_PASS_BATCHES = 16
"""Array data with fewer batches a pass than this (and than the steps asked for) is fed to `fit` as
one repeated stream of its passes (`_passes`): as separate epochs, each pass would pay Keras's cost
of an epoch (~15 ms on a CPU, against ~1 ms for a small model's step)."""


def fit_steps(model, x, y, steps: int, *, batch_size: int | None, shuffle: bool, callbacks=(), verbose=0):
    """`model.fit` for `steps` batches, repeating the data (more epochs) where
    one pass holds fewer; data of unknown size runs until it ends. `shuffle`, as
    for `fit`, reorders arrays and a PyDataset's batches; a Dataset or an
    iterator orders itself."""
    if batch_size is None and not is_stream(x):
        # Keras's own default for arrays: given steps_per_epoch and no batch size, fit would pick
        # ceil(rows / steps) instead, and a pass would hold fewer batches than counted here.
        batch_size = 32
    available = batches_available(x, batch_size)
    if available is not None and available < min(steps, SHORT_PASS_BATCHES) and _plain_arrays(x, y):
        x, y, available = _passes(x, y, batch_size, shuffle), None, None
        batch_size = None
    per_epoch = steps if available is None else min(steps, available)
    epochs = math.ceil(steps / per_epoch) if available else 1
    callbacks = list(callbacks)
    if epochs * per_epoch > steps:  # the last epoch is cut short
        callbacks.append(_stop_after(steps))
    return model.fit(x, y, batch_size=batch_size, epochs=epochs, steps_per_epoch=per_epoch, callbacks=callbacks,
                     verbose=verbose, shuffle=shuffle and not (is_dataset(x) or isinstance(x, Iterator)))


def _plain_arrays(x, y) -> bool:
    """Whether x and y are numpy arrays (or lists, tuples or dicts of them; y may be None)."""
    def plain(data):
        if isinstance(data, dict):
            return all(plain(value) for value in data.values())
        if isinstance(data, (list, tuple)):
            return all(plain(value) for value in data)
        return isinstance(data, np.ndarray)

    return plain(x) and (y is None or plain(y))


def _passes(x, y, batch_size: int, shuffle: bool):
    """An endless `tf.data.Dataset` of `fit`'s batches of the arrays (x, y): pass after pass, each
    in a new random order where `shuffle` (as `fit` shuffles each epoch), its last batch short where
    the rows do not fill it, as in `fit`."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
    if shuffle:
        dataset = dataset.shuffle(int(first_array(x).shape[0]), reshuffle_each_iteration=True)
    return dataset.batch(batch_size).repeat()


def with_batch_left(x):
    """(whether `x` has a batch left, `x` to use from now on). An iterator is
    peeked and its batch put back in front (as a generator, which `fit`
    takes); other data is iterated afresh by each `fit` and always has."""
    if not isinstance(x, Iterator):
        return True, x
    for first in x:
        return True, _put_back(first, x)
    return False, x


def _put_back(first, rest):
    yield first
    yield from rest


def _stop_after(steps: int):
    """A callback that ends `fit` after `steps` batches in all (Keras's own only count per epoch)."""
    import keras

    class StopAfter(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen >= steps:
                self.model.stop_training = True

    return StopAfter()
