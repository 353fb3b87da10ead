import numpy as np
import pytest

from tb_lrfinder import LRFinderError, read_scalars, sweep_rates, tags
from tb_lrfinder.smoothing import debiased_ema


def test_fit_logs_every_step_with_stable_tags_across_epochs(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import StepLogger, lr_range_schedule

    x, y = tiny_data
    model = make_mlp(
        optimizer=keras.optimizers.SGD(lr_range_schedule(1e-4, 1e-1, 32)), steps_per_execution=3
    )
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[StepLogger(tmp_path)])
    scalars = read_scalars(tmp_path)
    # Stable tags, no `while/` or other scope prefix.
    assert set(scalars["tag"]) == {tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS}
    for tag in (tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS):
        assert scalars.loc[scalars["tag"] == tag, "step"].tolist() == list(range(32))
    rates = scalars.loc[scalars["tag"] == tags.LEARNING_RATE, "value"].to_numpy()
    np.testing.assert_allclose(rates, sweep_rates(1e-4, 1e-1, 32), rtol=1e-6)
    # The model's own train function is back: a later fit logs nothing more.
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert len(read_scalars(tmp_path)) == len(scalars)


def test_step_writer_in_a_custom_training_loop(tmp_path):
    import keras
    import tensorflow as tf

    from tb_lrfinder import StepWriter, lr_range_schedule

    writer = StepWriter(tmp_path, stop_factor=4.0)
    optimizer = keras.optimizers.SGD(lr_range_schedule(1e-3, 1.0, 10))
    weight = keras.Variable(np.array([3.0], "float32"))

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(weight.value**2)
        step = tf.identity(optimizer.iterations)
        writer.write(step, optimizer.learning_rate, loss)
        optimizer.apply_gradients([(tape.gradient(loss, weight.value), weight)])
        return loss

    losses = [float(train_step()) for _ in range(10)]
    writer.close()
    scalars = read_scalars(tmp_path)
    logged = scalars.loc[scalars["tag"] == tags.LOSS, "value"].to_numpy()
    np.testing.assert_allclose(logged, losses, rtol=1e-6)
    smoothed = scalars.loc[scalars["tag"] == tags.SMOOTHED_LOSS, "value"].to_numpy()
    np.testing.assert_allclose(smoothed, debiased_ema(logged, 0.9), rtol=1e-6)
    assert not writer.stopped


def test_guard_stops_logging_at_first_nan_inside_a_block(tmp_path):
    import tensorflow as tf

    from tb_lrfinder import StepWriter

    writer = StepWriter(tmp_path, stop_factor=4.0)
    values = tf.constant([1.0, 0.9, 0.8, float("nan"), 0.5, 0.4])

    @tf.function
    def run():  # several steps in one graph, as with steps_per_execution > 1
        for i in tf.range(6):
            writer.write(tf.cast(i, tf.int64), 0.1, values[i])

    run()
    writer.close()
    scalars = read_scalars(tmp_path)
    loss = scalars[scalars["tag"] == tags.LOSS]
    assert loss["step"].tolist() == [0, 1, 2, 3]
    # The calls after the halt re-wrote step 3 as it was: nothing new, nothing changed.
    np.testing.assert_allclose(loss["value"].to_numpy()[:3], [1.0, 0.9, 0.8], rtol=1e-6)
    assert np.isnan(loss["value"].iloc[3])
    assert writer.stopped and writer.stop_step == 3


def test_fit_stops_right_after_the_guard_halts_without_extra_log_keys(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import StepLogger, lr_range_schedule

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.SGD(lr_range_schedule(1e-3, 1e6, 200)))
    logger = StepLogger(tmp_path, stop_factor=4.0)
    history = model.fit(np.tile(x, (4, 1)), np.tile(y, 4), batch_size=8, verbose=0, callbacks=[logger])
    assert logger.stopped
    stop_step = logger.stop_step
    # The points reach the host with the train step's outputs, and the guard
    # stops fit before the next step (steps_per_execution=1), not 256 steps later.
    assert int(model.optimizer.iterations) == stop_step + 1
    assert set(history.history) == {"loss", "accuracy"}  # the carried points were removed
    assert read_scalars(tmp_path)["step"].max() == stop_step


def test_the_step_writer_is_traced_once_per_writer(tmp_path):
    import tensorflow as tf

    from tb_lrfinder import StepWriter

    writer = StepWriter(tmp_path, stop_factor=4.0)

    @tf.function(reduce_retracing=False)
    def step(loss):
        return writer.write(tf.constant(0, tf.int64), 0.1, loss)

    step(tf.constant(1.0))
    step(tf.constant([1.0]))  # a second trace of the caller (as Keras traces a train step twice)
    assert step.experimental_get_tracing_count() == 2
    # The writer's own graph is built once and called from both.
    assert writer._write_function.experimental_get_tracing_count() == 1


