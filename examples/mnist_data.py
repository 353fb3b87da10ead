"""MNIST for the project's experiment, from wherever it can be had.

Sources, in order (`load_mnist`):

1. a folder holding the four standard IDX `.gz` files: `data_dir`, or the
   environment variable `TB_LRFINDER_MNIST_DIR`;
2. Keras's own download (`keras.datasets.mnist`, cached in ~/.keras/datasets);
3. the small sample shipped beside this file in `data/mnist_sample` (8,000 training and 2,000 test
   images, the first of each official file), so the experiment runs on a fresh
   machine with neither.

The result says which source it used. MNIST is by Y. LeCun, C. Cortes and
C. Burges, licensed CC BY-SA 3.0.
"""

from __future__ import annotations

import gzip
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tb_lrfinder import LRFinderError

ENV_VAR = "TB_LRFINDER_MNIST_DIR"
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
SAMPLE_DIR = Path(__file__).with_name("data") / "mnist_sample"
_IMAGE_MAGIC = 0x00000803
_LABEL_MAGIC = 0x00000801


@dataclass(frozen=True)
class MNIST:
    """Images as uint8 (n, 28, 28), labels as uint8 (n,), and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def read_idx(path: str | os.PathLike, *, kind: str) -> np.ndarray:
    """Read one gzip-compressed IDX file of MNIST `kind` ("images" or "labels").

    Checks the magic number, the dimensions and that the payload has exactly
    the bytes the header announces.
    """
    path = os.fspath(path)
    try:
        with gzip.open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:  # missing, unreadable, or not gzip
        raise LRFinderError(f"cannot read MNIST file {path!r}: {exc}") from None
    expected_magic, rank = (_IMAGE_MAGIC, 3) if kind == "images" else (_LABEL_MAGIC, 1)
    header_size = 4 + 4 * rank
    if len(data) < header_size:
        raise LRFinderError(f"{path!r} is too short to be an IDX file ({len(data)} bytes)")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise LRFinderError(
            f"{path!r}: IDX magic number is 0x{magic:08x}, expected 0x{expected_magic:08x} for MNIST {kind}"
        )
    dims = struct.unpack(f">{rank}I", data[4:header_size])
    if kind == "images" and dims[1:] != (28, 28):
        raise LRFinderError(f"{path!r}: images are {dims[1]}x{dims[2]}, expected 28x28")
    expected = int(np.prod(dims))
    payload = len(data) - header_size
    if payload != expected:
        raise LRFinderError(
            f"{path!r}: header announces {dims} = {expected} bytes of data, file holds {payload}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def load_idx_dir(directory: str | os.PathLike) -> MNIST:
    """Load the four standard IDX `.gz` files from `directory`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise LRFinderError(f"MNIST folder {str(directory)!r} does not exist")
    missing = [name for name in FILES.values() if not (directory / name).is_file()]
    if missing:
        raise LRFinderError(f"MNIST folder {str(directory)!r} lacks {', '.join(missing)}")
    arrays = {
        key: read_idx(directory / name, kind="images" if key.endswith("images") else "labels")
        for key, name in FILES.items()
    }
    for split in ("train", "test"):
        if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
            raise LRFinderError(
                f"MNIST folder {str(directory)!r}: {len(arrays[f'{split}_images'])} {split} images "
                f"but {len(arrays[f'{split}_labels'])} labels"
            )
    return MNIST(
        arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"],
        source=f"IDX files in {directory}",
    )


def _load_keras(timeout_s: float) -> MNIST:
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    finally:
        socket.setdefaulttimeout(previous)
    return MNIST(x_train, y_train, x_test, y_test, source="keras.datasets.mnist (download or cache)")


def load_mnist(data_dir: str | os.PathLike | None = None, *, allow_download: bool = True, download_timeout_s: float = 15.0) -> MNIST:
    """MNIST from `data_dir` / $TB_LRFINDER_MNIST_DIR, else Keras, else the shipped sample.

    A folder that was asked for explicitly must be valid (its error is
    raised); the later sources are tried only when none was named.
    """
    named = data_dir if data_dir is not None else os.environ.get(ENV_VAR)
    if named:
        return load_idx_dir(named)
    failures = []
    if allow_download:
        try:
            return _load_keras(download_timeout_s)
        except Exception as exc:  # no network, proxy, corrupt cache: fall through to the sample
            failures.append(f"Keras download failed ({type(exc).__name__}: {exc})")
    sample = load_idx_dir(SAMPLE_DIR)
    note = "; ".join(failures)
    return MNIST(
        sample.x_train, sample.y_train, sample.x_test, sample.y_test,
        source=f"the sample shipped in examples/data ({len(sample.x_train)} train / {len(sample.x_test)} test images)"
        + (f"; {note}" if note else ""),
    )


def prepare(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The article's preprocessing: pixels in [0, 1], shape (n, 28, 28, 1), one-hot labels."""
    x = (images.astype("float32") / 255.0)[..., np.newaxis]
    y = np.eye(10, dtype="float32")[labels]
    return x, y
