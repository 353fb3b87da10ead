"""Helpers that write event files without TensorFlow (as TF1, tensorboardX or
torch.utils.tensorboard do: `simple_value` scalars)."""

import struct

from tensorboard.compat.proto import event_pb2, summary_pb2

from tb_lrfinder.events import frame_record


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


def record_length(offset_list, index):
    return offset_list[index + 1] - offset_list[index]


__all__ = ["scalar_event", "version_event", "write_simple_log", "record_length", "struct"]
