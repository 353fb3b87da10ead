"""_data.py: training data as `fit` takes it, fed for a number of steps."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")


def _epochs_and_batches(model, x, y, steps, **options):
    import keras

    from tb_lrfinder.training.data import fit_steps

    class Count(keras.callbacks.Callback):
        epochs = batches = 0
        sizes = []

        def on_epoch_begin(self, epoch, logs=None):
            Count.epochs += 1

        def on_train_batch_end(self, batch, logs=None):
            Count.batches += 1

    Count.epochs = Count.batches = 0
    fit_steps(model, x, y, steps, callbacks=[Count()], **options)
    return Count.epochs, Count.batches


@pytest.mark.parametrize("rows, batch_size", [(3, 32), (40, 32), (100, 8)])
def test_a_short_pass_does_not_cost_an_epoch_per_pass(make_mlp, rows, batch_size):
    """A pass of fewer batches than SHORT_PASS_BATCHES runs as one stream, not one Keras epoch
    each (an epoch costs ~15 ms against ~1 ms a step: 3 samples trained 15x slower per step)."""
    x = np.random.default_rng(0).normal(size=(rows, 8)).astype("float32")
    y = np.arange(rows, dtype="int32") % 3
    model = make_mlp()
    epochs, batches = _epochs_and_batches(model, x, y, 100, batch_size=batch_size, shuffle=True)
    assert (epochs, batches) == (1, 100)
    assert int(model.optimizer.iterations.numpy()) == 100


def test_a_short_pass_keeps_fits_batches(make_mlp):
    """Each pass is the rows once, in batches of batch_size and a short last one, as fit makes them;
    without shuffle, in order."""
    from tb_lrfinder.training.data import _passes

    x = np.arange(10, dtype="float32").reshape(10, 1)
    batches = [b.numpy().ravel().tolist() for b, _ in _passes(x, x, 4, shuffle=False).take(6)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] * 2
    shuffled = [b.numpy().ravel() for b, _ in _passes(x, x, 4, shuffle=True).take(6)]
    for k in (0, 3):  # every pass holds each row once
        assert sorted(np.concatenate(shuffled[k:k + 3]).tolist()) == list(range(10))


def test_a_long_pass_is_fed_as_arrays(make_mlp, tiny_data):
    x, y = tiny_data  # 16 batches a pass
    assert _epochs_and_batches(make_mlp(), x, y, 40, batch_size=32, shuffle=True) == (3, 40)


def test_array_data_without_a_batch_size_gets_fits_default_of_32(make_mlp):
    """Given steps and no batch size, Keras would pick ceil(rows / steps): 2,400 rows and 72 steps make
    batches of 34, 71 of them, and a trial of 72 steps would run out."""
    x = np.random.default_rng(0).normal(size=(2400, 8)).astype("float32")
    y = np.arange(2400, dtype="int32") % 3
    model = make_mlp()
    epochs, batches = _epochs_and_batches(model, x, y, 72, batch_size=None, shuffle=True)
    assert (epochs, batches) == (1, 72)
