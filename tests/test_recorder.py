import math
import os

import numpy as np
import pytest

from tb_lrfinder import LRFinderError, StepRecorder
from tb_lrfinder.analysis.curve import analyze
from tb_lrfinder.core.smoothing import debiased_ema
from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.table import read_scalars
from tb_lrfinder.results.curves import read_range_test


def _column(log_dir, tag):
    """(step, value) pairs of `tag` as a reader sees the run (a repeated step: its last write)."""
    scalars = read_scalars(log_dir)
    rows = scalars[scalars["tag"] == tag]
    return list(zip(rows["step"].tolist(), rows["value"].tolist()))


def _record(log_dir, losses, **options):
    with StepRecorder(log_dir, **{"stop_factor": 4.0, **options}) as recorder:
        for step, loss in enumerate(losses):
            if recorder.record(step, 1e-3 * 2.0**step, loss):
                break
    return recorder


def test_smoothed_loss_is_the_debiased_ema(tmp_path):
    losses = np.random.default_rng(0).uniform(1, 2, 50).tolist()
    recorder = _record(tmp_path, losses, stop_factor=None)
    average, expected = 0.0, []
    for n, loss in enumerate(losses, start=1):
        average = 0.9 * average + 0.1 * loss
        expected.append(average / (1 - 0.9**n))
    assert recorder.smoothed == pytest.approx(expected[-1], rel=1e-12)
    # The same curve the offline analysis computes; float32 in the file.
    np.testing.assert_allclose([v for _, v in _column(tmp_path, tags.SMOOTHED_LOSS)], expected, rtol=1e-6)
    np.testing.assert_allclose(debiased_ema(losses), expected, rtol=1e-12)
    np.testing.assert_allclose([v for _, v in _column(tmp_path, tags.LOSS)], losses, rtol=1e-6)
    np.testing.assert_allclose([v for _, v in _column(tmp_path, tags.LEARNING_RATE)],
                               [1e-3 * 2.0**s for s in range(50)], rtol=1e-6)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_is_the_last_point(tmp_path, bad):
    recorder = _record(tmp_path, [1.0, 0.9, 0.8, bad, 0.5, 0.4])
    assert recorder.halted and recorder.stopped and recorder.stop_step == 3
    assert [step for step, _ in _column(tmp_path, tags.LOSS)] == [0, 1, 2, 3]


def test_points_after_the_halt_are_dropped(tmp_path):
    with StepRecorder(tmp_path, stop_factor=4.0) as recorder:
        # a whole block handed over after the stop (steps_per_execution > 1)
        halted = [recorder.record(step, 0.1, loss) for step, loss in enumerate([1.0, 0.9, 0.8, math.nan, 0.5, 0.4])]
    assert halted == [False, False, False, True, True, True]
    assert [step for step, _ in _column(tmp_path, tags.LOSS)] == [0, 1, 2, 3]


def test_divergence_stops_after_the_first_point_past_the_factor(tmp_path):
    # beta 0: smoothed == raw; best 1.0, so 4x is passed by 4.5, not by 4.0.
    recorder = _record(tmp_path, [2.0, 1.0, 3.0, 4.0, 4.5, 1.0], smoothing=0.0)
    assert recorder.stop_step == 4
    assert [v for _, v in _column(tmp_path, tags.LOSS)] == [2.0, 1.0, 3.0, 4.0, 4.5]


def test_negative_losses_use_the_distance_from_best(tmp_path):
    recorder = _record(tmp_path, [-1.0, -2.0, 3.0, 5.0, 7.0], smoothing=0.0)  # 3x|best| above best: 6 - 2 = 4
    assert recorder.stop_step == 3


def _poisson_like(seed):
    """A Poisson-loss sweep: noisy per-batch losses that start near zero and
    fall below it, then blow up (Keras's Poisson loss has no floor at 0)."""
    rng = np.random.default_rng(seed)
    level = np.concatenate([np.linspace(0.8, -8.0, 70), -8.0 + 1.6 ** np.arange(20)])
    return (level + rng.normal(0.0, 1.5, 90)).tolist()


