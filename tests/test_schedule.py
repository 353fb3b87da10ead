import numpy as np
import pytest

from tb_lrfinder import LRFinderError, lr_range_schedule, sweep_rates


def test_schedule_follows_closed_form():
    schedule = lr_range_schedule(1e-6, 1.0, num_steps=50)
    rates = np.array([float(schedule(step)) for step in range(50)])
    expected = 1e-6 * (1.0 / 1e-6) ** (np.arange(50) / 50)
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    np.testing.assert_allclose(sweep_rates(1e-6, 1.0, 50), expected, rtol=1e-12)
    assert float(schedule(50)) == pytest.approx(1.0, rel=1e-5)


def test_schedule_is_a_growing_exponential_decay():
    import keras

    schedule = lr_range_schedule(1e-3, 10.0, num_steps=10)
    assert isinstance(schedule, keras.optimizers.schedules.ExponentialDecay)
    config = schedule.get_config()
    assert config["decay_rate"] == pytest.approx(1e4) and config["decay_rate"] > 1
    assert config["decay_steps"] == 10 and config["staircase"] is False


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(min_lr=0.0, max_lr=1.0, num_steps=10), "min_lr"),
        (dict(min_lr=-1e-3, max_lr=1.0, num_steps=10), "min_lr"),
        (dict(min_lr=float("nan"), max_lr=1.0, num_steps=10), "min_lr"),
        (dict(min_lr=1e-3, max_lr=1e-4, num_steps=10), "max_lr"),
        (dict(min_lr=1e-3, max_lr=1e-3, num_steps=10), "max_lr"),
        (dict(min_lr=1e-3, max_lr=float("inf"), num_steps=10), "max_lr"),
        (dict(min_lr=1e-3, max_lr=1.0, num_steps=1), "num_steps"),
        (dict(min_lr=1e-3, max_lr=1.0, num_steps=2.5), "num_steps"),
        (dict(min_lr=1e-3, max_lr=1.0, num_steps=True), "num_steps"),
        (dict(min_lr="1e-3", max_lr=1.0, num_steps=10), "min_lr"),
    ],
)
def test_bad_arguments_name_the_argument_and_value(kwargs, name):
    with pytest.raises(LRFinderError, match=name) as info:
        lr_range_schedule(**kwargs)
    assert repr(kwargs[name]) in str(info.value) or str(kwargs[name]) in str(info.value)


def test_drop_in_for_sgd_and_adam_in_a_custom_loop():
    import keras
    import tensorflow as tf

    for optimizer_class in (keras.optimizers.SGD, keras.optimizers.Adam):
        schedule = lr_range_schedule(1e-4, 1.0, num_steps=20)
        optimizer = optimizer_class(learning_rate=schedule)
        weight = keras.Variable(np.ones(3, "float32"))
        seen = []
        for _ in range(5):
            seen.append(float(optimizer.learning_rate))
            optimizer.apply_gradients([(tf.ones(3), weight)])
        np.testing.assert_allclose(seen, sweep_rates(1e-4, 1.0, 20)[:5], rtol=1e-5)


def test_model_with_schedule_saves_and_loads(tmp_path, make_mlp, tiny_data):
    import keras

    schedule = lr_range_schedule(1e-5, 1.0, num_steps=30)
    model = make_mlp(optimizer=keras.optimizers.Adam(learning_rate=schedule))
    x, y = tiny_data
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.optimizer._learning_rate
    assert isinstance(restored, keras.optimizers.schedules.ExponentialDecay)
    assert restored.get_config() == schedule.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations) == 8
    assert float(loaded.optimizer.learning_rate) == pytest.approx(float(model.optimizer.learning_rate))
