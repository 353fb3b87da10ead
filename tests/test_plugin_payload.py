"""The LR Finder tab's backend without TensorBoard: payload shape, caching, long tags, big runs,
and the data-provider path with a fake provider."""

import json
import os
import types

import numpy as np
import pytest
from eventlog import (
    scalar_event,
    version_event,
    write_diverging_sweep,
    write_simple_log,
)

from tb_lrfinder.logformat.tfrecord import frame_record
from tb_lrfinder.reporting.tensorboard_plugin import scalar_table
from tb_lrfinder.reporting.tensorboard_plugin.payload import (
    MAX_POINTS_DRAWN,
    LogDirectory,
    drawn_indices,
    provider_payload,
)
from tb_lrfinder.sweep.recorder import StepRecorder


def _answer(directory):
    return json.loads(directory.answer())


def _big_sweep(path, n):
    rates = 1e-6 * 1e7 ** (np.arange(n) / n)
    losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) * 3))
    losses[int(0.95 * n):] *= np.exp(np.arange(n - int(0.95 * n)) * 200 / n)
    with StepRecorder(path, stop_factor=None, flush_secs=1e9) as recorder:
        for step in range(n):
            recorder.record(step, float(rates[step]), float(losses[step]), wall_time=1.0)


def test_payload_has_the_rate_to_use_and_the_analysis_of_every_point(tmp_path):
    from tb_lrfinder.results.runs import analyze_paths

    write_diverging_sweep(tmp_path / "sweep")
    answer = _answer(LogDirectory(tmp_path))
    assert answer["source"] == "files" and answer["skipped"] == [] and answer["notes"] == []
    (run,) = answer["runs"]
    (expected,), _ = analyze_paths([tmp_path / "sweep"])
    assert run["run"] == "sweep" and run["points_total"] == run["points_drawn"] == 100
    assert set(run["points"]) == {"step", "learning_rate", "loss", "smoothed_loss"}
    assert run["use"] == {"learning_rate": pytest.approx(expected.learning_rate), "source": "recommended",
                          "confident": expected.recommended.confident}
    assert run["analysis"]["stop"] == json.loads(json.dumps(run["analysis"]["stop"]))
    assert run["analysis"]["recommended"]["learning_rate"] == pytest.approx(expected.recommended.learning_rate)


def test_a_million_point_run_is_analysed_whole_and_sent_at_drawing_size(tmp_path):
    from tb_lrfinder.results.runs import analyze_paths

    _big_sweep(tmp_path / "million", 1_000_000)
    body = LogDirectory(tmp_path).answer()
    assert len(body) < 400_000  # a drawing's worth, not 70 MB of every point
    (run,) = json.loads(body)["runs"]
    assert run["points_total"] == 1_000_000 and run["points_drawn"] == MAX_POINTS_DRAWN
    assert run["points"]["step"][0] == 0 and run["points"]["step"][-1] == 999_999
    (expected,), _ = analyze_paths([tmp_path / "million"])  # what the command line says, from every point
    assert run["analysis"]["stop"]["step"] == expected.analysis.stop.step
    assert run["use"]["learning_rate"] == pytest.approx(expected.learning_rate)


def _resident_mb() -> float:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS:")).split()[1]) / 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident set from /proc")
def test_after_a_big_analysis_the_server_keeps_about_the_cache_of_columns(tmp_path):
    """What an analysis of a 1M-step run allocates and frees goes back to the system: the process
    keeps the cache of the run's columns (80 MB), not the analysis's temporaries (a few hundred MB)."""
    from tb_lrfinder.reporting.tensorboard_plugin.payload import _malloc_trim

    if _malloc_trim() is None:
        pytest.skip("the C library has no malloc_trim: freed heap stays with the allocator")
    _big_sweep(tmp_path / "million", 1_000_000)
    directory = LogDirectory(tmp_path)
    import threading

    before = _resident_mb()
    thread = threading.Thread(target=directory.answer)  # as the plugin's warm-up runs it
    thread.start()
    thread.join()
    cache_mb = sum(column.nbytes for _, columns, _ in directory._files.values() for column in columns[1:]) / 2**20
    assert _resident_mb() - before < cache_mb + 60


def test_an_unchanged_directory_is_answered_from_the_cache_and_a_changed_run_is_read_again(tmp_path, monkeypatch):
    from tb_lrfinder.logformat import files as files_module
    from tb_lrfinder.logformat.files import read_file_columns

    write_diverging_sweep(tmp_path / "a")
    write_diverging_sweep(tmp_path / "b")
    directory = LogDirectory(tmp_path)
    read = []
    original = read_file_columns
    monkeypatch.setattr(files_module, "read_file_columns", lambda path: read.append(os.path.basename(
        os.path.dirname(path))) or original(path))
    first = directory.answer()
    assert sorted(read) == ["a", "b"]
    assert directory.answer() is first and sorted(read) == ["a", "b"]  # nothing read, nothing analysed
    rates, losses = 1e-5 * 1.1 ** np.arange(200), np.linspace(2.0, 1.0, 200)
    write_simple_log(tmp_path / "b" / "events.out.tfevents.2.h", zip(range(200), rates, losses))  # b changes
    changed = _answer(directory)
    assert sorted(read) == ["a", "b", "b"]  # only b's new file; a and b's first file from the cache
    assert {run["run"]: run["points_total"] for run in changed["runs"]} == {"a": 100, "b": 200}


