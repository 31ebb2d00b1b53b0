"""`run.py compare A B`: two scenarios side by side (`run.py list` is sim/catalog.py).

A comparison runs both scenarios over the same replication seeds (each from its
own master seed; a what-if that inherits the baseline's seed therefore meets the
same price shocks and red-line draws: common random numbers) and reports, per
summary metric, each mean with its 90% band, the difference, and whether the
bands overlap: bands that do not overlap mark a difference bigger than noise.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.experiments.replicate import Replications


def compare(a: Replications, b: Replications) -> pd.DataFrame:
    """One row per summary metric: both means and bands, B - A, and band overlap."""
    bands_a, bands_b = a.summary_bands(), b.summary_bands()
    rows = []
    for name, ba in bands_a.items():
        bb = bands_b[name]
        rows.append(
            {
                "metric": name,
                "a_mean": ba["mean"],
                "a_p05": ba["p05"],
                "a_p95": ba["p95"],
                "b_mean": bb["mean"],
                "b_p05": bb["p05"],
                "b_p95": bb["p95"],
                "difference": bb["mean"] - ba["mean"],
                "bands_overlap": bool(ba["p05"] <= bb["p95"] and bb["p05"] <= ba["p95"]),
            }
        )
    return pd.DataFrame(rows)


def labels_for(path_a: Path, path_b: Path, name_a: str, name_b: str) -> tuple[str, str]:
    """Scenario names, or file names when the names are the same."""
    if name_a != name_b:
        return name_a, name_b
    if path_a.stem != path_b.stem:
        return path_a.stem, path_b.stem
    return f"A ({name_a})", f"B ({name_b})"
