#!/usr/bin/env python3
"""Command line for the third-neighbour balancing simulator; see `python run.py --help`."""

import sys

from sim.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
