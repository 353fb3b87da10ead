"""`RangeTestCallback`: a range test at chosen epochs of a training, each its own run."""

from __future__ import annotations

import os
from collections.abc import Iterable

import keras

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.validation import int_at_least
from tb_lrfinder.training.checks import check_tensorflow_backend
from tb_lrfinder.training.finder import find_lr


class RangeTestCallback(keras.callbacks.Callback):
    """Runs a range test at the start of the given epochs (0-based).

    The good rate moves as training proceeds; this callback shows how. At the
    start of each chosen epoch it runs `find_lr` on the model being trained
    (which puts weights and optimizer back exactly), logging each sweep as its
    own TensorBoard run `<log_root>/epoch_<n>`.

    Args:
      x, y: the sweep's data, as for `find_lr` (a small fixed subset is plenty).
      epochs: epochs at whose start a sweep runs.
      log_root: each sweep goes to `<log_root>/epoch_<n>`.
      **find_lr_kwargs: passed to `find_lr` (min_lr, max_lr, num_steps,
        batch_size, ...). `shuffle` defaults to False, so the sweep draws no
        random numbers and the training goes on exactly as without it.

    Attributes:
      results: {epoch: RangeTestResult}, filled as training proceeds.

    Example:

    >>> import keras, numpy as np, tempfile
    >>> from tb_lrfinder import RangeTestCallback
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> x = np.random.rand(256, 4); y = x.sum(axis=1, keepdims=True)
    >>> sweeps = RangeTestCallback(x, y, epochs=[0, 2], log_root=tempfile.mkdtemp(),
    ...                            num_steps=8, batch_size=32, verbose=0)
    >>> _ = model.fit(x, y, epochs=3, verbose=0, callbacks=[sweeps])
    >>> sorted(sweeps.results)
    [0, 2]
    """

    def __init__(self, x, y=None, *, epochs: Iterable[int], log_root: str | os.PathLike, **find_lr_kwargs):
        super().__init__()
        check_tensorflow_backend("RangeTestCallback")
        self.x, self.y = x, y
        self.epochs = sorted({int_at_least("epochs", e, 0) for e in epochs})
        if not self.epochs:
            raise LRFinderError("epochs must name at least one epoch")
        if "log_dir" in find_lr_kwargs:
            raise LRFinderError("give log_root, not log_dir: each sweep gets its own run under it")
        self.log_root = os.fspath(log_root)
        self.find_lr_kwargs = {"shuffle": False, **find_lr_kwargs}
        self.results: dict = {}

    def on_epoch_begin(self, epoch, logs=None):
        if epoch not in self.epochs:
            return
        stop_training = self.model.stop_training
        self.results[epoch] = find_lr(
            self.model, self.x, self.y, log_dir=os.path.join(self.log_root, f"epoch_{epoch}"), **self.find_lr_kwargs
        )
        self.model.stop_training = stop_training
