"""The TFRecord codec (`tb_lrfinder.logformat.tfrecord`) against TensorBoard's own reader and writer."""

import io

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader, RawEventFileLoader
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_lrfinder.logformat.tfrecord import first_record, frame_record, iter_record_batches
from tb_lrfinder.logformat.writer import EventFileWriter

PAYLOADS = [b"", b"x", bytes(range(256)), b"\x00" * 4096, np.random.default_rng(0).bytes(70_000)]
"""Record payloads of every size class: empty, one byte, the byte values, a page, larger than a chunk's probe."""


def _ours(path):
    problems = []
    records = [batch.payload(i) for batch in iter_record_batches(path, problems.append) for i in range(len(batch))]
    return records, problems


def test_records_we_frame_are_read_by_tensorboard(tmp_path):
    path = tmp_path / "events.out.tfevents.1.ours"
    path.write_bytes(b"".join(frame_record(payload) for payload in PAYLOADS))
    assert list(RawEventFileLoader(str(path)).Load()) == PAYLOADS


def test_records_tensorboard_frames_are_read_by_us(tmp_path):
    buffer = io.BytesIO()
    writer = RecordWriter(buffer)
    for payload in PAYLOADS:
        writer.write(payload)
    path = tmp_path / "events.out.tfevents.1.theirs"
    path.write_bytes(buffer.getvalue())
    records, problems = _ours(path)
    assert records == PAYLOADS and problems == []
    assert first_record(buffer.getvalue()) == PAYLOADS[0]
    assert buffer.getvalue() == b"".join(frame_record(payload) for payload in PAYLOADS)  # byte for byte


@pytest.mark.parametrize("steps", [1, 3, 300])
def test_scalar_events_we_write_are_the_events_tensorboard_loads(tmp_path, steps):
    writer = EventFileWriter(tmp_path, metadata={"a": b"", "b": b""})
    values = [(float(i) / 7, -float(i) * 1e30) for i in range(steps)]
    for step, pair in enumerate(values):
        writer.scalars(step, ("a", "b"), pair, 100.0 + step)
    writer.close()
    events = list(EventFileLoader(writer.path).Load())
    assert events[0].file_version == "brain.Event:2"
    loaded = [(e.step, e.wall_time, [(v.tag, np.frombuffer(v.tensor.tensor_content, "<f4")[0]) for v in e.summary.value])
              for e in events[1:]]
    assert loaded == [(step, 100.0 + step, [("a", np.float32(a)), ("b", np.float32(b))])
                      for step, (a, b) in enumerate(values)]
    ours, problems = _ours(writer.path)
    assert problems == [] and [event_pb2.Event.FromString(r) for r in ours] == events
