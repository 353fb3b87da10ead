"""Event files -> pandas: every scalar point of a run, and the range-test frame.

Reads TF2 tensor scalars (`tensor_content` or `float_val`, any float/int dtype)
and the `simple_value` scalars that TF1, tensorboardX and
`torch.utils.tensorboard` write. Reads *every* point (no reservoir sampling).
Several event files in one run (a restarted writer) are merged by step, the
later write winning. Needs no TensorFlow: the protos come from `tensorboard`.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from tensorboard.compat.proto import event_pb2, types_pb2

from . import tags
from .errors import LRFinderError
from .records import Problem, iter_records

SCALAR_COLUMNS = ["run", "tag", "step", "wall_time", "value"]


class LogReadWarning(UserWarning):
    """Part of a log could not be read; what could be read was kept."""


_DTYPE_FORMATS = {
    types_pb2.DT_FLOAT: "<f",
    types_pb2.DT_DOUBLE: "<d",
    types_pb2.DT_HALF: "<e",
    types_pb2.DT_INT32: "<i",
    types_pb2.DT_INT64: "<q",
}


def _tensor_scalar(tensor) -> float | None:
    """The value of a rank-0 numeric TensorProto, or None for anything else."""
    if tensor.tensor_shape.dim:
        return None
    dtype = tensor.dtype
    fmt = _DTYPE_FORMATS.get(dtype)
    if fmt is None:
        return None
    if tensor.tensor_content:
        return float(struct.unpack(fmt, tensor.tensor_content)[0])
    if dtype == types_pb2.DT_FLOAT and tensor.float_val:
        return float(tensor.float_val[0])
    if dtype == types_pb2.DT_DOUBLE and tensor.double_val:
        return float(tensor.double_val[0])
    if dtype == types_pb2.DT_HALF and tensor.half_val:
        return float(np.array(tensor.half_val[0], np.uint16).view(np.float16))
    if dtype == types_pb2.DT_INT32 and tensor.int_val:
        return float(tensor.int_val[0])
    if dtype == types_pb2.DT_INT64 and tensor.int64_val:
        return float(tensor.int64_val[0])
    return None


def _is_event_file(name: str) -> bool:
    return "tfevents" in name


def find_event_files(path: str | os.PathLike) -> dict[str, list[str]]:
    """Map each run under `path` to its event files, oldest first.

    `path` may be an event file, a run directory, or a root of runs; a run is
    named by its directory relative to `path` ("." for `path` itself).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise LRFinderError(f"no such file or directory: {path!r}")
    if os.path.isfile(path):
        return {".": [path]}
    runs: dict[str, list[str]] = {}
    for directory, subdirs, files in os.walk(path):
        subdirs.sort()
        events = sorted(f for f in files if _is_event_file(f))
        if events:
            run = os.path.relpath(directory, path)
            runs[run] = [os.path.join(directory, f) for f in sorted(events, key=_event_file_order)]
    if not runs:
        raise LRFinderError(f"no TensorBoard event files (names containing 'tfevents') under {path!r}")
    return runs


def _event_file_order(name: str):
    # events.out.tfevents.<unix time>.<host>...: order by creation time, then name.
    match = re.search(r"tfevents\.(\d+(?:\.\d+)?)", name)
    return (float(match.group(1)) if match else 0.0, name)


def read_event_file(path: str | os.PathLike) -> pd.DataFrame:
    """Every scalar point in one event file: columns tag, step, wall_time, value.

    Damage is reported as `LogReadWarning` and skipped. A file with no
    readable record at all raises `LRFinderError`.
    """
    path = os.fspath(path)
    problems: list[Problem] = []
    tag_col: list[str] = []
    step_col: list[int] = []
    time_col: list[float] = []
    value_col: list[float] = []
    records = 0
    parse_errors = 0
    from_string = event_pb2.Event.FromString
    try:
        for data in iter_records(path, problems.append):
            records += 1
            try:
                event = from_string(data)
            except Exception:  # protobuf's DecodeError; a CRC-valid but foreign record
                parse_errors += 1
                continue
            if not event.HasField("summary"):
                continue
            step = event.step
            wall_time = event.wall_time
            for value in event.summary.value:
                kind = value.WhichOneof("value")
                if kind == "simple_value":
                    number = value.simple_value
                elif kind == "tensor":
                    number = _tensor_scalar(value.tensor)
                    if number is None:
                        continue
                else:
                    continue
                tag_col.append(value.tag)
                step_col.append(step)
                time_col.append(wall_time)
                value_col.append(number)
    except OSError as exc:
        raise LRFinderError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    if records == 0 or parse_errors == records:
        raise LRFinderError(f"{path!r} is not a TensorBoard event file (no readable record)")
    for problem in problems:
        warnings.warn(str(problem), LogReadWarning, stacklevel=2)
    if parse_errors:
        warnings.warn(
            f"{path}: {parse_errors} record(s) are not Event protos; skipped",
            LogReadWarning,
            stacklevel=2,
        )
    return pd.DataFrame(
        {
            "tag": pd.Series(tag_col, dtype="string"),
            "step": np.asarray(step_col, dtype=np.int64),
            "wall_time": np.asarray(time_col, dtype=np.float64),
            "value": np.asarray(value_col, dtype=np.float64),
        }
    )


