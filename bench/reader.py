#!/usr/bin/env python3
"""How fast is the reader? Side by side on the same files, in one process.

Writes range-test logs of 1k, 100k and 1M steps in each `--layouts`: one event
per scalar, the scalars-plugin metadata repeated on every event, the value as

* tensor_content: a float32 TF2 tensor, as `tf.summary.write` and Keras's
  TensorBoard callback write it;
* float_val: a float32 TF2 tensor with its value in `float_val`, as
  pure-Python writers do;
* simple_value: TF1's field, as tensorboardX and `torch.utils.tensorboard` write it.

Then times:

* walk:      `walk_frames`, the framing alone (no CRC, no parsing);
* crc walk:  `events.iter_record_batches`, the framing with every CRC checked;
* reader:    `tb_lrfinder.read_frame` (CRC-checked, parsed, every point,
             into a pandas DataFrame);
* tbparse:   `tbparse.SummaryReader(path).tensors` (TensorBoard's
             EventAccumulator with sampling off), the common alternative.

Prints reader/walk, reader/crc-walk and tbparse/reader, and the reader's
peak Python memory against the file size (tracemalloc), which stays
proportional to the points kept, not the file.

Then, as a user meets them, whole processes (`--processes`): `python
scripts/analyze.py RUN` (read, analyse, print the table) against a process
that only reads the run with tbparse (`--tbparse-python` picks its
interpreter: tbparse imports TensorFlow where it is installed, so a Keras
user's environment and a TensorFlow-free one differ), alternated
`--repeats` times: median wall time, analyze.py's range, and the peak
resident memory of each (VmHWM). The library is compiled to bytecode first,
as an installed package is. Target: analyze.py >= 10x faster than tbparse
on each layout at 100k and 1M steps, peak <= 400 MB at 1M.

Last (`--tag-lengths`), the cost of long tag names: logs whose loss tag is 16 B
to 1 MiB long, read with `read_scalars`; prints seconds per MiB of file and
its ratio to the 16-byte tag's. Target: the cost follows the bytes (ratio <= 3
at every length), not the tag's length squared.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2  # noqa: E402
from tensorboard.plugins.scalar import metadata as scalar_metadata  # noqa: E402

from tb_lrfinder.logformat import tags  # noqa: E402
from tb_lrfinder.logformat.table import read_scalars  # noqa: E402
from tb_lrfinder.logformat.tfrecord import (  # noqa: E402
    _CHUNK_SIZE,
    _walk,
    frame_record,
    iter_record_batches,
)

LAYOUTS = ("tensor_content", "float_val", "simple_value")



def walk_frames(path: str | os.PathLike) -> int:
    """Count records by their framing only (no CRC, no parsing): the speed
    baseline of this benchmark, the same chunked walk as `iter_record_batches`."""
    count = 0
    with open(path, "rb") as handle:
        data, pos = b"", 0
        while True:
            chunk = handle.read(_CHUNK_SIZE)
            data = data[pos:] + chunk
            offsets, _, pos = _walk(data, np.frombuffer(data, dtype=np.uint8))
            count += len(offsets)
            if not chunk:
                return count

def _value(tag: str, number: float, layout: str, meta) -> summary_pb2.Summary.Value:
    if layout == "simple_value":
        return summary_pb2.Summary.Value(tag=tag, simple_value=number)
    if layout == "float_val":
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[number])
    else:
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=struct.pack("<f", number))
    return summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)


def write_log(path: str, steps: int, layout: str = "tensor_content") -> int:
    """A range-test log of `steps` steps in `layout`; returns its size in bytes."""
    meta = scalar_metadata.create_summary_metadata(display_name="", description="")
    with open(path, "wb") as handle:
        handle.write(frame_record(event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()))
        chunk = []
        for step in range(steps):
            for tag, value in ((tags.LEARNING_RATE, 1e-7 * 1.0001**step), (tags.LOSS, 2.0 + (step % 7) * 0.01)):
                value_proto = _value(tag, value, layout, meta)
                event = event_pb2.Event(wall_time=1.7e9 + step * 0.01, step=step,
                                        summary=summary_pb2.Summary(value=[value_proto]))
                chunk.append(frame_record(event.SerializeToString()))
            if len(chunk) > 20000:
                handle.write(b"".join(chunk))
                chunk.clear()
        handle.write(b"".join(chunk))
    return os.path.getsize(path)


def write_long_tag_log(path: str, loss_tag: str, events: int) -> int:
    """A sweep of `events` steps whose loss has the tag `loss_tag` (the rate: `lr`); returns the file's size."""
    with open(path, "wb") as handle:
        handle.write(frame_record(event_pb2.Event(wall_time=1.7e9, file_version="brain.Event:2").SerializeToString()))
        for step in range(events):
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="lr", simple_value=1e-5 + 1e-6 * step),
                                                 summary_pb2.Summary.Value(tag=loss_tag, simple_value=2.0)])
            handle.write(frame_record(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary)
                                      .SerializeToString()))
    return os.path.getsize(path)


