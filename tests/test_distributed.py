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


def test_multi_worker_custom_loop_writes_one_run(tmp_path):
    from tensorboard_server import free_port

    from tb_lrfinder.logformat import tags
    from tb_lrfinder.logformat.table import read_scalars

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    env.pop("TF_CONFIG", None)
    ports = [str(free_port()), str(free_port())]
    log_dir = tmp_path / "logs" / "sweep"
    workers = [
        subprocess.Popen([sys.executable, os.path.join(HERE, "multiworker_sweep.py"), str(i), *ports, str(log_dir)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for i in range(2)
    ]
    try:
        outputs = [worker.communicate(timeout=300) for worker in workers]
    finally:
        for worker in workers:  # always cleaned up, also on timeout
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
    reports = []
    for worker, (out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["chief_result"] for r in reports] == [True, False]
    assert reports[0]["steps"] == list(range(20))
    assert all(r["restored"] for r in reports)
    # Exactly one run, with every step: the other worker wrote nothing under logs/.
    scalars = read_scalars(tmp_path / "logs")
    assert set(scalars["run"]) == {"sweep"}
    assert scalars.loc[scalars["tag"] == tags.LOSS, "step"].tolist() == list(range(20))
    assert len([f for f in os.listdir(log_dir) if "tfevents" in f]) == 1
