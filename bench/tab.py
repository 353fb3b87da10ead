#!/usr/bin/env python3
"""The LR Finder tab against TensorBoard's own Scalars dashboard, in headless Chromium.

On the same log directory, served by one TensorBoard (its default settings: what a user runs),
this times in one run, side by side:

* first load: from navigation to the page having fetched everything it asked for (no request in
  flight for `QUIET_S`), for the tab (`#lr_finder`, inside TensorBoard's page) and for the
  Scalars dashboard (`#scalars`); the tab also until its run table shows every run. Each round
  starts a fresh TensorBoard and navigates to the tab as soon as it answers: the plugin starts
  reading and analysing every point as TensorBoard starts, and the tab's first load waits for
  that (cold). Scalars' load follows once the tab's has finished, so the plugin's work in the
  background never slows it;
* refresh of an unchanged directory: the tab's poll (`/data/plugin/lr_finder/runs` fetched from
  the page, answered from its cache) against the Scalars dashboard's first load;
* the TensorBoard process's memory (resident set) after the tab's first load, and the most it
  held by then, each less that of a TensorBoard serving an empty directory (the largest growth
  over the rounds);

on three log directories: 100 runs x 10,000 steps, one run of 1,000,000 steps, and one run whose
loss tag is 65,536 characters long. Each is timed `--rounds` times; the medians and their ratios
are printed. Targets (issue 36): first load <= 1.5x the
Scalars dashboard's, an unchanged refresh <= 0.2x, memory growth <= 200 MB on the 1M-step run.

    python bench/tab.py [--rounds 3] [--logs /tmp/tab_bench_logs]

Logs are written once (a few minutes) and kept for later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from cdp import Browser  # noqa: E402
from tensorboard_server import free_port, get  # noqa: E402

from tb_lrfinder.sweep.recorder import StepRecorder  # noqa: E402

QUIET_S = 0.5
"""A page has loaded once no request has been in flight for this long."""

SETS = {"100 runs x 10,000 steps": ("many", 100, 10_000), "1 run x 1,000,000 steps": ("big", 1, 1_000_000),
        "a 65,536-character loss tag": ("long_tag", 1, 2_000)}


def _sweep(path: str, steps: int, *, loss_tag: str | None = None, seed: int = 0) -> None:
    """A range test of `steps` steps from 1e-7 to 10 that learns and then diverges, as StepRecorder
    writes it (every point kept)."""
    rng = np.random.default_rng(seed)
    rates = 1e-7 * 1e8 ** (np.arange(steps) / steps)
    losses = 2.3 - 1.8 / (1 + np.exp(-(np.log10(rates) + 2.0) * 2)) + rng.normal(0, 0.05, steps)
    tail = int(0.97 * steps)
    losses[tail:] *= np.exp(np.arange(steps - tail) * 5.0 / (steps - tail))
    if loss_tag is None:
        with StepRecorder(path, stop_factor=None, flush_secs=1e9) as recorder:
            for step in range(steps):
                recorder.record(step, float(rates[step]), float(losses[step]), wall_time=1.0)
        return
    from tb_lrfinder.logformat.writer import EventFileWriter

    writer = EventFileWriter(path, flush_secs=1e9)
    for step in range(steps):
        writer.scalars(step, ("lr", loss_tag), (float(rates[step]), float(losses[step])), 1.0)
    writer.close()


def make_logs(root: str) -> dict[str, str]:
    """The log directories (written where missing)."""
    folders = {}
    for name, (folder, runs, steps) in SETS.items():
        path = os.path.join(root, folder)
        folders[name] = path
        if os.path.isdir(path) and len(os.listdir(path)) == runs:
            continue
        started = time.perf_counter()
        for run in range(runs):
            tag = ("loss_" + "x" * 65_531) if folder == "long_tag" else None
            _sweep(os.path.join(path, f"run_{run:03d}"), steps, loss_tag=tag, seed=run)
        print(f"wrote {name} in {time.perf_counter() - started:.0f} s", flush=True)
    return folders


class TensorBoard:
    """TensorBoard on a free loopback port with its default settings (what a user runs)."""

    def __init__(self, logdir: str):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self._log = tempfile.TemporaryFile()
        self.process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host",
                                         "127.0.0.1", "--port", str(port)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                get(self.base, "/data/runs")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self._log.seek(0)
                    raise RuntimeError(f"tensorboard did not start: {self._log.read()[-2000:]!r}") from None
                time.sleep(0.05)

    def rss_mb(self, field: str = "VmRSS") -> float:
        """The resident memory of TensorBoard's Python process (its plugins live there), in MB: now
        (`VmRSS`), or the most it has held (`VmHWM`)."""
        with open(f"/proc/{self.process.pid}/status") as status:
            line = next(line for line in status if line.startswith(field + ":"))
        return int(line.split()[1]) / 1024

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


RUN_ROWS = """(() => {
  const docs = [document];
  for (const frame of document.querySelectorAll('iframe')) { try { docs.push(frame.contentDocument); } catch (e) {} }
  return Math.max(0, ...docs.map(d => d ? d.querySelectorAll('tbody tr').length : 0));
})()"""


def load(page, url: str, *, ready: str = "true", timeout: float = 600.0) -> float:
    """Seconds from navigating to `url` until the page is quiet (see `QUIET_S`) and `ready` holds."""
    page.call("Page.navigate", url="about:blank")
    page.pump(0.2)
    page.take_events()
    started = time.perf_counter()
    page.call("Page.navigate", url=url)
    inflight, last, loaded = set(), started, False
    while time.perf_counter() - started < timeout:
        page.pump(0.05)
        for event in page.take_events():
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                inflight.add(params["requestId"])
                last = event["at"]
            elif method in ("Network.loadingFinished", "Network.loadingFailed"):
                inflight.discard(params["requestId"])
                last = event["at"]
            elif method == "Page.loadEventFired":
                loaded = True
        if loaded and not inflight and time.perf_counter() - last > QUIET_S and page.evaluate(ready):
            return last - started
    raise TimeoutError(f"{url} did not load within {timeout:g} s")


def refresh(page, base: str) -> float:
    """Seconds for the tab's poll of an unchanged directory, fetched from the page."""
    return page.evaluate(f"""(async () => {{
      const started = performance.now();
      const answer = await fetch("{base}/data/plugin/lr_finder/runs");
      await answer.text();
      return (performance.now() - started) / 1000;
    }})()""")


