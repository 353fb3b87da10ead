"""The recording route on another Keras backend: `lr_range_schedule`, `sweep_plan` and
`StepRecorder` drive and record a sweep in a JAX loop where TensorFlow cannot be imported,
and the run reads back as `find_lr`'s do (README, Usage). CI installs JAX; elsewhere the
test is skipped without it."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tb_lrfinder.results.runs import analyze_paths
from tb_lrfinder.sweep.schedules import one_cycle_from


def test_a_jax_loop_records_a_sweep_where_tensorflow_is_not_installed(tmp_path):
    if importlib.util.find_spec("jax") is None:
        if os.environ.get("TB_LRFINDER_REQUIRE_JAX"):
            raise AssertionError("no JAX, and TB_LRFINDER_REQUIRE_JAX is set (CI installs it)")
        pytest.skip("no JAX (pip install jax); CI installs it and runs this test")
    script = os.path.join(os.path.dirname(__file__), "jax_sweep.py")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, script, str(tmp_path / "sweep")], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    assert printed["backend"] == "jax"

    results, skipped = analyze_paths([tmp_path])
    assert not skipped and len(results) == 1
    result = results[0]
    steps, rates, losses = (np.array(column) for column in zip(*printed["points"]))
    assert result.frame["step"].tolist() == steps.tolist()
    np.testing.assert_allclose(result.frame["learning_rate"], rates, rtol=1e-6)
    np.testing.assert_allclose(result.frame["loss"], losses, rtol=1e-6)
    assert result.analysis.momentum_lag == pytest.approx(9.0)  # the plan's: SGD momentum 0.9
    assert result.analysis.stop.reason == "diverged"  # rates up to 10 on least squares
    # 1cycle over the recommended range trained the model in the JAX loop, at this backend's rates.
    reference = one_cycle_from(result.recommended, total_steps=20)
    np.testing.assert_allclose(printed["one_cycle_rates"], [float(reference(s)) for s in (0, 9, 18, 20)], rtol=1e-6)
    assert printed["one_cycle_loss"] < 0.1 * losses[0]
