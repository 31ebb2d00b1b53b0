"""``python -m sim``: the same commands as run.py, from any folder."""

import sys

from sim.cli.main import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m sim"))