def test_the_plugin_analyses_its_log_directory_as_tensorboard_starts(tmp_path, monkeypatch):
    """Constructing the plugin starts the analysis; the first request is then answered from it."""
    from tb_lrfinder.logformat import files as files_module
    from tb_lrfinder.logformat.files import read_file_columns
    from tb_lrfinder.reporting.tensorboard_plugin import LRFinderPlugin

    write_diverging_sweep(tmp_path / "a")
    read = []
    original = read_file_columns
    monkeypatch.setattr(files_module, "read_file_columns", lambda path: read.append(path) or original(path))
    started = []
    original_warm_up = LogDirectory.warm_up
    monkeypatch.setattr(LogDirectory, "warm_up", lambda self: started.append(original_warm_up(self)) or started[-1])
    plugin = LRFinderPlugin(types.SimpleNamespace(data_provider=None, logdir=str(tmp_path)))
    (thread,) = started
    thread.join(timeout=120)
    assert not thread.is_alive() and len(read) == 1
    from werkzeug.test import Client

    answer = json.loads(Client(plugin.get_plugin_apps()["/runs"]).get("/runs").get_data())
    assert len(read) == 1  # nothing read again: the request found the analysis done
    assert [run["run"] for run in answer["runs"]] == ["a"]


def test_a_long_tag_costs_its_length_once(tmp_path):
    """A 1 MiB tag over 2,000 rows: the answer neither copies it per row nor sends it more than once."""
    tag = "x" * (1 << 20)
    path = tmp_path / "run" / "events.out.tfevents.1.h"
    path.parent.mkdir()
    records = [version_event()] + [scalar_event(step, {tag: 1.0, "lr": 0.1, "loss": 1.0}) for step in range(2000)]
    path.write_bytes(b"".join(frame_record(r) for r in records))
    import tracemalloc

    tracemalloc.start()
    body = LogDirectory(tmp_path).answer()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20  # a fixed-width copy of the tag per row would be 8 GB
    assert body.count(b"x" * 1000) <= 1


def test_skip_reasons_speak_to_the_page_not_to_the_command_line(tmp_path):
    (tmp_path / "run").mkdir()
    write_simple_log(tmp_path / "run" / "events.out.tfevents.1.h", [(i, 0.1 * (i + 1), 1.0) for i in range(20)],
                     lr_tag="lr", loss_tag="val_loss")
    (skipped,) = _answer(LogDirectory(tmp_path))["skipped"]
    assert "held-out" in skipped["reason"] and "Name it with --loss-tag" not in skipped["reason"]
    assert "tb-lrfinder analyze" in skipped["reason"]


def test_damage_is_a_note_and_the_rest_is_drawn(tmp_path):
    path = tmp_path / "run" / "events.out.tfevents.1.h"
    path.parent.mkdir()
    offsets = write_simple_log(path, [(i, 1e-5 * 1.2**i, 2.0) for i in range(50)])
    data = bytearray(path.read_bytes())
    data[offsets[10] + 20] ^= 1
    path.write_bytes(bytes(data))
    answer = _answer(LogDirectory(tmp_path))
    assert any("CRC mismatch" in note for note in answer["notes"]) and answer["runs"][0]["points_total"] == 49


def test_runs_are_ordered_newest_first(tmp_path):
    for name, wall_time in (("old", 100.0), ("new", 300.0), ("middle", 200.0)):
        (tmp_path / name).mkdir()
        records = [version_event()] + [scalar_event(i, {"lr": 1e-5 * 1.2**i, "loss": 2.0 - i / 100}, wall_time)
                                       for i in range(60)]
        (tmp_path / name / "events.out.tfevents.1.h").write_bytes(b"".join(frame_record(r) for r in records))
    assert [run["run"] for run in _answer(LogDirectory(tmp_path))["runs"]] == ["new", "middle", "old"]


def test_a_data_provider_answer_is_analysed_and_says_it_may_be_sampled():
    datum = types.SimpleNamespace
    rates = 1e-5 * (10 / 1e-5) ** (np.arange(120) / 120)
    losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) * 3))
    losses[100:] *= np.exp(np.arange(20))
    hostile = "<img src=x onerror=alert(1)>"
    series = {hostile: {"lr": [datum(step=i, wall_time=1.0, value=r) for i, r in enumerate(rates)],
                        "loss": [datum(step=i, wall_time=1.0, value=v) for i, v in enumerate(losses)]}}
    answer = provider_payload(scalar_table(series))
    assert answer["source"] == "data provider" and "samples_per_plugin" in answer["notes"][0]
    (run,) = answer["runs"]
    assert run["run"] == hostile  # the name as it is: the page sets it as text (tests/test_tensorboard_plugin.py)
    assert run["analysis"]["stop"]["reason"] == "diverged" and run["use"] is not None


