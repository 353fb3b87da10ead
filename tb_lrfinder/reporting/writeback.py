"""The report written back into a sweep's TensorBoard run, in a new event file (written aside,
then renamed into place, so TensorBoard never sees half of it):

* a text summary (`tags.SUMMARY_TEXT`): the recommended rate and range, each rule and the stop
  reason, as a Markdown table;
* an image summary (`tags.SUMMARY_PLOT`): loss against log(rate) with the suggestions and the
  stop point marked (needs matplotlib; skipped without);
* an HParams record: the sweep's settings as hparams, and as metrics the scalars `tags.METRIC_*`
  (recommended rate, minimum loss, stop step), so several sweeps compare in the HParams dashboard;
* the smoothed loss per step (`tags.SMOOTHED_LOSS`), when the run lacks it.

Events go through `logformat.writer.EventFileWriter`, the sweep's own writer. Pure Python: needs
`tensorboard`'s protos, not TensorFlow."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

import numpy as np
from tensorboard.compat.proto import (
    summary_pb2,
    tensor_pb2,
    tensor_shape_pb2,
    types_pb2,
)

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.writer import EventFileWriter
from tb_lrfinder.reporting.text import format_markdown_table


def _markdown(run) -> str:
    result, verification = run.analysis, run.verification
    lines = [format_markdown_table({os.path.basename(run.name) or run.name: run}), ""]
    if run.repeats:
        lines += [f"The recommendation combines {len(run.repeats)} sweeps on different data orders:", "",
                  format_markdown_table({os.path.basename(sweep.name) or sweep.name: sweep.analysis
                                         for sweep in run.repeats}), ""]
    if verification is not None:
        lines.append(f"**Verified rate: {verification.learning_rate:.3g}** ({verification.message})")
        lines.append("")
        lines.append("| trial rate | held-out loss per round | steps | first round |")
        lines.append("| --- | --- | --- | --- |")
        for trial in verification.trials:
            losses = ", ".join(f"{v:.4g}" for v in trial.losses)
            lines.append(f"| {trial.learning_rate:.3g} | {losses} | {trial.steps} | {trial.first_round_steps} |")
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
    from tensorboard.plugins.image import metadata as image_metadata

    metadata = image_metadata.create_summary_metadata(display_name="", description=description)
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def report_summaries(run, *, hparams: Mapping[str, object] | None = None, include_smoothed: bool = False,
                     plot: bool = True):
    """(step, Summary) pairs that describe a `RangeTestResult`'s analysis (and verification) in TensorBoard."""
    result = run.analysis
    # TensorBoard's summary helpers only where summaries are written (the text report does not need them).
    from tensorboard.plugins.hparams import summary_v2 as hparams_summary
    from tensorboard.plugins.scalar import summary_v2 as scalar_summary
    from tensorboard.plugins.text import summary_v2 as text_summary

    summaries = [(0, text_summary.text_pb(tags.SUMMARY_TEXT, _markdown(run)))]
    if plot:
        try:
            from tb_lrfinder.reporting.plot import render_png

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
    rec = run.recommended
    nan = float("nan")
    metrics = {  # in the order the HParams dashboard shows them
        tags.METRIC_RECOMMENDED_LR: rec.learning_rate if rec is not None else nan,
        tags.METRIC_RANGE_LOW: rec.low if rec is not None else nan,
        tags.METRIC_RANGE_HIGH: rec.high if rec is not None else nan,
        tags.METRIC_VERIFIED_LR: run.verified_rate if run.verified_rate is not None else nan,
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
        for step, value in zip(run.curve["step"], run.curve["smoothed_loss"]):
            summaries.append((int(step), scalar_summary.scalar_pb(tags.SMOOTHED_LOSS, np.float32(value))))
    return summaries


def write_report(run, *, hparams: Mapping[str, object] | None = None, include_smoothed: bool = False,
                 plot: bool = True) -> str:
    """Write `report_summaries(run)` (a `RangeTestResult`) as a new event file in `run.log_dir`; return its path."""
    now = time.time()
    summaries = report_summaries(run, hparams=hparams, include_smoothed=include_smoothed, plot=plot)
    try:
        writer = EventFileWriter(run.log_dir, suffix=".tb_lrfinder_report", whole=True)
    except LRFinderError as error:
        raise LRFinderError(f"cannot write the report into {run.log_dir!r}: {error.__cause__ or error}") from None
    try:
        for step, summary in summaries:
            writer.summary(summary, step, wall_time=now)
        writer.close()
    except BaseException as error:
        writer.abort()  # nothing half-written stays behind
        if isinstance(error, LRFinderError):
            raise LRFinderError(f"cannot write the report into {run.log_dir!r}: {error}") from None
        raise
    path = writer.path
    return path
