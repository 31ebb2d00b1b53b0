"""`run.py compare A B`: two scenarios side by side (`run.py list` is sim/catalog.py).

A comparison runs both scenarios over the same replication seeds (each from its
own master seed; a what-if that inherits the baseline's seed therefore meets the
same price shocks and red-line draws: common random numbers) and reports, per
summary metric, each mean with its 90% band (the spread of single runs), and the
difference of the means B - A with its 90% confidence interval: a t interval on the
paired differences when both ran the same seeds, Welch's otherwise. B differs from A
(``different``) only when that interval excludes 0 and the difference is large enough
to matter: at least ``MIN_EFFECT`` (1%) of the metric's scale (``metric_scale``: one
percentage point of a share or index, 1% of the larger mean or band width of an
amount or a count). Paired runs share their random
draws, so rounding noise (1e-14) can give an interval that excludes 0: that is not a
difference a student should be told about. Overlapping or separate bands of single
runs say nothing about any of this (a difference of +0.000 is never "different").

``episode_lengths`` summarises the pressure episodes of both scenarios: how many per
run, how long they lasted and how they ended, per neighbour.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.replicate import Replications
from sim.metrics import SUMMARIES

CONFIDENCE = 0.9  # of the interval on the difference of means
# Smallest difference that counts, as a share of the metric's scale: 1% of China's export
# share (0.9) is 0.009, of an autonomy index near 0.5 is 0.005, of 2 concessions 0.02.
MIN_EFFECT = 0.01


def metric_scale(name: str, a_mean: float, b_mean: float, a_width: float, b_width: float) -> float:
    """The size a difference is judged against. A share or an index (no unit: every one
    runs from 0 to 1) has its range, 1, so 1% is one percentage point: a share of 0.005
    moving by 0.0002 is no difference a class would care about. An amount or a count has
    the larger of its means and band widths (one near 0 with a wide spread still has a
    scale)."""
    metric = SUMMARIES.get(name)
    if metric is not None and metric.unit == "":
        return 1.0
    values = [abs(v) for v in (a_mean, b_mean, a_width, b_width) if math.isfinite(v)]
    return max(values, default=0.0)


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


def compare(a: Replications, b: Replications, min_effect: float = MIN_EFFECT) -> pd.DataFrame:
    """One row per summary metric: both means and bands, B - A with its 90% confidence
    interval, the smallest difference that counts (``min_effect`` of the metric's scale),
    whether the interval excludes 0 and the difference reaches that (``different``), and
    band overlap."""
    bands_a, bands_b = a.summary_bands(), b.summary_bands()
    table_a, table_b = a.summaries(), b.summaries()
    paired = a.seeds == b.seeds  # common random numbers: compare run by run
    rows = []
    for name, ba in bands_a.items():
        bb = bands_b[name]
        diff, low, high = difference_interval(
            table_a[name].to_numpy(), table_b[name].to_numpy(), paired
        )
        scale = metric_scale(
            name, ba["mean"], bb["mean"], ba["p95"] - ba["p05"], bb["p95"] - bb["p05"]
        )
        threshold = min_effect * scale
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
                "min_effect": threshold,
                "outside_noise": bool(low > 0 or high < 0),
                "different": bool((low > 0 or high < 0) and abs(diff) >= threshold > 0),
                "paired": paired,
                "bands_overlap": bool(ba["p05"] <= bb["p95"] and bb["p05"] <= ba["p95"]),
            }
        )
    return pd.DataFrame(rows)


NEIGHBOURS = ("china", "russia")


def episode_lengths(runs: dict[str, Replications]) -> pd.DataFrame:
    """Per scenario and neighbour: pressure episodes per run (mean), their length in
    quarters (mean, shortest, longest; one still under way at the end counts as far as it
    got) and how they ended (conceded, resisted, still under way)."""
    rows = []
    for label, reps in runs.items():
        episodes = [e for run in reps.runs for e in run.episodes]
        for neighbour in NEIGHBOURS:
            mine = [e for e in episodes if e["neighbour"] == neighbour]
            lengths = np.array([float(e["quarters"]) for e in mine])
            outcomes = [e["outcome"] for e in mine]
            rows.append(
                {
                    "scenario": label,
                    "neighbour": neighbour,
                    "episodes_per_run": len(mine) / max(len(reps.runs), 1),
                    "quarters_mean": float(lengths.mean()) if len(mine) else math.nan,
                    "quarters_min": float(lengths.min()) if len(mine) else math.nan,
                    "quarters_max": float(lengths.max()) if len(mine) else math.nan,
                    "conceded": outcomes.count("conceded"),
                    "resisted": outcomes.count("resisted"),
                    "under_way": outcomes.count("active"),
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
