"""plot.py: what the plot of a range test shows, and that drawing leaves the user's matplotlib as it was."""

import dataclasses

import numpy as np
import pytest
from eventlog import write_diverging_sweep

from tb_lrfinder import LRFinderError, plot_range_test
from tb_lrfinder.analysis.verdicts import Trial, Verification
from tb_lrfinder.reporting.plot import render_png, save_plot
from tb_lrfinder.results.runs import analyze_paths

matplotlib = pytest.importorskip("matplotlib")


def _sweep(directory):
    write_diverging_sweep(directory)
    (run,), _ = analyze_paths([directory])
    return run


def test_one_result_is_drawn_with_its_rates_marked(tmp_path):
    import matplotlib.pyplot as plt

    run = _sweep(tmp_path / "run")
    ax = plot_range_test(run)
    try:
        lines = {line.get_label(): line for line in ax.get_lines()}
        smoothed = lines["smoothed loss"]
        np.testing.assert_array_equal(smoothed.get_xdata(), run.curve["learning_rate"])
        np.testing.assert_array_equal(smoothed.get_ydata(), run.curve["smoothed_loss"])
        recommended = lines[f"recommended {run.learning_rate:.2g}"]
        assert recommended.get_xdata()[0] == run.learning_rate
        assert any(label.startswith("stop: diverged") for label in lines)
        assert ax.get_xscale() == "log"
    finally:
        plt.close(ax.figure)


def test_a_verified_rate_is_drawn_and_several_results_overlay(tmp_path):
    import matplotlib.pyplot as plt

    run = _sweep(tmp_path / "a")
    verified = dataclasses.replace(run, verification=Verification(
        0.002, (Trial(0.002, (0.5,), 10, None, False),), 10, "", 2.0))
    fig, ax = plt.subplots()
    try:
        assert plot_range_test([verified, _sweep(tmp_path / "b")], ax=ax) is ax
        labels = [line.get_label() for line in ax.get_lines()]
        assert any(label.startswith("verified 0.002") for label in labels)
        assert sum(label.startswith("recommended") for label in labels) == 2
    finally:
        plt.close(fig)


def test_writing_a_plot_keeps_the_backend_and_opens_no_pyplot_figure(tmp_path):
    import matplotlib.pyplot as plt

    run = _sweep(tmp_path / "run")
    before_backend, before_figures = matplotlib.get_backend(), plt.get_fignums()
    matplotlib.use("svg")
    try:
        save_plot([run], tmp_path / "curve.png")
        png = render_png([run])
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == before_figures
        assert png.startswith(b"\x89PNG") and (tmp_path / "curve.png").stat().st_size > 0
    finally:
        matplotlib.use(before_backend)


def test_nothing_to_plot_is_an_error():
    with pytest.raises(LRFinderError, match="nothing to plot"):
        plot_range_test([])


def test_many_runs_draw_a_readable_dozen_and_say_how_many_more(tmp_path):
    import matplotlib.pyplot as plt

    from tb_lrfinder.reporting.plot import MAX_RUNS_DRAWN, left_out

    write_diverging_sweep(tmp_path / "one")
    (run,), _ = analyze_paths([tmp_path / "one"])
    runs = [dataclasses.replace(run, name="x" * 200 + f"/run_{k:03d}") for k in range(40)]
    fig, ax = plt.subplots()
    try:
        plot_range_test(runs, ax=ax)
        smoothed = [line for line in ax.get_lines() if line.get_label().endswith(tuple(f"run_{k:03d}"
                                                                                       for k in range(40)))]
        assert len(smoothed) == MAX_RUNS_DRAWN
        assert all(len(line.get_label()) <= 40 for line in smoothed)  # a long name does not widen the figure
        assert any(f"{40 - MAX_RUNS_DRAWN} more not drawn" in text.get_text() for text in ax.texts)
    finally:
        plt.close(fig)
    assert left_out(runs) == [r.name for r in runs[MAX_RUNS_DRAWN:]]
    png = render_png(runs)
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width < 2000 and height < 1200