def test_a_data_provider_answer_becomes_one_table_sorted_with_the_later_write_kept():
    datum = types.SimpleNamespace
    series = {"b": {"loss": [datum(step=s, wall_time=1.0, value=v) for s, v in ((2, 0.5), (1, 0.7), (1, 0.6))],
                    "lr": [datum(step=1, wall_time=2.0, value=0.1)]},
              "a": {"lr": [datum(step=0, wall_time=3.0, value=0.2)]},
              "empty": {}}
    table = scalar_table(series)
    assert table.run_names == ("a", "b", "empty") and table.runs == ("a", "b")
    rows = [(table.run_names[r], table.tag_names[t], s, v) for r, t, s, v in
            zip(table.run_codes, table.tag_codes, table.steps, table.values)]
    assert rows == [("a", "lr", 0, 0.2), ("b", "loss", 1, 0.6), ("b", "loss", 2, 0.5), ("b", "lr", 1, 0.1)]
    assert len(scalar_table({})) == 0


def test_drawn_indices_keep_the_ends_and_the_limit():
    for count in (1, 10, 2000, 2001, 10**6):
        kept = drawn_indices(count)
        assert kept[0] == 0 and kept[-1] == count - 1 and len(kept) == min(count, MAX_POINTS_DRAWN)
        assert np.all(np.diff(kept) > 0)


def _page_module_result(tmp_path, expression: str):
    """The JSON value of `expression` (m: the tab's page module, static/index.js) evaluated by node."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("no node")
    module = tmp_path / "index.mjs"
    module.write_text(open(os.path.join(os.path.dirname(__file__), "..", "tb_lrfinder", "reporting", "tensorboard_plugin",
                                        "static", "index.js")).read())
    script = f"import('./index.mjs').then(m => console.log(JSON.stringify({expression})))"
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_nice_ticks_are_round_values_inside_the_range(tmp_path):
    first, second, third = _page_module_result(
        tmp_path, "[m.niceTicks(0, 4.07), m.niceTicks(0.31, 2.97), m.niceTicks(1e-4, 3e-4)]")
    assert first == [0, 1, 2, 3, 4] and second == [0.5, 1, 1.5, 2, 2.5]
    assert third == [0.0001, 0.00015, 0.0002, 0.00025, 0.0003] or third == [0.0001, 0.0002, 0.0003]


def test_repeated_sweeps_are_one_combined_answer_with_their_sweeps_beneath(tmp_path):
    for i in range(3):
        write_diverging_sweep(tmp_path / "exp" / f"repeat_{i}")
    (run,) = _answer(LogDirectory(tmp_path))["runs"]
    assert run["run"] == "exp" and run["use"]["combines"] == 3
    assert [sweep["run"] for sweep in run["repeats"]] == [f"exp/repeat_{i}" for i in range(3)]
    assert run["recommended"]["learning_rate"] == run["use"]["learning_rate"]
    assert any("same batches" in caveat for caveat in run["recommended"]["caveats"])  # identical logs


def _write_trial(directory, rate, losses, *, training_steps):
    """A verification trial's run as `training.trials` writes it: the start's held-out loss and what
    verification was told at step 0, then the held-out loss after each round (steps 10, 30, ...)."""
    from tb_lrfinder.logformat import tags
    from tb_lrfinder.logformat.writer import EventFileWriter

    writer = EventFileWriter(directory)
    start = {tags.TRIAL_LOSS: 2.0, tags.TRIAL_RATE: rate, tags.TRIAL_TRAINING_STEPS: float(training_steps)}
    writer.scalars(0, tuple(start), tuple(start.values()), 1.0)
    for step, loss in zip((10, 30), losses):
        writer.scalars(step, (tags.TRIAL_LOSS, tags.TRIAL_RATE), (loss, rate), 1.0)
    writer.close()


def test_the_share_of_the_training_verification_took_reaches_the_tab(tmp_path):
    write_diverging_sweep(tmp_path / "exp")
    _write_trial(tmp_path / "exp" / "trial_0_0.001", 1e-3, (1.5, 1.2), training_steps=3000)
    _write_trial(tmp_path / "exp" / "trial_1_0.003", 3e-3, (1.4, 1.0), training_steps=3000)
    (run,) = _answer(LogDirectory(tmp_path))["runs"]
    assert run["use"]["source"] == "verified" and run["use"]["learning_rate"] == pytest.approx(3e-3)
    swept = run["points_total"]
    assert run["verification_cost"] == {"trial_steps": 60, "sweep_steps": swept, "training_steps": 3000,
                                        "share": pytest.approx((swept + 60) / 3000)}


def test_the_headline_says_what_share_of_the_training_verification_took(tmp_path):
    run = {"use": {"source": "verified", "learning_rate": 0.003}, "trials": [{}, {}],
           "verification_cost": {"share": 0.0533, "training_steps": 3000}}
    texts = _page_module_result(tmp_path, f"[m.useText({json.dumps(run)}), "
                                          f"m.useText({json.dumps({**run, 'verification_cost': None})})]")
    assert texts == ["0.00300, verified by 2 trials (checked for 5% of the training's 3000 steps)",
                     "0.00300, verified by 2 trials"]
