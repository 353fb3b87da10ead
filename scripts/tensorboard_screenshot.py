#!/usr/bin/env python3
"""Screenshot TensorBoard showing a sweep, for the README.

Serves LOGDIR with a real TensorBoard on 127.0.0.1 and has headless Chromium
(Debian's `chromium` package) take PNG screenshots of the dashboards named by
--views (scalars filtered to the sweep's tags, images, text, custom scalars).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))  # the test server

from tensorboard_server import serve  # noqa: E402

from tb_lrfinder import LRFinderError

VIEWS = {
    "lr_finder": "#lr_finder",
    "hparams": "#hparams",
    "scalars": "#scalars&tagFilter=lr_finder%2F(loss|smoothed_loss)%24",
    "custom_scalars": "#custom_scalars",
    "images": "#images",
    "text": "#text",
}


def screenshot(browser: str, url: str, out: str, size: str, wait_ms: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={size}", f"--virtual-time-budget={wait_ms}",
            "--hide-scrollbars", f"--screenshot={os.path.abspath(out)}", url,
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=180)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("logdir")
    parser.add_argument("--out-dir", default="docs")
    parser.add_argument("--views", default="lr_finder,scalars,images", help=f"comma-separated: {', '.join(VIEWS)}")
    parser.add_argument("--size", default="1400,900")
    parser.add_argument("--wait-ms", type=int, default=15000, help="virtual time for the page to load and draw")
    args = parser.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise LRFinderError("no Chromium found: apt-get install chromium")
    os.makedirs(args.out_dir, exist_ok=True)
    with serve(args.logdir) as base:
        time.sleep(5)  # let TensorBoard load the runs
        for view in args.views.split(","):
            out = os.path.join(args.out_dir, f"tensorboard_{view}.png")
            screenshot(browser, f"{base}/{VIEWS[view]}", out, args.size, args.wait_ms)
            print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (LRFinderError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
