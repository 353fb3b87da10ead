import numpy as np
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import read_scalars

pytest.importorskip("tensorflow")


def _train(make_mlp, tiny_data, callbacks, epochs=3):
    """Train without shuffling; return the weights at the end of each epoch."""
    import keras

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.Adam(1e-2), dropout=True)
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            snapshots.append([v.numpy().copy() for v in self.model.variables])

    model.fit(x, y, batch_size=64, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks + [Snapshot()])
    return snapshots


def test_two_sweeps_two_runs_and_training_unchanged(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import RangeTestCallback

    x, y = tiny_data
    plain = _train(make_mlp, tiny_data, [])
    sweeps = RangeTestCallback(x[:256], y[:256], epochs=[0, 2], log_root=tmp_path, batch_size=16,
                               min_lr=1e-4, max_lr=10.0, num_steps=16, verbose=0)
    with_sweeps = _train(make_mlp, tiny_data, [sweeps])
    assert sorted(sweeps.results) == [0, 2]
    scalars = read_scalars(tmp_path)
    assert sorted(set(scalars["run"])) == ["epoch_0", "epoch_2"]
    for run in ("epoch_0", "epoch_2"):
        assert len(scalars[(scalars["run"] == run) & (scalars["tag"] == tags.LOSS)]) > 0
    # The sweep at epoch 2 starts from a trained model: its first loss is lower.
    assert sweeps.results[2].frame["loss"].iloc[0] < sweeps.results[0].frame["loss"].iloc[0]
    for epoch, (a, b) in enumerate(zip(plain, with_sweeps)):
        for u, v in zip(a, b):
            assert np.array_equal(u, v), f"training diverged from the plain run at epoch {epoch}"


def test_arguments_are_checked():
    from tb_lrfinder import RangeTestCallback

    with pytest.raises(LRFinderError, match="log_root"):
        RangeTestCallback(np.ones((4, 8)), epochs=[0], log_root="x", log_dir="y")
    with pytest.raises(LRFinderError, match="epochs"):
        RangeTestCallback(np.ones((4, 8)), epochs=[-1], log_root="x")
