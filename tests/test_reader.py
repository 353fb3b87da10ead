import os
import subprocess
import sys

import numpy as np
import pytest
from eventlog import scalar_event, version_event, write_simple_log

from tb_lrfinder import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.files import LogReadWarning
from tb_lrfinder.logformat.table import last_of_each, read_scalars
from tb_lrfinder.results.curves import range_test_frame, read_range_test


def _tf_log(path, n, tag_lr=tags.LEARNING_RATE, tag_loss=tags.LOSS, start=0):
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(path))
    with writer.as_default():
        for step in range(start, start + n):
            tf.summary.scalar(tag_lr, 1e-4 * 1.01**step, step=step)
            tf.summary.scalar(tag_loss, 2.0 - step / 1000, step=step)
    writer.close()


def test_tf2_tensor_scalars_all_1000_points(tmp_path):
    _tf_log(tmp_path, 1000)
    scalars = read_scalars(tmp_path)
    assert list(scalars.columns) == ["run", "tag", "step", "wall_time", "value"]
    assert len(scalars) == 2000 and set(scalars["run"]) == {"."}
    frame = range_test_frame(scalars)
    assert frame["step"].tolist() == list(range(1000))
    np.testing.assert_allclose(frame["learning_rate"], 1e-4 * 1.01 ** np.arange(1000), rtol=1e-6)
    np.testing.assert_allclose(frame["loss"], 2.0 - np.arange(1000) / 1000, rtol=1e-6)


def test_simple_value_scalars_and_common_tag_names(tmp_path):
    write_simple_log(tmp_path / "events.out.tfevents.1.h", [(i, 0.01 * i + 0.01, 5.0 - i) for i in range(20)],
                     lr_tag="Train/Samples/lr", loss_tag="train_loss")
    frame = read_range_test(tmp_path)
    assert frame.attrs["lr_tag"] == "Train/Samples/lr" and frame.attrs["loss_tag"] == "train_loss"
    np.testing.assert_allclose(frame["loss"], 5.0 - np.arange(20))


def test_restarted_writer_later_file_wins(tmp_path):
    write_simple_log(tmp_path / "events.out.tfevents.100.h", [(i, 0.1 + i, 1.0) for i in range(10)])
    write_simple_log(tmp_path / "events.out.tfevents.200.h", [(i, 0.1 + i, 2.0) for i in range(5, 15)])
    frame = read_range_test(tmp_path)
    assert frame["step"].tolist() == list(range(15))
    assert frame["loss"].tolist() == [1.0] * 5 + [2.0] * 10


def test_last_of_each_sorts_by_group_then_step_and_keeps_the_later_write():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(0, 60))
        # few groups (one pass per group) and many (one sort), repeated and shuffled steps
        runs = rng.integers(0, int(rng.choice([1, 3, 40])), n).astype(np.int32)
        tag_codes = rng.integers(0, 3, n).astype(np.int32)
        steps = rng.integers(0, 12, n) if rng.random() < 0.5 else np.arange(n)
        last = {}
        for row in range(n):  # the reference: later rows overwrite earlier ones
            last[(runs[row], tag_codes[row], steps[row])] = row
        assert last_of_each(steps, tag_codes, runs).tolist() == [last[key] for key in sorted(last)]


def test_root_of_runs(tmp_path):
    for name in ("bs32", "bs256/inner"):
        (tmp_path / name).mkdir(parents=True)
        write_simple_log(tmp_path / name / "events.out.tfevents.1.h", [(i, 0.1 + i, 1.0) for i in range(3)])
    scalars = read_scalars(tmp_path)
    assert sorted(set(scalars["run"])) == ["bs256/inner", "bs32"]
    # run and tag are categorical, categories sorted, and rows sorted by run, tag, step
    assert list(scalars["run"].cat.categories) == ["bs256/inner", "bs32"]
    assert list(scalars["tag"].cat.categories) == sorted(scalars["tag"].cat.categories)
    keys = list(zip(scalars["run"].astype(str), scalars["tag"].astype(str), scalars["step"]))
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    with pytest.raises(LRFinderError, match="2 runs"):
        range_test_frame(scalars)
    assert len(range_test_frame(scalars, run="bs32")) == 3


