"""A range test's result as text: plain text for the terminal, Markdown tables, plain dicts for JSON.

Formatting only: every number comes from `tb_lrfinder.analysis` (the figure: `plot`)."""

from __future__ import annotations

import dataclasses
import math

from tb_lrfinder.analysis.types import Analysis
from tb_lrfinder.analysis.verdicts import deciding_first_round


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