def test_a_loss_below_zero_diverges_only_past_its_start_size(tmp_path):
    # Measured from |best| alone, a best near zero makes the noise pass "4x its best"
    # within the first steps; the start's size is the scale instead, once a loss is negative.
    for seed in range(5):
        losses = _poisson_like(seed)
        recorder = _record(tmp_path / str(seed), losses)
        assert recorder.stop_step is not None and recorder.stop_step >= 70, (seed, recorder.stop_step)
        frame = read_range_test(tmp_path / str(seed), lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
        assert analyze(frame).stop.step == recorder.stop_step


def test_a_retried_step_replaces_its_loss_in_the_start_size(tmp_path):
    # A loss-scale optimizer's skipped update repeats step 0; the retry's loss (0.5), not the
    # skipped attempt's (5.0), is the start's size: from a best of -0.5, 1.6 rises past 3 x 0.5.
    with StepRecorder(tmp_path, stop_factor=4.0, smoothing=0.0, detect_skips=True) as recorder:
        for step, loss in [(0, 5.0), (0, 0.5), (1, -0.5), (2, 1.6), (3, 1.0)]:
            if recorder.record(step, 1e-3 * 2.0**step, loss):
                break
    assert recorder.stop_step == 2
    frame = read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    assert analyze(frame, smoothing=0.0).stop.step == 2


def test_a_loss_that_stays_positive_keeps_the_article_rule(tmp_path):
    # 4x its best, exactly: best 0.1, so 0.41 stops and 0.4 does not.
    assert _record(tmp_path / "a", [1.0, 0.1, 0.4, 0.3], smoothing=0.0).stop_step is None
    assert _record(tmp_path / "b", [1.0, 0.1, 0.41, 0.3], smoothing=0.0).stop_step == 2


def test_the_online_stop_is_where_the_offline_analysis_puts_it(tmp_path):
    losses = [2.0 * 0.97**s for s in range(30)] + [2.0 * 1.4**s for s in range(20)]
    recorder = _record(tmp_path, losses)
    frame = read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    assert analyze(frame).stop.step == recorder.stop_step == frame["step"].iloc[-1]


def test_max_steps_ends_the_sweep_without_the_stop_rule(tmp_path):
    recorder = _record(tmp_path, [1.0] * 10, stop_factor=None, max_steps=4)
    assert recorder.halted and not recorder.stopped
    assert [step for step, _ in _column(tmp_path, tags.LOSS)] == [0, 1, 2, 3]


def test_without_stop_rule_nan_is_logged_and_the_ema_skips_it(tmp_path):
    _record(tmp_path, [1.0, math.nan, 1.0], stop_factor=None)
    smoothed = [v for _, v in _column(tmp_path, tags.SMOOTHED_LOSS)]
    assert smoothed[0] == pytest.approx(1.0) and math.isnan(smoothed[1]) and smoothed[2] == pytest.approx(1.0)


def test_a_retried_step_replaces_the_skipped_attempt_in_the_ema(tmp_path):
    with StepRecorder(tmp_path, stop_factor=4.0, smoothing=0.5, detect_skips=True) as recorder:
        for step, loss in [(0, 1.0), (1, 2.0), (1, 3.0), (1, 3.0), (2, 1.0)]:
            recorder.record(step, 0.1, loss)
    assert not recorder.halted
    assert _column(tmp_path, tags.SKIPPED_UPDATES) == [(1, 2.0)]  # two retries of step 1
    # The EMA at step 1 is over [1.0, 3.0]: the attempts' 2.0 and first 3.0 were replaced.
    assert dict(_column(tmp_path, tags.SMOOTHED_LOSS))[1] == pytest.approx((0.5 * 0.5 * 1.0 + 0.5 * 3.0) / (1 - 0.25))


def test_skipped_updates_are_marked_not_mistaken_for_divergence(tmp_path):
    # A loss-scale optimizer that skips an update repeats the step number: steps 0,1,1,2,3,3,3,4.
    with StepRecorder(tmp_path, stop_factor=4.0, detect_skips=True) as recorder:
        for step, loss in zip([0, 1, 1, 2, 3, 3, 3, 4], [2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3]):
            recorder.record(step, 0.1 * 1.5**step, loss)
    assert dict(_column(tmp_path, tags.SKIPPED_UPDATES)) == {1: 1.0, 3: 2.0}
    frame = read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    assert frame["step"].tolist() == [0, 1, 2, 3, 4]
    assert frame["loss"].tolist() == pytest.approx([2.0, 1.8, 1.7, 1.4, 1.3])  # the retries' losses
    assert frame["skipped_updates"].fillna(0).tolist() == [0, 1, 0, 2, 0]
    assert not recorder.stopped


def test_a_skipped_last_step_is_counted_before_the_sweep_ends(tmp_path):
    with StepRecorder(tmp_path, max_steps=2, detect_skips=True) as recorder:
        for step, loss in [(0, 1.0), (1, 0.9), (1, 0.8), (1, 0.7), (2, 0.6)]:
            recorder.record(step, 0.1 * (step + 1), loss)
    assert _column(tmp_path, tags.SKIPPED_UPDATES) == [(1, 2.0)]  # both retries of the last step
    assert _column(tmp_path, tags.LOSS)[-1] == (1, pytest.approx(0.7)) and recorder.halted  # step 2 only ends it


def test_micro_steps_count_samples_and_validation_is_logged_beside(tmp_path):
    with StepRecorder(tmp_path, max_steps=2) as recorder:
        recorder.record(0, 0.1, 9.0, update=False, samples=8)
        recorder.record(0, 0.1, 1.0, samples=8, validation_loss=1.5)
        recorder.record(1, 0.2, 1.0, samples=8)
        recorder.record(2, 0.3, 1.0, samples=8)  # after max_steps: neither logged nor counted
    assert _column(tmp_path, tags.LOSS) == [(0, 1.0), (1, 1.0)]
    assert _column(tmp_path, tags.VAL_LOSS) == [(0, 1.5)]
    assert recorder.training_samples == 24 and recorder.validation_evaluations == 1


def test_without_a_log_dir_the_rule_runs_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recorder = _record(None, [2.0, 1.0, 3.0, 4.0, 4.5, 1.0], smoothing=0.0)
    assert recorder.stop_step == 4
    assert list(tmp_path.iterdir()) == []


def test_the_plan_is_written_at_step_0_and_the_layout_groups_the_charts(tmp_path):
    from eventlog import iter_records
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    StepRecorder(tmp_path, plan={tags.PLAN_STEPS: 100, tags.PLAN_MIN_LR: 1e-7}).close()
    assert dict(_column(tmp_path, tags.PLAN_STEPS)) == {0: 100.0}
    (path,) = tmp_path.iterdir()
    layouts = []
    for data in iter_records(path, lambda problem: None):
        for value in event_pb2.Event.FromString(data).summary.value:
            if value.tag == metadata.CONFIG_SUMMARY_TAG:
                layouts.append(layout_pb2.Layout.FromString(value.tensor.string_val[0]))
    (layout,) = layouts
    patterns = [tag for chart in layout.category[0].chart for tag in chart.multiline.tag]
    assert patterns == [f"^{tags.LOSS}$", f"^{tags.SMOOTHED_LOSS}$", f"^{tags.VAL_LOSS}$", f"^{tags.LEARNING_RATE}$"]


def test_a_run_can_be_analysed_while_it_is_being_written(tmp_path):
    recorder = StepRecorder(tmp_path, flush_secs=0.1)
    for step in range(12):
        recorder.record(step, 1e-3 * 1.5**step, 2.0 - 0.1 * step)
    recorder.flush()
    live = read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    assert live["step"].tolist() == list(range(12))
    assert analyze(live).stop.reason == "last_step"  # so far: no divergence yet
    for step in range(12, 20):
        recorder.record(step, 1e-3 * 1.5**step, 2.0 - 0.1 * step)
    recorder.flush()
    assert len(read_range_test(tmp_path, lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)) == 20
    recorder.close()


def test_plugin_metadata_only_on_each_tags_first_event_and_tensorboard_sees_scalars(tmp_path):
    from eventlog import iter_records
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.compat.proto import event_pb2

    with StepRecorder(tmp_path, stop_factor=4.0) as recorder:
        for step in range(5):
            recorder.record(step, 1e-3 * 2.0**step, 1.0 / (step + 1))
    (path,) = tmp_path.iterdir()
    with_metadata = {}
    for data in iter_records(path, lambda problem: None):
        for value in event_pb2.Event.FromString(data).summary.value:
            if value.tag.startswith("lr_finder/"):
                with_metadata.setdefault(value.tag, []).append(value.HasField("metadata"))
    assert set(with_metadata) == {tags.LEARNING_RATE, tags.LOSS, tags.SMOOTHED_LOSS}
    for flags in with_metadata.values():
        assert flags == [True, False, False, False, False]
    accumulator = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={event_accumulator.TENSORS: 0})
    accumulator.Reload()
    for tag in with_metadata:
        assert accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
        assert [e.step for e in accumulator.Tensors(tag)] == list(range(5))