def test_override_and_unknown_tags_list_what_exists(tmp_path):
    write_simple_log(tmp_path / "events.out.tfevents.1.h", [(i, 0.1 + i, 1.0) for i in range(3)],
                     lr_tag="rate_a", loss_tag="objective")
    with pytest.raises(LRFinderError) as info:
        read_range_test(tmp_path)
    assert "objective" in str(info.value) and "rate_a" in str(info.value) and "--lr-tag" in str(info.value)
    frame = read_range_test(tmp_path, lr_tag="rate_a", loss_tag="objective")
    assert len(frame) == 3
    with pytest.raises(LRFinderError, match="no tag 'nope'"):
        read_range_test(tmp_path, lr_tag="nope", loss_tag="objective")


def test_bad_paths_and_files(tmp_path):
    with pytest.raises(LRFinderError, match="no such file"):
        read_scalars(tmp_path / "missing")
    with pytest.raises(LRFinderError, match="no TensorBoard event files"):
        read_scalars(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LRFinderError, match="no TensorBoard event files"):
        read_scalars(tmp_path)
    bogus = tmp_path / "events.out.tfevents.1.h"
    bogus.write_bytes(b"this is not an event file at all, just text" * 10)
    with pytest.raises(LRFinderError, match="not a TensorBoard event file"):
        read_scalars(bogus)


