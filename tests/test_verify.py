"""Verification trials: successive halving over candidates around a rate."""

import math

import numpy as np
import pytest

from tb_lrfinder import LRFinderError
from tb_lrfinder.logformat import tags
from tb_lrfinder.results.runs import analyze_paths

pytest.importorskip("tensorflow")


def _state(model):
    values = [v.numpy().copy() for v in model.variables]
    return values + [v.numpy().copy() for v in model.optimizer.variables]


def _assert_identical(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert np.array_equal(a, b, equal_nan=True)


def _held_out_losses_by_rate(monkeypatch, by_rate: dict) -> dict:
    """Make each trial's held-out loss the next of `by_rate[its rate]` (the starting model, at the
    user's rate 0.01, scores 1.0); returns the calls counted per rate."""
    from tb_lrfinder.training import trials as trials_module

    calls = {rate: 0 for rate in by_rate}

    def held_out_loss(model, x, y, batch_size):
        rate = float(model.optimizer.learning_rate.numpy())
        if not math.isclose(rate, 0.01, rel_tol=1e-6):  # the user's optimizer: the starting model
            rate = min(by_rate, key=lambda r: abs(math.log(r / rate)))
            calls[rate] += 1
            return by_rate[rate][calls[rate] - 1]
        return 1.0

    monkeypatch.setattr(trials_module, "_held_out_loss", held_out_loss)
    return calls


@pytest.fixture
def linear_task():
    """Least squares with plain SGD: rates above ~1 diverge (2 / the largest curvature), by construction."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(640, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x[:64], y[:64], batch_size=32, verbose=0)  # optimizer built: its state must come back too
    return model, x, y


def test_a_rate_past_the_cliff_is_replaced_by_a_safe_candidate(linear_task, tmp_path):
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before = _state(model)
    result = verify_rate(model, x, y, learning_rate=4.0, candidates=5, spread=16.0, batch_size=32,
                         first_round_steps=10, log_dir=tmp_path / "sweep")
    rates = [t.learning_rate for t in result.trials]
    assert rates == pytest.approx([0.25, 1.0, 4.0, 16.0, 64.0])
    assert result.learning_rate < 1.0  # the rate asked about (4) diverges; the winner does not
    assert [t.diverged for t in result.trials] == [False, True, True, True, True]
    assert "diverged: 1, 4, 16, 64" in result.message  # 1.0 also ends above the starting loss
    _assert_identical(before, _state(model))  # also after trials that blew up


def test_the_cost_is_counted_exactly(linear_task):
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    result = verify_rate(model, x, y, learning_rate=0.01, candidates=5, spread=4.0, batch_size=32, first_round_steps=6)
    # Successive halving over 5 finite candidates: 5 train 6 steps, 3 go on for 12 more, 2 for 24 more.
    assert sorted(t.steps for t in result.trials) == [6, 6, 18, 42, 42]
    assert sorted(len(t.losses) for t in result.trials) == [1, 1, 2, 3, 3]
    assert result.steps == 6 * 2 + 18 + 42 * 2 == sum(t.steps for t in result.trials)
    winner = [t for t in result.trials if t.learning_rate == result.learning_rate][0]
    finalists = [t.losses[-1] for t in result.trials if len(t.losses) == 3]
    assert len(winner.losses) == 3 and winner.losses[-1] == min(finalists)


def test_no_rate_at_or_above_a_diverged_one_is_trusted(linear_task, monkeypatch):
    """A trial that looks good above a rate that broke down (a lucky short run
    past the cliff) is neither trained further nor chosen."""
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    # Held-out loss after each round, by the trial's rate: 0.5 diverges (above
    # the start's 1.0); 2.0 above it looks best in every round.
    by_rate = {0.0625: [0.9, 0.8], 0.125: [0.8, 0.6], 0.25: [0.85, 0.7], 0.5: [3.0], 1.0: [0.7], 2.0: [0.1, 0.01]}
    calls = _held_out_losses_by_rate(monkeypatch, by_rate)
    result = verify_rate(model, x, y, learning_rate=0.5, candidates=6, spread=8.0, max_rate=2.0,
                                batch_size=32, first_round_steps=2)
    assert [t.learning_rate for t in result.trials] == pytest.approx(list(by_rate))
    # Round 2: the better two of the three below 0.5; 1 and 2 are out with it.
    assert calls == {0.0625: 1, 0.125: 2, 0.25: 2, 0.5: 1, 1.0: 1, 2.0: 1}
    assert result.learning_rate == pytest.approx(0.125)
    assert "diverged: 0.5" in result.message and "not trusted above a diverged rate: 1, 2" in result.message


def test_conclude_picks_below_the_lowest_diverged_rate():
    from tb_lrfinder.analysis.verdicts import Trial, conclude

    trials = (Trial(0.1, (0.9, 0.6), 20, None, False), Trial(0.2, (0.8, 0.5), 20, None, False),
              Trial(0.4, (2.0,), 10, None, True), Trial(0.8, (0.3, 0.1), 20, None, False))
    result = conclude(trials, 1.0, 0.2)
    assert result.learning_rate == 0.2 and result.confirmed
    # Every trial that went the most rounds is out: the winner comes from those that went fewer.
    trials = (Trial(0.1, (0.9,), 10, None, False), Trial(0.2, (0.7,), 10, None, False),
              Trial(0.4, (0.5, 2.0), 30, None, True), Trial(0.8, (0.4, 0.3), 30, None, False))
    assert conclude(trials, 1.0, 0.4).learning_rate == 0.2
    trials = (Trial(0.1, (2.0,), 10, None, True), Trial(0.2, (0.5,), 10, None, False))
    assert not conclude(trials, 1.0, 0.2).confirmed


def test_a_tie_in_the_last_comparison_goes_to_the_lower_rate():
    """With a `tie`, finalists whose held-out losses lie within it (a fraction
    of the start's) of the lowest are a tie, and the lowest rate of them wins;
    a larger gap still decides, only the finalists tie, and without a tie
    (the default) the lowest loss wins."""
    from tb_lrfinder.analysis.verdicts import PLATEAU, Trial, conclude

    start = 2.0  # ties within 0.02
    dropped = Trial(0.05, (1.5,), 10, None, False)
    close = (Trial(0.1, (1.2, 0.615), 30, None, False), Trial(0.2, (1.1, 0.6), 30, None, False))
    result = conclude((dropped,) + close, start, 0.2, tie=PLATEAU)
    assert result.learning_rate == 0.1 and result.winner is close[0] and result.confirmed
    assert "0.2 had the lowest held-out loss" in result.message and "a tie, the lower rate wins" in result.message
    apart = (Trial(0.1, (1.2, 0.625), 30, None, False), Trial(0.2, (1.1, 0.6), 30, None, False))
    assert conclude((dropped,) + apart, start, 0.2, tie=PLATEAU).learning_rate == 0.2
    assert conclude((dropped,) + close, math.nan, 0.2, tie=PLATEAU).learning_rate == 0.2  # no start's loss
    assert conclude((dropped,) + close, start, 0.2).learning_rate == 0.2


def test_train_steps_breaks_a_final_tie_toward_the_lower_rate_and_analyze_agrees(linear_task, monkeypatch,
                                                                                tmp_path):
    """Judged at the training's length (`train_steps`), a final pair within
    `PLATEAU` of the start's loss of each other is a tie and the lower rate
    wins; the short trials of the default keep the lower loss. Read back from
    the trial runs (the tie is in them), the verdict is the same."""
    from eventlog import write_simple_log

    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    optimizer = model.optimizer

    def held_out_loss(model, x, y, batch_size):  # 0.4 a hair better than 0.2, the rest behind
        if model.optimizer is optimizer:
            return 1.0
        return 0.5 + 0.004 * abs(math.log2(float(model.optimizer.learning_rate.numpy()) / 0.3))

    from tb_lrfinder.training import trials as trials_module
    monkeypatch.setattr(trials_module, "_held_out_loss", held_out_loss)
    rates = 1e-4 * 1e5 ** (np.arange(80) / 80)  # a sweep for the trials to sit beside
    for name, options, winner in (("judged", dict(train_steps=70), 0.2), ("short", dict(first_round_steps=2), 0.4)):
        result = verify_rate(model, x, y, learning_rate=0.1, batch_size=32, log_dir=tmp_path / name / "sweep",
                                    **options)
        finalists = sorted(t.learning_rate for t in result.trials if len(t.losses) == 3)
        assert finalists == pytest.approx([0.2, 0.4]) and result.learning_rate == pytest.approx(winner)
        (tmp_path / name / "sweep").mkdir(exist_ok=True)  # the trials are in it
        write_simple_log(tmp_path / name / "sweep" / "events.out.tfevents.1.h",
                         [(i, r, 2.0 - 0.01 * i if i < 60 else 1.4 * 1.5 ** (i - 60)) for i, r in enumerate(rates)],
                         lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
        (run,), _ = analyze_paths([tmp_path / name])
        assert run.verified_rate == pytest.approx(winner) and run.verification.message == result.message


def test_a_plateau_is_neither_a_divergence_nor_a_confirmation(linear_task, monkeypatch):
    """Trials whose held-out loss stays at the start's (within `PLATEAU`, some
    a hair above it) tell the rates nothing: no candidate is ruled out as
    diverged, and the rate given stays, unconfirmed."""
    from tb_lrfinder.analysis.verdicts import Trial, conclude, diverged_trial
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    start = 1.386
    calls = []

    def flat(*args):  # the start, then within 0.6% of it either way
        calls.append(1)
        return start * (1 + 0.006 * math.sin(len(calls) - 1))

    from tb_lrfinder.training import trials as trials_module
    monkeypatch.setattr(trials_module, "_held_out_loss", flat)
    result = verify_rate(model, x, y, learning_rate=6.0, batch_size=32, first_round_steps=2)
    assert not any(t.diverged for t in result.trials)
    assert not result.confirmed and result.learning_rate == 6.0
    assert "cannot tell the rates apart" in result.message
    # A real rise still is a divergence, a real drop a confirmation.
    assert diverged_trial(start * 1.02, start) and not diverged_trial(start * 1.005, start)
    assert diverged_trial(-0.9, -1.0) and not diverged_trial(-0.995, -1.0)  # losses below zero
    trials = (Trial(1.0, (start * 0.9,), 10, None, False), Trial(2.0, (start * 1.003,), 10, None, False))
    assert conclude(trials, start, 2.0).learning_rate == 1.0


def test_a_plateau_is_tried_again_with_longer_trials(linear_task, monkeypatch, tmp_path):
    """Trials too short to leave a plateau (the held-out loss moves only
    after 20 steps): the search runs again with first rounds 4x as long; its
    verdict stands, every trial of both counts in the cost, the model comes
    back bit for bit, and the trials read back from their runs say the same."""
    from eventlog import write_simple_log

    from tb_lrfinder.analysis.halving import PLATEAU_LENGTHENING
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before, optimizer = _state(model), model.optimizer
    start = 1.0

    def held_out_loss(model, x, y, batch_size):
        if model.optimizer is optimizer:
            return start
        rate, steps = float(model.optimizer.learning_rate.numpy()), int(model.optimizer.iterations.numpy())
        if steps < 20:  # on the plateau: within 0.1% of the start, a hair lower at higher rates
            return start * (1 - 0.0002 * math.log2(rate / 0.01))
        return 0.5 + 0.1 * abs(math.log2(rate / 0.3))  # learning at last, best near 0.3

    from tb_lrfinder.training import trials as trials_module
    monkeypatch.setattr(trials_module, "_held_out_loss", held_out_loss)
    once = verify_rate(model, x, y, learning_rate=0.1, batch_size=32, first_round_steps=2,
                              longer_on_plateau=False)
    assert once.plateau and not once.confirmed and once.learning_rate == 0.1
    assert {t.first_round_steps for t in once.trials} == {2} and once.steps == 5 * 2 + 3 * 4 + 2 * 8

    result = verify_rate(model, x, y, learning_rate=0.1, batch_size=32, first_round_steps=2,
                                log_dir=tmp_path / "sweep")
    assert result.confirmed and not result.plateau and result.learning_rate == pytest.approx(0.4)
    assert [t.first_round_steps for t in result.trials] == [2] * 5 + [2 * PLATEAU_LENGTHENING] * 5
    assert result.steps == sum(t.steps for t in result.trials) == once.steps + 5 * 8 + 3 * 16 + 2 * 32
    assert result.message.startswith("the trials with first rounds of 2 steps ended on a plateau; again with "
                                     "first rounds of 8 steps: 5 candidates from 0.025 to 0.4")
    _assert_identical(before, _state(model))
    assert model.optimizer is optimizer

    rates = 1e-4 * 1e5 ** (np.arange(80) / 80)  # a sweep for the trials to sit beside
    (tmp_path / "sweep").mkdir(exist_ok=True)  # the trials are in it
    write_simple_log(tmp_path / "sweep" / "events.out.tfevents.1.h",
                     [(i, r, 2.0 - 0.01 * i if i < 60 else 1.4 * 1.5 ** (i - 60)) for i, r in enumerate(rates)],
                     lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    (run,), _ = analyze_paths([tmp_path])
    read = run.verification
    assert read.learning_rate == pytest.approx(result.learning_rate) and read.steps == result.steps
    assert read.message.startswith("the trials with first rounds of 2 steps ended on a plateau")
    from tb_lrfinder.reporting.text import format_trials

    text = format_trials(run)  # what analyze.py prints: each search apart, the deciding winner marked once
    assert "first rounds of 2 steps (ended on a plateau):" in text and "first rounds of 8 steps:" in text
    assert text.count("<- verified") == 1 and text.index("<- verified") > text.index("first rounds of 8 steps:")
    from tb_lrfinder.reporting.text import trials_to_dicts

    marked = [trial for trial in trials_to_dicts(read) if trial["verified"]]  # what the JSON and the tab mark
    assert len(marked) == 1 and marked[0]["first_round_steps"] == 8
    assert marked[0]["learning_rate"] == pytest.approx(0.4) and read.winner.learning_rate == marked[0]["learning_rate"]
    import dataclasses

    unconfirmed = format_trials(dataclasses.replace(run, verification=once))
    assert "verified rate: none (the trials ended on a plateau)" in unconfirmed and "<- verified" not in unconfirmed


def test_where_every_candidate_diverges_a_window_below_is_tried(linear_task, monkeypatch):
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before = _state(model)
    threshold = [0.05]  # rates at or above it diverge

    def held_out_loss(model, x, y, batch_size):
        rate = float(model.optimizer.learning_rate.numpy())
        if math.isclose(rate, 0.01, rel_tol=1e-6) and model.optimizer is optimizer:
            return 1.0  # the starting model
        return 5.0 if rate >= threshold[0] else 0.5 + rate  # the lower, the better, below the threshold

    optimizer = model.optimizer
    from tb_lrfinder.training import trials as trials_module
    monkeypatch.setattr(trials_module, "_held_out_loss", held_out_loss)
    result = verify_rate(model, x, y, learning_rate=1.0, candidates=5, spread=4.0, batch_size=32,
                                first_round_steps=3)
    rates = [t.learning_rate for t in result.trials]
    # 0.25-4 all diverge; then 0.0078-0.125, of which 0.0625 and 0.125 diverge.
    assert rates == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0] + [0.25 / 2**k for k in (5, 4, 3, 2, 1)])
    assert result.confirmed and result.learning_rate == pytest.approx(0.25 / 32)
    # 10 candidates train 3 steps; the better two of the three below 0.05 go on for 6 more.
    assert result.steps == sum(t.steps for t in result.trials) == 3 * 10 + 6 * 2
    _assert_identical(before, _state(model))
    assert model.optimizer is optimizer

    threshold[0] = 0.0  # everything diverges: two windows below, then the rate stays, unconfirmed
    result = verify_rate(model, x, y, learning_rate=1.0, candidates=5, spread=4.0, batch_size=32,
                                first_round_steps=3)
    assert len(result.trials) == 15 and not result.confirmed and result.learning_rate == 1.0
    assert min(t.learning_rate for t in result.trials) == pytest.approx(0.25 / 2**10)


def test_where_the_highest_candidate_does_best_windows_above_are_tried(linear_task, monkeypatch):
    """Rates too low to find the best: no candidate diverges and the highest
    does best, so, where asked to, a window above gets a first round (at most
    `windows_above` times, never above max_rate); the better half of five then
    goes on. Not asked to, the five stay."""
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before, optimizer = _state(model), model.optimizer
    best = [3.0]  # the held-out loss falls towards this rate; rates from 50 diverge

    def held_out_loss(model, x, y, batch_size):
        if model.optimizer is optimizer:
            return 1.0  # the starting model
        rate = float(model.optimizer.learning_rate.numpy())
        return 5.0 if rate >= 50 else 0.5 + 0.02 * abs(math.log2(rate / best[0]))

    from tb_lrfinder.training import trials as trials_module
    monkeypatch.setattr(trials_module, "_held_out_loss", held_out_loss)
    result = verify_rate(model, x, y, learning_rate=0.1, candidates=5, spread=4.0, batch_size=32,
                                first_round_steps=3)
    assert len(result.trials) == 5 and result.learning_rate == pytest.approx(0.4)  # the default: none above
    result = verify_rate(model, x, y, learning_rate=0.1, candidates=5, spread=4.0, windows_above=2,
                                batch_size=32, first_round_steps=3)
    rates = [t.learning_rate for t in result.trials]
    assert rates == pytest.approx([0.1 * 2.0**k for k in range(-2, 8)])  # 0.025-0.4, then 0.8-12.8
    assert result.confirmed and result.learning_rate == pytest.approx(3.2)
    # 10 candidates train 3 steps; the better 3 go on for 6 more, the better 2 of those for 12 more.
    assert result.steps == sum(t.steps for t in result.trials) == 3 * 10 + 6 * 3 + 12 * 2
    _assert_identical(before, _state(model))
    assert model.optimizer is optimizer

    best[0] = 1000.0  # best at the top again: a second window (25.6-410); 51 and above diverge, so no third
    result = verify_rate(model, x, y, learning_rate=0.1, candidates=5, spread=4.0, windows_above=3,
                                batch_size=32, first_round_steps=3)
    assert len(result.trials) == 15 and result.learning_rate == pytest.approx(25.6)
    assert [t.diverged for t in result.trials[10:]] == [False, True, True, True, True]

    result = verify_rate(model, x, y, learning_rate=0.1, candidates=5, spread=4.0, max_rate=1.0,
                                windows_above=2, batch_size=32, first_round_steps=3)
    assert max(t.learning_rate for t in result.trials) == pytest.approx(0.8)  # the one rate above within max_rate


def test_windows_above_only_for_a_sweep_that_never_diverged():
    from tb_lrfinder.analysis.halving import windows_above_for
    from tb_lrfinder.analysis.types import (
        DATA_EXHAUSTED,
        DIVERGED,
        LAST_STEP,
        NON_FINITE,
    )

    assert windows_above_for(LAST_STEP) == windows_above_for(DATA_EXHAUSTED) == 2
    assert windows_above_for(DIVERGED) == windows_above_for(NON_FINITE) == 0


def test_search_for_a_sweep_rate_or_over_the_swept_range():
    """Around the curve's rate (windows above after a sweep that never
    diverged); where the curve cannot show good rates (FTRL), over the whole
    swept range, a candidate per decade at least and no window above."""
    from tb_lrfinder.analysis.halving import candidate_rates, search_for
    from tb_lrfinder.analysis.types import DIVERGED, LAST_STEP

    swept = (1e-7, 10.0)
    assert search_for(0.3, DIVERGED, candidates=5, swept=swept) == {
        "learning_rate": 0.3, "candidates": 5, "windows_above": 0}
    assert search_for(0.3, LAST_STEP, candidates=5, swept=swept)["windows_above"] == 2
    assert search_for(None, LAST_STEP, candidates=5, swept=swept) is None  # no rate to verify
    for rate in (0.3, None):  # FTRL: the curve's rate, if any, plays no part
        search = search_for(rate, LAST_STEP, candidates=5, swept=swept, rate_is_step_size=False)
        assert search["windows_above"] == 0 and search["candidates"] == 9
        rates = candidate_rates(search["learning_rate"], candidates=search["candidates"],
                                       spread=search["spread"])
        np.testing.assert_allclose(rates, 10.0 ** np.arange(-7, 2), rtol=1e-12)
    assert search_for(0.3, DIVERGED, candidates=12, swept=swept,
                             rate_is_step_size=False)["candidates"] == 12
    assert search_for(0.3, DIVERGED, candidates=5, swept=(1e-3, 0.5),
                             rate_is_step_size=False)["candidates"] == 5


def test_find_lr_verify_looks_above_a_sweep_that_never_diverged(linear_task, tmp_path):
    """A sweep that stops far below the cliff (max_lr 0.01 on a task that
    diverges near 1): the highest candidate does best, so windows above are tried."""
    from tb_lrfinder import find_lr

    model, x, y = linear_task
    before = _state(model)
    result = find_lr(model, x, y, batch_size=32, min_lr=1e-5, max_lr=0.01, num_steps=40, verbose=0,
                     log_dir=tmp_path / "sweep", verify=True)
    assert result.analysis.stop.reason == "last_step"
    trials = result.verification.trials
    assert len(trials) > 5 and max(t.learning_rate for t in trials) > 4 * result.recommended.learning_rate
    assert result.learning_rate > 4 * result.recommended.learning_rate  # the better rates were above the window
    _assert_identical(before, _state(model))


def test_an_interrupted_verification_restores_the_model(linear_task, monkeypatch):
    import keras

    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before = _state(model)
    optimizer, train_function = model.optimizer, model.train_function
    fits = []
    original = keras.Model.fit

    def fit(self, *args, **kwargs):
        fits.append(1)
        if len(fits) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        verify_rate(model, x, y, learning_rate=0.1, batch_size=32, first_round_steps=5)
    _assert_identical(before, _state(model))
    assert model.optimizer is optimizer and model.train_function is train_function


def test_candidates_never_go_above_max_rate():
    from tb_lrfinder.analysis.halving import candidate_rates

    np.testing.assert_allclose(candidate_rates(1.0, candidates=5, spread=4.0), [0.25, 0.5, 1.0, 2.0, 4.0])
    np.testing.assert_allclose(candidate_rates(1.0, candidates=4, spread=4.0, max_rate=2.0), [0.25, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(candidate_rates(1.0, candidates=3, spread=4.0, max_rate=0.5), [0.25, 0.5, 1.0])


def test_arguments_are_checked(linear_task):
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    with pytest.raises(LRFinderError, match="candidates"):
        verify_rate(model, x, y, learning_rate=0.1, candidates=1)
    with pytest.raises(LRFinderError, match="spread"):
        verify_rate(model, x, y, learning_rate=0.1, spread=1.0)
    with pytest.raises(LRFinderError, match="learning_rate"):
        verify_rate(model, x, y, learning_rate=-1.0)
    held_out = ((x[i:i + 32], y[i:i + 32]) for i in range(0, 128, 32))  # used up by one evaluation
    before = _state(model)
    with pytest.raises(LRFinderError, match="validation_data must be .* not a generator"):
        verify_rate(model, x, y, learning_rate=0.1, validation_data=held_out)
    _assert_identical(before, _state(model))


def test_training_data_that_runs_out_is_named_not_trained_on_short(linear_task):
    """Every trial trains on x from its start: a finite generator is used up by the first trials, a Dataset
    with fewer batches than a round would cut the round short and compare unequal trainings."""
    import tensorflow as tf

    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before = _state(model)
    finite = ((x[i:i + 32], y[i:i + 32]) for i in range(0, 640, 32))  # 20 batches
    with pytest.raises(LRFinderError, match="ran out before the 10 steps of the trial at rate"):
        verify_rate(model, finite, learning_rate=0.01, validation_data=(x, y), first_round_steps=10)
    _assert_identical(before, _state(model))
    few = tf.data.Dataset.from_tensor_slices((x[:128], y[:128])).batch(32).filter(lambda a, b: True)  # 4, unknown
    with pytest.raises(LRFinderError, match="ran out before the 10 steps of the trial at rate 0.0025"):
        verify_rate(model, few, learning_rate=0.01, validation_data=(x, y), first_round_steps=10)
    _assert_identical(before, _state(model))
    endless = ((x[i % 20 * 32:][:32], y[i % 20 * 32:][:32]) for i in range(10**9))
    result = verify_rate(model, endless, learning_rate=0.01, validation_data=(x, y), first_round_steps=10)
    assert sorted(t.steps for t in result.trials) == [10, 10, 30, 70, 70]


def test_accumulation_and_steps_per_execution_are_not_mistaken_for_data_running_out():
    """A round's length is counted in batches; the optimizer's step count is not that under gradient
    accumulation (one update per 2 batches here), nor are Keras's callbacks called per batch with
    steps_per_execution."""
    import keras

    from tb_lrfinder.training.trials import verify_rate

    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    for optimizer, steps_per_execution, updates in ((keras.optimizers.SGD(0.01, gradient_accumulation_steps=2), 1, 4),
                                                    (keras.optimizers.SGD(0.01), 4, 8)):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        model.compile(optimizer, loss="mse", steps_per_execution=steps_per_execution)
        result = verify_rate(model, x, y, learning_rate=0.05, candidates=2, first_round_steps=8, batch_size=32,
                             validation_data=(x, y))
        assert [t.steps for t in result.trials] == [updates, updates]


def test_find_lr_verify_writes_trials_inside_the_sweep_and_analyze_reads_them(linear_task, tmp_path):
    import subprocess
    import sys

    from tb_lrfinder import find_lr

    model, x, y = linear_task
    before = _state(model)
    result = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=100.0, num_steps=60, verbose=0,
                     log_dir=tmp_path / "sweep", verify=True)
    assert result.verification is not None and result.learning_rate == result.verification.learning_rate
    rates = [t.learning_rate for t in result.verification.trials]
    rec = result.recommended
    assert rates == pytest.approx([rec.learning_rate * 2.0**k for k in (-2, -1, 0, 1, 2)])
    _assert_identical(before, _state(model))
    trial_dirs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.name.startswith("trial_"))
    assert len(trial_dirs) == 5
    for path in ([tmp_path], [tmp_path / "sweep"]):  # the root of runs, and the run folder alone
        analysed, skipped = analyze_paths(path)
        (sweep,) = analysed
        assert not skipped and len(sweep.verification.trials) == 5
        assert sweep.verified_rate == pytest.approx(result.learning_rate, rel=1e-6)  # float32 in the log
        assert sweep.verification.steps == result.verification.steps
    script = __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "scripts", "analyze.py")
    out = subprocess.run([sys.executable, script, str(tmp_path / "sweep")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "verified rate" in out.stdout and "<- verified" in out.stdout
    from tb_lrfinder.logformat.table import read_scalars

    scalars = read_scalars(tmp_path)
    assert set(scalars[scalars["run"] == f"sweep/{trial_dirs[0]}"]["tag"]) == {
        tags.TRIAL_LOSS, tags.TRIAL_RATE, tags.TRIAL_SWEEP_ID}
    assert result.sweep_id is not None and set(scalars[scalars["tag"] == tags.TRIAL_SWEEP_ID]["value"]) == {
        result.sweep_id}

    # A new sweep, without verification, where the old one's trials were left (a run folder removed but
    # not its trials, or trials copied along): they verified another sweep, and are not its answer.
    import shutil

    again = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=100.0, num_steps=60, verbose=0,
                    log_dir=tmp_path / "again")
    for trial in trial_dirs:
        shutil.copytree(tmp_path / "sweep" / trial, tmp_path / "again" / trial)
        shutil.copytree(tmp_path / "sweep" / trial, tmp_path / f"again_{trial}")
    assert again.verification is None
    (reread,), _ = analyze_paths([tmp_path / "again"])
    assert reread.verification is None and reread.learning_rate == again.learning_rate
    by_name = {r.name: r for r in analyze_paths([tmp_path])[0]}
    assert by_name[str(tmp_path / "again")].verification is None
    assert by_name[str(tmp_path / "sweep")].verified_rate == pytest.approx(result.learning_rate, rel=1e-6)


def test_find_lr_checks_verify_before_sweeping(linear_task, tmp_path):
    import tensorflow as tf

    from tb_lrfinder import find_lr

    model, x, y = linear_task
    with pytest.raises(LRFinderError, match="verify must be >= 2"):
        find_lr(model, x, y, verify=1, verbose=0, log_dir=tmp_path / "a")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    with pytest.raises(LRFinderError, match="needs validation_data"):
        find_lr(model, dataset, verify=True, verbose=0, log_dir=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # refused before any sweep
    unverified = find_lr(model, x, y, verify=0, num_steps=10, verbose=0, log_dir=tmp_path / "c", report=False)
    assert unverified.verification is None  # 0 candidates: off, as False


@pytest.fixture
def slow_cliff_task():
    """Full-batch gradient descent on least squares with curvatures 18 and 2 (inputs exactly +-3 and +-1
    in every sign pattern): at rate 0.1122 the steep direction grows by |1 - 18 r| = 1.02 per step from a
    tiny error (1e-3) while the shallow one converges fastest. It wins after a dozen steps and loses by
    280, where rate 0.0561 (steep direction stable) has converged: a rate that is fast early and breaks
    down later, by construction."""
    import keras

    signs = np.array([[a, b] for a in (-1.0, 1.0) for b in (-1.0, 1.0)] * 16, dtype="float32")
    x = signs * np.array([3.0, 1.0], dtype="float32")
    y = (x @ np.array([[1e-3], [1.0]], dtype="float32")).astype("float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(keras.optimizers.SGD(0.01), loss="mse")
    return model, x, y


def test_train_steps_judges_the_last_pair_at_the_training_s_length(slow_cliff_task):
    from tb_lrfinder.analysis.halving import first_round_for
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = slow_cliff_task
    before = _state(model)
    options = dict(learning_rate=2.02 / 18.0, candidates=5, spread=4.0, batch_size=64, validation_data=(x, y),
                   shuffle=False)
    short = verify_rate(model, x, y, first_round_steps=4, **options)
    assert short.learning_rate == pytest.approx(2.02 / 18.0)  # best after 12 steps
    assert first_round_for(280, 5) == 40
    judged = verify_rate(model, x, y, train_steps=280, **options)
    assert judged.learning_rate == pytest.approx(2.02 / 36.0)  # best after 280
    finalists = [t for t in judged.trials if len(t.losses) == max(len(u.losses) for u in judged.trials)]
    assert [t.steps for t in finalists] == [280, 280]
    others = [t for t in judged.trials if t not in finalists]  # 2 diverged (one to NaN, stopped early), 1 out
    assert [t.steps for t in others if not t.diverged] == [40] and all(t.steps <= 40 for t in others)
    assert judged.steps == sum(t.steps for t in judged.trials)
    _assert_identical(before, _state(model))


def test_train_steps_scales_every_round(linear_task):
    from tb_lrfinder.analysis.halving import first_round_for
    from tb_lrfinder.training.trials import verify_rate

    assert [first_round_for(70, n) for n in (2, 3, 4, 5, 8, 9)] == [70, 23, 23, 10, 10, 4]
    assert first_round_for(3, 5) == 1
    model, x, y = linear_task
    result = verify_rate(model, x, y, learning_rate=0.01, batch_size=32, train_steps=75)
    # 5 finite candidates: 5 train 10 steps, 3 go on for 20 more, 2 for the remaining 45.
    assert sorted(t.steps for t in result.trials) == [10, 10, 30, 75, 75]
    with pytest.raises(LRFinderError, match="first_round_steps or train_steps"):
        verify_rate(model, x, y, learning_rate=0.01, train_steps=75, first_round_steps=5)
    with pytest.raises(LRFinderError, match="train_steps"):
        verify_rate(model, x, y, learning_rate=0.01, train_steps=0)


def test_train_steps_drops_no_candidate_on_a_first_round_plateau(linear_task, monkeypatch):
    """With train_steps there is no second search: a first round whose held-out
    losses all sit on the start's plateau (a hair lower at lower rates) drops no
    candidate; all train the next round, where the rates show, and halving
    starts there, ending at train_steps."""
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    before, optimizer = _state(model), model.optimizer

    def held_out_loss(model, x, y, batch_size):
        if model.optimizer is optimizer:
            return 1.0
        rate, steps = float(model.optimizer.learning_rate.numpy()), int(model.optimizer.iterations.numpy())
        if steps < 20:  # on the plateau: within 0.1% of the start, a hair lower at lower rates
            return 1.0 + 0.0002 * math.log2(rate / 0.01)
        return 0.5 + 0.1 * abs(math.log2(rate / 0.3))  # learning, best near 0.3

    from tb_lrfinder.training import trials as trials_module
    monkeypatch.setattr(trials_module, "_held_out_loss", held_out_loss)
    result = verify_rate(model, x, y, learning_rate=0.1, batch_size=32, train_steps=70)
    assert result.confirmed and not result.plateau and result.learning_rate == pytest.approx(0.4)
    # 5 train 10 steps (a plateau), all 5 go on for 20 (learning shows), the best 3 for the 40 left to 70.
    assert sorted(t.steps for t in result.trials) == [30, 30, 70, 70, 70]
    assert result.steps == 2 * 30 + 3 * 70
    _assert_identical(before, _state(model))
    assert model.optimizer is optimizer


def test_find_lr_passes_train_steps_to_verification(linear_task, tmp_path):
    from tb_lrfinder import find_lr

    model, x, y = linear_task
    with pytest.raises(LRFinderError, match="verify=False turned it off"):
        find_lr(model, x, y, train_steps=100, verify=False, verbose=0, log_dir=tmp_path / "a")
    assert not (tmp_path / "a").exists()
    told = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=100.0, num_steps=60, verbose=0,
                   log_dir=tmp_path / "c", train_steps=3000, report=False)  # told the length: verified by default
    assert told.verification is not None and told.verification.share <= 0.1
    assert find_lr(model, x, y, batch_size=32, num_steps=20, verbose=0, log_dir=tmp_path / "d",
                   report=False).verification is None  # not told: not verified
    result = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=100.0, num_steps=60, verbose=0,
                     log_dir=tmp_path / "b", verify=True, train_steps=49, verify_budget=None, report=False)
    steps = sorted(t.steps for t in result.verification.trials)
    assert steps[-1] == 49 and steps[0] == 7  # first round 49 // 7, the last pair at 49


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_the_trials_show_their_progress(linear_task, capsys, verbose):
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    result = verify_rate(model, x, y, learning_rate=0.01, candidates=3, spread=4.0, batch_size=32,
                         first_round_steps=6, verbose=verbose)
    out = capsys.readouterr().out
    if verbose == 0:
        assert out == ""
    elif verbose == 2:  # one line per round: 3 candidates, then the 2 best
        lines = [line for line in out.splitlines() if line.startswith("verification round")]
        assert len(lines) == 2 and lines[0].startswith("verification round 1: 3 candidate(s) x 6 steps")
        assert lines[-1].endswith(f"; {result.steps} steps spent")
    else:  # a bar per trial of each round, with the round, the rate, the held-out loss, the steps spent
        assert out.count("held-out loss:") >= 5 and "round: 2" in out and f"steps spent: {result.steps}" in out


def test_find_lr_prints_the_sweep_before_its_trials(linear_task, tmp_path, capsys):
    from tb_lrfinder import find_lr

    model, x, y = linear_task
    find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=100.0, num_steps=40, verbose=2, log_dir=tmp_path,
            report=False, verify=2)
    out = capsys.readouterr().out
    assert out.index("recommended rate:") < out.index("verifying: 2 candidate rates") < out.index(
        "verification round 1")


@pytest.mark.parametrize("accumulation, per_execution", [(1, 1), (2, 4)])
def test_a_budget_is_never_exceeded(linear_task, accumulation, per_execution):
    import keras

    from tb_lrfinder.analysis.halving import first_round_for_budget, halving_cost
    from tb_lrfinder.training.trials import verify_rate

    _, x, y = linear_task
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01, gradient_accumulation_steps=accumulation if accumulation > 1 else None),
                  loss="mse", steps_per_execution=per_execution)
    for budget in (40, 57, 200):
        result = verify_rate(model, x, y, learning_rate=0.05, candidates=5, batch_size=32, budget=budget, verbose=0)
        assert result.steps <= budget and result.budget == budget
        assert {t.first_round_steps for t in result.trials} == {first_round_for_budget(budget, 5) * accumulation}
    assert halving_cost(5) == 19 and first_round_for_budget(57, 5) == 3


def test_a_budget_ends_the_search_where_the_next_round_would_pass_it(linear_task):
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    result = verify_rate(model, x, y, learning_rate=0.05, candidates=5, batch_size=32, first_round_steps=10,
                         budget=60, verbose=0)
    assert result.steps == 50  # the first round (5 x 10); the second (3 x 20) would pass 60
    assert result.message.endswith("the budget of 60 steps ended the search early")
    with pytest.raises(LRFinderError, match="cannot train one round"):
        verify_rate(model, x, y, learning_rate=0.05, candidates=5, batch_size=32, first_round_steps=10, budget=30,
                    verbose=0)


def test_a_budgeted_last_pair_trains_on_while_the_budget_holds(linear_task, monkeypatch):
    """Where divergence cuts the field to two in the first round, the pair trains on, each round twice
    the last, while another round fits the budget, and is judged after its last round."""
    from tb_lrfinder.training.trials import verify_rate

    model, x, y = linear_task
    # Rates 0.0125 .. 0.2; the top three diverge (above the start's 1.0). The pair's order turns
    # after its third round: a search ending at the first round would crown 0.025.
    by_rate = {0.0125: [0.9, 0.8, 0.7, 0.6], 0.025: [0.8, 0.75, 0.72, 0.65], 0.05: [3.0], 0.1: [3.0], 0.2: [3.0]}
    calls = _held_out_losses_by_rate(monkeypatch, by_rate)
    result = verify_rate(model, x, y, learning_rate=0.05, candidates=5, batch_size=32, first_round_steps=2,
                         budget=70, verbose=0)
    # 5 x 2, then the pair 2 x (4 + 8 + 16) = 66; another round (2 x 32) would pass 70.
    assert result.steps == 66 <= result.budget
    assert {t.learning_rate: t.steps for t in result.trials} == pytest.approx(
        {0.0125: 30, 0.025: 30, 0.05: 2, 0.1: 2, 0.2: 2})
    assert result.learning_rate == pytest.approx(0.0125)
    # Without a budget the pair is not trained on (nothing bounds it): the first round decides.
    calls.update({rate: 0 for rate in by_rate})
    unbounded = verify_rate(model, x, y, learning_rate=0.05, candidates=5, batch_size=32, first_round_steps=2,
                            verbose=0)
    assert unbounded.steps == 10 and unbounded.learning_rate == pytest.approx(0.025)
