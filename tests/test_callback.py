import numpy as np
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import read_scalars
from tb_lrfinder.sweep.schedules import sweep_rates


def test_fit_logs_every_step_with_stable_tags_across_epochs(tmp_path, make_mlp, tiny_data):
    import keras

    from tb_lrfinder import StepLogger, lr_range_schedule

    x, y = tiny_data
    model = make_mlp(
        optimizer=keras.optimizers.SGD(lr_range_schedule(1e-4, 1e-1, 32)), steps_per_execution=3
    )
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[StepLogger(tmp_path)])
    scalars = read_scalars(tmp_path)
    # Stable tags, no `while/` or other scope prefix; the plan says what the analysis must know of the optimizer.
    assert set(scalars["tag"]) == {tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS, tags.PLAN_MOMENTUM_LAG,
                                   tags.PLAN_STEP_SIZE}
    for tag in (tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS):
        assert scalars.loc[scalars["tag"] == tag, "step"].tolist() == list(range(32))
    rates = scalars.loc[scalars["tag"] == tags.LEARNING_RATE, "value"].to_numpy()
    np.testing.assert_allclose(rates, sweep_rates(1e-4, 1e-1, 32), rtol=1e-6)
    # The model's own train function is back: a later fit logs nothing more.
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert len(read_scalars(tmp_path)) == len(scalars)


def test_the_plan_describes_the_optimizer_unless_given(tmp_path, make_mlp, tiny_data):
    """A StepLogger run is analysed as find_lr's: the momentum lag of the
    optimizer is taken out (SGD momentum 0.9: 9 steps); a plan given wins."""
    import keras

    from tb_lrfinder import StepLogger, lr_range_schedule
    from tb_lrfinder.results.runs import analyze_paths

    x, y = tiny_data
    for name, plan, lag in (("own", None, 9.0), ("given", {tags.PLAN_MOMENTUM_LAG: 3.0}, 3.0)):
        model = make_mlp(optimizer=keras.optimizers.SGD(lr_range_schedule(1e-4, 1.0, 32), momentum=0.9))
        model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[StepLogger(tmp_path / name, plan=plan)])
        (result,), _ = analyze_paths([tmp_path / name])
        assert result.analysis.momentum_lag == pytest.approx(lag)
        (result,), _ = analyze_paths([tmp_path / name], momentum=0.5)  # a reader's guess: the plan wins
        assert result.analysis.momentum_lag == pytest.approx(lag)


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
    assert int(model.optimizer.iterations.numpy()) == stop_step + 1
    assert set(history.history) == {"loss", "accuracy"}  # the carried points were removed
    assert read_scalars(tmp_path)["step"].max() == stop_step


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


def test_the_rate_is_the_one_the_update_used(tmp_path, make_mlp, tiny_data):
    """At steps_per_execution 4: each step's rate, not the block's last."""
    import keras

    from tb_lrfinder import StepLogger, lr_range_schedule

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.SGD(lr_range_schedule(1e-4, 1e-1, 16)), steps_per_execution=4)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[StepLogger(tmp_path)])
    rates = read_scalars(tmp_path).query("tag == @tags.LEARNING_RATE")
    assert rates["step"].tolist() == list(range(16))
    np.testing.assert_allclose(rates["value"], sweep_rates(1e-4, 1e-1, 16), rtol=1e-6)


def _loss_and_gradients(model, data):
    """A custom train step's first half: the batch's loss (through compute_loss) and its gradients."""
    import tensorflow as tf

    x, y = data
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
    return loss, tape.gradient(loss, model.trainable_variables)


def test_the_rate_of_an_update_made_inside_a_conditional(tmp_path, tiny_data):
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
    """Two updates a step (steps 0, 2, 4, ...): one point per train step, at its step before the updates."""
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

    from tb_lrfinder import StepLogger

    x, y = tiny_data
    model = make_mlp(optimizer=keras.optimizers.SGD(0.01), steps_per_execution=2)
    model.optimizer.iterations.assign(2**24 + 1)  # no float32 holds 2**24 + 1
    model.fit(x[:256], y[:256], batch_size=32, verbose=0, callbacks=[StepLogger(tmp_path)])
    assert read_scalars(tmp_path).query("tag == @tags.LOSS")["step"].tolist() == list(range(2**24 + 1, 2**24 + 9))


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
