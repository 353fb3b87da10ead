"""sweep_custom_loop under the default strategy (the multi-worker run is in test_distributed.py)."""

import numpy as np
import pytest

pytest.importorskip("tensorflow")


def _sweep(tmp_path, optimizer, name):
    import keras
    import tensorflow as tf

    from tb_lrfinder.training.custom_loop import sweep_custom_loop

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(8, 3)), axis=1).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32, drop_remainder=True)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)
    return sweep_custom_loop(model, dataset, loss_fn, optimizer, min_lr=1e-4, max_lr=1.0, num_steps=30,
                             log_dir=tmp_path / name)


def test_a_custom_loop_sweep_is_analysed_as_find_lr_analyses_it(tmp_path):
    """The run holds the sweep's plan, so its analysis (and a reader's of the
    log alone) takes out the optimizer's momentum lag and knows the batch size,
    as for find_lr."""
    import keras

    from tb_lrfinder.logformat import tags
    from tb_lrfinder.logformat.table import read_scalars
    from tb_lrfinder.results.runs import analyze_paths

    result = _sweep(tmp_path, keras.optimizers.SGD(momentum=0.9), "momentum")
    (read_back,), _ = analyze_paths([tmp_path / "momentum"])
    assert result.analysis.momentum_lag == read_back.analysis.momentum_lag == pytest.approx(9.0)
    assert read_back.recommended.learning_rate == result.recommended.learning_rate
    scalars = read_scalars(tmp_path / "momentum")
    plan = dict(zip(scalars["tag"], scalars["value"]))
    assert plan[tags.PLAN_BATCH_SIZE] == 32 and plan[tags.PLAN_STEPS] == 30 and plan[tags.PLAN_STEP_SIZE] == 1


def test_an_ftrl_custom_loop_sweep_is_not_confident(tmp_path):
    import keras

    result = _sweep(tmp_path, keras.optimizers.Ftrl(), "ftrl")
    assert any("not a step size" in c for c in result.recommended.caveats)