def read_scalars(path: str | os.PathLike) -> pd.DataFrame:
    """Every scalar of every run under `path`, as a tidy DataFrame.

    Columns: run, tag, step, wall_time, value; sorted by run, tag, step, with
    one row per (run, tag, step): where a run's files repeat a step (a
    restarted writer), the later write wins.
    """
    frames = []
    unreadable: list[str] = []
    for run, files in find_event_files(path).items():
        for file in files:
            try:
                frame = read_event_file(file)
            except LRFinderError as exc:
                unreadable.append(str(exc))
                continue
            frames.append(frame.assign(run=run))
    if not frames:
        raise LRFinderError("; ".join(unreadable))
    for message in unreadable:
        warnings.warn(message + "; skipped", LogReadWarning, stacklevel=2)
    scalars = pd.concat(frames, ignore_index=True)
    scalars = scalars.drop_duplicates(["run", "tag", "step"], keep="last")
    scalars = scalars.sort_values(["run", "tag", "step"], kind="stable", ignore_index=True)
    return scalars[SCALAR_COLUMNS]


def _pick_tag(available: Sequence[str], requested: str | None, candidates: Iterable[str], pattern: str, what: str, run: str) -> str:
    if requested is not None:
        if requested in available:
            return requested
        raise LRFinderError(
            f"run {run!r} has no tag {requested!r} ({what}); its tags: {', '.join(sorted(available)) or 'none'}"
        )
    for candidate in candidates:
        if candidate in available:
            return candidate
    regex = re.compile(pattern, re.IGNORECASE)
    matches = sorted(t for t in available if regex.search(t.rsplit("/", 1)[-1]))
    if len(matches) == 1:
        return matches[0]
    flag = "--lr-tag" if what == "learning rate" else "--loss-tag"
    hint = f"several match ({', '.join(matches)})" if matches else "none matches"
    raise LRFinderError(
        f"run {run!r}: cannot tell which tag is the {what}: {hint}; "
        f"its tags: {', '.join(sorted(available)) or 'none'}. Name it with {flag}."
    )


def range_test_frame(
    scalars: pd.DataFrame,
    *,
    run: str | None = None,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
) -> pd.DataFrame:
    """The per-step range-test frame of one run: columns step, learning_rate, loss
    (and val_loss, NaN between evaluations, when the run has a validation overlay;
    skipped_updates, NaN where none, when a loss-scale optimizer skipped some).

    Tags are found automatically (this project's, Keras's, common names) unless
    given. Only steps that have both a rate and a loss are kept. Non-finite
    losses are kept: they are data for the stop analysis.
    """
    runs = list(dict.fromkeys(scalars["run"]))
    if run is None:
        if len(runs) != 1:
            raise LRFinderError(f"the log holds {len(runs)} runs; name one of: {', '.join(runs)}")
        run = runs[0]
    elif run not in runs:
        raise LRFinderError(f"no run {run!r}; runs: {', '.join(runs)}")
    own = scalars[scalars["run"] == run]
    available = list(dict.fromkeys(own["tag"]))
    lr_name = _pick_tag(available, lr_tag, tags.LEARNING_RATE_CANDIDATES, r"^(lr|learning_rate)", "learning rate", run)
    loss_name = _pick_tag(available, loss_tag, tags.LOSS_CANDIDATES, r"loss$", "loss", run)
    rates = own.loc[own["tag"] == lr_name, ["step", "value"]].rename(columns={"value": "learning_rate"})
    losses = own.loc[own["tag"] == loss_name, ["step", "value"]].rename(columns={"value": "loss"})
    frame = rates.merge(losses, on="step", how="inner").sort_values("step", ignore_index=True)
    for tag, column in ((tags.VAL_LOSS, "val_loss"), (tags.SKIPPED_UPDATES, "skipped_updates")):
        if tag in available:
            extra = own.loc[own["tag"] == tag, ["step", "value"]].rename(columns={"value": column})
            frame = frame.merge(extra, on="step", how="left")
    frame.attrs.update(run=run, lr_tag=lr_name, loss_tag=loss_name)
    return frame


def read_range_test(
    path: str | os.PathLike,
    *,
    run: str | None = None,
    lr_tag: str | None = None,
    loss_tag: str | None = None,
) -> pd.DataFrame:
    """`range_test_frame(read_scalars(path), ...)`."""
    return range_test_frame(read_scalars(path), run=run, lr_tag=lr_tag, loss_tag=loss_tag)
