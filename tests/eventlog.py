"""Helpers of the tests: event files written without TensorFlow (as TF1, tensorboardX or
torch.utils.tensorboard do: `simple_value` scalars), and read back record by record
(`iter_records`) or as a pandas frame of one file (`read_event_file`)."""

import os
import struct
from collections.abc import Callable, Iterator

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_lrfinder.logformat.files import read_file_columns
from tb_lrfinder.logformat.tfrecord import Problem, frame_record, iter_record_batches


def scalar_event(step, values, wall_time=1.0):
    summary = summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in values.items()]
    )
    return event_pb2.Event(step=step, wall_time=wall_time, summary=summary).SerializeToString()


def version_event():
    return event_pb2.Event(wall_time=0.0, file_version="brain.Event:2").SerializeToString()


def write_simple_log(path, points, *, lr_tag="lr", loss_tag="loss"):
    """`points`: iterable of (step, rate, loss). Returns the byte offsets of the records."""
    offsets = []
    data = bytearray()
    for record in [version_event()] + [
        scalar_event(step, {lr_tag: rate, loss_tag: loss}) for step, rate, loss in points
    ]:
        offsets.append(len(data))
        data += frame_record(record)
    with open(path, "wb") as handle:
        handle.write(bytes(data))
    return offsets


def write_diverging_sweep(directory, n=100):
    """A foreign-style sweep of `n` steps from 1e-5 to 10 (tags `lr`, `loss`) that
    learns around 3e-3 and blows up from step 85, written to `directory`."""
    rates = 1e-5 * (10 / 1e-5) ** (np.arange(n) / n)
    losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) * 3))
    losses[85:] *= np.exp(np.arange(n - 85))
    directory.mkdir(parents=True, exist_ok=True)
    write_simple_log(directory / "events.out.tfevents.1.h", zip(range(n), rates, losses))


def record_length(offset_list, index):
    return offset_list[index + 1] - offset_list[index]


__all__ = ["scalar_event", "version_event", "write_simple_log", "write_diverging_sweep", "record_length", "struct"]


def iter_records(
    path: str | os.PathLike,
    on_problem: Callable[[Problem], None],
) -> Iterator[bytes]:
    """Yield the data of every intact record in the file at `path`, in order."""
    for batch in iter_record_batches(path, on_problem):
        for i in range(len(batch)):
            yield batch.payload(i)


def read_event_file(path: str | os.PathLike):
    """Every scalar point in one event file, in the order written: columns tag
    (categorical), step, wall_time, value.

    Damage is reported as `LogReadWarning` and skipped. A file with no
    readable record at all raises `LRFinderError`.
    """
    import pandas as pd

    names, codes, steps, times, values = read_file_columns(path)
    tag = pd.Categorical.from_codes(codes, categories=names).reorder_categories(sorted(names))
    # copy=False: the columns are this call's own arrays; pandas need not join them into one block.
    return pd.DataFrame({"tag": tag, "step": steps, "wall_time": times, "value": values}, copy=False)
