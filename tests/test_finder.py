import os

import numpy as np
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.analysis.types import (
    DATA_EXHAUSTED,
    DIVERGED,
    LAST_STEP,
    NON_FINITE,
    TOO_FEW_POINTS,
)
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import read_scalars
from tb_lrfinder.results.curves import read_range_test
from tb_lrfinder.sweep.schedules import sweep_rates

pytest.importorskip("tensorflow")


def _state(model):
    """Every value a sweep could disturb: model variables and optimizer variables."""
    values = [v.numpy().copy() for v in model.variables]
    values += [v.numpy().copy() for v in model.optimizer.variables]
    return values


def _assert_identical(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _reference_losses(model, x, y, batch_size, min_lr, max_lr, num_steps, steps):
    """Train a copy by hand (GradientTape, same schedule) and return each batch's loss."""
    import keras
    import tensorflow as tf

    from tb_lrfinder import lr_range_schedule

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    config = model.optimizer.get_config()
    config["learning_rate"] = lr_range_schedule(min_lr, max_lr, num_steps)
    optimizer = type(model.optimizer).from_config(config)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    losses = []
    for k in range(steps):
        xb, yb = x[k * batch_size : (k + 1) * batch_size], y[k * batch_size : (k + 1) * batch_size]
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, copy(xb, training=True))
        grads = tape.gradient(loss, copy.trainable_variables)
        optimizer.apply_gradients(zip(grads, copy.trainable_variables))
        losses.append(float(loss))
    return np.array(losses)


