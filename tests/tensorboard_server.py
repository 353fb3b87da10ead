"""Run a real TensorBoard on loopback for a bounded time (tests, screenshots).

`serve(logdir)` starts `tensorboard` as a subprocess on a free 127.0.0.1 port,
waits until it answers, yields its base URL and always stops it afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

from tb_lrfinder import LRFinderError


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(base: str, path: str, **params):
    """GET `path` from the server: parsed JSON, or the raw bytes."""
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read()
        kind = response.headers.get_content_type()
    return json.loads(body) if kind == "application/json" else body


@contextlib.contextmanager
def serve(logdir: str | os.PathLike, *, start_timeout_s: float = 90.0, samples: str = "scalars=100000,images=10,text=10") -> Iterator[str]:
    """Serve `logdir` with TensorBoard (every scalar point kept); yield the base URL."""
    port = free_port()
    command = [
        sys.executable, "-m", "tensorboard.main", "--logdir", os.fspath(logdir), "--host", "127.0.0.1",
        "--port", str(port), "--load_fast", "false", "--samples_per_plugin", samples,
    ]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout_s
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise LRFinderError(f"tensorboard exited: {log.read().decode(errors='replace')[-2000:]}")
                try:
                    get(base, "/data/runs")
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise LRFinderError(f"tensorboard did not answer within {start_timeout_s:g} s") from None
                    time.sleep(0.5)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
