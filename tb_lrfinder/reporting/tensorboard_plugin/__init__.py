"""The LR Finder dashboard: TensorBoard draws loss against learning rate.

A TensorBoard plugin (entry point `tensorboard_plugins`, so a plain
`tensorboard --logdir logs` shows an **LR Finder** tab). Its backend analyses
every run with this project's own pipeline (`runs.analyze_scalars`: the same
numbers as `tb-lrfinder analyze`): on a local log directory it reads the
event files itself, every point whatever TensorBoard's sampling, starting as
TensorBoard starts (as TensorBoard's own loader does), and caches each file
until it changes (`payload.LogDirectory`); elsewhere it reads what
TensorBoard's data provider kept, and says so. Each run goes to the page at
drawing size (`payload.MAX_POINTS_DRAWN` points). Its frontend
(`static/index.js`, an ES module with no dependencies, drawing SVG, every
string from a log set as text, never as markup) draws each run's rate to use
first (verified, else recommended), then raw and smoothed loss against
log(rate), the rules' rates, the range, the stop and the verification trials.

Routes (under /data/plugin/lr_finder/): `index.js`, `runs` (JSON).
"""

from __future__ import annotations

import json
import os
import threading

from tensorboard.plugins import base_plugin
from werkzeug import wrappers

PLUGIN_NAME = "lr_finder"
_STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_MAX_POINTS = 1_000_000  # ask the data provider for every point it keeps


class LRFinderPlugin(base_plugin.TBPlugin):
    """Loss against learning rate, for every range-test run under the logdir."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context):
        from .payload import LogDirectory

        self._provider = context.data_provider
        logdir = getattr(context, "logdir", "") or ""
        self._directory = LogDirectory(logdir) if logdir and os.path.isdir(logdir) else None
        if self._directory is not None:
            self._directory.warm_up()  # analysed while TensorBoard starts and the page loads
        self._provider_lock = threading.Lock()

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
        return _response(body, "text/javascript; charset=utf-8")

    @wrappers.Request.application
    def _serve_runs(self, request):
        if self._directory is not None:
            body = self._directory.answer()
        else:
            body = self._provider_answer(request)
        return _response(body, "application/json")

    def _provider_answer(self, request) -> bytes:
        from tensorboard import plugin_util

        from .payload import provider_payload

        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        with self._provider_lock:  # one analysis at a time: requests that pile up do not multiply the memory
            series = self._provider.read_scalars(ctx, experiment_id=experiment, plugin_name="scalars",
                                                 downsample=_MAX_POINTS)
            return json.dumps(provider_payload(scalar_table(series)), allow_nan=False).encode()


def _response(body: bytes, content_type: str):
    """A response the browser takes as `content_type` only (no sniffing: TensorBoard asks for it)."""
    return wrappers.Response(body, content_type=content_type, headers={"X-Content-Type-Options": "nosniff"})


def scalar_table(series):
    """A data provider's `read_scalars` answer ({run: {tag: [ScalarDatum]}}) as `reader.read_table`'s table:
    run and tag names as codes (a long tag costs its length once, not once per row)."""
    import numpy as np

    from tb_lrfinder.logformat.table import gathered_table

    run_names = sorted(series)
    tag_names = sorted({tag for by_tag in series.values() for tag in by_tag})
    tag_code = {tag: code for code, tag in enumerate(tag_names)}
    pieces_by_run = [[(np.full(len(data), tag_code[tag], np.int32),
                       np.fromiter((d.step for d in data), np.int64, len(data)),
                       np.fromiter((d.wall_time for d in data), np.float64, len(data)),
                       np.fromiter((d.value for d in data), np.float64, len(data)))
                      for tag, data in series[run].items()] for run in run_names]
    return gathered_table(run_names, tag_names, pieces_by_run)
