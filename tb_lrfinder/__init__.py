"""tb_lrfinder: a learning-rate range test for Keras 3, viewed in TensorBoard.

Running a sweep on TensorFlow: `StepLogger`, `find_lr`, `verify_rate`,
`RangeTestCallback`, `sweep_custom_loop`. On any Keras backend: the sweep's
schedule `lr_range_schedule` (and its closed form `sweep_rates`), recording
from any loop with `StepRecorder` (and `sweep_plan`), and training schedules
from a result: `OneCycle`, `Cyclical`, `one_cycle_from`, `cyclical_from`.
Reading and analysis (no TensorFlow): `read_scalars`, `read_range_test`,
`analyze`, `analyze_paths`; drawing (matplotlib): `plot_range_test`. The
writing-side and drawing names are imported on first use, so
`import tb_lrfinder` stays light for code that only reads logs.
"""

from __future__ import annotations

import importlib

from .analysis import Analysis, Recommendation, StopPoint, Suggestion, analyze
from .errors import LRFinderError
from .reader import LogReadWarning, read_scalars
from .runs import RangeTestResult, analyze_paths, range_test_frame, read_range_test

__version__ = "0.1.0"

_LAZY = {
    "lr_range_schedule": "schedules",
    "sweep_rates": "schedules",
    "OneCycle": "schedules",
    "Cyclical": "schedules",
    "one_cycle_from": "schedules",
    "cyclical_from": "schedules",
    "StepLogger": "callback",
    "find_lr": "finder",
    "RangeTestCallback": "finder",
    "sweep_plan": "plan",
    "sweep_custom_loop": "custom_loop",
    "StepRecorder": "recorder",
    "verify_rate": "verify",
    "Verification": "verify",
    "plot_range_test": "plot",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tb_lrfinder' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_LAZY))


__all__ = [
    "Analysis",
    "Cyclical",
    "LRFinderError",
    "LogReadWarning",
    "OneCycle",
    "RangeTestCallback",
    "RangeTestResult",
    "Recommendation",
    "StepLogger",
    "StepRecorder",
    "StopPoint",
    "Suggestion",
    "analyze",
    "analyze_paths",
    "cyclical_from",
    "find_lr",
    "lr_range_schedule",
    "one_cycle_from",
    "plot_range_test",
    "range_test_frame",
    "read_range_test",
    "read_scalars",
    "sweep_custom_loop",
    "sweep_plan",
    "sweep_rates",
    "Verification",
    "verify_rate",
]
