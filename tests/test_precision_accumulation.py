"""Mixed precision (skipped updates) and gradient accumulation."""

import numpy as np
import pytest

from tb_lrfinder import analysis, read_scalars, sweep_rates, tags

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
    assert result.analysis.stop.reason == analysis.LAST_STEP


def test_skipped_updates_are_marked_not_mistaken_for_divergence(tmp_path):
    import tensorflow as tf

    from tb_lrfinder import StepWriter, read_range_test

    # A loss-scale optimizer that skips an update repeats the step number: steps 0,1,1,2,3,3,3,4.
    writer = StepWriter(tmp_path, stop_factor=4.0, detect_skips=True)
    for step, loss in zip([0, 1, 1, 2, 3, 3, 3, 4], [2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3]):
        writer.write(tf.constant(step), 0.1 * 1.5**step, loss)
    writer.close()
    scalars = read_scalars(tmp_path)
    skipped = scalars[scalars["tag"] == tags.SKIPPED_UPDATES]
    assert dict(zip(skipped["step"], skipped["value"])) == {1: 1.0, 3: 2.0}
    frame = read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    assert frame["step"].tolist() == [0, 1, 2, 3, 4]
    assert frame["loss"].tolist() == pytest.approx([2.0, 1.8, 1.7, 1.4, 1.3])  # the retries' losses
    assert frame["skipped_updates"].fillna(0).tolist() == [0, 1, 0, 2, 0]
    assert not writer.stopped


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
    assert result.analysis.stop.reason != analysis.NON_FINITE and np.isfinite(frame["loss"]).all()
    assert "skipped" in " ".join(result.analysis.notes)


def test_more_skipped_updates_than_steps_still_give_a_complete_sweep(tmp_path, tiny_data):
    # 2**60: dozens of overflowing attempts, more than num_steps, before the scale fits float16.
    result = _mixed_precision_sweep(tmp_path, tiny_data, 2.0**60)
    frame = result.frame
    assert frame["step"].tolist() == list(range(20))
    assert frame["skipped_updates"].fillna(0).sum() > 20
    assert result.analysis.stop.reason == analysis.LAST_STEP
