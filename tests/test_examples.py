import gzip
import struct

import mnist_data as mnist
import numpy as np
import pytest

from tb_lrfinder import LRFinderError


def _write_idx(path, array, magic):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def _write_dir(directory, n_train=6, n_test=4):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)),
        "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)),
        "test_labels": rng.integers(0, 10, n_test),
    }
    _write_arrays(directory, arrays)
    return arrays


def _write_arrays(directory, arrays):
    """MNIST's four IDX files in `directory`, from arrays keyed as `mnist.FILES`."""
    for key, name in mnist.FILES.items():
        _write_idx(directory / name, arrays[key], 0x803 if key.endswith("images") else 0x801)


def test_reads_a_folder_of_idx_files(tmp_path):
    arrays = _write_dir(tmp_path)
    data = mnist.load_mnist(tmp_path)
    np.testing.assert_array_equal(data.x_train, arrays["train_images"])
    np.testing.assert_array_equal(data.y_test, arrays["test_labels"])
    assert data.x_train.shape == (6, 28, 28) and str(tmp_path) in data.source


def test_environment_variable_names_the_folder(tmp_path, monkeypatch):
    _write_dir(tmp_path)
    monkeypatch.setenv(mnist.ENV_VAR, str(tmp_path))
    assert str(tmp_path) in mnist.load_mnist().source


def test_without_folder_or_network_the_shipped_sample_is_used(monkeypatch):
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)

    def no_network(timeout_s):
        raise OSError("network unreachable")

    monkeypatch.setattr(mnist, "_load_keras", no_network)
    data = mnist.load_mnist()
    assert "sample" in data.source and "Keras download failed (OSError: network unreachable)" in data.source
    assert data.x_train.shape == (8000, 28, 28) and data.x_test.shape == (2000, 28, 28)
    assert data.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # the official first labels


def test_keras_source_is_tried_before_the_sample(monkeypatch):
    monkeypatch.delenv(mnist.ENV_VAR, raising=False)
    tiny = np.zeros((2, 28, 28), np.uint8)
    fake = mnist.MNIST(tiny, np.zeros(2, np.uint8), tiny, np.zeros(2, np.uint8), source="keras")
    monkeypatch.setattr(mnist, "_load_keras", lambda timeout_s: fake)
    assert mnist.load_mnist() is fake


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: struct.pack(">I", 0x801) + d[4:], "magic number"),
        (lambda d: d[:-5], "announces"),
        (lambda d: d[:10], "too short"),
        (lambda d: d[:4] + struct.pack(">III", 6, 27, 28) + d[16:], "27x28"),
    ],
)
def test_damaged_files_get_a_clear_error(tmp_path, damage, message):
    _write_dir(tmp_path)
    path = tmp_path / mnist.FILES["train_images"]
    data = gzip.open(path).read()
    with gzip.open(path, "wb") as handle:
        handle.write(damage(data))
    with pytest.raises(LRFinderError, match=message):
        mnist.load_mnist(tmp_path)


def test_missing_files_and_non_gzip(tmp_path):
    with pytest.raises(LRFinderError, match="does not exist"):
        mnist.load_mnist(tmp_path / "nope")
    _write_dir(tmp_path)
    (tmp_path / mnist.FILES["test_labels"]).unlink()
    with pytest.raises(LRFinderError, match="lacks t10k-labels"):
        mnist.load_mnist(tmp_path)
    (tmp_path / mnist.FILES["test_labels"]).write_bytes(b"plain bytes, not gzip")
    with pytest.raises(LRFinderError, match="cannot read MNIST file"):
        mnist.load_mnist(tmp_path)


def test_label_count_must_match_images(tmp_path):
    _write_dir(tmp_path)
    _write_idx(tmp_path / mnist.FILES["train_labels"], np.zeros(5), 0x801)
    with pytest.raises(LRFinderError, match="6 train images but 5 labels"):
        mnist.load_mnist(tmp_path)


def test_prepare_scales_and_one_hot_encodes():
    x, y = mnist.prepare(np.full((2, 28, 28), 255, np.uint8), np.array([3, 0], np.uint8))
    assert x.shape == (2, 28, 28, 1) and x.max() == 1.0 and x.dtype == np.float32
    assert y.tolist()[0] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]


def test_simple_cnn_matches_the_article():
    from article_experiment import simple_cnn

    model = simple_cnn(0.01)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "Conv2D", "MaxPooling2D", "Dropout", "Flatten", "Dense", "Dropout", "Dense"]
    assert model.count_params() == 1_199_882
    assert type(model.optimizer).__name__ == "SGD" and float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.01)


def test_the_experiment_verifies_at_its_training_s_length(tmp_path, capsys):
    """--verify-at-length: the trials' last pair trains as long as the job's trainings."""
    pytest.importorskip("tensorflow")
    import mnist_experiment

    from tb_lrfinder.results.runs import analyze_paths

    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 640), ("test", 64)):  # learnable: a bright row band per class, in noise
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for i, k in enumerate(y):
            x[i, 2 + 2 * k: 4 + 2 * k] = 255
        arrays[f"{part}_images"], arrays[f"{part}_labels"] = x, y
    _write_arrays(tmp_path, arrays)
    logs = tmp_path / "logs"
    code = mnist_experiment.main(["--data-dir", str(tmp_path), "--logdir", str(logs), "--epochs", "2",
                                  "--num-steps", "60", "--min-lr", "1e-4", "--verify", "--verify-at-length"])
    out = capsys.readouterr().out
    assert code == 0 and "verification:" in out and "cost:" in out
    (sweep,) = [run for run in analyze_paths([logs])[0] if run.verification is not None]
    train_steps = 2 * 10  # 2 epochs of 640 images in batches of 64
    assert {t.first_round_steps for t in sweep.verification.trials} == {train_steps // 7}
    assert max(t.steps for t in sweep.verification.trials) <= train_steps