def test_corrupt_record_warns_and_keeps_the_rest(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h"
    offsets = write_simple_log(path, [(i, 0.1 + i, 1.0) for i in range(10)])
    data = bytearray(path.read_bytes())
    data[offsets[5] + 20] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(LogReadWarning, match=f"offset {offsets[5]}"):
        frame = read_range_test(tmp_path)
    assert frame["step"].tolist() == [0, 1, 2, 3, 5, 6, 7, 8, 9]


def test_reading_does_not_import_tensorflow(tmp_path):
    write_simple_log(tmp_path / "events.out.tfevents.1.h", [(i, 0.1 + i, 1.0) for i in range(3)])
    code = (
        "import sys, tb_lrfinder.results.curves, tb_lrfinder.analysis.curve; f = tb_lrfinder.results.curves.read_range_test(sys.argv[1]); "
        "tb_lrfinder.analysis.curve.analyze(f); assert 'tensorflow' not in sys.modules, 'tensorflow imported'; print(len(f))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"


def _dip_points(n=120):
    """A range test's (step, rate, loss): the loss falls, bottoms out, climbs."""
    rates = 1e-5 * 10.0 ** (5 * np.arange(n) / n)
    losses = 2.0 - np.exp(-((np.log10(rates) + 2.0) ** 2)) + np.where(rates > 0.1, 10 * rates, 0.0)
    return [(i, float(rates[i]), float(losses[i])) for i in range(n)]


def test_analysing_a_log_imports_neither_pandas_nor_tensorflow(tmp_path):
    """`scripts/analyze.py`'s path (read, analyse, report) runs on numpy columns;
    pandas is imported only when a DataFrame is asked for."""
    write_simple_log(tmp_path / "events.out.tfevents.1.h", _dip_points())
    code = (
        "import sys; from tb_lrfinder.results.runs import analyze_paths; from tb_lrfinder.reporting import text\n"
        "(run,), _ = analyze_paths([sys.argv[1]]); text = text.format_analysis(run.analysis)\n"
        "assert 'pandas' not in sys.modules and 'tensorflow' not in sys.modules, 'imported'\n"
        "frame = run.frame; assert 'pandas' in sys.modules\n"
        "assert list(frame.columns) == list(run.curve) and frame['loss'].tolist() == run.curve['loss'].tolist()\n"
        "print(len(frame), run.recommended.learning_rate)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "120" and float(out.stdout.split()[1]) > 0


def test_a_tidy_frame_in_any_order_analyses_as_its_log(tmp_path):
    """`analyze_scalars` takes `read_scalars`'s frame, or any tidy frame: names
    as plain strings, rows shuffled, a step written twice (the later row wins)."""
    import pandas as pd

    from tb_lrfinder.results.runs import analyze_paths, analyze_scalars

    write_simple_log(tmp_path / "events.out.tfevents.1.h", _dip_points())
    (expected,), _ = analyze_paths([tmp_path])
    frame = read_scalars(tmp_path).astype({"run": str, "tag": str})
    stale = frame[frame["step"] == 30].assign(value=99.0)  # an earlier write of step 30, overwritten below
    shuffled = pd.concat([stale, frame.sample(frac=1.0, random_state=0)])
    (result,), skipped = analyze_scalars(shuffled)
    assert not skipped
    for column in expected.curve:
        np.testing.assert_array_equal(result.curve[column], expected.curve[column])
    assert result.recommended == expected.recommended


def test_fast_path_matches_a_plain_protobuf_parse(tmp_path):
    """The template fast path gives exactly what parsing every event gives."""
    from eventlog import iter_records, read_event_file
    from tensorboard.compat.proto import event_pb2
    from tensorboard.util import tensor_util

    _tf_log(tmp_path / "tf", 300)
    write_simple_log(tmp_path / "events.out.tfevents.2.h",
                     [(i, 1e-3 * 1.1**i, float("nan") if i == 7 else 3.0 - i / 100) for i in range(300)])
    for path in [next((tmp_path / "tf").iterdir()), tmp_path / "events.out.tfevents.2.h"]:
        expected = []
        for data in iter_records(path, lambda problem: None):
            event = event_pb2.Event.FromString(data)
            for value in event.summary.value:
                if value.WhichOneof("value") == "simple_value":
                    expected.append((value.tag, event.step, event.wall_time, value.simple_value))
                elif value.WhichOneof("value") == "tensor" and not value.tensor.tensor_shape.dim:
                    expected.append((value.tag, event.step, event.wall_time,
                                     float(tensor_util.make_ndarray(value.tensor))))
        got = read_event_file(path)
        assert len(got) == len(expected) == 600
        assert list(got["tag"]) == [e[0] for e in expected]
        assert list(got["step"]) == [e[1] for e in expected]
        np.testing.assert_array_equal(got["wall_time"], [e[2] for e in expected])
        np.testing.assert_array_equal(got["value"], [e[3] for e in expected])  # NaN == NaN here


def test_tiny_and_odd_records(tmp_path):
    """Records too short for the fast path go through protobuf without error."""
    from tensorboard.compat.proto import event_pb2

    from tb_lrfinder.logformat.tfrecord import frame_record

    path = tmp_path / "events.out.tfevents.1.h"
    path.write_bytes(frame_record(b""))  # an empty Event: valid protobuf, no scalars
    assert read_scalars(path).empty
    short = event_pb2.Event(step=3).SerializeToString()  # 2 bytes, no wall_time field
    path.write_bytes(frame_record(short) + frame_record(b""))
    assert read_scalars(path).empty


def test_duplicate_and_out_of_order_steps_in_one_file(tmp_path):
    # A writer restarted in the same file: steps 0..9, then 5..12 again with new values.
    points = [(i, 0.1 * (i + 1), 1.0) for i in range(10)] + [(i, 0.1 * (i + 1), 2.0) for i in range(5, 13)]
    write_simple_log(tmp_path / "events.out.tfevents.1.h", points)
    frame = read_range_test(tmp_path)
    assert frame["step"].tolist() == list(range(13))
    assert frame["loss"].tolist() == [1.0] * 5 + [2.0] * 8  # the later write wins


def test_negative_losses_are_read_and_analysed(tmp_path):
    from tb_lrfinder.analysis.curve import analyze
    from tb_lrfinder.analysis.rules import SAFE_DIVISOR

    n = 80
    rates = 1e-4 * 10 ** (5 * np.arange(n) / n)
    losses = -5.0 - 3.0 / (1 + np.exp(-(np.log10(rates) + 2) * 3))  # falls from -5 to -8
    losses[70:] = np.linspace(-7.0, 10.0, 10)
    write_simple_log(tmp_path / "events.out.tfevents.1.h", zip(range(n), rates, losses))
    result = analyze(read_range_test(tmp_path))
    assert result.losses.minimum < -7.5 and result.stop.reason == "diverged"
    assert 1e-4 <= result.recommended.learning_rate <= result.stop.learning_rate / SAFE_DIVISOR


def test_memory_follows_the_scalars_not_the_file(tmp_path):
    """Peak memory is set by the chunk and the largest record, not the file:
    a file twice as large (more 2 MiB image-sized records) needs no more."""
    import tracemalloc

    from eventlog import read_event_file
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    from tb_lrfinder.logformat.tfrecord import frame_record

    blob = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"x" * (2 << 20)])

    def peak_for(steps):
        path = tmp_path / f"events.out.tfevents.{steps}.h"
        with open(path, "wb") as handle:
            for step in range(steps):
                for value in (summary_pb2.Summary.Value(tag="image", tensor=blob),
                              summary_pb2.Summary.Value(tag="loss", simple_value=float(step))):
                    event = event_pb2.Event(step=step, wall_time=1.0, summary=summary_pb2.Summary(value=[value]))
                    handle.write(frame_record(event.SerializeToString()))
        tracemalloc.start()
        frame = read_event_file(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert frame["tag"].tolist() == ["loss"] * steps
        return path.stat().st_size, peak

    small_size, small_peak = peak_for(20)
    large_size, large_peak = peak_for(40)
    assert large_size > 80 << 20
    assert large_peak < 1.25 * small_peak, (small_peak, large_peak)
    assert large_peak < large_size / 3


def test_fast_path_engages_on_logs_written_by_tensorflow(tmp_path, protobuf_parses):
    """TensorFlow repeats plugin metadata on every event; after one protobuf
    parse per tag layout, the rest of a log decodes without protobuf."""
    _tf_log(tmp_path, 500)
    calls = protobuf_parses
    scalars = read_scalars(tmp_path)
    assert len(scalars) == 1000
    assert len(calls) <= 10, f"{len(calls)} of 1001 records went through protobuf"


def test_range_test_frame_joins_by_step_whatever_the_row_order():
    import pandas as pd

    rows = [  # (run, tag, step, value), shuffled; run "b" is another sweep
        (".", tags.LOSS, 2, 0.7), (".", tags.LEARNING_RATE, 0, 1e-3), ("b", tags.LOSS, 0, 9.0),
        (".", tags.VAL_LOSS, 2, 0.9), (".", tags.LEARNING_RATE, 2, 1e-1), (".", tags.LOSS, 0, 1.0),
        (".", tags.LEARNING_RATE, 3, 1.0),  # no loss at step 3: not a point
        (".", tags.LOSS, 1, 0.8), (".", tags.LEARNING_RATE, 1, 1e-2), ("b", tags.LEARNING_RATE, 0, 5.0),
        (".", tags.LOSS, 1, 0.85),  # step 1 again: the later row wins
        (".", tags.LOSS, 5, 0.1),  # no rate at step 5: not a point
    ]
    scalars = pd.DataFrame(rows, columns=["run", "tag", "step", "value"]).assign(wall_time=0.0)
    frame = range_test_frame(scalars, run=".")
    assert frame.columns.tolist() == ["step", "learning_rate", "loss", "val_loss"]
    assert frame["step"].tolist() == [0, 1, 2]
    assert frame["learning_rate"].tolist() == [1e-3, 1e-2, 1e-1]
    assert frame["loss"].tolist() == [1.0, 0.85, 0.7]
    np.testing.assert_array_equal(frame["val_loss"].to_numpy(), [np.nan, np.nan, 0.9])  # NaN between evaluations
    other = range_test_frame(scalars, run="b")
    assert other[["step", "learning_rate", "loss"]].values.tolist() == [[0, 5.0, 9.0]]


def _tensor_event(step, tag, tensor):
    from tensorboard.compat.proto import event_pb2, summary_pb2

    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor)])
    return event_pb2.Event(step=step, wall_time=1.0, summary=summary).SerializeToString()


