import math

import numpy as np
import pytest

from tb_lrfinder import tags
from tb_lrfinder.step_recorder import StepRecorder


class Events:
    """Collects what the recorder writes: (step, {tag: value})."""

    def __init__(self):
        self.points = []

    def scalars(self, step, names, values, wall_time):
        self.points.append((step, dict(zip(names, values))))

    def column(self, tag):
        return [(step, values[tag]) for step, values in self.points if tag in values]


def _record(losses, **options):
    events = Events()
    recorder = StepRecorder(events, **{"stop_factor": 4.0, "smoothing": 0.9, "max_steps": None, **options})
    for step, loss in enumerate(losses):
        recorder.add(step, 1e-3 * 2.0**step, loss, 0.0)
    return recorder, events


def test_smoothed_loss_is_the_debiased_ema():
    losses = np.random.default_rng(0).uniform(1, 2, 50).tolist()
    recorder, events = _record(losses, stop_factor=None)
    average, expected = 0.0, []
    for n, loss in enumerate(losses, start=1):
        average = 0.9 * average + 0.1 * loss
        expected.append(average / (1 - 0.9**n))
    np.testing.assert_allclose([v for _, v in events.column(tags.SMOOTHED_LOSS)], expected, rtol=1e-12)
    assert [v for _, v in events.column(tags.LOSS)] == losses
    assert [v for _, v in events.column(tags.LEARNING_RATE)] == [1e-3 * 2.0**s for s in range(50)]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_loss_is_the_last_point(bad):
    recorder, events = _record([1.0, 0.9, 0.8, bad, 0.5, 0.4])
    assert recorder.halted and recorder.stopped and recorder.stop_step == 3
    assert [step for step, _ in events.points] == [0, 1, 2, 3]


def test_divergence_stops_after_the_first_point_past_the_factor():
    # beta 0: smoothed == raw; best 1.0, so 4x is passed by 4.5, not by 4.0.
    recorder, events = _record([2.0, 1.0, 3.0, 4.0, 4.5, 1.0], smoothing=0.0)
    assert recorder.stop_step == 4
    assert [v for _, v in events.column(tags.LOSS)] == [2.0, 1.0, 3.0, 4.0, 4.5]


def test_negative_losses_use_the_distance_from_best():
    recorder, _ = _record([-1.0, -2.0, 3.0, 5.0, 7.0], smoothing=0.0)  # 3x|best| above best: 6 - 2 = 4
    assert recorder.stop_step == 3


def test_max_steps_ends_the_sweep_without_the_guard():
    recorder, events = _record([1.0] * 10, stop_factor=None, max_steps=4)
    assert recorder.halted and not recorder.stopped
    assert [step for step, _ in events.points] == [0, 1, 2, 3]


def test_without_guard_nan_is_logged_and_the_ema_skips_it():
    _, events = _record([1.0, math.nan, 1.0], stop_factor=None)
    smoothed = [v for _, v in events.column(tags.SMOOTHED_LOSS)]
    assert smoothed[0] == pytest.approx(1.0) and math.isnan(smoothed[1]) and smoothed[2] == pytest.approx(1.0)


def test_a_retried_step_replaces_the_skipped_attempt_in_the_ema():
    events = Events()
    recorder = StepRecorder(events, stop_factor=4.0, smoothing=0.5, max_steps=None, detect_skips=True)
    for step, loss in [(0, 1.0), (1, 2.0), (1, 3.0), (1, 3.0), (2, 1.0)]:
        recorder.add(step, 0.1, loss, 0.0)
    assert not recorder.halted
    skipped = events.column(tags.SKIPPED_UPDATES)
    assert skipped == [(1, 1.0), (1, 2.0)]
    # The EMA at step 1 is over [1.0, 3.0]: the attempts' 2.0 and first 3.0 were replaced.
    last_at_1 = [v for s, v in events.column(tags.SMOOTHED_LOSS) if s == 1][-1]
    assert last_at_1 == pytest.approx((0.5 * 0.5 * 1.0 + 0.5 * 3.0) / (1 - 0.25))


def test_micro_steps_count_samples_and_validation_is_logged_beside():
    events = Events()
    recorder = StepRecorder(events, stop_factor=None, smoothing=0.9, max_steps=2)
    recorder.add(0, 0.1, 9.0, 0.0, record=False, samples=8)
    recorder.add(0, 0.1, 1.0, 0.0, samples=8, validation_loss=1.5)
    recorder.add(1, 0.2, 1.0, 0.0, samples=8)
    recorder.add(2, 0.3, 1.0, 0.0, samples=8)  # after max_steps: neither logged nor counted
    assert events.column(tags.LOSS) == [(0, 1.0), (1, 1.0)]
    assert events.column(tags.VAL_LOSS) == [(0, 1.5)]
    assert recorder.training_samples == 24 and recorder.validation_evaluations == 1


def test_a_skipped_last_step_is_counted_before_the_sweep_ends():
    events = Events()
    recorder = StepRecorder(events, stop_factor=None, smoothing=0.9, max_steps=2, detect_skips=True)
    for step, loss in [(0, 1.0), (1, 0.9), (1, 0.8), (1, 0.7), (2, 0.6)]:
        recorder.add(step, 0.1 * (step + 1), loss, 0.0)
    assert events.column(tags.SKIPPED_UPDATES) == [(1, 1.0), (1, 2.0)]  # both retries of the last step
    assert events.column(tags.LOSS)[-1] == (1, 0.7) and recorder.halted  # step 2 only ends the sweep
