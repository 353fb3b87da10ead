"""Where a sweep's run goes: a new folder by default, or `find_lr`'s `if_exists` policy where the
folder already holds a sweep."""

from __future__ import annotations

import os
import shutil
import time

from tb_lrfinder.core.errors import LRFinderError


def _default_log_dir() -> str:
    return os.path.join("logs", time.strftime("range_test-%Y%m%d-%H%M%S"))


IF_EXISTS = ("new", "replace", "error")
"""What `find_lr` does where its log_dir already holds a sweep (see its `if_exists`)."""


_SWEEP_FOLDERS = ("trial_", "repeat_")
"""Folders find_lr writes inside a sweep's log_dir: verification trials, repeated sweeps."""


def _sweep_parts(log_dir: str) -> list[str]:
    """What a sweep wrote directly in `log_dir`: its event files and its trial_* / repeat_* folders."""
    try:
        names = os.listdir(log_dir)
    except OSError:  # missing (or not a folder: then creating the run fails with a clear error)
        return []
    return [os.path.join(log_dir, name) for name in sorted(names)
            if "tfevents" in name or (name.startswith(_SWEEP_FOLDERS) and os.path.isdir(os.path.join(log_dir, name)))]


def run_folder(log_dir: str, if_exists: str, *, say: bool = False) -> str:
    """The folder a sweep asked to go to `log_dir` writes to (see `find_lr`'s `if_exists`)."""
    earlier = _sweep_parts(log_dir)
    if not earlier:
        return log_dir
    if if_exists == "error":
        raise LRFinderError(f"log_dir {log_dir!r} already holds a sweep; give a new directory, or "
                            "if_exists='new' or 'replace'")
    if if_exists == "replace":
        for path in earlier:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        return log_dir
    n = 2
    while _sweep_parts(f"{log_dir}_{n}"):
        n += 1
    if say:
        print(f"{log_dir} holds an earlier sweep: this one goes to {log_dir}_{n} (if_exists='replace' replaces it)")
    return f"{log_dir}_{n}"
