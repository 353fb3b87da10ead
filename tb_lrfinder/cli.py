"""The `tb-lrfinder` command: `tb-lrfinder analyze LOGDIR ...` analyses the
learning-rate range tests in TensorBoard event logs. No TensorFlow needed.

Thin: it parses arguments, calls `runs.analyze_paths`, and prints what
`report` formats (or writes what `plot` draws). Exit status: 0 when at least
one run was analysed, 2 on bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from tb_lrfinder.core.errors import LRFinderError

_ANALYZE_HELP = """\
Each LOGDIR may be an event file, a run directory or a root of runs; every run
that holds a learning-rate and a loss series is analysed: recommended rate and
range, each rule, where and why the sweep stopped, and the verified rate where
the sweep's verification trials are in the log. Runs without a range test are
listed as skipped."""


def build_parser() -> argparse.ArgumentParser:
    """`tb-lrfinder`'s parser: one subcommand, `analyze`."""
    parser = argparse.ArgumentParser(
        prog="tb-lrfinder", description="Learning-rate range tests in TensorBoard logs: analyse them without TensorFlow.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    analyze = commands.add_parser("analyze", help="analyse the range tests in event logs", description=_ANALYZE_HELP,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    add_analyze_arguments(analyze)
    return parser


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `analyze` (also those of `scripts/analyze.py`)."""
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


def analyze(args: argparse.Namespace) -> int:
    """Run `analyze` with parsed arguments; returns the exit status."""
    from tb_lrfinder.logformat.files import LogReadWarning
    from tb_lrfinder.reporting.text import (
        format_result,
        format_table,
        format_trials,
        result_to_dict,
    )
    from tb_lrfinder.results.runs import analyze_paths

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
                "runs": [result_to_dict(r) for r in analysed],
                "skipped": [{"run": s.name, "reason": s.reason} for s in skipped],
            },
            indent=2,
        ))
    else:
        print(format_table({r.name: r for r in analysed}))
        for s in skipped:
            print(f"skipped {s.name}: {s.reason}")
        if args.details or len(analysed) == 1:
            for r in analysed:
                print()
                print(format_result(r))
        for r in analysed:
            if r.verification:
                print()
                print(format_trials(r))
    if args.write_back:
        _write_back(analysed)
    if args.plot:
        from tb_lrfinder.reporting.plot import left_out, save_plot

        path = save_plot(analysed, args.plot)
        print(f"plot written to {path}", file=sys.stderr)
        hidden = left_out(analysed)
        if hidden:
            names = ", ".join(hidden[:5]) + (f" and {len(hidden) - 5} more" if len(hidden) > 5 else "")
            print(f"the plot draws the first {len(analysed) - len(hidden)} of {len(analysed)} runs; not drawn: "
                  f"{names} (name fewer runs to draw them)", file=sys.stderr)
    return 0


def _write_back(analysed) -> None:
    """Write each run's report into it; a run whose report cannot be written is a warning, not the end."""
    from tb_lrfinder.logformat import tags
    from tb_lrfinder.reporting.writeback import write_report

    for run in analysed:
        try:
            path = write_report(run, include_smoothed=run.loss_tag != tags.LOSS)
        except LRFinderError as error:
            print(f"warning: {error}; the analysis above is complete", file=sys.stderr)
        else:
            print(f"report written to {path}", file=sys.stderr)


def main(argv=None) -> int:
    """The command's entry point: exit status 0, or 2 with one line on stderr for bad input."""
    return _exit_status(lambda: analyze(build_parser().parse_args(argv)))


def analyze_script(argv=None) -> int:
    """`scripts/analyze.py`: `tb-lrfinder analyze` under its old name (no subcommand word)."""
    parser = argparse.ArgumentParser(prog="analyze.py", description=_ANALYZE_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_analyze_arguments(parser)
    return _exit_status(lambda: analyze(parser.parse_args(argv)))


def _exit_status(command) -> int:
    """`command()`'s exit status; a library error is one line on stderr and status 2."""
    try:
        return command()
    except LRFinderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of our output went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 0


if __name__ == "__main__":
    sys.exit(main())
