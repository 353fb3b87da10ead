"""The LR Finder dashboard: TensorBoard draws loss against learning rate.

A TensorBoard plugin (entry point `tensorboard_plugins`, so a plain
`tensorboard --logdir logs` shows an **LR Finder** tab). Its backend reads
every run's scalars through TensorBoard's data provider and analyses them
with this project's own pipeline (`runs.analyze_scalars`: the same
numbers as `scripts/analyze.py`), on every request, so a sweep still being
written updates as TensorBoard reloads it. Its frontend (`static/index.js`,
an ES module with no dependencies, drawing SVG) plots raw and smoothed loss
against log(rate) for each run, the rules' rates, the recommended rate and
range, the stop point, validation points and verification trials, with a
table of each run's recommendation.

Routes (under /data/plugin/lr_finder/): `index.js`, `runs` (JSON).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

PLUGIN_NAME = "lr_finder"
_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_MAX_POINTS = 1_000_000  # ask the data provider for every point it keeps


class LRFinderPlugin(base_plugin.TBPlugin):
    """Loss against learning rate, for every range-test run under the logdir."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider

    def get_plugin_apps(self):
        return {"/index.js": self._serve_js, "/runs": self._serve_runs}

    def is_active(self):
        return False  # active when the logdir has scalars: see data_plugin_names

    def data_plugin_names(self):
        return ("scalars",)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="LR Finder")

    @wrappers.Request.application
    def _serve_js(self, request):
        with open(os.path.join(_STATIC, "index.js"), "rb") as handle:
            body = handle.read()
        return wrappers.Response(body, content_type="text/javascript; charset=utf-8")

    @wrappers.Request.application
    def _serve_runs(self, request):
        from tensorboard import plugin_util

        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        series = self._provider.read_scalars(ctx, experiment_id=experiment, plugin_name="scalars",
                                             downsample=_MAX_POINTS)
        body = json.dumps(runs_payload(scalar_table(series)), allow_nan=False)
        return wrappers.Response(body, content_type="application/json")


def scalar_table(series):
    """A data provider's `read_scalars` answer ({run: {tag: [ScalarDatum]}}) as `reader.read_table`'s table."""
    from ..reader import ScalarTable

    rows = [(run, tag, d.step, d.wall_time, d.value) for run, by_tag in series.items()
            for tag, data in by_tag.items() for d in data]
    names = ("run", "tag", "step", "wall_time", "value")
    return ScalarTable.from_frame({name: [row[i] for row in rows] for i, name in enumerate(names)})


def _number(value):
    value = float(value)
    return value if math.isfinite(value) else None


def runs_payload(scalars) -> dict:
    """What the dashboard draws: per range-test run its points and analysis; the runs skipped and why."""
    from ..runs import analyze_scalars
    from ..report import analysis_to_dict, trials_to_dicts

    if len(scalars) == 0:
        return {"runs": [], "skipped": []}
    analysed, skipped = analyze_scalars(scalars)
    runs = []
    for run in analysed:
        points = {column: [_number(v) for v in np.asarray(run.curve[column], dtype=np.float64)]
                  for column in ("step", "learning_rate", "loss", "smoothed_loss", "val_loss") if column in run.curve}
        runs.append({
            "run": run.name, "lr_tag": run.lr_tag, "loss_tag": run.loss_tag, "points": points,
            "analysis": analysis_to_dict(run.analysis),
            "verified_rate": run.verified_rate,
            "trials": trials_to_dicts(run.verification) if run.verification else [],
        })
    return {"runs": runs, "skipped": [{"run": s.name, "reason": s.reason} for s in skipped]}