def test_guard_stops_when_smoothed_loss_passes_factor_times_best(tmp_path):
    from tb_lrfinder import StepWriter

    writer = StepWriter(tmp_path, stop_factor=4.0, smoothing=0.0)  # beta 0: smoothed == raw
    for step, loss in enumerate([1.0, 0.5, 1.9, 2.1, 5.0]):
        writer.write(step, 0.1, loss)
    assert writer.stop_step == 3  # 2.1 > 4 * 0.5


def test_bad_options_fail_before_fit(tmp_path):
    from tb_lrfinder import StepLogger

    with pytest.raises(LRFinderError, match="stop_factor"):
        StepLogger(tmp_path, stop_factor=1.0)
    with pytest.raises(LRFinderError, match="smoothing"):
        StepLogger(tmp_path, smoothing=1.5)


def test_train_step_without_compute_loss_gets_a_clear_error(tmp_path, tiny_data):
    import keras
    import tensorflow as tf

    from tb_lrfinder import StepLogger

    class OwnLoss(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x, training=True)))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    inputs = keras.Input((8,))
    model = OwnLoss(inputs, keras.layers.Dense(1)(inputs))
    model.compile("sgd", "mse")
    x, y = tiny_data
    logger = StepLogger(tmp_path)
    with pytest.raises(LRFinderError, match="compute_loss"):
        model.fit(x, y, batch_size=64, verbose=0, callbacks=[logger])
    logger.detach()


