"""Reports of a range test: plain dicts (for JSON), text, Markdown tables, and the
report written back into its TensorBoard run.

Formatting only; every number comes from `analysis` (the figure: `plot`).
Written back into the run, in a new event file (written aside, then renamed
into place, so TensorBoard never sees half of it):

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

import dataclasses
import math
import os
import time
from collections.abc import Mapping

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2

from . import tags
from .analysis import Analysis
from .errors import LRFinderError
from .events import event_file_name, frame_record
from .verify import deciding_first_round


def _clean(value):
    """JSON-safe: NaN/inf become None, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def analysis_to_dict(analysis: Analysis) -> dict:
    """The analysis as plain data: recommended, rules, stop, losses, points."""
    def as_dict(item):
        return None if item is None else dataclasses.asdict(item)

    return _clean(
        {
            "recommended": as_dict(analysis.recommended),
            "rules": {rule: as_dict(getattr(analysis, rule))
                      for rule in ("safe", "steepest", "min_loss_div10", "valley")},
            "stop": as_dict(analysis.stop),
            "losses": as_dict(analysis.losses),
            "validation": as_dict(analysis.validation),
            "notes": list(analysis.notes),
            "num_points": analysis.num_points,
            "swept": list(analysis.swept),
        }
    )


def _rate(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def format_analysis(analysis: Analysis, *, title: str | None = None) -> str:
    """A short human-readable report of one sweep."""
    lines = [title] if title else []
    rec = analysis.recommended
    if rec is None:
        lines.append("recommended rate: none (" + ("see the note below" if analysis.notes else "the curve cannot be read")
                     + ")")
    else:
        trust = "confident" if rec.confident else "NOT confident"
        lines.append(f"recommended rate: {rec.learning_rate:.3g}  (range {rec.low:.3g} .. {rec.high:.3g}, {trust})")
        lines += [f"  caveat: {c}" for c in rec.caveats]
    for suggestion, label in (
        (analysis.safe, "safe (below min)"),
        (analysis.steepest, "steepest descent"),
        (analysis.min_loss_div10, "min loss / 10"),
        (analysis.valley, "longest valley"),
    ):
        if suggestion is None:
            lines.append(f"  {label:<17} -")
        else:
            lines.append(f"  {label:<17} {suggestion.learning_rate:.3g}  (step {suggestion.step})")
    stop = analysis.stop
    lines.append(f"stop: {stop.reason} at step {stop.step} - {stop.message}")
    if analysis.losses is not None:
        losses = analysis.losses
        lines.append(
            f"loss: start {losses.start:.4g}, minimum {losses.minimum:.4g} "
            f"(step {losses.step_at_minimum}, rate {losses.rate_at_minimum:.3g}), end {losses.end:.4g}"
        )
    if analysis.validation is not None:
        lines.append(f"validation: {analysis.validation.message}")
    lines += [f"note: {note}" for note in analysis.notes]
    lines.append(f"swept {analysis.swept[0]:.3g} .. {analysis.swept[1]:.3g} in {analysis.num_points} logged steps")
    return "\n".join(lines)


TABLE_COLUMNS = ("run", "recommended", "range", "confident", "safe", "steepest", "min/10", "valley", "stop")


def table_rows(analyses: dict) -> list[list[str]]:
    """One row per run for `format_table` / `format_markdown_table`: run name -> its `Analysis`, or its
    `RangeTestResult` (whose recommendation combines its repeats where it has several)."""
    rows = []
    for run, item in analyses.items():
        analysis = getattr(item, "analysis", item)
        rec = getattr(item, "recommended", analysis.recommended)
        if getattr(item, "repeats", ()):
            run = f"{run} ({len(item.repeats)} sweeps combined)"
        rows.append(
            [
                run,
                _rate(rec and rec.learning_rate),
                "-" if rec is None else f"{rec.low:.3g}..{rec.high:.3g}",
                "-" if rec is None else ("yes" if rec.confident else "no"),
                _rate(analysis.safe and analysis.safe.learning_rate),
                _rate(analysis.steepest and analysis.steepest.learning_rate),
                _rate(analysis.min_loss_div10 and analysis.min_loss_div10.learning_rate),
                _rate(analysis.valley and analysis.valley.learning_rate),
                f"{analysis.stop.reason}@{analysis.stop.step}",
            ]
        )
    return rows


def format_table(analyses: dict[str, Analysis]) -> str:
    """A fixed-width table, one row per run."""
    rows = [list(TABLE_COLUMNS)] + table_rows(analyses)
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def format_markdown_table(analyses: dict[str, Analysis]) -> str:
    """The same table in Markdown (for TensorBoard's text dashboard or a README)."""
    rows = [list(TABLE_COLUMNS), ["---"] * len(TABLE_COLUMNS)] + table_rows(analyses)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def format_result(result) -> str:
    """`format_analysis` of a `RangeTestResult`; with repeats, the combined recommendation first, then
    each sweep's own report."""
    if not result.repeats:
        return format_analysis(result.analysis, title=f"[{result.name}]")
    rec = result.recommended
    lines = [f"[{result.name}] {len(result.repeats)} sweeps combined"]
    if rec is None:
        lines.append("recommended rate: none (no sweep gave one)")
    else:
        trust = "confident" if rec.confident else "NOT confident"
        lines.append(f"recommended rate: {rec.learning_rate:.3g}  (range {rec.low:.3g} .. {rec.high:.3g}, {trust}; "
                     "the median of the sweeps' rates, capped by their lowest range top)")
        lines += [f"  caveat: {c}" for c in rec.caveats]
    for sweep in result.repeats:
        lines += ["", format_analysis(sweep.analysis, title=f"  [{sweep.name}] one of the sweeps:")]
    return "\n".join(lines)


def result_to_dict(result) -> dict:
    """A `RangeTestResult` as plain data: its analysis (`analysis_to_dict`), the recommendation it gives
    (combined over its repeats where it has several), and its verification, where it has one."""
    data = {"run": result.name, "lr_tag": result.lr_tag, "loss_tag": result.loss_tag,
            **analysis_to_dict(result.analysis)}
    if result.repeats:
        data["recommended"] = _clean(dataclasses.asdict(result.recommended)) if result.recommended else None
        data["repeats"] = [{"run": sweep.name, **analysis_to_dict(sweep.analysis)} for sweep in result.repeats]
    if result.verification is not None:
        data["verified_rate"] = result.verified_rate
        data["trials"] = trials_to_dicts(result.verification)
        data["verification_cost"] = cost_to_dict(result.verification)
    data["learning_rate"] = result.learning_rate
    return data


def cost_to_dict(verification) -> dict:
    """What a verification cost, in optimizer steps: its trials, the sweep(s) counted in its budget,
    the planned training (None: not given) and the share of it both took (None: not known)."""
    return _clean({"trial_steps": verification.steps, "sweep_steps": verification.sweep_steps,
                   "training_steps": verification.training_steps, "share": verification.share})


def cost_text(verification) -> str:
    """"sweep and trials took 8% of the training's 3024 optimizer steps (100 + 142)", or the trials' steps
    where the training's length is not known."""
    if verification.share is None:
        return f"the trials took {verification.steps} optimizer steps"
    return (f"sweep and trials took {verification.share:.0%} of the training's {verification.training_steps} "
            f"optimizer steps ({verification.sweep_steps} + {verification.steps})")


def trials_to_dicts(verification) -> list[dict]:
    """A verification's trials (`verify.Trial`) as plain data, the winner's marked `verified`."""
    winner = verification.winner
    return [_clean({"run": t.log_dir, "learning_rate": t.learning_rate, "held_out_losses": list(t.losses),
                    "steps": t.steps, "diverged": t.diverged, "first_round_steps": t.first_round_steps,
                    "verified": t is winner}) for t in verification.trials]


def format_trials(result) -> str:
    """The verification trials of a sweep (a `RangeTestResult`'s) and the rate they confirmed,
    each search apart where a plateau made it search again with longer first rounds."""
    verified, winner = result.verified_rate, result.verification.winner
    trials = result.verification.trials
    lines = [f"[{result.name}] verified rate: "
             + (f"{verified:.3g}" if verified is not None else "none (the trials ended on a plateau)"
                if result.verification.plateau else "none (every trial diverged)")]
    lengths = sorted({t.first_round_steps for t in trials})
    deciding = deciding_first_round(trials)
    for length in lengths:
        if len(lengths) > 1:
            lines.append(f"  first rounds of {length} steps" + ("" if length == deciding else " (ended on a plateau)")
                         + ":")
        for trial in sorted((t for t in trials if t.first_round_steps == length), key=lambda t: t.learning_rate):
            losses = ", ".join(f"{v:.4g}" for v in trial.losses)
            mark = "  <- verified" if trial is winner else ""
            lines.append(f"  trial {trial.learning_rate:<9.3g} held-out loss per round: {losses}  "
                         f"({trial.steps} steps){mark}")
    budget = result.verification.budget
    lines.append(f"  {cost_text(result.verification)}"
                 + (f"; the trials' budget: {budget}" if budget is not None else ""))
    return "\n".join(lines)


# Written back into the run.


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
    name = event_file_name(now, ".tb_lrfinder_report")
    path = os.path.join(run.log_dir, name)
    records = [frame_record(event_pb2.Event(wall_time=now, file_version="brain.Event:2").SerializeToString())]
    for step, summary in report_summaries(run, hparams=hparams, include_smoothed=include_smoothed, plot=plot):
        records.append(frame_record(event_pb2.Event(wall_time=now, step=step, summary=summary).SerializeToString()))
    partial = os.path.join(run.log_dir, "." + name + ".partial")  # no 'tfevents' match until complete
    try:
        with open(partial, "xb") as handle:
            handle.write(b"".join(records))
        os.replace(partial, path)
    except OSError as exc:
        try:
            os.remove(partial)  # nothing half-written stays behind
        except OSError:
            pass
        raise LRFinderError(f"cannot write the report into {run.log_dir!r}: {exc.strerror or exc}") from None
    return path
