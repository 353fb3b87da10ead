"""Checks of what `find_lr` and its kin are given that need Keras: the backend, a compiled model."""

from __future__ import annotations

from tb_lrfinder.core.errors import LRFinderError


def check_tensorflow_backend(caller: str) -> None:
    """Raise unless Keras runs on TensorFlow, which `caller` trains (or records `fit`) through."""
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise LRFinderError(
            f"{caller} needs Keras's TensorFlow backend, but Keras runs on {backend!r}: set "
            "KERAS_BACKEND=tensorflow before keras is first imported, or drive the sweep from your own loop with "
            "lr_range_schedule and StepRecorder, which work on any backend without TensorFlow"
        )


def check_compiled(model: object, caller: str) -> None:
    """Raise unless `model` is a compiled `keras.Model` on the TensorFlow backend, saying which it is not."""
    import keras

    check_tensorflow_backend(caller)
    if not isinstance(model, keras.Model):
        raise LRFinderError(f"model must be a keras.Model, got {type(model).__name__}")
    if getattr(model, "optimizer", None) is None:
        raise LRFinderError(f"the model is not compiled: call model.compile(optimizer=..., loss=...) before {caller}")