def test_the_rate_is_the_one_the_update_used_not_computed_again(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import StepLogger, lr_range_schedule

    class Counted(type(lr_range_schedule(1e-4, 1e-1, 16))):
        calls = 0

        def __call__(self, step):
            Counted.calls += 1
            return super().__call__(step)

    def schedule():
        return Counted.from_config(lr_range_schedule(1e-4, 1e-1, 16).get_config())

    x, y = tiny_data
    evaluations = []
    for callbacks in ([], [StepLogger(tmp_path)]):
        Counted.calls = 0
        make_mlp(optimizer=keras.optimizers.SGD(schedule()), steps_per_execution=4).fit(
            x, y, batch_size=32, epochs=1, verbose=0, callbacks=callbacks)
        evaluations.append(Counted.calls)
    # The logger traces no evaluation of the schedule of its own (five ops a step).
    assert evaluations[1] == evaluations[0] > 0
    rates = read_scalars(tmp_path).query("tag == @tags.LEARNING_RATE")
    np.testing.assert_allclose(rates["value"], sweep_rates(1e-4, 1e-1, 16), rtol=1e-6)


def _loss_and_gradients(model, data):
    """A custom train step's first half: the batch's loss (through compute_loss) and its gradients."""
    import tensorflow as tf

    x, y = data
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    return loss, tape.gradient(loss, model.trainable_variables)


def test_the_rate_of_an_update_made_inside_a_conditional(tmp_path, tiny_data):
    """The optimizer's own rate is then out of reach: the logger computes it, at the step before the update."""
    import keras
    import tensorflow as tf

    from tb_lrfinder import StepLogger, lr_range_schedule

    class ConditionalUpdate(keras.Model):
        def train_step(self, data):
            loss, grads = _loss_and_gradients(self, data)

            def update():
                self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
                return tf.constant(True)

            tf.cond(tf.reduce_all(tf.math.is_finite(loss)), update, lambda: tf.constant(False))
            return {"loss": loss}

    inputs = keras.Input((8,))
    model = ConditionalUpdate(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(keras.optimizers.SGD(lr_range_schedule(1e-4, 1e-1, 12)), "sparse_categorical_crossentropy",
                  steps_per_execution=3)
    x, y = tiny_data
    model.fit(x[:384], y[:384], batch_size=32, verbose=0, callbacks=[StepLogger(tmp_path)])
    rates = read_scalars(tmp_path).query("tag == @tags.LEARNING_RATE")
    assert rates["step"].tolist() == list(range(12))
    np.testing.assert_allclose(rates["value"], sweep_rates(1e-4, 1e-1, 12), rtol=1e-6)


def test_every_train_step_is_logged_when_a_custom_step_updates_twice(tmp_path, tiny_data):
    """Keras's own train step places its point in the block by its step; a custom one
    (here, two updates a step: steps 0, 2, 4, ...) must not, or points of a block collide."""
    import keras

    from tb_lrfinder import StepLogger

    class TwoUpdates(keras.Model):
        def train_step(self, data):
            loss, grads = _loss_and_gradients(self, data)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"loss": loss}

    inputs = keras.Input((8,))
    model = TwoUpdates(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy", steps_per_execution=4)
    x, y = tiny_data
    model.fit(x[:256], y[:256], batch_size=32, verbose=0, callbacks=[StepLogger(tmp_path)])
    assert read_scalars(tmp_path).query("tag == @tags.LOSS")["step"].tolist() == list(range(0, 16, 2))


def test_steps_beyond_float32s_exact_integers_are_logged_exactly(tmp_path, make_mlp, tiny_data):
    import keras
    import tensorflow as tf

    from tb_lrfinder import StepLogger

    x, y = tiny_data
    logged = {}
    for start, run in ((0, "small"), (2**24 + 1, "large")):
        model = make_mlp(optimizer=keras.optimizers.SGD(0.01), steps_per_execution=2)
        model.optimizer.iterations.assign(start)
        logger = StepLogger(tmp_path / run)
        model.fit(x[:256], y[:256], batch_size=32, verbose=0, callbacks=[logger])
        logged[run] = (logger._points.dtype, read_scalars(tmp_path / run).query("tag == @tags.LOSS")["step"].tolist())
    # The buffer is float32 (no cast ops for rate and loss) where every step is exact in it ...
    assert logged["small"] == (tf.float32, list(range(8)))
    # ... and float64 where it is not: 2**24 + 1 has no float32.
    assert logged["large"] == (tf.float64, list(range(2**24 + 1, 2**24 + 9)))


def test_a_train_step_whose_logs_are_not_a_dict_meets_keras_as_without_the_logger(tmp_path, tiny_data):
    import keras

    from tb_lrfinder import StepLogger

    class ListLogs(keras.Model):
        def train_step(self, data):
            loss, grads = _loss_and_gradients(self, data)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return [loss]

    x, y = tiny_data
    errors = []
    for callbacks in ([], [StepLogger(tmp_path)]):
        inputs = keras.Input((8,))
        model = ListLogs(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
        model.compile("sgd", "sparse_categorical_crossentropy", steps_per_execution=2)
        with pytest.raises(Exception) as caught:
            model.fit(x, y, batch_size=64, verbose=0, callbacks=callbacks)
        errors.append((type(caught.value), str(caught.value)))
        if callbacks:
            callbacks[0].detach()
    # The logger hands Keras the train step's own logs: Keras's own error, not one of ours.
    assert errors[1] == errors[0]


def test_custom_scalars_layout_groups_the_sweep_charts(tmp_path):
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    from tb_lrfinder import StepWriter
    from tb_lrfinder.records import iter_records

    StepWriter(tmp_path).close()
    (path,) = tmp_path.iterdir()
    layouts = []
    for data in iter_records(path, lambda problem: None):
        for value in event_pb2.Event.FromString(data).summary.value:
            if value.tag == metadata.CONFIG_SUMMARY_TAG:
                layouts.append(layout_pb2.Layout.FromString(value.tensor.string_val[0]))
    (layout,) = layouts
    patterns = [tag for chart in layout.category[0].chart for tag in chart.multiline.tag]
    assert patterns == [f"^{tags.LOSS}$", f"^{tags.SMOOTHED_LOSS}$", f"^{tags.VAL_LOSS}$", f"^{tags.LEARNING_RATE}$"]


def test_a_run_can_be_analysed_while_it_is_being_written(tmp_path):
    from tb_lrfinder import StepWriter, analyze, read_range_test

    writer = StepWriter(tmp_path, flush_secs=0.1)
    for step in range(12):
        writer.write(step, 1e-3 * 1.5**step, 2.0 - 0.1 * step)
    writer.flush()
    live = read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    assert live["step"].tolist() == list(range(12))
    assert analyze(live).stop.reason == "last_step"  # so far: no divergence yet
    for step in range(12, 20):
        writer.write(step, 1e-3 * 1.5**step, 2.0 - 0.1 * step)
    writer.flush()
    assert len(read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)) == 20
    writer.close()


def test_plugin_metadata_only_on_each_tags_first_event_and_tensorboard_sees_scalars(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.compat.proto import event_pb2

    from tb_lrfinder import StepWriter
    from tb_lrfinder.records import iter_records

    writer = StepWriter(tmp_path, stop_factor=4.0)
    for step in range(5):
        writer.write(step, 1e-3 * 2.0**step, 1.0 / (step + 1))
    writer.close()
    (path,) = tmp_path.iterdir()
    with_metadata = {}
    for data in iter_records(path, lambda problem: None):
        event = event_pb2.Event.FromString(data)
        for value in event.summary.value:
            if value.tag.startswith("lr_finder/"):
                with_metadata.setdefault(value.tag, []).append(value.HasField("metadata"))
    assert set(with_metadata) == {tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS}
    for flags in with_metadata.values():
        assert flags == [True, False, False, False, False]
    accumulator = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    for tag in with_metadata:
        assert accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
        assert [e.step for e in accumulator.Tensors(tag)] == list(range(5))


def test_the_sweep_is_on_disk_while_fit_runs(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import StepLogger

    seen = []

    class Peek(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 9:
                seen.append(len(read_scalars(tmp_path).query("tag == @tags.LOSS")))

    x, y = tiny_data
    model = make_mlp()
    model.fit(x, y, batch_size=16, verbose=0, callbacks=[StepLogger(tmp_path, flush_secs=1e-6), Peek()])
    assert seen and seen[0] >= 10  # steps 0..9 at least, written and flushed while fit ran
