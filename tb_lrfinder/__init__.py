"""tb_lrfinder: a learning-rate range test for Keras 3, viewed in TensorBoard.

The top level holds what a user of the finder needs:

* running a sweep (TensorFlow backend): `find_lr`, `RangeTestCallback`,
  `verify_rate`, `StepLogger`, `sweep_custom_loop`;
* driving and recording one from any loop, on any Keras backend:
  `lr_range_schedule`, `StepRecorder`, `sweep_plan`;
* reading logs (no TensorFlow): `read_results` (each run's range test,
  analysed: `RangeTestResult`), `read_frame` (every scalar as a pandas frame);
* drawing: `plot_range_test` (matplotlib); the error: `LRFinderError`.

The packages beneath are the architecture (each `__init__` says what it owns
and may import), from the bottom: `core` (errors, checks, shared formulas),
`logformat` (event files written and read), `analysis` (what a curve and
trials say), `results` (a log's runs as range tests), `sweep` (schedules,
plan and recorder, any Keras backend), `reporting` (text, write-back, plots,
the TensorBoard tab) and `training` (the TensorFlow side: `find_lr`,
verification's trials). Names that need TensorFlow or matplotlib are
imported on first use, so `import tb_lrfinder` stays light for code that
only reads logs.
"""

from __future__ import annotations

import importlib
import warnings

from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.logformat.table import read_frame
from tb_lrfinder.results.result import RangeTestResult
from tb_lrfinder.results.runs import read_results

__version__ = "0.2.0"

_LAZY = {
    "find_lr": "training.finder",
    "RangeTestCallback": "training.range_test_callback",
    "verify_rate": "training.trials",
    "StepLogger": "training.callback",
    "sweep_custom_loop": "training.custom_loop",
    "lr_range_schedule": "sweep.schedules",
    "StepRecorder": "sweep.recorder",
    "sweep_plan": "sweep.plan",
    "plot_range_test": "reporting.plot",
}

_MOVED = {
    "Analysis": "analysis.types", "Recommendation": "analysis.types", "StopPoint": "analysis.types",
    "Suggestion": "analysis.types", "analyze": "analysis.curve", "LogReadWarning": "logformat.files",
    "read_scalars": "logformat.table", "analyze_paths": "results.runs", "range_test_frame": "results.curves",
    "read_range_test": "results.curves", "sweep_rates": "sweep.schedules", "OneCycle": "sweep.schedules",
    "Cyclical": "sweep.schedules", "one_cycle_from": "sweep.schedules", "cyclical_from": "sweep.schedules",
    "Verification": "analysis.verdicts",
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
