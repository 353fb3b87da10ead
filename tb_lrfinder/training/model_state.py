"""Snapshot and restore of what a sweep or a trial changes on a model.

A sweep trains the user's model with another optimizer; `ModelState` takes
every value it may change (weights, seed-generator states, metric states) and
the objects it swaps (optimizer, train function, History), and puts them back
bit for bit. `optimizer_copy` makes the optimizer a sweep or a trial trains with.
"""

from __future__ import annotations

import numpy as np


def optimizer_copy(optimizer, learning_rate):
    """A fresh optimizer like `optimizer` (same class and settings) at `learning_rate` (a rate or a schedule)."""
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:  # LossScaleOptimizer: copy the wrapper around a copied inner optimizer
        config = optimizer.get_config()
        config["inner_optimizer"] = optimizer_copy(inner, learning_rate)
        return type(optimizer)(**config)
    config = optimizer.get_config()
    config["learning_rate"] = learning_rate
    return type(optimizer).from_config(config)


def snapshot(variables) -> list[np.ndarray]:
    """Copies of the variables' values."""
    return [np.array(v.numpy(), copy=True) for v in variables]


def restore(variables, values) -> None:
    """Assign `values` (from `snapshot`) back to `variables`."""
    for variable, value in zip(variables, values):
        variable.assign(value)


class ModelState:
    """The parts of a model a sweep or a trial changes, to be put back exactly."""

    def __init__(self, model):
        self.model = model
        self._weight_count = len(model.variables)
        self.variables = list(model.variables) + list(getattr(model, "metrics_variables", []))
        self.values = snapshot(self.variables)
        self.optimizer = model.optimizer
        self.train_function = model.train_function
        self.stop_training = model.stop_training
        self.history = getattr(model, "history", _ABSENT)

    @property
    def weights(self) -> list[np.ndarray]:
        """The saved values of `model.variables` (metric states excluded), in their order."""
        return self.values[: self._weight_count]

    def restore(self):
        model = self.model
        restore(self.variables, self.values)
        model.optimizer = self.optimizer
        model.train_function = self.train_function
        model.stop_training = self.stop_training
        if self.history is _ABSENT:
            if "history" in vars(model):
                del model.history
        else:
            model.history = self.history


_ABSENT = object()
