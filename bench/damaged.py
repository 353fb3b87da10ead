#!/usr/bin/env python3
"""How fast the reader skips a damaged region of an event file.

Writes a small log with a damaged region in the middle (zeros, as a
preallocated file leaves, and random bytes), reads it with `read_event_file`
and prints the speed over the damage in MiB/s, beside a plain read of the
same bytes (`f.read()`), measured in the same run. Target: >= 50 MB/s. The
records before and after the damage come back (the one record the damage is
written into is lost: 398 of 400 points).

    python bench/damaged.py [--mib 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from eventlog import write_simple_log  # noqa: E402
from tests._moved_from_package import read_event_file

from tb_lrfinder.logformat.files import LogReadWarning  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=32, help="size of the damaged region")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "events.out.tfevents.1.bench")
        write_simple_log(path, [(i, 1e-5 * 1.01**i, 1.0) for i in range(200)])
        with open(path, "rb") as handle:
            intact = handle.read()
        cut = len(intact) // 2
        read_event_file(path)  # untimed: the imports a first read makes (pandas, protobuf) are not the damage's cost
        print("| damage | size | plain read | tb_lrfinder | MiB/s over the damage | points read (of 400) |")
        print("| --- | --- | --- | --- | --- | --- |")
        for kind, junk in (("zeros", bytes(args.mib << 20)), ("random", os.urandom(args.mib << 20))):
            with open(path, "wb") as handle:
                handle.write(intact[:cut] + junk + intact[cut:])
            started = time.perf_counter()
            with open(path, "rb") as handle:
                handle.read()
            plain = time.perf_counter() - started
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LogReadWarning)
                frame = read_event_file(path)
            seconds = time.perf_counter() - started
            print(f"| {kind} | {args.mib} MiB | {plain:.3f} s | {seconds:.3f} s | {args.mib / seconds:.0f} | {len(frame)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
