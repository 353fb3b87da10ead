"""The analysis written back into a run, and served by a real TensorBoard."""

import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from eventlog import iter_records, write_diverging_sweep
from tensorboard.compat.proto import event_pb2
from tensorboard_server import get as _get
from tensorboard_server import serve

from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import read_scalars
from tb_lrfinder.reporting.writeback import write_report
from tb_lrfinder.results.runs import analyze_paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _summaries(directory):
    found = {}
    for name in sorted(os.listdir(directory)):
        for data in iter_records(os.path.join(directory, name), lambda p: None):
            for value in event_pb2.Event.FromString(data).summary.value:
                found.setdefault(value.tag, []).append(value)
    return found


def test_write_back_adds_text_image_hparams_metrics_and_smoothed_loss(tmp_path):
    pytest.importorskip("matplotlib")
    write_diverging_sweep(tmp_path / "run")
    out = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "analyze.py"), str(tmp_path / "run"),
                          "--write-back"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found = _summaries(tmp_path / "run")
    text = found[tags.SUMMARY_TEXT][0].tensor.string_val[0].decode()
    assert "| run | recommended |" in text and "diverged" in text
    image = found[tags.SUMMARY_PLOT][0].tensor.string_val
    assert image[2][:8] == b"\x89PNG\r\n\x1a\n" and int(image[0]) > 100
    assert "_hparams_/session_start_info" in found
    scalars = read_scalars(tmp_path / "run")
    (analysed,), _ = analyze_paths([tmp_path / "run"])
    recommended = scalars.loc[scalars["tag"] == tags.METRIC_RECOMMENDED_LR, "value"].iloc[0]
    assert recommended == pytest.approx(analysed.analysis.recommended.learning_rate, rel=1e-6)
    smoothed = scalars.loc[scalars["tag"] == tags.SMOOTHED_LOSS]
    assert smoothed["step"].tolist() == list(range(100))
    # The run still reads as the same range test after the write-back.
    assert len(analysed.frame) == 100 and analysed.lr_tag == "lr"


def test_report_file_appears_whole(tmp_path):
    write_diverging_sweep(tmp_path)
    (run,), _ = analyze_paths([tmp_path])
    path = write_report(run, plot=False)
    assert os.path.basename(path).startswith("events.out.tfevents.") and os.path.dirname(path) == str(tmp_path)
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".partial")]


@pytest.fixture
def tensorboard_server():
    """Start TensorBoard on a free loopback port; always stopped afterwards."""
    with contextlib.ExitStack() as stack:
        yield lambda logdir: stack.enter_context(serve(logdir))


def test_a_sweep_is_served_by_tensorboard(tmp_path, tensorboard_server, make_mlp, tiny_data):
    pytest.importorskip("tensorflow")
    pytest.importorskip("matplotlib")
    from tb_lrfinder import find_lr

    x, y = tiny_data
    result = find_lr(make_mlp(), x, y, batch_size=8, min_lr=1e-4, max_lr=10.0, num_steps=64, verbose=0,
                     log_dir=tmp_path / "logs" / "range_test")
    steps = result.frame["step"].tolist()
    base = tensorboard_server(tmp_path / "logs")

    def scalar_steps(tag):
        try:
            return [step for _, step, _ in _get(base, "/data/plugin/scalars/scalars", run="range_test", tag=tag)]
        except OSError:  # 400 until the run and tag are loaded
            return []

    deadline = time.monotonic() + 60
    while scalar_steps(tags.METRIC_STOP_STEP) != [0] and time.monotonic() < deadline:
        time.sleep(0.5)  # TensorBoard loads the logdir in the background; the report file comes last
    assert "range_test" in _get(base, "/data/runs")
    for tag in (tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS):
        assert scalar_steps(tag) == steps, tag
    served_loss = [value for _, _, value in _get(base, "/data/plugin/scalars/scalars", run="range_test", tag=tags.LOSS)]
    np.testing.assert_allclose(served_loss, result.frame["loss"], rtol=1e-6)
    text = _get(base, "/data/plugin/text/text", run="range_test", tag=tags.SUMMARY_TEXT)
    assert "recommended" in json.dumps(text)
    images = _get(base, "/data/plugin/images/images", run="range_test", tag=tags.SUMMARY_PLOT)
    png = _get(base, "/data/plugin/images/individualImage?" + images[0]["query"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    layout = _get(base, "/data/plugin/custom_scalars/layout")
    assert layout["category"][0]["title"].startswith("learning-rate range test")


def test_hparams_show_the_configured_sweep_and_the_recommendation_first(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    write_diverging_sweep(tmp_path / "run")
    (run,), _ = analyze_paths([tmp_path / "run"])
    write_report(run, plot=False, hparams={"min_lr": 1e-5, "max_lr": 10.0, "num_steps": 100, "batch_size": 64,
                                           "optimizer": "SGD"})
    found = _summaries(tmp_path / "run")
    config = plugin_data_pb2.HParamsPluginData.FromString(
        found["_hparams_/experiment"][0].metadata.plugin_data.content).experiment
    assert [h.name for h in config.hparam_infos][:5] == ["min_lr", "max_lr", "num_steps", "batch_size", "optimizer"]
    metrics = [m.name.tag for m in config.metric_infos]
    assert metrics[:4] == [tags.METRIC_RECOMMENDED_LR, tags.METRIC_RANGE_LOW, tags.METRIC_RANGE_HIGH,
                           tags.METRIC_VERIFIED_LR]
    assert tags.LEARNING_RATE not in metrics and tags.LOSS not in metrics  # not the last logged rate and loss
    start = plugin_data_pb2.HParamsPluginData.FromString(
        found["_hparams_/session_start_info"][0].metadata.plugin_data.content).session_start_info
    assert start.hparams["max_lr"].number_value == 10.0  # configured, not where the sweep stopped


def test_text_renders_caveats_as_a_markdown_list(tmp_path):
    write_diverging_sweep(tmp_path / "run")
    (run,), _ = analyze_paths([tmp_path / "run"])
    assert run.analysis.recommended.caveats  # this curve's rules disagree
    write_report(run, plot=False)
    text = _summaries(tmp_path / "run")[tags.SUMMARY_TEXT][0].tensor.string_val[0].decode()
    assert "\n\n**Caveats:**\n\n- " in text  # a list: blank lines around it, not run into the stop paragraph