def test_undecodable_values_are_skipped_with_file_and_offset(tmp_path):
    from tensorboard.compat.proto import tensor_pb2, types_pb2

    from tb_lrfinder.logformat.tfrecord import frame_record

    good = [scalar_event(step, {"lr": 0.1 * (step + 1), "loss": 1.0}) for step in range(3)]
    wrong_size = _tensor_event(3, "loss", tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\x00" * 6))
    half_overflow = _tensor_event(4, "loss", tensor_pb2.TensorProto(dtype=types_pb2.DT_HALF, half_val=[70000]))
    records = [frame_record(r) for r in [version_event(), *good, wrong_size, half_overflow]]
    path = tmp_path / "events.out.tfevents.1.h"
    path.write_bytes(b"".join(records))
    with pytest.warns(LogReadWarning) as caught:
        frame = read_scalars(path)
    assert sorted(frame["step"].unique().tolist()) == [0, 1, 2]  # everything readable kept
    messages = [str(w.message) for w in caught]
    offset_3 = sum(len(r) for r in records[:4])
    assert any(f"at byte offset {offset_3}" in m and "6 bytes" in m and str(path) in m for m in messages)
    assert any(f"at byte offset {offset_3 + len(records[4])}" in m and "half_val" in m for m in messages)


def test_files_are_ordered_by_their_first_event_not_their_name(tmp_path):
    from tb_lrfinder.logformat.tfrecord import frame_record

    def log(name, wall_time, loss):
        from tensorboard.compat.proto import event_pb2

        first = event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2").SerializeToString()
        (tmp_path / name).write_bytes(frame_record(first) + frame_record(scalar_event(0, {"loss": loss}, wall_time)))

    # Same second in the name; "...77.10" sorts before "...77.9" as text, but was written later.
    log("events.out.tfevents.77.9.v2", 77.2, 1.0)
    log("events.out.tfevents.77.10.v2", 77.7, 2.0)
    assert read_scalars(tmp_path)["value"].tolist() == [2.0]  # the later writer wins


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_only_regular_files_are_read(tmp_path):
    write_simple_log(tmp_path / "events.out.tfevents.1.h", [(0, 0.1, 1.0), (1, 0.2, 0.9)])
    os.mkfifo(tmp_path / "events.out.tfevents.2.fifo")
    os.symlink("/dev/zero", tmp_path / "events.out.tfevents.3.zero")
    assert len(read_scalars(tmp_path)) == 4  # the FIFO and the device are not opened (that would hang)
    with pytest.raises(LRFinderError, match="not a regular file"):
        read_scalars(tmp_path / "events.out.tfevents.2.fifo")


def test_messages_for_empty_and_truncated_logs(tmp_path):
    import pandas as pd

    from tb_lrfinder.logformat.tfrecord import frame_record
    from tb_lrfinder.results.curves import range_test_frame

    with pytest.raises(LRFinderError, match="holds no scalars"):
        range_test_frame(pd.DataFrame({c: [] for c in ["run", "tag", "step", "wall_time", "value"]}))
    record = frame_record(version_event())
    path = tmp_path / "events.out.tfevents.1.h"
    path.write_bytes(record[: len(record) - 3])
    with pytest.raises(LRFinderError, match=r"no complete record: the file ends inside a record .* at byte offset 0"):
        read_scalars(path)


def test_many_unreadable_files_give_a_short_message(tmp_path):
    for k in range(300):
        (tmp_path / f"events.out.tfevents.{k}.h").write_bytes(b"")
    with pytest.raises(LRFinderError, match="and 297 more") as info:
        read_scalars(tmp_path)
    assert len(str(info.value)) < 1000


def test_fast_path_engages_on_float_val_tensors(tmp_path, protobuf_parses):
    """Pure-Python writers put a scalar tensor's value in `float_val`: after one
    protobuf parse per layout, those logs decode without protobuf too, to the same values."""
    from eventlog import read_event_file
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

    from tb_lrfinder.logformat.tfrecord import frame_record

    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    records = [frame_record(version_event())]
    expected = []
    for step in range(500):
        values = []
        for tag, number in (("lr", 1e-4 * 1.01**step), ("loss", 2.0 - step / 400)):
            tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[number])
            values.append(summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata))
            expected.append((tag, step, float(np.float32(number))))
        event = event_pb2.Event(step=step, wall_time=1.5, summary=summary_pb2.Summary(value=values))
        records.append(frame_record(event.SerializeToString()))
    (tmp_path / "events.out.tfevents.1.h").write_bytes(b"".join(records))
    calls = protobuf_parses
    got = read_event_file(tmp_path / "events.out.tfevents.1.h")
    assert list(zip(got["tag"], got["step"], got["value"])) == expected
    assert len(calls) <= 10, f"{len(calls)} of 501 records went through protobuf"