def test_bad_options_are_named(tmp_path):
    with pytest.raises(LRFinderError, match="stop_factor"):
        StepRecorder(tmp_path, stop_factor=1.0)
    with pytest.raises(LRFinderError, match="smoothing"):
        StepRecorder(tmp_path, smoothing=1.5)
    with pytest.raises(LRFinderError, match="max_steps"):
        StepRecorder(tmp_path, max_steps=0)
    assert list(tmp_path.iterdir()) == []  # refused before any file was made


def test_recording_needs_no_tensorflow(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, tb_lrfinder\n"
        "with tb_lrfinder.StepRecorder(sys.argv[1], stop_factor=4.0) as r:\n"
        "    [r.record(s, 0.1 * 2**s, 1.0) for s in range(5)]\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'tensorflow imported'\n"
        "import tb_lrfinder.results.curves\n"
        "print(len(tb_lrfinder.results.curves.read_range_test(sys.argv[1])))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "5"


def test_recorders_opened_one_after_another_never_share_a_file(tmp_path):
    paths = set()
    for _ in range(50):  # in one second, each recorder freed before the next (its id() is reused)
        with StepRecorder(tmp_path) as recorder:
            recorder.record(0, 0.1, 1.0)
        paths.add(recorder._events.path)
    assert len(paths) == 50 and len(os.listdir(tmp_path)) == 50


@pytest.mark.parametrize("step, rate, loss, named", [
    (1.0, 0.1, 1.0, "step must be an integer, got 1.0"),
    ("3", 0.1, 1.0, "step must be an integer"),
    (True, 0.1, 1.0, "step must be an integer"),
    (2**70, 0.1, 1.0, "beyond int64"),
    (3, 0.1, None, "loss must be a number, got None"),
    (3, "0.1", 1.0, "learning_rate must be a number"),
    (3, 0.1, [1.0, 2.0], "loss must be a number"),
])
def test_a_bad_point_is_one_line_naming_what_is_wrong(tmp_path, step, rate, loss, named):
    with StepRecorder(tmp_path, stop_factor=4.0) as recorder:
        with pytest.raises(LRFinderError, match=named):
            recorder.record(step, rate, loss)
        assert not recorder.halted and recorder.last_step is None  # nothing of the bad point was kept
        assert recorder.record(np.int64(0), np.float32(0.1), np.float64(1.0)) is False  # numpy numbers are fine
    assert _column(tmp_path, tags.LOSS) == [(0, 1.0)]