def test_logged_loss_is_each_batch_true_loss_and_rate_follows_formula(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp()
    expected = _reference_losses(model, x, y, 32, 1e-3, 0.5, 16, 16)
    result = find_lr(
        model, x, y, batch_size=32, min_lr=1e-3, max_lr=0.5, num_steps=16,
        stop_factor=1e6, shuffle=False, verbose=0, log_dir=tmp_path / "run",
    )
    frame = result.frame
    assert frame["step"].tolist() == list(range(16))
    np.testing.assert_allclose(frame["loss"], expected, rtol=2e-5)
    # ... and not the running mean Keras reports in logs["loss"].
    running_mean = np.cumsum(expected) / np.arange(1, 17)
    assert np.max(np.abs(frame["loss"].to_numpy()[1:] - running_mean[1:])) > 1e-3
    np.testing.assert_allclose(
        frame["learning_rate"], 1e-3 * (0.5 / 1e-3) ** (frame["step"] / 16), rtol=1e-6
    )
    assert list(frame.columns) == ["step", "learning_rate", "loss", "smoothed_loss"]
    assert result.log_dir == str(tmp_path / "run")


def test_every_step_is_logged_with_steps_per_execution_4(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(steps_per_execution=4)
    result = find_lr(model, x, y, batch_size=16, min_lr=1e-4, max_lr=1e-1, num_steps=24,
                     verbose=0, log_dir=tmp_path)
    scalars = read_scalars(tmp_path)
    for tag in (tags.LEARNING_RATE, tags.LOSS):
        assert scalars.loc[scalars["tag"] == tag, "step"].tolist() == list(range(24))
    np.testing.assert_allclose(result.frame["learning_rate"], sweep_rates(1e-4, 1e-1, 24), rtol=1e-6)


def test_sweep_ends_at_num_steps_inside_a_block(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(steps_per_execution=4)  # fit rounds 30 steps up to 8 blocks of 4
    result = find_lr(model, x, y, batch_size=16, min_lr=1e-4, max_lr=1e-1, num_steps=30,
                     verbose=0, log_dir=tmp_path)
    assert result.frame["step"].tolist() == list(range(30))
    assert result.analysis.stop.reason == LAST_STEP


def test_early_stop_inside_a_block_does_not_log_later_steps(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(steps_per_execution=8)
    result = find_lr(model, x, y, batch_size=8, min_lr=1e-3, max_lr=1e6, num_steps=64,
                     verbose=0, log_dir=tmp_path)
    stop = result.analysis.stop
    assert stop.reason in (DIVERGED, NON_FINITE)
    assert result.frame["step"].iloc[-1] == stop.step < 63


def _pretrained(make_mlp, tiny_data, **kwargs):
    import keras

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.Adam(1e-3), dropout=True, **kwargs)
    model.fit(x[:64], y[:64], batch_size=32, verbose=0)  # optimizer built: slots, iterations=2
    return model


def test_state_is_bit_identical_after_a_diverging_sweep(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = _pretrained(make_mlp, tiny_data)
    optimizer = model.optimizer
    before = _state(model)
    result = find_lr(model, x, y, batch_size=8, min_lr=1e-4, max_lr=100.0, num_steps=60,
                     verbose=0, log_dir=tmp_path)
    assert result.analysis.stop.reason in (DIVERGED, NON_FINITE)
    assert model.optimizer is optimizer and float(optimizer.learning_rate) == pytest.approx(1e-3)
    _assert_identical(before, _state(model))
    # Training goes on exactly as it would have without the sweep.
    assert int(optimizer.iterations.numpy()) == 2


def test_state_is_bit_identical_after_a_nan_sweep(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    model.fit(x[:32], y[:32].astype("float32"), verbose=0)
    before = _state(model)
    result = find_lr(model, x, (y * 1e3).astype("float32"), batch_size=8, min_lr=1e-4,
                     max_lr=1e12, num_steps=60, stop_factor=1e30, verbose=0, log_dir=tmp_path)
    assert result.analysis.stop.reason == NON_FINITE
    assert not np.isfinite(result.frame["loss"].iloc[-1])
    _assert_identical(before, _state(model))


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_state_is_bit_identical_after_an_interrupted_sweep(tmp_path, make_mlp, tiny_data, monkeypatch, error):
    from tb_lrfinder import StepLogger, find_lr

    x, y = tiny_data
    model = _pretrained(make_mlp, tiny_data)
    train_function = model.train_function
    before = _state(model)
    calls = []
    original = StepLogger.on_train_batch_end

    def interrupt(self, batch, logs=None):
        calls.append(batch)
        original(self, batch, logs)
        if len(calls) == 3:
            raise error

    monkeypatch.setattr(StepLogger, "on_train_batch_end", interrupt)
    # The user's own error (and Ctrl-C) comes through as it was raised.
    with pytest.raises(type(error)) as info:
        find_lr(model, x, y, batch_size=8, num_steps=50, verbose=0, log_dir=tmp_path)
    assert info.value is error
    _assert_identical(before, _state(model))
    assert model.train_function is train_function
    # The model trains normally afterwards, with its own optimizer.
    model.fit(x[:32], y[:32], batch_size=32, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 3


def test_tf_data_input_and_data_running_out(tmp_path, make_mlp, tiny_data):
    import keras
    import tensorflow as tf

    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.Adam())
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)  # 16 batches
    # A Dataset of known size is repeated to fill the sweep ...
    result = find_lr(model, dataset, min_lr=1e-6, max_lr=1e-4, num_steps=40, verbose=0,
                     log_dir=tmp_path / "known")
    assert result.frame["step"].tolist() == list(range(40))
    assert result.analysis.stop.reason == LAST_STEP
    # ... one whose size is unknown up front runs out, and the analysis says so.
    unknown = dataset.filter(lambda features, labels: True)
    result = find_lr(model, unknown, min_lr=1e-6, max_lr=1e-4, num_steps=40, verbose=0,
                     log_dir=tmp_path / "unknown")
    assert len(result.frame) == 16
    assert result.analysis.stop.reason == DATA_EXHAUSTED
    assert "ran out" in result.analysis.stop.message


def _batches_of(x, y, size=32):
    """A `keras.utils.PyDataset` of (x, y) in batches of `size`, in order."""
    import keras

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return len(x) // size

        def __getitem__(self, i):
            return x[i * size:(i + 1) * size], y[i * size:(i + 1) * size]

    return Batches()


def test_a_py_dataset_is_repeated_to_fill_the_sweep(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    result = find_lr(make_mlp(), _batches_of(x, y), min_lr=1e-6, max_lr=1e-4, num_steps=40, verbose=0,
                     log_dir=tmp_path, report=False)  # 16 batches a pass
    assert result.frame["step"].tolist() == list(range(40))
    assert result.analysis.stop.reason == LAST_STEP


def test_streams_of_batches_sweep_again_and_verify_only_on_validation_data(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import LRFinderError, find_lr

    x, y = tiny_data

    def generator():
        while True:
            yield from (_batches_of(x, y)[i] for i in range(16))

    for name, stream in (("py_dataset", _batches_of(x, y)), ("generator", generator())):
        model = make_mlp()
        before = [w.copy() for w in model.get_weights()]
        result = find_lr(model, stream, num_steps=20, repeats=2, verbose=0, log_dir=tmp_path / name, report=False)
        assert [len(run.frame) for run in result.repeats] == [20, 20]
        with pytest.raises(LRFinderError, match="validation_data"):
            find_lr(model, stream, num_steps=20, verify=True, verbose=0, log_dir=tmp_path / f"{name}_v")
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    result = find_lr(make_mlp(), _batches_of(x, y), num_steps=20, verify=2, validation_data=(x[:64], y[:64]),
                     verbose=0, log_dir=tmp_path / "verified", report=False)
    assert result.verification is not None and result.verification.steps > 0
    finite = (_batches_of(x, y)[i] for i in range(16))  # used up by the sweep: the error keeps the sweep's run
    with pytest.raises(LRFinderError, match="verification failed, the training data ran out .* logged in .*used_up"):
        find_lr(make_mlp(), finite, num_steps=20, verify=2, validation_data=(x[:64], y[:64]), verbose=0,
                log_dir=tmp_path / "used_up")
    assert len(read_range_test(tmp_path / "used_up")) == 16
    assert any(name.endswith(".tb_lrfinder_report") for name in os.listdir(tmp_path / "used_up"))  # and its report


def test_other_keras_backends_are_refused_naming_the_way_out(tmp_path, make_mlp, tiny_data, monkeypatch):
    import keras

    from tb_lrfinder import (
        RangeTestCallback,
        StepLogger,
        find_lr,
        sweep_custom_loop,
        verify_rate,
    )

    x, y = tiny_data
    model = make_mlp()
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    for call in (lambda: find_lr(model, x, y, log_dir=tmp_path / "a"),
                 lambda: verify_rate(model, x, y, learning_rate=0.1),
                 lambda: StepLogger(tmp_path / "b"),
                 lambda: RangeTestCallback(x, y, epochs=[0], log_root=tmp_path / "c"),
                 lambda: sweep_custom_loop(model, None, None, None, log_dir=tmp_path / "d")):
        with pytest.raises(LRFinderError, match="runs on 'jax': set KERAS_BACKEND=tensorflow .* StepRecorder"):
            call()
    assert not any(tmp_path.iterdir())


def test_array_data_shorter_than_the_sweep_is_repeated_and_the_plan_is_in_the_run(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr
    from tb_lrfinder.results.runs import analyze_paths

    x, y = tiny_data  # 512 samples: 16 batches of 32
    result = find_lr(make_mlp(), x, y, min_lr=1e-6, max_lr=1e-4, num_steps=40, verbose=0,
                     log_dir=tmp_path, report=False)
    assert result.frame["step"].tolist() == list(range(40))
    assert result.analysis.stop.reason == LAST_STEP
    scalars = read_scalars(tmp_path)
    plan = dict(zip(scalars["tag"], scalars["value"]))
    assert plan[tags.PLAN_STEPS] == 40 and plan[tags.PLAN_BATCH_SIZE] == 32  # Keras's default batch size
    assert np.isclose(plan[tags.PLAN_MIN_LR], 1e-6, rtol=1e-6) and plan[tags.PLAN_LINEAR] == 0
    # analyze.py, which is not told the plan, reads it from the run and agrees.
    (run,), _ = analyze_paths([tmp_path])
    assert run.analysis.stop == result.analysis.stop


def test_a_sweep_cut_short_by_the_data_is_told_apart_from_a_complete_one(tmp_path, make_mlp, tiny_data):
    import tensorflow as tf

    from tb_lrfinder import find_lr
    from tb_lrfinder.results.runs import analyze_paths

    x, y = tiny_data
    unknown = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).filter(lambda a, b: True)
    find_lr(make_mlp(), unknown, min_lr=1e-6, max_lr=1e-4, num_steps=40, verbose=0, log_dir=tmp_path, report=False)
    (run,), _ = analyze_paths([tmp_path])
    assert run.analysis.stop.reason == DATA_EXHAUSTED  # not "last_step ... raise max_lr"


def test_progress_bar_counts_sweep_steps_with_rate_and_smoothed_loss(tmp_path, make_mlp, tiny_data, capsys):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    find_lr(make_mlp(), x, y, min_lr=1e-6, max_lr=1e-4, num_steps=40, verbose=1, log_dir=tmp_path, report=False)
    out = capsys.readouterr().out
    assert "40/40" in out and "rate:" in out and "smoothed_loss:" in out and "best:" in out
    assert "16/16" not in out and "Epoch" not in out  # not Keras's own bar over the data


def test_empty_data_and_unbuilt_models_are_refused_clearly(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    for empty in ([], {}, ()):
        with pytest.raises(LRFinderError, match="empty"):
            find_lr(make_mlp(), empty, y, verbose=0, log_dir=tmp_path / "a")
    with pytest.raises(LRFinderError, match="no samples"):
        find_lr(make_mlp(), x[:0], y[:0], verbose=0, log_dir=tmp_path / "b")
    lazy = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(3, activation="softmax")])  # no Input
    lazy.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    with pytest.raises(LRFinderError, match="no weights yet"):
        find_lr(lazy, x, y, verbose=0, log_dir=tmp_path / "c")
    assert not lazy.built and not lazy.weights  # nothing was created by the attempt


def test_rates_beyond_float32_are_refused_before_the_sweep(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    with pytest.raises(LRFinderError, match="float32's normal range"):
        find_lr(make_mlp(), x, y, min_lr=1e-40, verbose=0, log_dir=tmp_path)
    with pytest.raises(LRFinderError, match="num_steps=1000000000 is too many"):
        find_lr(make_mlp(), x, y, num_steps=10**9, verbose=0, log_dir=tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())  # refused before anything was written


@pytest.mark.parametrize("interrupt", [False, True])
def test_a_failing_log_flush_does_not_stop_the_restore(tmp_path, make_mlp, tiny_data, monkeypatch, interrupt):
    from tb_lrfinder import StepLogger, find_lr
    from tb_lrfinder.logformat.writer import EventFileWriter

    x, y = tiny_data
    model = _pretrained(make_mlp, tiny_data)
    history = model.history
    before = _state(model)

    def disk_full(self):  # as EventFileWriter.flush reports a full disk
        raise LRFinderError(f"cannot write TensorBoard events to {self.path!r}: No space left on device")

    monkeypatch.setattr(EventFileWriter, "close", disk_full)
    if interrupt:
        def ctrl_c(self, *args, **kwargs):
            raise KeyboardInterrupt

        monkeypatch.setattr(StepLogger, "on_train_batch_end", ctrl_c)
        with pytest.warns(RuntimeWarning, match="No space left"), pytest.raises(KeyboardInterrupt):
            find_lr(model, x, y, num_steps=20, verbose=0, log_dir=tmp_path)
    else:
        with pytest.raises(LRFinderError, match="No space left"):
            find_lr(model, x, y, num_steps=20, verbose=0, log_dir=tmp_path)
    _assert_identical(before, _state(model))
    assert model.history is history


def test_a_model_never_fit_has_no_history_after_the_sweep(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp()
    had_history = getattr(model, "history", None)
    find_lr(model, x, y, num_steps=10, verbose=0, log_dir=tmp_path, report=False)
    assert getattr(model, "history", None) is had_history


def test_hparams_record_the_batch_size_keras_used(tmp_path, make_mlp, tiny_data):
    from eventlog import iter_records
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2

    from tb_lrfinder import find_lr

    x, y = tiny_data
    find_lr(make_mlp(), x, y, num_steps=10, verbose=0, log_dir=tmp_path)
    hparams = {}
    for path in tmp_path.iterdir():
        for payload in iter_records(path, lambda problem: None):
            for value in event_pb2.Event.FromString(payload).summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    if data.HasField("session_start_info"):
                        hparams = dict(data.session_start_info.hparams)
    assert hparams["batch_size"].number_value == 32
    assert hparams["max_lr"].number_value == 10.0


def test_arguments_and_model_are_checked_up_front(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp()
    with pytest.raises(LRFinderError, match="max_lr"):
        find_lr(model, x, y, min_lr=1.0, max_lr=0.1)
    with pytest.raises(LRFinderError, match="num_steps"):
        find_lr(model, x, y, num_steps=1)
    uncompiled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    with pytest.raises(LRFinderError, match="not compiled"):
        find_lr(uncompiled, x, y)
    with pytest.raises(LRFinderError, match="model must be a keras.Model, got function"):
        find_lr(make_mlp, x, y)  # the factory, not its model
    find_lr(model, x, y, batch_size=64, num_steps=4, verbose=0, log_dir=tmp_path)
    with pytest.raises(LRFinderError, match="already holds"):
        find_lr(model, x, y, batch_size=64, num_steps=4, verbose=0, log_dir=tmp_path, if_exists="error")
    with pytest.raises(LRFinderError, match="if_exists must be one of 'new', 'replace', 'error', got 'keep'"):
        find_lr(model, x, y, batch_size=64, num_steps=4, verbose=0, log_dir=tmp_path, if_exists="keep")


def test_nan_at_the_first_step_is_reported_and_state_restored(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import find_lr

    # NaN by construction: the targets are NaN, so the squared error is NaN
    # whatever the kernels do (oneDNN's ReLU maps a NaN *input* to 0).
    x, _ = tiny_data
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    before = _state(model)
    poisoned = np.full((len(x), 1), np.nan, dtype="float32")
    result = find_lr(model, x, poisoned, batch_size=32, num_steps=10, verbose=0, log_dir=tmp_path)
    assert len(result.frame) == 1 and np.isnan(result.frame["loss"].iloc[0])
    assert result.analysis.stop.reason == TOO_FEW_POINTS
    assert "nan" in result.analysis.stop.message and result.learning_rate is None
    _assert_identical(before, _state(model))


def test_unwritable_log_dir_is_a_clear_error_and_state_restored(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp()
    before = _state(model)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(LRFinderError, match="cannot write TensorBoard events"):
        find_lr(model, x, y, num_steps=10, verbose=0, log_dir=blocker / "run")
    _assert_identical(before, _state(model))
    assert model.train_function is None or callable(model.train_function)
    model.fit(x[:32], y[:32], verbose=0)  # still trains with its own optimizer


def test_validation_overlay_every_k_steps_and_its_cost(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(steps_per_execution=4)
    result = find_lr(model, x[:384], y[:384], batch_size=16, min_lr=1e-4, max_lr=1.0, num_steps=24,
                     stop_factor=1e6, verbose=0, log_dir=tmp_path, validation_data=(x[384:], y[384:]),
                     validation_every=5, validation_samples=100)
    frame = result.frame
    measured = frame.loc[frame["val_loss"].notna(), "step"].tolist()
    assert measured == [0, 5, 10, 15, 20]
    # Independent check of the first point: the untouched model on the 100 validation samples.
    import keras

    fresh = make_mlp()
    expected = float(keras.losses.SparseCategoricalCrossentropy()(y[384:484], fresh(x[384:484], training=False)))
    assert frame["val_loss"].iloc[0] == pytest.approx(expected, rel=1e-5)
    cost = result.validation_cost
    assert cost["evaluations"] == 5 and cost["samples_per_evaluation"] == 100
    assert cost["training_samples"] == 24 * 16
    assert cost["relative_cost"] == pytest.approx(500 / (3 * 384))
    assert result.analysis.validation is not None and "validation loss" in result.analysis.validation.message


def test_repeated_sweeps_are_runs_of_their_own_and_combined(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp()
    before = _state(model)
    result = find_lr(model, x, y, min_lr=1e-4, max_lr=10.0, num_steps=30, verbose=0, log_dir=tmp_path,
                     report=False, repeats=3)
    assert [os.path.basename(r.log_dir) for r in result.repeats] == ["repeat_0", "repeat_1", "repeat_2"]
    assert result.log_dir == str(tmp_path)
    assert sorted(read_scalars(tmp_path)["run"].unique()) == ["repeat_0", "repeat_1", "repeat_2"]
    losses = [r.frame["loss"].to_numpy() for r in result.repeats]
    assert not np.array_equal(losses[0], losses[1])  # a new data order each time
    rates = sorted(r.learning_rate for r in result.repeats)
    assert result.learning_rate == pytest.approx(rates[1])  # the median of three
    assert result.recommended.high <= min(r.analysis.recommended.high for r in result.repeats) or \
        result.recommended.high == result.learning_rate
    _assert_identical(before, _state(model))

    # Read back, the three runs are the one answer find_lr gave: in Python, on the command line, in a plot.
    from tb_lrfinder.cli import main
    from tb_lrfinder.reporting.text import format_result
    from tb_lrfinder.results.runs import analyze_paths

    (read,), skipped = analyze_paths([tmp_path])
    assert not skipped and len(read.repeats) == 3 and read.learning_rate == pytest.approx(result.learning_rate)
    assert read.recommended == result.recommended or read.recommended.learning_rate == pytest.approx(
        result.recommended.learning_rate, rel=1e-6)
    assert f"recommended={result.learning_rate:.3g}" in repr(result) and "repeats=3" in repr(result)
    text = format_result(read)
    assert text.startswith(f"[{tmp_path}] 3 sweeps combined\nrecommended rate: {result.learning_rate:.3g}")
    assert main(["analyze", str(tmp_path)]) == 0
    plt = pytest.importorskip("matplotlib.pyplot")
    from tb_lrfinder import plot_range_test

    fig, ax = plt.subplots()
    try:
        plot_range_test(result, ax=ax)
        labels = [line.get_label() for line in ax.get_lines()]
        assert f"recommended {result.learning_rate:.2g} (3 sweeps combined)" in labels
    finally:
        plt.close(fig)


def test_combined_recommendation_flags_disagreeing_repeats():
    from tb_lrfinder.analysis.curve import combine
    from tb_lrfinder.analysis.types import Recommendation

    class Sweep:  # only `recommended` and the first smoothed losses are read
        def __init__(self, rate):
            self.recommended = Recommendation(rate, rate / 2, rate * 2, confident=True)
            self.smoothed = np.array([2.3, 2.2]) + rate  # a data order of its own

    agreeing = combine([Sweep(0.1), Sweep(0.12), Sweep(0.15)])
    assert agreeing.confident and agreeing.learning_rate == pytest.approx(0.12)
    disagreeing = combine([Sweep(0.01), Sweep(0.1), Sweep(0.2)])
    assert not disagreeing.confident and "disagree by 20.0x" in disagreeing.caveats[0]
    assert disagreeing.high == pytest.approx(0.02)  # the lowest top: past it, one sweep saw trouble


def test_repeats_that_saw_the_same_batches_are_not_confident(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    same = find_lr(make_mlp(), x, y, min_lr=1e-4, max_lr=1.0, num_steps=12, shuffle=False, repeats=2, verbose=0,
                   log_dir=tmp_path / "same", report=False)
    assert not same.recommended.confident
    assert any("same batches in the same order" in c for c in same.recommended.caveats)
    shuffled = find_lr(make_mlp(), x, y, min_lr=1e-4, max_lr=1.0, num_steps=12, repeats=2, verbose=0,
                       log_dir=tmp_path / "shuffled", report=False)
    assert not any("same batches" in c for c in shuffled.recommended.caveats)


def test_ftrl_is_warned_about_and_other_optimizers_are_not(tmp_path, make_mlp, tiny_data):
    """FTRL's rate scales its accumulated solution, not a step: a sweep's
    curve cannot show its good constant rates (the quality benchmark's
    round 12), so find_lr says so; an SGD twin sweeps without a warning."""
    import warnings

    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    options = dict(batch_size=32, min_lr=1e-4, max_lr=1e-2, num_steps=8, verbose=0, report=False)
    with pytest.warns(UserWarning, match="Ftrl's learning_rate is not a step size.*verify_rate"):
        result = find_lr(make_mlp(keras.optimizers.Ftrl(0.1)), x, y, log_dir=tmp_path / "ftrl", **options)
    assert len(result.frame) == 8  # the sweep still runs and is analysed
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        find_lr(make_mlp(), x, y, log_dir=tmp_path / "sgd", **options)


def test_an_ftrl_sweep_is_not_confident_also_when_read_back(tmp_path, make_mlp, tiny_data):
    """The plan tells the analysis that FTRL's rate is not a step size, so the
    recommendation carries that caveat, also for a reader of the log alone."""
    import keras

    from tb_lrfinder import find_lr
    from tb_lrfinder.results.runs import analyze_paths

    x, y = tiny_data
    options = dict(batch_size=32, min_lr=1e-4, max_lr=1e-1, num_steps=30, verbose=0, report=False)
    with pytest.warns(UserWarning, match="Ftrl"):
        result = find_lr(make_mlp(keras.optimizers.Ftrl(0.1)), x, y, log_dir=tmp_path / "ftrl", **options)
    (read_back,), _ = analyze_paths([tmp_path / "ftrl"])
    for recommended in (result.recommended, read_back.recommended):
        assert not recommended.confident and any("not a step size" in c for c in recommended.caveats)
    result = find_lr(make_mlp(), x, y, log_dir=tmp_path / "sgd", **options)
    assert not any("not a step size" in c for c in result.recommended.caveats)


def test_ftrl_verification_spans_the_swept_range(tmp_path, make_mlp, tiny_data):
    """With FTRL the curve's rate says nothing of constant rates, so verify=True
    tries one rate per decade of [min_lr, max_lr] (its first search), where
    an SGD twin tries rates around the curve's rate."""
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    options = dict(batch_size=32, min_lr=1e-6, max_lr=1.0, num_steps=8, verbose=0, report=False, verify=True)
    with pytest.warns(UserWarning, match="Ftrl"):
        result = find_lr(make_mlp(keras.optimizers.Ftrl(0.1)), x, y, log_dir=tmp_path / "ftrl", **options)
    first = min(t.first_round_steps for t in result.verification.trials)
    rates = sorted(t.learning_rate for t in result.verification.trials if t.first_round_steps == first)
    np.testing.assert_allclose(rates, 10.0 ** np.arange(-6, 1), rtol=1e-9)

    result = find_lr(make_mlp(), x, y, log_dir=tmp_path / "sgd", **options)
    first = min(t.first_round_steps for t in result.verification.trials)
    rates = sorted(t.learning_rate for t in result.verification.trials if t.first_round_steps == first)
    around = result.recommended.learning_rate * 2.0 ** np.arange(-2, 3)
    assert all(np.isclose(rates, rate, rtol=1e-9).any() for rate in around) and min(rates) > 1e-6


def test_a_report_that_cannot_be_written_is_a_warning_and_the_result_is_returned(tmp_path, make_mlp, tiny_data,
                                                                                 monkeypatch):
    """The sweep's events fit on the disk, its report does not: the result (and a verified rate)
    must not be lost over the report, and nothing half-written may stay behind."""
    import errno

    from tb_lrfinder import find_lr
    from tb_lrfinder.logformat import writer as report_module

    def full_disk(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module.os, "replace", full_disk)  # after the report was written aside
    x, y = tiny_data
    with pytest.warns(RuntimeWarning, match="No space left on device.*the sweep itself is logged in.*report=False"):
        result = find_lr(make_mlp(), x, y, batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=30, verbose=0,
                         log_dir=tmp_path / "sweep", verify=2)
    assert result.recommended is not None and result.verification is not None
    leftovers = [name for name in os.listdir(tmp_path / "sweep") if os.path.isfile(tmp_path / "sweep" / name)]
    assert len(leftovers) == 1 and leftovers[0].endswith(".v2")  # the sweep's events only: no partial report


def test_tiny_data_is_swept_and_verified(tmp_path, make_mlp):
    """Tiny data: a few samples a pass; each pass must not cost a Keras epoch (tests/test_data.py)."""
    from tb_lrfinder import find_lr

    x = np.random.default_rng(0).normal(size=(3, 8)).astype("float32")
    y = np.array([0, 1, 2], dtype="int32")
    result = find_lr(make_mlp(), x, y, batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=30, verbose=0,
                     log_dir=tmp_path / "tiny", verify=2, validation_data=(x, y), report=False)
    assert result.verification is not None and len(result.curve["step"]) >= 8


def test_the_same_call_runs_twice_and_replace_replaces_only_the_sweep(tmp_path, make_mlp, tiny_data, capsys):
    """A notebook cell run again: a fresh folder beside the first (said), or the first replaced."""
    from tb_lrfinder import find_lr, read_results

    x, y = tiny_data
    options = dict(batch_size=64, min_lr=1e-4, max_lr=10.0, num_steps=20, verbose=1, report=False, verify=2)
    first = find_lr(make_mlp(), x, y, log_dir=tmp_path / "sweep", **options)
    second = find_lr(make_mlp(), x, y, log_dir=tmp_path / "sweep", **options)
    assert first.log_dir == str(tmp_path / "sweep") and second.log_dir == str(tmp_path / "sweep_2")
    assert f"{tmp_path / 'sweep'} holds an earlier sweep: this one goes to {tmp_path / 'sweep_2'}" in capsys.readouterr().out
    (tmp_path / "sweep" / "notes.txt").write_text("mine")  # not the sweep's: stays
    third = find_lr(make_mlp(), x, y, log_dir=tmp_path / "sweep", if_exists="replace", **options)
    assert third.log_dir == str(tmp_path / "sweep")
    assert len([p for p in (tmp_path / "sweep").iterdir() if p.name.startswith("trial_")]) == len(
        third.verification.trials)  # the first sweep's trials went with it
    assert (tmp_path / "sweep" / "notes.txt").read_text() == "mine"
    assert len([p for p in (tmp_path / "sweep").iterdir() if "tfevents" in p.name]) == 1
    by_dir = {r.log_dir: r for r in read_results(tmp_path)}
    assert set(by_dir) == {str(tmp_path / "sweep"), str(tmp_path / "sweep_2")}
    assert by_dir[str(tmp_path / "sweep")].sweep_id == third.sweep_id != first.sweep_id
    assert len(by_dir[str(tmp_path / "sweep")].verification.trials) == len(third.verification.trials)


def test_repeats_write_the_combined_answer_as_their_own_report(tmp_path, make_mlp, tiny_data):
    pytest.importorskip("matplotlib")
    from eventlog import iter_records
    from tensorboard.compat.proto import event_pb2

    from tb_lrfinder import find_lr, read_results

    x, y = tiny_data
    result = find_lr(make_mlp(), x, y, min_lr=1e-4, max_lr=10.0, num_steps=30, verbose=0, log_dir=tmp_path,
                     repeats=2)
    reports = [name for name in os.listdir(tmp_path) if name.endswith(".tb_lrfinder_report")]
    assert len(reports) == 1  # in the root, beside repeat_0 and repeat_1 (each with its own)
    values = {}
    for data in iter_records(tmp_path / reports[0], lambda problem: None):
        for value in event_pb2.Event.FromString(data).summary.value:
            values[value.tag] = value
    text = values[tags.SUMMARY_TEXT].tensor.string_val[0].decode()
    assert "combines 2 sweeps" in text and f"| {result.learning_rate:.3g} |" in text
    scalars = read_scalars(tmp_path)
    metric = scalars[(scalars["run"] == ".") & (scalars["tag"] == tags.METRIC_RECOMMENDED_LR)]["value"]
    assert metric.tolist() == [pytest.approx(result.learning_rate, rel=1e-6)]
    (read,) = read_results(tmp_path)  # the report's own run is no sweep, and no skipped one either
    assert len(read.repeats) == 2


def test_verify_on_arrays_without_a_batch_size(tmp_path, make_mlp):
    from tb_lrfinder import find_lr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 8)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(8, 3)), axis=1).astype("int32")
    result = find_lr(make_mlp(), x, y, min_lr=1e-4, max_lr=10.0, num_steps=40, verbose=0, log_dir=tmp_path,
                     report=False, verify=2, train_steps=72, verify_budget=None)  # trials of all 72 steps
    assert result.verification is not None and result.verification.confirmed


def test_verify_says_why_nothing_was_verified(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp()
    model.compile(keras.optimizers.SGD(0.01), loss=lambda y_true, y_pred: 0.0 * keras.ops.sum(y_pred) + 0.7)
    with pytest.warns(UserWarning, match="nothing was verified.*the loss never fell"):
        result = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=20, verbose=0,
                         log_dir=tmp_path, report=False, verify=True)
    assert result.verification is None and result.recommended is None


def test_verify_budget_is_a_share_of_the_training(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr, read_results
    from tb_lrfinder.reporting.text import format_trials, result_to_dict

    x, y = tiny_data
    options = dict(batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=40, verbose=0, report=False, verify=True)
    result = find_lr(make_mlp(), x, y, log_dir=tmp_path / "a", train_steps=4000, **options)  # a tenth: 400
    verification, swept = result.verification, len(result.curve["step"])
    assert verification.budget == 400 - swept and verification.steps <= 400 - swept
    assert verification.training_steps == 4000 and verification.sweep_steps == swept
    assert verification.share == pytest.approx((swept + verification.steps) / 4000) and verification.share <= 0.1
    assert f"of the training's 4000 optimizer steps ({swept} + {verification.steps})" in format_trials(result)
    assert result_to_dict(result)["verification_cost"]["share"] == pytest.approx(verification.share)
    (read,) = read_results(tmp_path / "a")  # the trials' runs record the training's length
    assert read.verification.share == pytest.approx(verification.share)

    quarter = find_lr(make_mlp(), x, y, log_dir=tmp_path / "b", train_steps=2000, verify_budget=0.25, **options)
    assert quarter.verification.budget == 500 - swept and quarter.verification.share <= 0.25


def test_a_mid_length_training_is_verified_within_one_training(tmp_path, make_mlp, tiny_data):
    """A tenth of 1,200 steps cannot hold a 40-step sweep and 10-step rounds, but one training can:
    sweep and trials take at most 1,200 steps, and the message says so."""
    from tb_lrfinder import find_lr

    x, y = tiny_data
    result = find_lr(make_mlp(), x, y, log_dir=tmp_path, train_steps=1200, verify=True, batch_size=32, min_lr=1e-4,
                     max_lr=10.0, num_steps=40, verbose=0, report=False)
    swept = len(result.curve["step"])
    assert result.verification.budget == 1200 - swept
    assert swept + result.verification.steps <= 1200 and result.verification.share <= 1.0
    assert max(t.steps for t in result.verification.trials) < 1200  # no trial trains the whole training
    assert "so sweep and trials took at most one training's steps instead" in result.verification.message


def test_a_training_too_short_for_the_share_is_judged_at_its_length_or_not_verified(tmp_path, make_mlp, tiny_data):
    """A tenth of 300 steps cannot hold a 40-step sweep and 10-step rounds: verify=True judges the last
    pair at the training's whole length (and says so); by default the rate is not verified (a warning)."""
    from tb_lrfinder import find_lr

    x, y = tiny_data
    options = dict(batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=40, verbose=0, report=False)
    short = find_lr(make_mlp(), x, y, log_dir=tmp_path / "a", train_steps=300, verify=True, **options)
    assert short.verification.budget is None and max(t.steps for t in short.verification.trials) == 300
    assert "judged at the training's whole length instead" in short.verification.message
    with pytest.warns(UserWarning, match="train_steps=300: 0.1 of it cannot hold the sweep and trials"):
        unverified = find_lr(make_mlp(), x, y, log_dir=tmp_path / "b", train_steps=300, **options)
    assert unverified.verification is None
    with pytest.warns(UserWarning, match="train_steps=1200: 0.1 of it .* verify=True checks it within one training"):
        find_lr(make_mlp(), x, y, log_dir=tmp_path / "e", train_steps=1200, **options)
    long = find_lr(make_mlp(), x, y, log_dir=tmp_path / "c", train_steps=3000, **options)  # 300 - 40 >= 190
    assert long.verification is not None and long.verification.budget == 300 - len(long.curve["step"])
    for bad in (140, 0, -0.5):
        with pytest.raises(LRFinderError, match="verify_budget"):
            find_lr(make_mlp(), x, y, log_dir=tmp_path / "d", train_steps=500, verify=True, verify_budget=bad,
                    **options)


def test_verify_without_a_training_length_takes_about_one_pass(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    rng = np.random.default_rng(1)
    x = rng.normal(size=(16_000, 8)).astype("float32")  # one pass: 500 batches of 32
    y = np.argmax(x @ rng.normal(size=(8, 3)), axis=1).astype("int32")
    result = find_lr(make_mlp(), x, y, batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=40, verbose=0,
                     report=False, verify=True, log_dir=tmp_path)
    assert result.verification.budget == 500 and result.verification.steps <= 500
    assert result.verification.share is None
    assert "the training's length was not given (train_steps), so the trials took at most one pass over the " \
           "data (500 optimizer steps); trials this short favour rates that break down later: give train_steps " \
           "for a check sized to your training" in result.verification.message


def test_no_verify_budget_trains_the_last_pair_for_the_whole_training(tmp_path, make_mlp, tiny_data):
    from tb_lrfinder import find_lr

    x, y = tiny_data
    result = find_lr(make_mlp(), x, y, batch_size=32, min_lr=1e-4, max_lr=10.0, num_steps=40, verbose=0,
                     report=False, verify=2, train_steps=60, verify_budget=None, log_dir=tmp_path)
    assert result.verification.budget is None and max(t.steps for t in result.verification.trials) == 60


def test_verify_budget_counts_optimizer_steps_under_accumulation_and_blocks(tmp_path, make_mlp, tiny_data):
    """Gradient accumulation (2 batches a step) and steps_per_execution 4: the sweep and the trials
    together stay within the share of the training, counted in optimizer steps."""
    import keras

    from tb_lrfinder import find_lr

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.SGD(0.01, gradient_accumulation_steps=2), steps_per_execution=4)
    result = find_lr(model, x, y, batch_size=16, min_lr=1e-4, max_lr=10.0, num_steps=40, verbose=0, report=False,
                     log_dir=tmp_path, verify=True, train_steps=3000)
    verification = result.verification
    assert verification.sweep_steps == len(result.curve["step"]) <= 40
    assert verification.budget == 300 - verification.sweep_steps
    assert 0 < verification.steps <= verification.budget and verification.share <= 0.1
    assert sum(t.steps for t in verification.trials) == verification.steps
