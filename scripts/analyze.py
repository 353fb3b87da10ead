#!/usr/bin/env python3
"""`tb-lrfinder analyze` under its old name: `python scripts/analyze.py LOGDIR ...` (see `--help`).

Works from a source checkout without installing: the checkout's package is used where
`tb_lrfinder` is not importable.
"""

import os
import sys

try:
    from tb_lrfinder.cli import analyze_script
except ImportError:  # a checkout that was not installed: its own package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from tb_lrfinder.cli import analyze_script

if __name__ == "__main__":
    sys.exit(analyze_script())
