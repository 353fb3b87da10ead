import math
import struct
import time

import numpy as np
import pytest
from eventlog import iter_records, write_simple_log

from tb_lrfinder import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.crc import masked_crc32c
from tb_lrfinder.logformat.table import read_scalars
from tb_lrfinder.logformat.tfrecord import frame_record
from tb_lrfinder.logformat.writer import EventFileWriter


def _read(path):
    problems = []
    return list(iter_records(path, problems.append)), problems


def test_masked_crc_matches_tensorflow_known_value():
    # TFRecord's mask of CRC-32C("") = 0 is the delta constant itself.
    assert masked_crc32c(b"") == 0xA282EAD8
    assert struct.unpack("<I", frame_record(b"abc")[-4:])[0] == masked_crc32c(b"abc")


def test_all_records_come_back(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    write_simple_log(path, [(i, 0.1, 1.0) for i in range(50)])
    records, problems = _read(path)
    assert len(records) == 51 and problems == []


def test_truncated_tail_keeps_every_complete_record(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    offsets = write_simple_log(path, [(i, 0.1, 1.0) for i in range(10)])
    data = path.read_bytes()
    for cut in (offsets[-1] + 5, offsets[-1] + 14, len(data) - 1):
        path.write_bytes(data[:cut])
        records, problems = _read(path)
        assert len(records) == 10  # version + 9 complete scalar records
        assert len(problems) == 1 and "still being written" in problems[0].message
        assert problems[0].offset == offsets[-1]


def test_corrupt_data_is_skipped_and_reported_with_offset(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    offsets = write_simple_log(path, [(i, 0.1, 1.0) for i in range(10)])
    data = bytearray(path.read_bytes())
    data[offsets[4] + 14] ^= 0xFF  # inside record 4's data
    path.write_bytes(bytes(data))
    records, problems = _read(path)
    assert len(records) == 10
    assert [p.offset for p in problems] == [offsets[4]]
    assert "data" in problems[0].message and str(path) in str(problems[0])


def test_corrupt_length_is_not_trusted_and_reading_resumes(tmp_path):
    path = tmp_path / "events.out.tfevents.1.host"
    offsets = write_simple_log(path, [(i, 0.1, 1.0) for i in range(10)])
    data = bytearray(path.read_bytes())
    data[offsets[3] + 7] = 0x7F  # the length's top byte: ~exabytes if trusted
    path.write_bytes(bytes(data))
    records, problems = _read(path)
    assert len(records) == 10  # all but record 3
    assert problems[0].offset == offsets[3] and "length" in problems[0].message


def test_a_zero_filled_region_is_skipped_and_every_record_after_it_read(tmp_path):
    path = tmp_path / "events"
    records = [frame_record(b"record %d" % k) for k in range(20)]
    path.write_bytes(b"".join(records[:5]) + bytes(3 << 20) + b"".join(records[5:]))
    problems = []
    assert list(iter_records(path, problems.append)) == [b"record %d" % k for k in range(20)]
    assert len(problems) == 1 and problems[0].offset == sum(map(len, records[:5]))


def _reference_records(data: bytes) -> tuple[list[bytes], list[int]]:
    """Record by record, the plain TFRecord rules: (intact payloads, offsets of damaged frames).
    Stops at the first bad length (the reader then searches on)."""
    payloads, damaged, pos = [], [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if struct.unpack_from("<I", data, pos + 8)[0] != masked_crc32c(data[pos : pos + 8]):
            return payloads, damaged + [pos]
        if pos + 16 + length > len(data):
            break
        payload = data[pos + 12 : pos + 12 + length]
        if struct.unpack_from("<I", data, pos + 12 + length)[0] == masked_crc32c(payload):
            payloads.append(payload)
        else:
            damaged.append(pos)
        pos += 16 + length
    return payloads, damaged


def _periodic_log(count: int, tags_per_step: int = 3) -> tuple[bytes, list[int]]:
    """`count` steps of a writer logging `tags_per_step` tags of different name lengths each step."""
    frames, offsets, at = [], [], 0
    for step in range(count):
        for k in range(tags_per_step):
            frame = frame_record(b"tag" + b"x" * k + struct.pack("<qf", step, step * 0.5 + k))
            offsets.append(at)
            frames.append(frame)
            at += len(frame)
    return b"".join(frames), offsets


@pytest.mark.parametrize("damage", ["none", "data byte", "length byte", "pattern change", "truncated"])
def test_long_runs_of_records_read_exactly_as_record_by_record(tmp_path, damage):
    data, offsets = _periodic_log(30_000)  # ~2.4 MB: the repeating pattern is predicted in bulk
    data = bytearray(data)
    where = offsets[len(offsets) // 2 + 7]
    if damage == "data byte":
        data[where + 15] ^= 0x01
    elif damage == "length byte":
        data[where] ^= 0x01  # a length one off: followed blindly, the walk would go astray
    elif damage == "pattern change":
        data[where:where] = frame_record(b"an odd record out")  # one longer record mid-run
    elif damage == "truncated":
        data = data[: where + 20]
    path = tmp_path / "events"
    path.write_bytes(bytes(data))
    records, problems = _read(path)
    expected, damaged = _reference_records(bytes(data))
    if damage == "length byte":  # reading resumes at the next valid frame
        assert damaged == [where] and problems[0].offset == where and "length" in problems[0].message
        assert records[: len(expected)] == expected and len(records) == len(offsets) - 1
    else:
        assert records == expected
        assert [p.offset for p in problems if "CRC" in p.message] == damaged


def test_many_distinct_record_lengths_are_checked_one_by_one(tmp_path):
    payloads = [b"r" * (k % 700) for k in range(3000)]  # lengths vary: no period, few records per length
    data = bytearray(b"".join(frame_record(p) for p in payloads))
    bad = sum(len(frame_record(p)) for p in payloads[:1234])
    data[bad + 12] ^= 0xFF  # record 1234's data (700 is not a divisor: it is not empty)
    path = tmp_path / "events"
    path.write_bytes(bytes(data))
    records, problems = _read(path)
    assert records == payloads[:1234] + payloads[1235:]
    assert [p.offset for p in problems] == [bad]


def _split(values):
    """A {tag: value} dict as `scalars` takes it: (tags, values)."""
    return tuple(values), tuple(values.values())


def _events(path):
    from tensorboard.compat.proto import event_pb2

    (file,) = [p for p in path.iterdir() if "tfevents" in p.name]
    return [event_pb2.Event.FromString(data) for data in iter_records(file, lambda problem: None)]


def test_events_parse_as_protobuf_with_metadata_on_each_tags_first_event(tmp_path):
    from tensorboard.plugins.scalar import metadata as scalar_metadata

    metadata = scalar_metadata.create_summary_metadata(display_name="", description="d").SerializeToString()
    writer = EventFileWriter(tmp_path, metadata={"a": metadata, "b": metadata})
    writer.scalars(0, *_split({"a": 1.5, "b": -2.0}), 100.0)
    writer.scalars(1, *_split({"a": 2.5, "b": 3.0}), 101.0)
    writer.scalars(2, *_split({"a": 0.5, "b": 0.25, "c": 7.0}), 102.0)  # "c": no metadata given
    writer.scalars(2**40, *_split({"b": math.inf}), 103.0)
    writer.close()
    first, *events = _events(tmp_path)
    assert first.file_version == "brain.Event:2"
    got = [(e.step, e.wall_time, v.tag, struct.unpack("<f", v.tensor.tensor_content)[0], v.HasField("metadata"))
           for e in events for v in e.summary.value]
    assert got == [
        (0, 100.0, "a", 1.5, True), (0, 100.0, "b", -2.0, True),
        (1, 101.0, "a", 2.5, False), (1, 101.0, "b", 3.0, False),
        (2, 102.0, "a", 0.5, False), (2, 102.0, "b", 0.25, False), (2, 102.0, "c", 7.0, False),
        (2**40, 103.0, "b", math.inf, False),
    ]
    value = events[0].summary.value[0]
    assert value.tensor.dtype == 1 and not value.tensor.tensor_shape.dim  # DT_FLOAT, rank 0
    assert value.metadata.plugin_data.plugin_name == "scalars"


def test_values_beyond_float32_become_infinite(tmp_path):
    largest = float(np.finfo(np.float32).max)
    writer = EventFileWriter(tmp_path)
    writer.scalars(0, *_split({"x": 1e39, "y": -1e300, "z": largest, "w": 0.5}), 1.0)
    writer.close()
    values = read_scalars(tmp_path).set_index("tag")["value"]
    assert values["x"] == math.inf and values["y"] == -math.inf  # the others in the event are kept
    assert values["z"] == largest and values["w"] == 0.5


def test_steps_of_every_varint_length(tmp_path):
    steps = [0, 127, 128, 300, 16383, 16384, 2**21, 2**40]
    writer = EventFileWriter(tmp_path)
    for step in steps:
        writer.scalars(step, ("a",), (float(step % 7),), 1.0)
    writer.close()
    assert [(e.step, e.summary.value[0].tensor.tensor_content) for e in _events(tmp_path)[1:]] == [
        (step, struct.pack("<f", step % 7)) for step in steps
    ]


def test_tensorboard_reads_every_point(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    from tb_lrfinder.sweep.recorder import TAG_METADATA as _TAG_METADATA

    writer = EventFileWriter(tmp_path, metadata=_TAG_METADATA)
    for step in range(50):
        writer.scalars(step, *_split({tags.LEARNING_RATE: 1e-3 * step, tags.LOSS: 2.0 - step / 50}), 1.0 + step)
    writer.close()
    accumulator = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    assert sorted(accumulator.Tags()["tensors"]) == [tags.LEARNING_RATE, tags.LOSS]
    assert [e.step for e in accumulator.Tensors(tags.LOSS)] == list(range(50))
    assert accumulator.summary_metadata[tags.LOSS].plugin_data.plugin_name == "scalars"


def test_buffered_until_flush_then_on_disk(tmp_path):
    writer = EventFileWriter(tmp_path, flush_secs=3600)
    writer.scalars(0, *_split({"x": 1.0}), 1.0)
    writer.maybe_flush(time.time())  # too early: still buffered
    assert len(_events(tmp_path)) == 1  # the file-version event only
    writer.maybe_flush(time.time() + 3600)
    assert len(_events(tmp_path)) == 2
    writer.close()
    writer.close()  # idempotent


def test_an_unwritable_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(LRFinderError, match="cannot write TensorBoard events to log_dir"):
        EventFileWriter(blocker / "run")


def test_reader_fast_path_reads_multi_value_events_like_protobuf(tmp_path, protobuf_parses):
    from eventlog import read_event_file

    writer = EventFileWriter(tmp_path)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(400, 3)).astype(np.float32)
    values[10, 1] = np.nan
    values[20] = values[20, 0]  # equal values in one event
    for step, (a, b, c) in enumerate(values):
        point = {"a": a, "b": b, "c": c} if step % 7 else {"a": a, "b": b}
        writer.scalars(step, *_split(point), 1000.0 + step)
    writer.close()
    calls = protobuf_parses
    fast = read_event_file(next(tmp_path.iterdir()))
    assert len(calls) <= 6, f"{len(calls)} records went through protobuf"
    expected = [(tag, step, 1000.0 + step, float(value)) for step, row in enumerate(values)
                for tag, value in zip("abc", row if step % 7 else row[:2])]
    assert list(fast["tag"]) == [e[0] for e in expected]
    assert list(fast["step"]) == [e[1] for e in expected]
    np.testing.assert_array_equal(fast["wall_time"], [e[2] for e in expected])
    np.testing.assert_array_equal(fast["value"], [e[3] for e in expected])


def test_events_buffered_as_numbers_are_written_in_call_order_with_other_summaries(tmp_path):
    from tensorboard.compat.proto import summary_pb2

    writer = EventFileWriter(tmp_path, flush_secs=1e9)
    writer.scalars(0, ("a",), (1.0,), 10.0)
    writer.summary(summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="text", simple_value=5.0)]), step=0)
    writer.scalars(1, ("a",), (2.0,), 11.0)
    writer.maybe_flush(0.0)  # not due: nothing written yet
    assert len(_events(tmp_path)) == 1  # the file version only
    writer.flush()
    writer.scalars(2, ("a",), (3.0,), 12.0)
    writer.close()
    got = [(e.step, e.summary.value[0].tag) for e in _events(tmp_path)[1:]]
    assert got == [(0, "a"), (0, "text"), (1, "a"), (2, "a")]
