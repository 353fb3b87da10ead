"""Write a sweep's analysis back into its TensorBoard run.

Adds to the run, in a new event file (written aside, then renamed into place,
so TensorBoard never sees half of it):

* a text summary (`tags.SUMMARY_TEXT`): the recommended rate and range, each
  rule and the stop reason, as a Markdown table;
* an image summary (`tags.SUMMARY_PLOT`): loss against log(rate) with the
  suggestions and the stop point marked (needs matplotlib; skipped without);
* an HParams record: the sweep's settings as hparams, and as metrics the
  scalars `tags.METRIC_*` (recommended rate, minimum loss, stop step), so
  several sweeps compare in the HParams dashboard;
* the smoothed loss per step (`tags.SMOOTHED_LOSS`), when the run lacks it.

Pure Python: needs `tensorboard`'s protos, not TensorFlow.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import numpy as np
from tensorboard.compat.proto import (
    event_pb2,
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)
from tensorboard.plugins.hparams import summary_v2 as hparams_summary
from tensorboard.plugins.image import metadata as image_metadata
from tensorboard.plugins.scalar import summary_v2 as scalar_summary
from tensorboard.plugins.text import summary_v2 as text_summary

from . import tags
from .errors import LRFinderError
from .event_writer import frame_record
from .pipeline import RunAnalysis
from .report import format_markdown_table


def _markdown(run: RunAnalysis, verification=None) -> str:
    result = run.analysis
    lines = [format_markdown_table({os.path.basename(run.name) or run.name: result}), ""]
    if verification is not None:
        lines.append(f"**Verified rate: {verification.learning_rate:.3g}** ({verification.message})")
        lines.append("")
        lines.append("| trial rate | held-out loss per round | steps |")
        lines.append("| --- | --- | --- |")
        for trial in verification.trials:
            lines.append(f"| {trial.learning_rate:.3g} | {', '.join(f'{v:.4g}' for v in trial.losses)} | {trial.steps} |")
        lines.append("")
    lines.append(f"**Stop:** {result.stop.reason} at step {result.stop.step}: {result.stop.message}")
    lines.append("")
    if result.validation is not None:
        lines += [f"**Validation:** {result.validation.message}", ""]
    caveats = result.recommended.caveats if result.recommended is not None else ()
    for title, items in (("Caveats", caveats), ("Notes", result.notes)):
        if items:  # a Markdown list needs a blank line before and after it
            lines += [f"**{title}:**", ""] + [f"- {item}" for item in items] + [""]
    lines.append("The step axis of the sweep's scalar charts is a log-rate axis: the rate grows by a constant factor per step.")
    return "\n".join(lines)


def _image_summary(tag: str, png: bytes, width_height: tuple[int, int], description: str) -> summary_pb2.Summary:
    """A TF2-format image summary: a string tensor [width, height, png]."""
    tensor = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_STRING,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=3)]),
        string_val=[str(width_height[0]).encode(), str(width_height[1]).encode(), png],
    )
    metadata = image_metadata.create_summary_metadata(display_name="", description=description)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def report_summaries(run: RunAnalysis, *, hparams: Mapping[str, object] | None = None, include_smoothed: bool = False,
                     plot: bool = True, verification=None):
    """(step, Summary) pairs that describe `run`'s analysis (and its verification) in TensorBoard."""
    result = run.analysis
    summaries = [(0, text_summary.text_pb(tags.SUMMARY_TEXT, _markdown(run, verification)))]
    if plot:
        try:
            from .plot import render_png

            png = render_png([run])
        except LRFinderError:  # no matplotlib: the rest of the report still goes in
            png = None
        if png is not None:
            summaries.append((0, _image_summary(tags.SUMMARY_PLOT, png, _png_size(png),
                                                "Loss vs. learning rate, suggestions and stop point marked")))
    # The configured sweep first (find_lr passes min_lr, max_lr, num_steps, batch_size, optimizer).
    settings = dict(hparams or {})
    settings.update({"swept_from": result.swept[0], "swept_to": result.swept[1], "steps_logged": result.num_points,
                     "smoothing": result.smoothing, "stop_factor": result.stop_factor})
    summaries.append((0, hparams_summary.hparams_pb(settings, trial_id=run.name)))
    rec = result.recommended
    nan = float("nan")
    metrics = {  # in the order the HParams dashboard shows them
        tags.METRIC_RECOMMENDED_LR: rec.learning_rate if rec is not None else nan,
        tags.METRIC_RANGE_LOW: rec.low if rec is not None else nan,
        tags.METRIC_RANGE_HIGH: rec.high if rec is not None else nan,
        tags.METRIC_VERIFIED_LR: verification.learning_rate if verification is not None else nan,
        tags.METRIC_STOP_STEP: float(result.stop.step),
        tags.METRIC_STOP_RATE: result.stop.learning_rate,
        tags.METRIC_LOSS_MINIMUM: result.losses.minimum if result.losses is not None else nan,
    }
    # The experiment's columns: only these metrics (not every scalar of the run), in this order.
    summaries.append((0, hparams_summary.hparams_config_pb(
        hparams=[hparams_summary.HParam(name) for name in settings],
        metrics=[hparams_summary.Metric(tag, display_name=tag.rsplit("/", 1)[-1]) for tag in metrics],
    )))
    for tag, value in metrics.items():
        summaries.append((0, scalar_summary.scalar_pb(tag, np.float32(value))))
    if include_smoothed:
        for step, value in zip(run.frame["step"], run.frame["smoothed_loss"]):
            summaries.append((int(step), scalar_summary.scalar_pb(tags.SMOOTHED_LOSS, np.float32(value))))
    return summaries


def write_report(run: RunAnalysis, *, hparams: Mapping[str, object] | None = None, include_smoothed: bool = False,
                 plot: bool = True, verification=None) -> str:
    """Write `report_summaries(run)` as a new event file in `run.directory`; return its path."""
    now = time.time()
    name = f"events.out.tfevents.{now:.6f}.{socket.gethostname()}.{os.getpid()}.tb_lrfinder_report"
    path = os.path.join(run.directory, name)
    records = [frame_record(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())]
    for step, summary in report_summaries(run, hparams=hparams, include_smoothed=include_smoothed, plot=plot,
                                          verification=verification):
        records.append(frame_record(event_pb2.Event(wall_time=now, step=step, summary=summary).SerializeToString()))
    partial = os.path.join(run.directory, "." + name + ".partial")  # no 'tfevents' match until complete
    try:
        with open(partial, "wb") as handle:
            handle.write(b"".join(records))
        os.replace(partial, path)
    except OSError as exc:
        raise LRFinderError(f"cannot write the report into {run.directory!r}: {exc.strerror or exc}") from None
    return path
