"""Seeds for replications and sweeps, derived so that they never depend on scheduling.

Run ``index`` of a master seed always gets the same seed, whichever worker runs
it and however many workers there are (numpy SeedSequence with a spawn key).
"""

from __future__ import annotations

import numpy as np


def run_seed(master: int, index: int) -> int:
    """The seed of run ``index`` under ``master`` (a 63-bit int Mesa and numpy accept)."""
    sequence = np.random.SeedSequence(entropy=master, spawn_key=(index,))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_seeds(master: int, count: int, start: int = 0) -> list[int]:
    return [run_seed(master, i) for i in range(start, start + count)]
