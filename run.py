#!/usr/bin/env python3
"""Command line for the third-neighbour balancing simulator; see `python run.py --help`.

A thin wrapper for the README: ``python -m sim`` and ``third-neighbour`` are the same."""

import sys

from sim.cli.main import main

if __name__ == "__main__":
    sys.exit(main(prog="run.py"))
