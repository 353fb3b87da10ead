import keras
import numpy as np
import pandas as pd
import pytest

from tb_lrfinder import LRFinderError, lr_range_schedule
from tb_lrfinder.analysis.curve import analyze
from tb_lrfinder.analysis.rules import sweep_axis
from tb_lrfinder.analysis.types import Recommendation
from tb_lrfinder.sweep.schedules import (
    Cyclical,
    OneCycle,
    cyclical_from,
    one_cycle_from,
    sweep_rates,
)


def _schedule_of(optimizer):
    """An optimizer's schedule, through its public config."""
    return keras.optimizers.schedules.deserialize(optimizer.get_config()["learning_rate"])


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
    restored = _schedule_of(loaded.optimizer)
    assert isinstance(restored, keras.optimizers.schedules.ExponentialDecay)
    assert restored.get_config() == schedule.get_config()
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations.numpy()) == 8
    assert float(loaded.optimizer.learning_rate.numpy()) == pytest.approx(float(model.optimizer.learning_rate.numpy()))


# 1cycle and cyclical schedules

def _values(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_one_cycle_closed_form():
    low, high, total = 0.01, 0.1, 200
    schedule = OneCycle(low, high, total, cycle_fraction=0.8, final_fraction=0.01)
    steps = np.arange(total + 1)
    cycle, half = 160.0, 80.0
    expected = np.where(
        steps <= half, low + (high - low) * steps / half,
        np.where(steps <= cycle, high - (high - low) * (steps - half) / half,
                 low - (low - low * 0.01) * np.minimum((steps - cycle) / (total - cycle), 1.0)))
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-5)
    assert float(schedule(80)) == pytest.approx(high, rel=1e-6) and float(schedule(200)) == pytest.approx(1e-4, rel=1e-5)


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclical_closed_form(mode):
    low, high, size, gamma = 0.001, 0.006, 10, 0.99
    schedule = Cyclical(low, high, size, mode=mode, gamma=gamma)
    steps = np.arange(60)
    cycle = np.floor(1 + steps / (2 * size))
    x = np.abs(steps / size - 2 * cycle + 1)
    scale = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma**steps}[mode]
    np.testing.assert_allclose(_values(schedule, steps), low + (high - low) * np.maximum(0, 1 - x) * scale, rtol=1e-5)


@pytest.mark.parametrize("schedule", [OneCycle(0.01, 0.1, 50), Cyclical(0.01, 0.1, 5, mode="triangular2")])
def test_serialization_round_trip_with_a_model(tmp_path, schedule):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(learning_rate=schedule), "mse")
    model.fit(np.ones((8, 3)), np.ones((8, 1)), verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    restored = _schedule_of(loaded.optimizer)
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    np.testing.assert_allclose(_values(restored, range(60)), _values(schedule, range(60)))


def test_built_from_a_recommendation_and_validated():
    rec = Recommendation(0.03, 0.01, 0.1, confident=True)
    assert one_cycle_from(rec, 100).high == 0.1 and cyclical_from(rec, 10).low == 0.01
    with pytest.raises(LRFinderError, match="no recommendation"):
        one_cycle_from(None, 100)
    with pytest.raises(LRFinderError, match="cycle_fraction"):
        OneCycle(0.01, 0.1, 100, cycle_fraction=1.5)
    with pytest.raises(LRFinderError, match="max_lr"):
        OneCycle(0.1, 0.01, 100)
    with pytest.raises(LRFinderError, match="mode"):
        Cyclical(0.01, 0.1, 5, mode="sine")


def test_linear_sweep_schedule_and_its_analysis_axis():
    from tb_lrfinder import lr_range_schedule

    schedule = lr_range_schedule(0.01, 1.0, 50, mode="linear")
    np.testing.assert_allclose(_values(schedule, range(50)), sweep_rates(0.01, 1.0, 50, mode="linear"), rtol=1e-5)
    np.testing.assert_allclose(sweep_rates(0.01, 1.0, 50, mode="linear"), 0.01 + 0.99 * np.arange(50) / 50)
    rates = sweep_rates(0.01, 1.0, 100, mode="linear")
    assert sweep_axis(rates) == "linear" and sweep_axis(sweep_rates(0.01, 1.0, 100)) == "log"
    # Loss falls fastest at rate 0.3 on a linear axis (a tanh step there), min near 0.6, then rises.
    loss = 2 - np.tanh((rates - 0.3) * 10) + 20 * np.clip(rates - 0.6, 0, None) ** 2
    result = analyze(pd.DataFrame({"step": np.arange(100), "learning_rate": rates, "loss": loss}), smoothing=0.0)
    assert result.steepest.learning_rate == pytest.approx(0.3, abs=0.02)
    with pytest.raises(LRFinderError, match="mode"):
        sweep_rates(0.01, 1.0, 50, mode="cubic")
