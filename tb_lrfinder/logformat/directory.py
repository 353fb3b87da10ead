"""A log directory's runs: which folders hold event files, and those files in the order written."""

from __future__ import annotations

import os
import re

from tensorboard.compat.proto import event_pb2

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.logformat.tfrecord import first_record


def _is_event_file(name: str) -> bool:
    return "tfevents" in name


def find_event_files(path: str | os.PathLike) -> dict[str, list[str]]:
    """Map each run under `path` to its event files, oldest first.

    `path` may be an event file, a run directory, or a root of runs; a run is
    named by its directory relative to `path` ("." for `path` itself). Only
    regular files are read (a FIFO or a device named like an event file would
    block or never end). Files are ordered by the wall time of their first
    event, then by name in natural order (numbers by value, so `.10.` sorts
    after `.9.`): a writer restarted within the same second sorts after the
    one it replaced.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise LRFinderError(f"no such file or directory: {path!r}")
    if not os.path.isdir(path):
        if not os.path.isfile(path):
            raise LRFinderError(f"{path!r} is not a regular file or a directory")
        return {".": [path]}
    runs: dict[str, list[str]] = {}
    for directory, subdirs, files in os.walk(path):
        subdirs.sort()
        events = [os.path.join(directory, f) for f in files if _is_event_file(f)]
        events = [f for f in events if os.path.isfile(f)]  # regular files (after links) only
        if events:
            runs[os.path.relpath(directory, path)] = sorted(events, key=_event_file_order)
    if not runs:
        raise LRFinderError(f"no TensorBoard event files (names containing 'tfevents') under {path!r}")
    return runs


def _event_file_order(path: str):
    """(wall time of the file's first event, `natural_key(name)`); where the
    first record cannot be read, the creation time in its name
    (events.out.tfevents.<time>...)."""
    name = os.path.basename(path)
    started = first_wall_time(path)
    if started is None:
        match = re.search(r"tfevents\.(\d+(?:\.\d+)?)", name)
        started = float(match.group(1)) if match else 0.0
    return (started, natural_key(name))


def natural_key(name: str) -> tuple:
    """A sort key that orders the runs of digits in `name` by value:
    `natural_key("a.9.v2") < natural_key("a.10.v2")`.

    >>> sorted(["f.10", "f.9", "f.1"], key=natural_key)
    ['f.1', 'f.9', 'f.10']
    """
    return tuple((0, int(part), part) if part.isdecimal() else (1, 0, part) for part in re.split(r"(\d+)", name))


def first_wall_time(path: str) -> float | None:
    """The wall time of the first record of an event file, if it is intact."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 12)
    except OSError:
        return None
    payload = first_record(head)
    if payload is None:
        return None
    try:
        return float(event_pb2.Event.FromString(payload).wall_time)
    except Exception:  # protobuf's DecodeError: not an Event
        return None