def timed(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TBPARSE_READ = """import sys
from tbparse import SummaryReader
reader = SummaryReader(sys.argv[1])
points = reader.scalars if sys.argv[2] == "simple_value" else reader.tensors
assert len(points) == int(sys.argv[3]), len(points)
"""
# Runs a script as __main__ and, at exit, prints the process's peak resident memory (VmHWM, KiB) last on
# stderr. (A child's ru_maxrss would count the parent's pages at the fork.)
PEAK_WRAPPER = ("import atexit, runpy, sys; atexit.register(lambda: print(next(line.split()[1] for line in "
                "open('/proc/self/status') if line.startswith('VmHWM')), file=sys.stderr)); "
                "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def process(python: str, script: str, *args: str) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of a whole process: `python script args...`."""
    started = time.perf_counter()
    done = subprocess.run([python, "-c", PEAK_WRAPPER, script, *args], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed: {done.stderr[-500:]}")
    return elapsed, int(done.stderr.split()[-1]) / 1024


def measure_processes(run: str, layout: str, steps: int, tbparse_pythons: list[str], repeats: int) -> None:
    """One row per tbparse interpreter: analyze.py's process and tbparse's, alternated `repeats` times; the
    medians (times) and maxima (peak memory)."""
    tbparse_script = os.path.join(os.path.dirname(run), "tbparse_read.py")
    with open(tbparse_script, "w") as handle:
        handle.write(TBPARSE_READ)
    for python in tbparse_pythons or [""]:
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(process(sys.executable, os.path.join(ROOT, "scripts", "analyze.py"), run))
            if python:
                theirs.append(process(python, tbparse_script, run, layout, str(2 * steps)))
        ours_s, ours_mib = statistics.median(t for t, _ in ours), max(m for _, m in ours)
        theirs_s = statistics.median(t for t, _ in theirs) if theirs else float("nan")
        theirs_mib = max(m for _, m in theirs) if theirs else float("nan")
        spread = f"{min(t for t, _ in ours):.2f}-{max(t for t, _ in ours):.2f}"
        print(f"{layout:>14} {steps:>8}  {ours_s:>12.2f} {spread:>11} {ours_mib:>9.0f}  {theirs_s:>12.2f} "
              f"{theirs_mib:>11.0f}  {theirs_s / ours_s:>16.1f}  {python}", flush=True)


def measure(root: str, layout: str, steps: int, summary_reader) -> str:
    """Write one log and print one row of timings (tbparse's skipped where `summary_reader` is None)."""
    run = os.path.join(root, f"{layout}{steps}")
    os.makedirs(run)
    path = os.path.join(run, "events.out.tfevents.1700000000.bench")
    size = write_log(path, steps, layout)
    repeats = 3 if steps <= 100_000 else 1
    walk_s = timed(lambda: walk_frames(path), repeats)
    crc_s = timed(lambda: sum(len(b) for b in iter_record_batches(path, print)), repeats)
    frame = None

    def read():
        nonlocal frame
        frame = read_scalars(run)

    reader_s = timed(read, repeats)
    assert len(frame) == 2 * steps, len(frame)
    tracemalloc.start()
    read_scalars(run)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    tbparse_s = float("nan")
    if summary_reader is not None:
        def parse():
            reader = summary_reader(run)
            points = reader.scalars if layout == "simple_value" else reader.tensors
            assert len(points) == 2 * steps, len(points)

        tbparse_s = timed(parse, 1)
    print(f"{layout:>14} {steps:>8} {size / 2**20:>7.1f}  {walk_s:>7.3f} {crc_s:>7.3f} {reader_s:>8.3f} {tbparse_s:>9.2f}  "
          f"{reader_s / walk_s:>11.2f} {reader_s / crc_s:>10.2f} {tbparse_s / reader_s:>14.1f}  "
          f"{peak / 2**20:>8.1f}", flush=True)
    return run


def measure_tag_lengths(root: str, lengths: list[int], megabytes: float) -> None:
    """Seconds per MiB of `read_scalars` on logs of about `megabytes` each, whose loss tag has each length."""
    print(f"\n{'tag bytes':>10} {'events':>8} {'MiB':>7} {'read s':>8} {'s/MiB':>8} {'vs 16 B':>8}")
    base = None
    for length in lengths:
        events = max(20, int(megabytes * 2**20 / (length + 40)))
        path = os.path.join(root, f"tag{length}", "events.out.tfevents.1700000000.bench")
        os.makedirs(os.path.dirname(path))
        size = write_long_tag_log(path, "t" * length, events) / 2**20
        seconds = timed(lambda: read_scalars(path), 3)
        per_mib = seconds / size
        base = base or per_mib
        print(f"{length:>10} {events:>8} {size:>7.1f} {seconds:>8.3f} {per_mib:>8.4f} {per_mib / base:>8.2f}")
        os.remove(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--tbparse-max", type=int, default=1_000_000, help="skip tbparse above this many steps")
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help=f"comma-separated: {', '.join(LAYOUTS)}")
    parser.add_argument("--processes", default="100000,1000000",
                        help="sizes also timed as whole processes (comma-separated; empty: none)")
    parser.add_argument("--tbparse-python", default=sys.executable,
                        help="interpreters for tbparse's process, comma-separated (environments with tbparse, "
                             "with and without TensorFlow); '' to skip")
    parser.add_argument("--processes-only", action="store_true", help="skip the in-process timings")
    parser.add_argument("--repeats", type=int, default=3,
                        help="whole-process pairs per row, alternated; medians are printed (default 3)")
    parser.add_argument("--tag-lengths", default="16,1024,65536,1048576",
                        help="loss-tag lengths in bytes for the long-tag rows (comma-separated; empty: none)")
    parser.add_argument("--tag-megabytes", type=float, default=32.0, help="size of each long-tag log (MiB)")
    args = parser.parse_args(argv)
    whole = {int(size) for size in args.processes.split(",") if size}
    try:
        from tbparse import SummaryReader
    except ImportError:
        SummaryReader = None
        print("tbparse not installed (pip install tbparse): its column is skipped")
    print(f"{'layout':>14} {'steps':>8} {'MiB':>7}  {'walk s':>7} {'crc s':>7} {'reader s':>8} {'tbparse s':>9}  "
          f"{'reader/walk':>11} {'reader/crc':>10} {'tbparse/reader':>14}  {'peak MiB':>8}")
    runs = []
    with tempfile.TemporaryDirectory() as root:
        for layout in args.layouts.split(","):
            for steps in (int(size) for size in args.sizes.split(",") if size):
                if args.processes_only:
                    run = os.path.join(root, f"{layout}{steps}")
                    os.makedirs(run)
                    write_log(os.path.join(run, "events.out.tfevents.1700000000.bench"), steps, layout)
                else:
                    run = measure(root, layout, steps, SummaryReader if steps <= args.tbparse_max else None)
                if steps in whole:
                    runs.append((run, layout, steps))
        if runs:
            # As pip leaves an installed package: compiled to bytecode (this machine may set
            # PYTHONDONTWRITEBYTECODE, which would compile the library anew in every process).
            compileall.compile_dir(os.path.join(ROOT, "tb_lrfinder"), quiet=1)
            print("\nwhole processes")
            print(f"{'layout':>14} {'steps':>8}  {'analyze.py s':>12} {'range':>11} {'peak MiB':>9}  {'tbparse s':>12} "
                  f"{'tbparse MiB':>11}  {'tbparse/analyze':>16}  tbparse's interpreter")
            for run, layout, steps in runs:
                measure_processes(run, layout, steps, [p for p in args.tbparse_python.split(",") if p],
                                  args.repeats)
        if args.tag_lengths:
            measure_tag_lengths(root, [int(n) for n in args.tag_lengths.split(",")], args.tag_megabytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
