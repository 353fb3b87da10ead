"""Reports of an `Analysis`: plain dicts (for JSON), text and Markdown tables.

Formatting only; every number comes from `analysis`.
"""

from __future__ import annotations

import dataclasses
import math

from .analysis import Analysis


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
            "rules": {
                "safe": as_dict(analysis.safe),
                "steepest": as_dict(analysis.steepest),
                "min_loss_div10": as_dict(analysis.min_loss_div10),
                "valley": as_dict(analysis.valley),
            },
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
        lines.append("recommended rate: none (the curve cannot be read)")
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


def table_rows(analyses: dict[str, Analysis]) -> list[list[str]]:
    """One row per run for `format_table` / `format_markdown_table`."""
    rows = []
    for run, analysis in analyses.items():
        rec = analysis.recommended
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


def trial_to_dict(trial) -> dict:
    """A verification trial read back from its run (`pipeline.TrialRun`) as plain data."""
    return _clean({"run": trial.name, "learning_rate": trial.learning_rate, "held_out_losses": list(trial.losses),
                   "steps": trial.steps})


def format_trials(run) -> str:
    """The verification trials of a sweep (`pipeline.RunAnalysis.trials`) and the rate they confirmed."""
    verified = run.verified_rate
    winner = "none (every trial diverged)" if verified is None else f"{verified:.3g}"
    lines = [f"[{run.name}] verified rate: {winner}"]
    for trial in sorted(run.trials, key=lambda t: t.learning_rate):
        losses = ", ".join(f"{v:.4g}" for v in trial.losses)
        mark = "  <- verified" if verified is not None and trial.learning_rate == verified else ""
        lines.append(f"  trial {trial.learning_rate:<9.3g} held-out loss per round: {losses}  "
                     f"({trial.steps} steps){mark}")
    lines.append(f"  trials cost {sum(t.steps for t in run.trials)} optimizer steps")
    return "\n".join(lines)
