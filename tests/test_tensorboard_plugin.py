"""The LR Finder tab: its routes served by a real TensorBoard on 127.0.0.1, and its page in a real browser."""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from eventlog import scalar_event, version_event, write_simple_log

from tb_lrfinder.logformat import tags
from tb_lrfinder.logformat.tfrecord import frame_record

TENSORBOARD = os.path.join(os.path.dirname(sys.executable), "tensorboard")


def _curve(n=120, blow_up_at=100):
    rates = 1e-5 * (10 / 1e-5) ** (np.arange(n) / n)
    losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) * 3))
    losses[blow_up_at:] *= np.exp(np.arange(n - blow_up_at))
    return rates, losses


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port, path, timeout=30):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read().decode()


TRIALS = ((1e-3, (1.5, 1.2)), (2e-3, (1.4, 1.1)), (4e-3, (1.6,)))
"""Verification trials of the run "sweep": (rate, held-out loss after each round); 2e-3 wins."""


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    rates, losses = _curve()
    (root / "sweep").mkdir(parents=True)
    write_simple_log(root / "sweep" / "events.out.tfevents.1.h", zip(range(120), rates, losses),
                     lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    for i, (rate, losses_per_round) in enumerate(TRIALS):  # verification trials beside the sweep
        (root / f"sweep_trial_{i}_{rate:.3g}").mkdir()
        write_simple_log(root / f"sweep_trial_{i}_{rate:.3g}" / "events.out.tfevents.1.h",
                         [(0, rate, 2.0)] + [(10 * (2 ** k - 1) + 10, rate, loss) for k, loss in enumerate(losses_per_round)],
                         lr_tag=tags.TRIAL_RATE, loss_tag=tags.TRIAL_LOSS)
    (root / "foreign").mkdir()  # another tool's names (as torch's SummaryWriter would write them)
    write_simple_log(root / "foreign" / "events.out.tfevents.1.h", zip(range(120), rates, losses * 3),
                     lr_tag="Train/lr", loss_tag="Train/loss")
    (root / "growing").mkdir()  # still being written: 40 points now, more later
    data = frame_record(version_event()) + b"".join(
        frame_record(scalar_event(i, {tags.LEARNING_RATE: rates[i], tags.LOSS: losses[i]})) for i in range(40))
    (root / "growing" / "events.out.tfevents.1.h").write_bytes(data)
    return root


@pytest.fixture(scope="module")
def tensorboard(logdir):
    """One TensorBoard for this module's tests (each start costs seconds); only
    `test_a_run_still_being_written_updates` changes its logs, by appending."""
    with _serving(logdir, "--reload_interval", "1", "--load_fast", "false") as port:
        yield port, logdir


@contextlib.contextmanager
def _serving(logdir, *options, start_timeout_s=120):
    """A TensorBoard on a free loopback port whose LR Finder tab is enabled; yields the port."""
    if not os.path.exists(TENSORBOARD):
        pytest.skip("no tensorboard executable beside this Python")
    port = _free_port()
    process = subprocess.Popen([TENSORBOARD, "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
                                *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + start_timeout_s
        while True:
            try:
                listing = json.loads(_get(port, "/data/plugins_listing", timeout=5))
                if listing.get("lr_finder", {}).get("enabled"):
                    break
            except OSError:
                pass
            if time.time() > deadline or process.poll() is not None:
                raise AssertionError("TensorBoard did not start: " + process.stderr.read1().decode()[-2000:])
            time.sleep(0.5)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _runs(port):
    return {r["run"]: r for r in json.loads(_get(port, "/data/plugin/lr_finder/runs"))["runs"]}


def test_the_tab_is_listed_and_serves_its_module(tensorboard):
    port, _ = tensorboard
    listing = json.loads(_get(port, "/data/plugins_listing"))["lr_finder"]
    assert listing["tab_name"] == "LR Finder" and listing["loading_mechanism"]["type"] == "IFRAME"
    module = _get(port, "/data/plugin/lr_finder/index.js")
    assert "export async function render" in module


def test_runs_route_has_points_and_the_same_analysis_as_analyze_py(tensorboard):
    from tb_lrfinder.results.runs import analyze_paths

    port, logdir = tensorboard
    runs = _runs(port)
    assert {"sweep", "foreign"} <= set(runs)
    expected = {os.path.basename(r.name): r for r in analyze_paths([logdir])[0]}
    for name in ("sweep", "foreign"):
        run = runs[name]
        assert run["points"]["step"] == list(range(120))
        rec, want = run["analysis"]["recommended"], expected[name].analysis.recommended
        assert rec["learning_rate"] == pytest.approx(want.learning_rate)
        assert (rec["low"], rec["high"]) == pytest.approx((want.low, want.high))
        assert run["analysis"]["stop"]["reason"] == expected[name].analysis.stop.reason == "diverged"
        assert set(run["analysis"]["rules"]) == {"safe", "steepest", "min_loss_div10", "valley"}
    assert runs["foreign"]["lr_tag"] == "Train/lr" and runs["foreign"]["loss_tag"] == "Train/loss"
    trials = runs["sweep"]["trials"]
    assert sorted(t["learning_rate"] for t in trials) == pytest.approx([rate for rate, _ in TRIALS])
    assert [t["learning_rate"] for t in trials if t["verified"]] == pytest.approx([2e-3])
    assert runs["sweep"]["verified_rate"] == pytest.approx(2e-3) and runs["foreign"]["trials"] == []


def test_a_run_still_being_written_updates(tensorboard):
    port, logdir = tensorboard
    assert len(_runs(port)["growing"]["points"]["step"]) == 40
    rates, losses = _curve()
    with open(logdir / "growing" / "events.out.tfevents.1.h", "ab") as handle:
        handle.write(b"".join(frame_record(scalar_event(i, {tags.LEARNING_RATE: rates[i], tags.LOSS: losses[i]}))
                              for i in range(40, 120)))
    deadline = time.time() + 60
    while len(_runs(port)["growing"]["points"]["step"]) < 120:
        assert time.time() < deadline, "the new points never showed"
        time.sleep(1)
    assert _runs(port)["growing"]["analysis"]["stop"]["reason"] == "diverged"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("TB_LRFINDER_REQUIRE_BROWSER"):
        raise AssertionError("no Chromium, and TB_LRFINDER_REQUIRE_BROWSER is set (CI installs it)")
    pytest.skip("no Chromium (apt-get install chromium); CI installs it and runs this test")


def test_the_dashboard_renders_in_a_browser(tensorboard):
    browser = _chromium()
    port, _ = tensorboard
    # The page TensorBoard itself frames the tab with: it imports index.js and calls render().
    url = f"http://127.0.0.1:{port}/data/plugin_entry.html?name=lr_finder"
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120)
    dom = out.stdout
    assert 'id="plot"' in dom, out.stderr[-2000:]
    assert dom.count('class="smoothed-loss"') >= 3 and dom.count('class="raw-loss"') >= 3
    assert 'class="recommended-line"' in dom and "marker-circle" in dom
    for run in ("sweep", "foreign", "growing"):
        assert f'data-run="{run}"' in dom
    assert dom.count('class="trial"') == len(TRIALS)  # one tick per trial, the winner's alone marked
    assert dom.count("(verified)</title>") == 1 and "trial 0.00200 (verified)</title>" in dom


HOSTILE = "<img src=x onerror=document.body.setAttribute('data-pwned',1)>"
"""A valid directory name that is markup: put into innerHTML, it would run its script in TensorBoard's page."""


@pytest.fixture(scope="module")
def untrusted_tensorboard(tmp_path_factory):
    """A TensorBoard (its fast Rust loader: a million events load in seconds) over a log directory
    with a run named as markup, a caveat-bearing run and a run of a million points."""
    import importlib.util

    if importlib.util.find_spec("tensorboard_data_server") is None:
        pytest.skip("no tensorboard-data-server (TensorBoard's fast loader)")
    root = tmp_path_factory.mktemp("untrusted")
    rates, losses = _curve()
    (root / HOSTILE).mkdir()
    write_simple_log(root / HOSTILE / "events.out.tfevents.1.h", zip(range(120), rates, losses),
                     lr_tag=tags.LEARNING_RATE, loss_tag=tags.LOSS)
    (root / f"{HOSTILE}_training").mkdir()  # no learning-rate series: listed as skipped, with its reason
    write_simple_log(root / f"{HOSTILE}_training" / "events.out.tfevents.1.h", zip(range(5), [0.1] * 5, losses[:5]),
                     lr_tag="epoch_accuracy", loss_tag="epoch_loss")
    from test_plugin_payload import _big_sweep

    _big_sweep(root / "million", 1_000_000)
    with _serving(root, "--load_fast", "true") as port:
        yield port


def test_a_hostile_run_name_renders_as_text_and_a_million_point_run_draws(untrusted_tensorboard):
    browser = _chromium()
    port = untrusted_tensorboard
    answer = json.loads(_get(port, "/data/plugin/lr_finder/runs", timeout=120))
    assert {run["run"] for run in answer["runs"]} == {HOSTILE, "million"}
    url = f"http://127.0.0.1:{port}/data/plugin_entry.html?name=lr_finder"
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--virtual-time-budget=30000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=180)
    dom = out.stdout
    assert 'id="plot"' in dom, out.stderr[-2000:]
    assert "data-pwned" not in dom.replace("setAttribute('data-pwned',1)", "")  # the script never ran
    assert "<img" not in dom  # no element was made of the name: it shows as text
    assert "&lt;img src=x onerror=document.body.setAttribute('data-pwned',1)&gt;" in dom
    assert dom.count('class="smoothed-loss"') == 2 and dom.count('class="use-line"') == 2
    assert "drawn: 2000 of 1000000 points" in dom
    assert dom.count('class="y-tick"') >= 3 and 'class="headline' in dom
    # The run that is no range test: one collapsed line, its name and reason inside, as text.
    assert "<details><summary>1 run(s) without a range test, not drawn: why</summary>" in dom
    assert "&lt;img src=x onerror=document.body.setAttribute('data-pwned',1)&gt;_training: " in dom