def baseline_rss_mb() -> tuple[float, float]:
    """The resident memory (now, most) of a TensorBoard serving an empty log directory (nothing for
    the tab to read), once it answers: what the tab's memory growth is counted from."""
    with tempfile.TemporaryDirectory() as empty:
        board = TensorBoard(empty)
        try:
            get(board.base, "/data/plugin/lr_finder/runs")
            return board.rss_mb(), board.rss_mb("VmHWM")
        finally:
            board.close()


def measure(name: str, logdir: str, runs: int, rounds: int, baseline_mb: tuple[float, float]) -> dict:
    """Medians over `rounds` rounds, each on a fresh TensorBoard: the tab's first load, navigated to as
    soon as TensorBoard answers (the plugin starts analysing the directory as TensorBoard starts, so
    this load waits for most of that work), then the Scalars dashboard's first load once the tab's
    has finished (so the tab's background work never slows Scalars'); the tab's refresh; and
    TensorBoard's memory after the tab's first load (and the most it held) less `baseline_mb`'s (the
    largest over the rounds)."""
    tab, scalars, refreshes, growth, peak, shown = [], [], [], [], [], 0
    for _ in range(rounds):
        with Browser() as browser:  # started first: the tab is navigated to the moment TensorBoard answers
            page = browser.page
            page.call("Page.enable")
            page.call("Network.enable")
            board = TensorBoard(logdir)
            try:
                # A run whose loss tag is not one a sweep writer uses is listed as skipped, not drawn.
                ready = "true" if name.startswith("a 65,536") else f"{RUN_ROWS} >= {runs}"
                tab.append(load(page, f"{board.base}/#lr_finder", ready=ready))
                growth.append(board.rss_mb() - baseline_mb[0])
                peak.append(board.rss_mb("VmHWM") - baseline_mb[1])
                refreshes += [refresh(page, board.base) for _ in range(3)]
                scalars.append(load(page, f"{board.base}/#scalars"))
                answer = get(board.base, "/data/plugin/lr_finder/runs")
                shown = len(answer["runs"]) if isinstance(answer, dict) else 0
            finally:
                board.close()
    return {"set": name, "tab_s": statistics.median(tab), "scalars_s": statistics.median(scalars),
            "refresh_s": statistics.median(refreshes), "memory_growth_mb": max(growth), "peak_growth_mb": max(peak), "runs_shown": shown}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--logs", default=os.path.join(tempfile.gettempdir(), "tab_bench_logs"))
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    args = parser.parse_args(argv)
    folders = make_logs(args.logs)
    print(f"headless Chromium, TensorBoard with its default settings; medians of {args.rounds} rounds\n")
    print("| log directory | tab first load | Scalars first load | ratio (<= 1.5) | tab refresh, unchanged | "
          "refresh / Scalars' load (<= 0.2) | TensorBoard memory growth (<= 200 MB) | its peak growth | runs shown |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    baseline_mb = baseline_rss_mb()
    results = []
    for name in args.sets:
        row = measure(name, folders[name], SETS[name][1], args.rounds, baseline_mb)
        results.append(row)
        print(f"| {name} | {row['tab_s']:.2f} s | {row['scalars_s']:.2f} s | {row['tab_s'] / row['scalars_s']:.2f} | "
              f"{row['refresh_s'] * 1000:.0f} ms | {row['refresh_s'] / row['scalars_s']:.3f} | "
              f"{row['memory_growth_mb']:+.0f} MB | {row['peak_growth_mb']:+.0f} MB | {row['runs_shown']} |", flush=True)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
