"""`run.py compare A B`: two scenarios side by side (`run.py list` is sim/catalog.py).

A comparison runs both scenarios over the same replication seeds (each from its
own master seed; a what-if that inherits the baseline's seed therefore meets the
same price shocks and red-line draws: common random numbers) and reports, per
summary metric, each mean with its 90% band (the spread of single runs), and the
difference of the means B - A with its 90% confidence interval: a t interval on the
paired differences when both ran the same seeds, Welch's otherwise. B differs from A
(``different``) only when that interval excludes 0; overlapping or separate bands of
single runs say nothing about that (a difference of +0.000 is never "different").
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.replicate import Replications

CONFIDENCE = 0.9  # of the interval on the difference of means


def difference_interval(
    a: np.ndarray, b: np.ndarray, paired: bool, confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """B - A of the means and its confidence interval (t: paired, else Welch); NaN bounds
    when there are too few runs to tell."""
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(b.mean() - a.mean())
    if paired and len(a) == len(b):
        d = b - a
        n = len(d)
        if n < 2:
            return diff, math.nan, math.nan
        se, df = float(d.std(ddof=1) / math.sqrt(n)), float(n - 1)
    else:
        if len(a) < 2 or len(b) < 2:
            return diff, math.nan, math.nan
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        se = float(math.sqrt(va + vb))
        denominator = va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)
        df = float((va + vb) ** 2 / denominator) if denominator > 0 else 1.0
    if se == 0:
        return diff, diff, diff
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return diff, diff - half, diff + half


def compare(a: Replications, b: Replications) -> pd.DataFrame:
    """One row per summary metric: both means and bands, B - A with its 90% confidence
    interval, whether that interval excludes 0 (``different``), and band overlap."""
    bands_a, bands_b = a.summary_bands(), b.summary_bands()
    table_a, table_b = a.summaries(), b.summaries()
    paired = a.seeds == b.seeds  # common random numbers: compare run by run
    rows = []
    for name, ba in bands_a.items():
        bb = bands_b[name]
        diff, low, high = difference_interval(
            table_a[name].to_numpy(), table_b[name].to_numpy(), paired
        )
        rows.append(
            {
                "metric": name,
                "a_mean": ba["mean"],
                "a_p05": ba["p05"],
                "a_p95": ba["p95"],
                "b_mean": bb["mean"],
                "b_p05": bb["p05"],
                "b_p95": bb["p95"],
                "difference": diff,
                "diff_low": low,
                "diff_high": high,
                "different": bool(low > 0 or high < 0),
                "paired": paired,
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
