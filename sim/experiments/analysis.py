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

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.experiments import storage
from sim.experiments.indices import SweepData, influence_table, point_means
from sim.experiments.samplers import SAMPLERS, SamplerKind
from sim.schema.base import ScenarioError


@dataclass
class SweepResults:
    """A results folder read back: the sweep's data, its sampler, how many runs, and
    notes a reader must see (failed runs left out, damaged or duplicate rows skipped)."""

    folder: Path
    kind: SamplerKind
    data: SweepData
    have: int
    expected: int
    notes: list[str] = field(default_factory=list)


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
    notes: list[str] = field(default_factory=list)


def _shown(ids: list[int], limit: int = 10) -> str:
    return ", ".join(map(str, ids[:limit])) + (
        f", ... ({len(ids)} in all)" if len(ids) > limit else ""
    )


def load_results(results: str | Path, drop_failed_trajectories: bool = False) -> SweepResults:
    """Read a sweep folder; a ScenarioError if it cannot be analysed (yet).

    Failed runs (an error, or a NaN or inf output) are left out and counted in the notes.
    Sobol and Morris need every point: a point with no successful run is named; for
    Morris, ``drop_failed_trajectories`` analyses the remaining trajectories instead.
    """
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
    notes = []
    if runs.attrs.get("unreadable"):
        names = runs.attrs["unreadable"]
        notes.append(
            f"{len(names)} unreadable chunk file(s) skipped ({', '.join(names[:3])}); "
            f"resume the sweep to run them again: run.py sweep FILE --out {results}"
        )
    if runs.attrs.get("duplicates"):
        notes.append(
            f"{runs.attrs['duplicates']} duplicate row(s) of run ids already read were "
            f"dropped (e.g. run ids {_shown(runs.attrs['duplicate_ids'], 5)}): two sweeps "
            "wrote to this folder at once"
        )
    expected, have = int(manifest["n_runs"]), len(runs)
    if have != expected and kind.every_point:
        raise ScenarioError(
            results,
            "runs",
            f"{have} of {expected} runs",
            f"a finished sweep ({kind.name} designs need every point); "
            "resume it with run.py sweep FILE --out " + str(results),
        )
    if runs.empty:
        raise ScenarioError(results, "runs", "no runs", "at least one finished run")
    finite = np.isfinite(runs[outputs].to_numpy(dtype=float)).all(axis=1)
    failed = runs["error"].notna().to_numpy() | ~finite
    if failed.any():
        notes.append(
            f"{int(failed.sum())} failed run(s) of {have} left out of the {kind.name} analysis "
            f"({int((~finite & runs['error'].isna().to_numpy()).sum())} with a NaN or inf "
            "output and no error recorded); see the 'error' column of runs/*.parquet"
        )
    ok = runs[~failed]
    if ok.empty:
        raise ScenarioError(results, "runs", "no successful runs", "at least one finished run")
    design = storage.load_design(results).set_index("point_id").sort_index()
    if kind.every_point:
        lost = sorted(set(design.index) - set(ok["point_id"]))
        size = kind.trajectory_points(len(keys)) if kind.trajectory_points else 0
        if lost and size and drop_failed_trajectories:
            design, ok, dropped = _drop_trajectories(design, ok, lost, size)
            notes.append(
                f"{len(dropped)} Morris trajectorie(s) dropped (numbers {_shown(dropped)}): "
                f"points {_shown(lost)} had no successful run"
            )
        elif lost:
            option = (
                "; or analyze with --drop-failed-trajectories to leave their trajectories out"
                if size
                else ""
            )
            raise ScenarioError(
                results,
                "runs",
                f"{len(lost)} point(s) with no successful run (point ids {_shown(lost)})",
                f"at least one successful replication of every point of a {kind.name} "
                f"design{option}",
            )
    parameters = manifest["parameters"]
    data = SweepData(
        design=design,
        runs=ok,
        keys=keys,
        outputs=outputs,
        sampler=manifest["sampler"],
        seed=manifest["seed"],
        levelled=kind.levelled,
        levels={k: p["values"] for k, p in parameters.items() if p.get("values") is not None},
        log_keys=frozenset(k for k, p in parameters.items() if p.get("dist") == "loguniform"),
    )
    return SweepResults(results, kind, data, have, expected, notes)


def _drop_trajectories(
    design: pd.DataFrame, ok: pd.DataFrame, lost: list[int], size: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[int]]:
    """Leave out every Morris trajectory (``size`` consecutive points) holding a lost
    point; the rest is a smaller Morris design, analysed as such."""
    dropped = sorted({int(p) // size for p in lost})
    keep = ~np.isin(design.index.to_numpy() // size, dropped)
    if not keep.any():
        raise ScenarioError("", "runs", "every Morris trajectory has a failed point", "")
    design = design[keep]
    return design, ok[ok["point_id"].isin(design.index)], dropped


def analyze(
    results: str | Path, top: int = 3, plots: bool = True, drop_failed_trajectories: bool = False
) -> AnalysisReport:
    """The indices, point means, most-influential table and (if asked) figures of a sweep."""
    sweep = load_results(results, drop_failed_trajectories)
    kind = sweep.kind
    indices = kind.analyse(sweep.data)
    table = influence_table(
        indices,
        kind.rank_by,
        kind.rank_label,
        top,
        kind.name,
        len(sweep.data.runs),
        sweep.expected,
        sweep.notes,
    )
    return AnalysisReport(
        folder=sweep.folder / "analysis",
        method=kind.name,
        indices=indices,
        table=table,
        point_means=point_means(sweep.data),
        index_file=kind.index_file,
        figures=kind.figures(sweep.data, indices) if plots else [],
        notes=sweep.notes,
    )
