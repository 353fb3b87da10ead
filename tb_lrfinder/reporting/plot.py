"""Loss against log(rate), with the suggestions, the verified rate and the stop point marked.

Drawing only: every number comes from `RangeTestResult`. matplotlib is imported
here and nowhere else (`pip install tb-lrfinder[plot]`). Files and PNG bytes
are drawn on figures of their own (`matplotlib.figure.Figure`, no pyplot), so
writing a plot never touches the user's pyplot state or backend; only
`plot_range_test` without an `ax` opens a pyplot figure, which a notebook shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.results.result import RangeTestResult

MAX_RUNS_DRAWN = 12
"""Runs drawn on one plot at most (the first, in the order given): past a dozen curves and legend
entries a plot no longer reads. The figure says how many more there were; `left_out` names them."""


_MAX_LABEL = 40  # characters of a run's name in a legend or tick label


_MARKERS = {"safe": "o", "steepest": "v", "min_loss_div10": "s", "valley": "D"}


_LABELS = {"safe": "safe", "steepest": "steepest", "min_loss_div10": "min loss / 10", "valley": "valley"}


def _matplotlib():
    """matplotlib, with its `figure` module loaded (a clear error where it is not installed)."""
    try:
        import matplotlib.figure
    except ImportError:
        raise LRFinderError("plotting needs matplotlib: pip install 'tb-lrfinder[plot]'") from None
    return matplotlib


def plot_range_test(results: RangeTestResult | Sequence[RangeTestResult], ax=None):
    """Draw loss against learning rate for one range test (e.g. `find_lr`'s result) or
    several overlaid: raw loss faint, smoothed solid, each rule's rate marked, the
    recommended rate dashed over its range, a verified rate solid, the stop point
    dotted, the validation overlay as dots. On `ax`, or a new pyplot figure (shown inline in a notebook).

    Returns the matplotlib Axes. In a notebook::

        result = find_lr(model, x, y, batch_size=64)
        plot_range_test(result)
    """
    runs = [results] if isinstance(results, RangeTestResult) else list(results)
    if not runs:
        raise LRFinderError("nothing to plot: no range test given")
    if ax is None:
        _matplotlib()
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(9, 5.5))
    return draw(runs, ax)


def left_out(runs: Sequence[RangeTestResult]) -> list[str]:
    """The names of the runs a plot of `runs` does not draw (past `MAX_RUNS_DRAWN`)."""
    return [run.name for run in runs[MAX_RUNS_DRAWN:]]


def _label(name: str) -> str:
    """A run's name for a legend or a tick: its last `_MAX_LABEL` characters (a name can be a long path)."""
    return name if len(name) <= _MAX_LABEL else "..." + name[-(_MAX_LABEL - 3):]


def _note_left_out(runs: Sequence[RangeTestResult], ax) -> None:
    """Say on `ax` how many of `runs` are not drawn, where any are not."""
    hidden = len(runs) - MAX_RUNS_DRAWN
    if hidden > 0:
        ax.text(0.99, 0.01, f"the first {MAX_RUNS_DRAWN} of {len(runs)} runs; {hidden} more not drawn",
                transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="dimgray")


def _loss_limits(runs: Sequence[RangeTestResult]) -> tuple[float, float] | None:
    """Y range that shows every curve up to its stop, not the blow-up after it."""
    lows, highs = [], []
    for run in runs:
        smoothed = run.curve["smoothed_loss"]
        upto = run.curve["step"] <= run.analysis.stop.step
        finite = smoothed[upto & np.isfinite(smoothed)]
        if finite.size:
            lows.append(finite.min())
            highs.append(finite[: max(1, finite.size // 10)].max())  # the starting level
    if not lows:
        return None
    low, high = min(lows), max(max(highs), min(lows))
    pad = 0.15 * (high - low) if high > low else max(abs(high), 1.0) * 0.1
    return low - pad, high + 2 * pad


def draw(runs: Sequence[RangeTestResult], ax):
    """Draw the runs on `ax` (the first `MAX_RUNS_DRAWN`, saying so where there are more); returns it."""
    colors = _matplotlib().rcParams["axes.prop_cycle"].by_key()["color"]
    _note_left_out(runs, ax)
    runs = runs[:MAX_RUNS_DRAWN]
    for i, run in enumerate(runs):
        color = colors[i % len(colors)]
        curve, result = run.curve, run.analysis
        label = _label(run.name) if len(runs) > 1 else "smoothed loss"
        whose = "" if len(runs) == 1 else f" ({_label(run.name)})"  # the run a rate line belongs to, where several
        ax.plot(curve["learning_rate"], curve["loss"], color=color, alpha=0.25, linewidth=0.8)
        ax.plot(curve["learning_rate"], curve["smoothed_loss"], color=color, linewidth=1.8, label=label)
        if "val_loss" in curve:
            measured = np.isfinite(curve["val_loss"])
            ax.plot(curve["learning_rate"][measured], curve["val_loss"][measured], color=color, linestyle="none",
                    marker="o",
                    markersize=3, label="validation loss" if len(runs) == 1 else None)
        for suggestion in result.suggestions:
            rate = suggestion.learning_rate
            y = np.interp(np.log(rate), np.log(curve["learning_rate"]), curve["smoothed_loss"])
            ax.plot([rate], [y], marker=_MARKERS[suggestion.rule], color=color, markersize=8, linestyle="none",
                    markeredgecolor="black", label=f"{_LABELS[suggestion.rule]} {rate:.2g}" if len(runs) == 1 else None)
        for sweep in run.repeats[1:]:  # the other sweeps of a combined result, thin
            ax.plot(sweep.curve["learning_rate"], sweep.curve["smoothed_loss"], color=color, linewidth=0.9,
                    alpha=0.6, linestyle="-.")
        if run.recommended is not None:
            rec = run.recommended
            combines = f" ({len(run.repeats)} sweeps combined)" if run.repeats else ""
            ax.axvspan(rec.low, rec.high, color=color, alpha=0.08)
            ax.axvline(rec.learning_rate, color=color, linestyle="--", linewidth=1.2,
                       label=f"recommended {rec.learning_rate:.2g}{combines}{whose}")
        if run.verified_rate is not None:
            ax.axvline(run.verified_rate, color=color, linestyle="-", linewidth=1.6, alpha=0.8,
                       label=f"verified {run.verified_rate:.2g}{whose}")
        stop = result.stop
        ax.axvline(stop.learning_rate, color=color, linestyle=":", linewidth=1.0,
                   label=f"stop: {stop.reason} @ {stop.learning_rate:.2g}" if len(runs) == 1 else None)
    ax.set_xscale("log")
    limits = _loss_limits(runs)
    if limits is not None:
        ax.set_ylim(*limits)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss (raw: faint, smoothed: solid)")
    ax.set_title("Learning-rate range test")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return ax


def draw_comparison(runs: Sequence[RangeTestResult], ax):
    """Recommended rate of each run (its range as whiskers), in run order (the first `MAX_RUNS_DRAWN`)."""
    _note_left_out(runs, ax)
    runs = runs[:MAX_RUNS_DRAWN]
    names = [_label(run.name) for run in runs]
    for i, run in enumerate(runs):
        rec = run.recommended
        if rec is None:
            ax.plot([i], [run.analysis.stop.learning_rate], marker="x", color="gray")
            continue
        ax.errorbar([i], [rec.learning_rate], yerr=[[rec.learning_rate - rec.low], [rec.high - rec.learning_rate]],
                    marker="o", capsize=4, color="black" if rec.confident else "tab:orange")
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("recommended rate (range as whiskers)")
    ax.set_title("How the recommendation moves across runs")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def _figure(runs: Sequence[RangeTestResult], figsize=(9, 5.5)):
    """A figure of its own (not pyplot's): one run's curve, or several overlaid beside `draw_comparison`."""
    if len(runs) == 1:
        figure = _matplotlib().figure.Figure(figsize=figsize, dpi=110)
        draw(runs, figure.subplots())
        return figure
    figure = _matplotlib().figure.Figure(figsize=(15, 5.5), dpi=110)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    draw(runs, left)
    draw_comparison(runs, right)
    return figure


def render_png(runs: Sequence[RangeTestResult], *, dpi: int = 128, figsize=(5.6, 3.8), font_size: float = 11) -> bytes:
    """The plot of `runs` as PNG bytes, for TensorBoard's image dashboard:
    a small figure with large type, so it reads when TensorBoard fits it to
    its card (about 330 px wide), and twice that resolution for the full size."""
    import io

    with _matplotlib().rc_context({"font.size": font_size, "legend.fontsize": font_size * 0.7}):
        buffer = io.BytesIO()
        _figure(runs, figsize=figsize).savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def save_plot(runs: Sequence[RangeTestResult], path: str | os.PathLike) -> str:
    """Write the plot of `runs` to `path` (PNG, SVG, PDF, ... by extension; PNG,
    with ".png" added, where it has none); return the path written."""
    if not runs:
        raise LRFinderError("nothing to plot: no run holds a range test")
    path = os.fspath(path)
    extension = os.path.splitext(path)[1][1:].lower()
    if not extension:  # matplotlib would add ".png" itself; say so by naming the file that is written
        path, extension = path + ".png", "png"
    supported = _matplotlib().figure.Figure().canvas.get_supported_filetypes()
    if extension not in supported:
        raise LRFinderError(
            f"cannot write plot {path!r}: unknown image format {extension!r}; use one of {', '.join(sorted(supported))}"
        )
    try:
        _figure(runs).savefig(path, bbox_inches="tight")
    except OSError as exc:
        raise LRFinderError(f"cannot write plot {path!r}: {exc.strerror or exc}") from None
    return path
