"""tb_lrfinder: a learning-rate range test for Keras 3, viewed in TensorBoard.

The top level holds what a user of the finder needs:

* running a sweep (TensorFlow backend): `find_lr`, `RangeTestCallback`,
  `verify_rate`, `StepLogger`, `sweep_custom_loop`;
* driving and recording one from any loop, on any Keras backend:
  `lr_range_schedule`, `StepRecorder`, `sweep_plan`;
* reading logs (no TensorFlow): `read_results` (each run's range test,
  analysed: `RangeTestResult`), `read_frame` (every scalar as a pandas frame);
* drawing: `plot_range_test` (matplotlib); the error: `LRFinderError`.

Schedules to train with live in `tb_lrfinder.schedules`, the analysis of a
curve in `tb_lrfinder.analysis`, log reading in `tb_lrfinder.reader` and
`tb_lrfinder.runs`, reports in `tb_lrfinder.report`. Names that need
TensorFlow or matplotlib are imported on first use, so `import tb_lrfinder`
stays light for code that only reads logs.
"""

from __future__ import annotations

import importlib
import warnings

from .errors import LRFinderError
from .reader import read_frame
from .runs import RangeTestResult, read_results

__version__ = "0.2.0"

_LAZY = {
    "find_lr": "finder",
    "RangeTestCallback": "finder",
    "verify_rate": "verify",
    "StepLogger": "callback",
    "sweep_custom_loop": "custom_loop",
    "lr_range_schedule": "schedules",
    "StepRecorder": "recorder",
    "sweep_plan": "plan",
    "plot_range_test": "plot",
}

_MOVED = {
    "Analysis": "analysis", "Recommendation": "analysis", "StopPoint": "analysis", "Suggestion": "analysis",
    "analyze": "analysis", "LogReadWarning": "reader", "read_scalars": "reader", "analyze_paths": "runs",
    "range_test_frame": "runs", "read_range_test": "runs", "sweep_rates": "schedules", "OneCycle": "schedules",
    "Cyclical": "schedules", "one_cycle_from": "schedules", "cyclical_from": "schedules", "Verification": "verify",
}
"""Names that were at the top level before 0.2, and the submodule they live in: still importable from
the top level until 0.3, with a DeprecationWarning."""


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    module = _MOVED.get(name)
    if module is not None:
        now = "tb_lrfinder.read_frame" if name == "read_scalars" else f"tb_lrfinder.{module}.{name}"
        warnings.warn(f"tb_lrfinder.{name} is {now} (the top-level name goes in 0.3)", DeprecationWarning,
                      stacklevel=2)
        return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'tb_lrfinder' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "LRFinderError",
    "RangeTestCallback",
    "RangeTestResult",
    "StepLogger",
    "StepRecorder",
    "find_lr",
    "lr_range_schedule",
    "plot_range_test",
    "read_frame",
    "read_results",
    "sweep_custom_loop",
    "sweep_plan",
    "verify_rate",
]
