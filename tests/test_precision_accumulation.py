"""Mixed precision (skipped updates) and gradient accumulation."""

import numpy as np
import pytest

from tb_lrfinder.analysis.types import LAST_STEP, NON_FINITE
from tb_lrfinder.sweep.schedules import sweep_rates

pytest.importorskip("tensorflow")


def test_gradient_accumulation_logs_one_point_per_update(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.SGD(0.01, gradient_accumulation_steps=4))
    reference = make_mlp()  # same initial weights: for the first update's loss
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    first_update_loss = np.mean([float(loss_fn(y[i * 8:(i + 1) * 8], reference(x[i * 8:(i + 1) * 8], training=True)))
                                 for i in range(4)])
    result = find_lr(model, x, y, batch_size=8, min_lr=1e-3, max_lr=1.0, num_steps=12, stop_factor=1e6,
                     shuffle=False, verbose=0, log_dir=tmp_path)
    frame = result.frame
    assert frame["step"].tolist() == list(range(12))  # updates, not the 48 micro-batches
    np.testing.assert_allclose(frame["learning_rate"], sweep_rates(1e-3, 1.0, 12), rtol=1e-6)
    assert frame["loss"].iloc[0] == pytest.approx(first_update_loss, rel=1e-5)
    assert result.analysis.stop.reason == LAST_STEP


def _mixed_precision_sweep(log_dir, tiny_data, initial_scale):
    """A float16 sweep whose loss scale starts at `initial_scale` (huge: the first attempts overflow)."""
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(3), keras.layers.Activation("softmax", dtype="float32")])
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01), initial_scale=initial_scale)
        model.compile(optimizer, "sparse_categorical_crossentropy")
        return find_lr(model, x, y, batch_size=16, min_lr=1e-3, max_lr=1.0, num_steps=20, stop_factor=1e6,
                       verbose=0, log_dir=log_dir, report=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision_sweep_marks_skipped_steps(tmp_path, tiny_data):
    result = _mixed_precision_sweep(tmp_path, tiny_data, 2.0**22)
    frame = result.frame
    assert frame["step"].tolist() == list(range(20))  # 20 applied updates, despite the skipped attempts
    assert frame["skipped_updates"].fillna(0).iloc[0] > 0
    assert result.analysis.stop.reason != NON_FINITE and np.isfinite(frame["loss"]).all()
    assert "skipped" in " ".join(result.analysis.notes)


def test_more_skipped_updates_than_steps_still_give_a_complete_sweep(tmp_path, tiny_data):
    # 2**60: dozens of overflowing attempts, more than num_steps, before the scale fits float16.
    result = _mixed_precision_sweep(tmp_path, tiny_data, 2.0**60)
    frame = result.frame
    assert frame["step"].tolist() == list(range(20))
    assert frame["skipped_updates"].fillna(0).sum() > 20
    assert result.analysis.stop.reason == LAST_STEP


def test_gradient_accumulation_with_validation_measures_each_due_update_once_before_it(tmp_path, make_mlp,
                                                                                        tiny_data):
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.SGD(0.01, gradient_accumulation_steps=2), steps_per_execution=3)
    fresh = make_mlp()  # the same initial weights
    result = find_lr(model, x[:384], y[:384], batch_size=8, min_lr=1e-3, max_lr=1.0, num_steps=12, stop_factor=1e6,
                     verbose=0, log_dir=tmp_path, validation_data=(x[384:], y[384:]), validation_every=4,
                     validation_samples=64)
    frame = result.frame
    assert frame.loc[frame["val_loss"].notna(), "step"].tolist() == [0, 4, 8]
    expected = float(keras.losses.SparseCategoricalCrossentropy()(y[384:448], fresh(x[384:448], training=False)))
    assert frame["val_loss"].iloc[0] == pytest.approx(expected, rel=1e-5)  # the weights before the first update
    assert result.validation_cost["evaluations"] == 3
