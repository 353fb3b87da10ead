import struct

from eventlog import write_simple_log

from tb_lrfinder.event_writer import frame_record
from tb_lrfinder.records import iter_records, masked_crc32c, walk_frames


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
    assert walk_frames(path) == 51


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
