"""tb_lrfinder: a learning-rate range test for Keras 3, viewed in TensorBoard.

Writing (needs TensorFlow): `lr_range_schedule`, `StepLogger`, `StepWriter`,
`find_lr`, `verify_rate`, `RangeTestCallback`, `sweep_custom_loop`; training schedules from a
result: `OneCycle`, `Cyclical`, `one_cycle_from`, `cyclical_from`. Reading and
analysis (no TensorFlow): `read_scalars`, `read_range_test`, `analyze`. The
TensorFlow-side names are imported on first use, so `import tb_lrfinder` stays
light for code that only reads logs.
"""

from __future__ import annotations

import importlib

from .analysis import Analysis, Recommendation, StopPoint, Suggestion, analyze
from .errors import LRFinderError
from .reader import LogReadWarning, range_test_frame, read_range_test, read_scalars
from .schedule import sweep_rates

__version__ = "0.1.0"

_LAZY = {
    "lr_range_schedule": "schedule",
    "StepLogger": "logger",
    "StepWriter": "logger",
    "find_lr": "finder",
    "RangeTestResult": "finder",
    "RangeTestCallback": "callbacks",
    "OneCycle": "training_schedules",
    "Cyclical": "training_schedules",
    "one_cycle_from": "training_schedules",
    "cyclical_from": "training_schedules",
    "sweep_custom_loop": "custom_loop",
    "verify_rate": "verify",
    "Verification": "verify",
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
    "StepWriter",
    "StopPoint",
    "Suggestion",
    "analyze",
    "cyclical_from",
    "find_lr",
    "lr_range_schedule",
    "one_cycle_from",
    "range_test_frame",
    "read_range_test",
    "read_scalars",
    "sweep_custom_loop",
    "sweep_rates",
    "Verification",
    "verify_rate",
]
