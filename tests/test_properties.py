"""Property-based tests: damaged logs and arbitrary curves never crash."""

import warnings

import numpy as np
import pandas as pd
import pytest
from eventlog import read_event_file, scalar_event, version_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_lrfinder import LRFinderError
from tb_lrfinder.analysis.curve import analyze
from tb_lrfinder.logformat.tfrecord import frame_record

N_RECORDS = 25


@pytest.fixture(scope="module")
def event_bytes():
    """A real event file's bytes and each record's (start, end, step)."""
    data, spans = bytearray(), []
    payloads = [(None, version_event())] + [
        (step, scalar_event(step, {"lr": 1e-3 * 1.5**step, "loss": 3.0 - 0.1 * step})) for step in range(N_RECORDS)
    ]
    for step, payload in payloads:
        start = len(data)
        data += frame_record(payload)
        spans.append((start, len(data), step))
    return bytes(data), spans


def _read(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ev") / "events.out.tfevents.1.h"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return read_event_file(path)
        except LRFinderError:
            return None


def _intact_steps_before(spans, damage_at):
    return {step for start, end, step in spans if end <= damage_at and step is not None}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=6))
def test_random_byte_corruption(tmp_path_factory, event_bytes, flips):
    data, spans = event_bytes
    damaged = bytearray(data)
    positions = []
    for position, mask in flips:
        position %= len(data)
        damaged[position] ^= mask
        positions.append(position)
    frame = _read(tmp_path_factory, bytes(damaged))
    expected = _intact_steps_before(spans, min(positions))
    if frame is None:  # only allowed when nothing readable came before the damage
        assert not expected and min(positions) < spans[0][1]
    else:
        got = set(frame.loc[frame["tag"] == "loss", "step"])
        assert expected <= got
        # Nothing invented: every value read is one that was written.
        for step in got:
            assert frame.loc[(frame["tag"] == "loss") & (frame["step"] == step), "value"].iloc[0] == pytest.approx(
                3.0 - 0.1 * step, rel=1e-6
            )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10**9))
def test_random_truncation(tmp_path_factory, event_bytes, cut):
    data, spans = event_bytes
    cut %= len(data) + 1
    frame = _read(tmp_path_factory, data[:cut])
    expected = _intact_steps_before(spans, cut)
    if frame is None:
        assert not expected
    else:
        assert set(frame.loc[frame["tag"] == "loss", "step"]) == expected


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
loss_values = st.one_of(finite, st.just(float("nan")), st.just(float("inf")), st.just(float("-inf")))


@settings(max_examples=300, deadline=None)
@given(
    losses=st.lists(loss_values, min_size=1, max_size=300),
    min_lr=st.floats(1e-9, 1e-1),
    decades=st.floats(0.5, 10),
    scale=st.sampled_from([1e-6, 1.0, 1e6]),
)
def test_rules_on_random_curves(losses, min_lr, decades, scale):
    n = len(losses)
    rates = min_lr * 10 ** (decades * np.arange(n) / max(n, 1))
    frame = pd.DataFrame({"step": np.arange(n), "learning_rate": rates, "loss": np.array(losses) * scale})
    try:
        result = analyze(frame)
    except LRFinderError:
        assert n == 1 or not np.all(np.diff(rates) >= 0) or rates[-1] <= rates[0]
        return
    assert result.stop.reason in {"diverged", "non_finite", "last_step", "data_exhausted", "too_few_points"}
    assert rates[0] <= result.stop.learning_rate <= rates[-1]
    if result.recommended is not None:
        rec = result.recommended
        assert rates[0] <= rec.low <= rec.learning_rate <= rec.high <= rates[-1]
        assert np.isfinite(rec.learning_rate)


def test_the_library_error_is_a_value_error():
    from tb_lrfinder import LRFinderError
    from tb_lrfinder.analysis.curve import analyze

    assert issubclass(LRFinderError, ValueError)
    try:
        analyze({"step": [0, 1], "learning_rate": [1.0, 0.5], "loss": [1.0, 1.0]})
    except ValueError as error:  # as a caller who guards Keras or optax calls writes it
        assert isinstance(error, LRFinderError) and "does not increase" in str(error)
    else:
        raise AssertionError("a decreasing rate was accepted")


def test_the_top_level_is_small_and_moved_names_still_work_with_a_warning():
    import importlib

    import tb_lrfinder

    assert len(tb_lrfinder.__all__) <= 13
    for name in tb_lrfinder.__all__:
        assert getattr(tb_lrfinder, name) is not None
    for name, module in tb_lrfinder._MOVED.items():
        with pytest.warns(DeprecationWarning, match=f"tb_lrfinder.{name} is tb_lrfinder."):
            value = getattr(tb_lrfinder, name)
        assert value is getattr(importlib.import_module(f"tb_lrfinder.{module}"), name)
