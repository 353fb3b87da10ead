"""tf.distribute: the logged loss is the global batch's, one run is written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))


def test_mirrored_strategy_logs_the_global_batch_loss(tmp_path):
    # Logical devices must be set before TensorFlow starts: its own process.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, os.path.join(HERE, "distributed_sweep.py"), str(tmp_path / "run")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["steps"] == list(range(16))
    np.testing.assert_allclose(report["logged"], report["expected"], rtol=1e-4)
    assert report["restored"]
    # One sweep file (plus the report), not one per replica.
    assert len([f for f in report["event_files"] if not f.endswith("tb_lrfinder_report")]) == 1