def test_a_tidy_frame_with_a_bad_column_is_refused_naming_it():
    from tb_lrfinder.results.runs import analyze_scalars

    frame = {"run": ["a", "a"], "tag": ["lr", "loss"], "step": [0, "zero"], "value": [0.1, 2.0]}
    with pytest.raises(LRFinderError, match="'step' must hold numbers"):
        analyze_scalars(frame)
    with pytest.raises(LRFinderError, match=r"lacks column\(s\) \['value'\]"):
        analyze_scalars({"run": ["a"], "tag": ["lr"], "step": [0]})


def test_files_with_the_same_first_wall_time_are_ordered_by_number_not_text(tmp_path):
    from tensorboard.compat.proto import event_pb2

    from tb_lrfinder.logformat.tfrecord import frame_record

    def log(name, loss):
        first = event_pb2.Event(wall_time=77.0, file_version="brain.Event:2").SerializeToString()
        (tmp_path / name).write_bytes(frame_record(first) + frame_record(scalar_event(0, {"loss": loss}, 77.0)))

    log("events.out.tfevents.77.h.1.9.v2", 1.0)  # the ninth writer of the process
    log("events.out.tfevents.77.h.1.10.v2", 2.0)  # the tenth: "10" < "9" as text
    assert read_scalars(tmp_path)["value"].tolist() == [2.0]


