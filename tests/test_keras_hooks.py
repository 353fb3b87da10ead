"""The Keras behaviours `tb_lrfinder.training._keras_hooks` relies on, each checked on the installed Keras,
and the rule that nothing else in the library touches another object's private attributes."""

import ast
import pathlib

import numpy as np

import tb_lrfinder

keras = __import__("pytest").importorskip("keras")


def _model(steps_per_execution=1):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", steps_per_execution=steps_per_execution)
    return model


def _data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 4)).astype("float32"), rng.integers(0, 2, n)


def test_1_the_train_function_runs_the_train_step_found_on_the_model():
    """Built by make_train_function(force=True) and run by fit while the model's
    train_step is shadowed (Keras binds it when it builds, or, in 3.3, when it traces)."""
    model = _model()
    original = model.train_step
    model.train_step = lambda data: {**original(data), "marked": 1.0}
    model.make_train_function(force=True)
    built = model.train_function
    seen = []

    class Peek(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.model.train_function = built

        def on_train_batch_end(self, batch, logs=None):
            seen.append("marked" in logs)

    x, y = _data()
    model.fit(x, y, batch_size=16, verbose=0, callbacks=[Peek()])
    del model.train_step
    assert seen == [True] * 4


def test_2_the_train_step_computes_the_batch_loss_with_compute_loss_before_the_update():
    model = _model()
    calls = []
    original = model.compute_loss

    def compute_loss(*args, **kwargs):
        loss = original(*args, **kwargs)
        calls.append((int(model.optimizer.iterations.numpy()), float(loss)))
        return loss

    model.compute_loss = compute_loss  # looked up on the model while the step runs
    model.run_eagerly = True  # Python runs at every step, so the order is visible
    x, y = _data(32)
    before = model.get_weights()
    model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    assert [step for step, _ in calls] == [0, 1]  # the step counter before its update
    model.set_weights(before)
    first = float(keras.losses.SparseCategoricalCrossentropy()(y[:16], model(x[:16])))
    assert calls[0][1] == __import__("pytest").approx(first, rel=1e-6)  # the batch's loss, not a running mean


def test_3_fit_calls_the_train_function_set_in_on_train_begin_once_per_block_with_the_last_steps_logs():
    model = _model(steps_per_execution=4)
    original = model.train_step
    model.train_step = lambda data: {**original(data), "step": model.optimizer.iterations + 0}
    model.make_train_function(force=True)
    built = model.train_function
    blocks = []

    class Swap(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            def train_function(iterator):
                logs = built(iterator)
                blocks.append(int(logs["step"]))
                return logs

            self.model.train_function = train_function

    x, y = _data(256)
    model.fit(x, y, batch_size=16, verbose=0, callbacks=[Swap()])
    del model.train_step
    assert blocks == [4, 8, 12, 16]  # 16 steps in 4 blocks; each block's logs are its last step's


def test_the_hook_puts_the_model_back():
    from tb_lrfinder.training._keras_hooks import install_step_hook

    model = _model()
    before = dict(vars(model))
    uninstall = install_step_hook(model, before_update=lambda loss, data: loss, after_step=lambda noted: noted,
                                  take=lambda carried: None)
    assert "compute_loss" in vars(model) and "train_step" in vars(model)
    uninstall()
    assert "compute_loss" not in vars(model) and "train_step" not in vars(model)
    assert model.train_function is before["train_function"]


def test_no_private_attribute_of_another_object_outside_the_adapter():
    """`x._name` only for x = self or cls, and no getattr/setattr of a private name."""
    package = pathlib.Path(tb_lrfinder.__file__).parent
    offences = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "_keras_hooks.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    offences.append(f"{path.name}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "setattr", "hasattr"):
                name = node.args[1] if len(node.args) > 1 else None
                if isinstance(name, ast.Constant) and str(name.value).startswith("_"):
                    offences.append(f"{path.name}:{node.lineno} {node.func.id}({name.value!r})")
    assert offences == []
