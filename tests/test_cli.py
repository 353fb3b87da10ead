"""scripts/analyze.py end to end, as a user runs it (a subprocess, no TensorFlow needed)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from eventlog import write_simple_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "analyze.py")


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=120)


def _sweep(path, n=120, blow_up_at=100, scale=1.0):
    rates = 1e-5 * (10 / 1e-5) ** (np.arange(n) / n)
    losses = scale * (2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) * 3)))
    losses[blow_up_at:] *= np.exp(np.arange(n - blow_up_at))
    path.mkdir(parents=True, exist_ok=True)
    write_simple_log(path / "events.out.tfevents.1.h", zip(range(n), rates, losses),
                     lr_tag="lr_finder/learning_rate", loss_tag="lr_finder/loss")


def test_json_has_recommended_rules_and_stop(tmp_path):
    _sweep(tmp_path / "run")
    out = _run(tmp_path / "run", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    run = report["runs"][0]
    assert run["recommended"]["low"] <= run["recommended"]["learning_rate"] <= run["recommended"]["high"]
    assert set(run["rules"]) == {"safe", "steepest", "min_loss_div10", "valley"}
    assert run["recommended"]["learning_rate"] == run["rules"]["safe"]["learning_rate"]
    assert run["stop"]["reason"] == "diverged" and run["stop"]["step"] >= 100


def test_table_over_a_root_of_runs_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    _sweep(tmp_path / "logs" / "bs32")
    _sweep(tmp_path / "logs" / "bs256", blow_up_at=90, scale=3.0)
    (tmp_path / "logs" / "other").mkdir()  # a constant-rate training run: not a range test
    write_simple_log(tmp_path / "logs" / "other" / "events.out.tfevents.1.h", [(i, 0.1, 1.0) for i in range(5)],
                     lr_tag="lr", loss_tag="epoch_loss")
    png = tmp_path / "out.png"
    out = _run(tmp_path / "logs", "--plot", png)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "recommended", "range"]
    assert any("bs32" in line for line in lines) and any("bs256" in line for line in lines)
    assert any(line.startswith("skipped") and "other" in line for line in lines)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["{tmp}/missing"], "no such file"),
    (["{tmp}"], "no TensorBoard event files"),
    (["{tmp}/run", "--lr-tag", "nope"], "no tag 'nope'"),
    (["{tmp}/run", "--momentum", "1.5"], "momentum must be in [0, 1)"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, args, message):
    _sweep(tmp_path / "run")
    (tmp_path / "empty").mkdir()
    args = [a.replace("{tmp}", str(tmp_path / "empty") if a == "{tmp}" else str(tmp_path)) for a in args]
    out = _run(*args)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_momentum_is_taken_out_of_a_run_that_does_not_record_it(tmp_path):
    """Another writer's log holds no plan: --momentum gives the lag the safe
    rule takes out (beta 0.9: 9 steps, a shift of at most 10x)."""
    _sweep(tmp_path / "run")
    plain, lagged = (json.loads(_run(tmp_path / "run", "--json", *extra).stdout)["runs"][0]
                     for extra in ([], ["--momentum", "0.9"]))
    growth = (10 / 1e-5) ** (1 / 120)
    shift = min(growth**9, 10.0)
    assert lagged["rules"]["safe"]["learning_rate"] == pytest.approx(plain["rules"]["safe"]["learning_rate"] / shift)


def test_help():
    out = _run("--help")
    assert out.returncode == 0 and "--json" in out.stdout and "--plot" in out.stdout


def test_plot_format_is_checked_and_the_written_path_reported(tmp_path):
    pytest.importorskip("matplotlib")
    _sweep(tmp_path / "run")
    out = _run(tmp_path / "run", "--plot", tmp_path / "out.xyz")
    assert out.returncode == 2 and "unknown image format 'xyz'" in out.stderr and "Traceback" not in out.stderr
    out = _run(tmp_path / "run", "--plot", tmp_path / "sweep")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "sweep.png").exists() and f"plot written to {tmp_path / 'sweep.png'}" in out.stderr


def test_a_closed_pipe_ends_quietly(tmp_path):
    for k in range(40):  # enough output to outlast the pipe's buffer
        _sweep(tmp_path / "logs" / f"run{k:02d}")
    reader = subprocess.Popen([sys.executable, SCRIPT, str(tmp_path / "logs"), "--json", "--details"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.read(10)
    reader.stdout.close()  # as `| head -c 10` does
    stderr = reader.stderr.read().decode()
    reader.wait(timeout=120)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_a_run_with_no_scalars_is_named(tmp_path):
    from eventlog import version_event

    from tb_lrfinder.logformat.tfrecord import frame_record

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "events.out.tfevents.1.h").write_bytes(frame_record(version_event()))
    out = _run(tmp_path / "run")
    assert out.returncode == 2 and "hold no scalars" in out.stderr and "()" not in out.stderr


def test_plot_of_many_runs_names_those_it_leaves_out(tmp_path):
    pytest.importorskip("matplotlib")
    for k in range(15):
        _sweep(tmp_path / "logs" / f"run{k:02d}")
    out = _run(tmp_path / "logs", "--plot", tmp_path / "many.png")
    assert out.returncode == 0, out.stderr
    assert "the plot draws the first 12 of 15 runs; not drawn: " in out.stderr and "run14" in out.stderr


def test_a_report_that_cannot_be_written_back_is_a_warning(tmp_path, monkeypatch, capsys):
    import errno

    from tb_lrfinder import cli
    from tb_lrfinder.logformat import writer as report_module

    def full_disk(source, destination):
        raise OSError(errno.ENOSPC, "No space left on device")

    _sweep(tmp_path / "run")
    monkeypatch.setattr(report_module.os, "replace", full_disk)
    assert cli.main(["analyze", str(tmp_path / "run"), "--write-back"]) == 0
    out = capsys.readouterr()
    assert "recommended rate" in out.out
    assert "warning: cannot write the report" in out.err and "No space left on device" in out.err
    assert sorted(os.listdir(tmp_path / "run")) == ["events.out.tfevents.1.h"]  # nothing partial left


def test_the_installed_command_analyses_a_log(tmp_path):
    """`tb-lrfinder analyze` from the environment's bin folder, the source tree not on the path."""
    command = os.path.join(os.path.dirname(sys.executable), "tb-lrfinder")
    if not os.path.exists(command):
        pytest.skip("tb-lrfinder is not installed in this environment (pip install .)")
    _sweep(tmp_path / "run")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([command, "analyze", str(tmp_path / "run"), "--json"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["runs"][0]["stop"]["reason"] == "diverged"
    out = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 0 and "analyze" in out.stdout
