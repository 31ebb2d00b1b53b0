"""A sweep's analysis: read a results folder, then compute its tables and figures.

Nothing here prints or writes: :func:`analyze` returns the tables (point means, the
sampler's indices, the most-influential text) and the figures; ``sim.cli.report``
writes them to ``<results>/analysis/``. The sampler's registry entry
(sim.experiments.samplers) says which indices and which figures; the index
computations themselves are in sim.experiments.indices, usable from a notebook on any
``(design, outputs)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from sim.experiments import storage
from sim.experiments.indices import SweepData, influence_table, point_means
from sim.experiments.samplers import SAMPLERS, SamplerKind
from sim.schema.base import ScenarioError


@dataclass
class SweepResults:
    """A results folder read back: the sweep's data, its sampler and how many runs."""

    folder: Path
    kind: SamplerKind
    data: SweepData
    have: int
    expected: int


@dataclass
class AnalysisReport:
    """Tables and figures of one sweep; ``files`` is filled by whoever writes them."""

    folder: Path
    method: str
    indices: pd.DataFrame
    table: str
    point_means: pd.DataFrame
    index_file: str
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def load_results(results: str | Path) -> SweepResults:
    """Read a sweep folder; a ScenarioError if it cannot be analysed (yet)."""
    results = Path(results)
    manifest = storage.read_manifest(results)
    if manifest is None:
        raise ScenarioError(
            results,
            storage.MANIFEST,
            "no manifest.json",
            "a results folder written by run.py sweep",
        )
    kind = SAMPLERS[manifest["sampler"]["method"]]
    keys = list(manifest["parameters"])
    outputs = list(manifest["outputs"]["summary"])
    runs = storage.load_runs(results)
    expected, have = int(manifest["n_runs"]), len(runs)
    if have != expected and kind.every_point:
        raise ScenarioError(
            results,
            "runs",
            f"{have} of {expected} runs",
            f"a finished sweep ({kind.name} designs need every point); "
            "resume it with run.py sweep FILE --out " + str(results),
        )
    ok = runs[runs["error"].isna()]
    if ok.empty:
        raise ScenarioError(results, "runs", "no successful runs", "at least one finished run")
    design = storage.load_design(results).set_index("point_id").sort_index()
    if kind.every_point and ok["point_id"].nunique() != len(design):
        lost = sorted(set(design.index) - set(ok["point_id"]))[:5]
        raise ScenarioError(
            results,
            "runs",
            f"points with no successful run (e.g. {lost})",
            "at least one successful replication of every point",
        )
    data = SweepData(
        design=design,
        runs=ok,
        keys=keys,
        outputs=outputs,
        sampler=manifest["sampler"],
        seed=manifest["seed"],
        levelled=kind.levelled,
    )
    return SweepResults(results, kind, data, have, expected)


def analyze(results: str | Path, top: int = 3, plots: bool = True) -> AnalysisReport:
    """The indices, point means, most-influential table and (if asked) figures of a sweep."""
    sweep = load_results(results)
    kind = sweep.kind
    indices = kind.analyse(sweep.data)
    table = influence_table(
        indices, kind.rank_by, kind.rank_label, top, kind.name, sweep.have, sweep.expected
    )
    return AnalysisReport(
        folder=sweep.folder / "analysis",
        method=kind.name,
        indices=indices,
        table=table,
        point_means=point_means(sweep.data),
        index_file=kind.index_file,
        figures=kind.figures(sweep.data, indices) if plots else [],
    )