def test_many_damaged_records_are_summarised_per_file(tmp_path):
    path = tmp_path / "events.out.tfevents.1.h"
    offsets = write_simple_log(path, [(i, 0.1 + i, 1.0) for i in range(2001)])
    data = bytearray(path.read_bytes())
    damaged = offsets[2:2001:2]  # every other record's data: 1000 CRC mismatches
    for offset in damaged:
        data[offset + 20] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.warns(LogReadWarning) as caught:
        frame = read_range_test(tmp_path)
    messages = [str(w.message) for w in caught if issubclass(w.category, LogReadWarning)]
    assert len(messages) == 1
    assert "1000 times" in messages[0] and "CRC mismatch" in messages[0]
    assert f"first at byte offset {damaged[0]}" in messages[0] and f"last at byte offset {damaged[-1]}" in messages[0]
    assert len(frame) == 1001  # every intact record is kept (steps 0, 2, ..., 2000)


def test_a_megabyte_tag_is_read_like_a_short_one(tmp_path):
    """Long tags take the protobuf path or a template whose width is the tag's: the cost follows
    the bytes (bench/reader.py prints seconds per megabyte for 16-byte to 1 MiB tags)."""
    from tb_lrfinder.logformat.tfrecord import frame_record

    tag = "t" * (1 << 20)
    path = tmp_path / "events.out.tfevents.1.h"
    with open(path, "wb") as handle:
        handle.write(frame_record(version_event()))
        for step in range(12):
            handle.write(frame_record(scalar_event(step, {tag: float(step), "lr": 0.1 * (step + 1)})))
    scalars = read_scalars(tmp_path)
    values = scalars[scalars["tag"] == tag]
    assert values["step"].tolist() == list(range(12)) and values["value"].tolist() == [float(s) for s in range(12)]
