#!/usr/bin/env python3
"""Analyse learning-rate range tests in TensorBoard event logs.

Each LOGDIR may be an event file, a run directory or a root of runs; every run
that holds a learning-rate and a loss series is analysed: recommended rate and
range, each rule, and where and why the sweep stopped. Runs without one are
listed as skipped. Needs no TensorFlow.

Exit status: 0 when at least one run was analysed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tb_lrfinder import LogReadWarning, LRFinderError  # noqa: E402
from tb_lrfinder.runs import analyze_paths  # noqa: E402
from tb_lrfinder.report import (  # noqa: E402
    analysis_to_dict,
    format_analysis,
    format_table,
    format_trials,
    trials_to_dicts,
)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="analyze.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("logdirs", nargs="+", metavar="LOGDIR", help="event file, run directory, or root of runs")
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON")
    parser.add_argument("--plot", metavar="OUT", help="write loss vs. log(rate) to OUT (.png, .svg, .pdf)")
    parser.add_argument("--details", action="store_true", help="print the full report of each run after the table")
    parser.add_argument("--write-back", action="store_true",
                        help="add the analysis to each run for TensorBoard (text, plot, HParams, smoothed loss)")
    parser.add_argument("--lr-tag", help="tag of the learning rate (default: found automatically)")
    parser.add_argument("--loss-tag", help="tag of the loss (default: found automatically)")
    parser.add_argument("--smoothing", type=float, default=0.9, help="EMA beta (default 0.9)")
    parser.add_argument("--stop-factor", type=float, default=4.0, help="divergence threshold (default 4)")
    parser.add_argument("--momentum", type=float, metavar="BETA",
                        help="the sweep's optimizer's momentum (SGD's momentum, Adam's beta_1), taken out of the "
                             "recommended rate, for runs that do not record it (other writers' logs; default: none)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LogReadWarning)
        analysed, skipped = analyze_paths(
            args.logdirs, lr_tag=args.lr_tag, loss_tag=args.loss_tag,
            smoothing=args.smoothing, stop_factor=args.stop_factor, momentum=args.momentum,
        )
    for warning in caught:
        if issubclass(warning.category, LogReadWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
    if not analysed:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped)
        raise LRFinderError(f"no range test found ({reasons})")
    if args.json:
        print(json.dumps(
            {
                "runs": [
                    {"run": r.name, "lr_tag": r.lr_tag, "loss_tag": r.loss_tag, **analysis_to_dict(r.analysis),
                     **({"verified_rate": r.verified_rate, "trials": trials_to_dicts(r.verification)}
                        if r.verification else {})}
                    for r in analysed
                ],
                "skipped": [{"run": s.name, "reason": s.reason} for s in skipped],
            },
            indent=2,
        ))
    else:
        print(format_table({r.name: r.analysis for r in analysed}))
        for s in skipped:
            print(f"skipped {s.name}: {s.reason}")
        if args.details or len(analysed) == 1:
            for r in analysed:
                print()
                print(format_analysis(r.analysis, title=f"[{r.name}]"))
        for r in analysed:
            if r.verification:
                print()
                print(format_trials(r))
    if args.write_back:
        from tb_lrfinder import tags
        from tb_lrfinder.report import write_report

        for run in analysed:
            path = write_report(run, include_smoothed=run.loss_tag != tags.LOSS)
            print(f"report written to {path}", file=sys.stderr)
    if args.plot:
        from tb_lrfinder.plot import save_plot

        path = save_plot(analysed, args.plot)
        print(f"plot written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LRFinderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except BrokenPipeError:  # the reader of our output went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        sys.exit(0)
