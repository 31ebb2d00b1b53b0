"""Simulated versus documented: the calibration targets and their check.

Targets are data (scenarios/calibration.toml), each naming its documented id
and source; this module only knows how to compare a target with runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from sim.experiments.seeds import run_seed
from sim.model.run import simulate
from sim.schema.base import ScenarioError, Strict, explain, read_toml
from sim.schema.scenario import Scenario


class Target(Strict):
    id: str = Field(description="id of a documented figure in docs/sources.md (F1, P1, ...)")
    description: str
    source: str = Field(description="seed document and passage")
    metric: str = Field(description="column of the per-step table")
    kind: Literal["about", "above", "below", "greater_than", "largest"]
    value: float | None = None
    tolerance: float | None = Field(None, ge=0.0)
    aggregate: Literal["mean", "sum"] = "mean"
    year: int | None = None
    other: str | None = None
    among: str | None = None


class Targets(Strict):
    targets: list[Target]


def load_targets(path: str | Path) -> list[Target]:
    path = Path(path)
    data = read_toml(path, "calibration targets file")
    try:
        targets = Targets.model_validate(data).targets
    except ValidationError as exc:
        raise explain(exc, path, Targets) from None
    for i, t in enumerate(targets):
        needs = {
            "about": ("value", "tolerance"),
            "above": ("value",),
            "below": ("value",),
            "greater_than": ("other",),
            "largest": ("among",),
        }[t.kind]
        for name in needs:
            if getattr(t, name) is None:
                raise ScenarioError(
                    path,
                    f"targets.{i}.{name}",
                    "missing",
                    f"a value: kind '{t.kind}' needs {', '.join(needs)}",
                )
    return targets


def statistic(frame: pd.DataFrame, column: str, year: int, aggregate: str) -> float:
    rows = frame[(frame["year"] == year) & (frame["step"] > 0)]
    if rows.empty:
        raise ValueError(f"the run does not cover {year}")
    if column not in frame.columns:
        raise KeyError(f"no metric '{column}' in the per-step table")
    return float(getattr(rows[column], aggregate)())


def measure(target: Target, frame: pd.DataFrame, year: int) -> float:
    """The simulated quantity a target compares (for greater_than: the margin)."""
    year = target.year or year
    value = statistic(frame, target.metric, year, target.aggregate)
    if target.kind == "greater_than":
        assert target.other is not None  # load_targets checks each kind's fields
        return value - statistic(frame, target.other, year, target.aggregate)
    if target.kind == "largest":
        among = target.among
        assert among is not None
        rivals = [c for c in frame.columns if c.startswith(among) and c != target.metric]
        best = max(statistic(frame, c, year, target.aggregate) for c in rivals)
        return value - best
    return value


def passes(target: Target, simulated: float) -> bool:
    if target.kind in ("greater_than", "largest"):
        return simulated > 0.0  # a positive margin
    value = target.value
    assert value is not None  # load_targets checks each kind's fields
    if target.kind == "about":
        assert target.tolerance is not None
        return abs(simulated - value) <= target.tolerance
    return simulated > value if target.kind == "above" else simulated < value


def calibrate(config: Scenario, targets: list[Target], seeds: int = 8) -> list[dict]:
    """Run ``seeds`` replications; a target passes when the mean over seeds passes."""
    frames = [simulate(config, run_seed(config.seed, i))[1] for i in range(seeds)]
    rows = []
    for target in targets:
        values = np.array([measure(target, f, config.calibration_year) for f in frames])
        mean = float(values.mean())
        rows.append(
            {
                "id": target.id,
                "description": target.description,
                "kind": target.kind,
                "documented": _documented(target),
                "mean": mean,
                "spread": float(values.std(ddof=1)) if seeds > 1 else 0.0,
                "min": float(values.min()),
                "max": float(values.max()),
                "tolerance": target.tolerance,
                "passed": passes(target, mean),
                "source": target.source,
            }
        )
    return rows


def _documented(target: Target) -> str:
    if target.kind == "about":
        return f"{target.value:g} +- {target.tolerance:g}"
    if target.kind == "above":
        return f"> {target.value:g}"
    if target.kind == "below":
        return f"< {target.value:g}"
    if target.kind == "greater_than":
        return f"{target.metric} > {target.other}"
    return f"{target.metric} largest of {target.among}*"


def format_report(rows: list[dict], config: Scenario, seeds: int) -> str:
    head = (
        f"calibration of '{config.name}' in {config.calibration_year}, {seeds} seeds "
        f"(mean and sd over seeds; for 'greater_than' and 'largest' the margin)"
    )
    lines = [
        head,
        "",
        f"{'id':<9} {'documented':<52} {'simulated':>10} {'sd':>7}  result",
        "-" * 90,
    ]
    for r in rows:
        verdict = "PASS" if r["passed"] else "FAIL"
        lines.append(
            f"{r['id']:<9} {r['documented']:<52.52} {r['mean']:>10.3f} "
            f"{r['spread']:>7.3f}  {verdict}"
        )
    failed = [r["id"] for r in rows if not r["passed"]]
    lines += [
        "",
        f"{len(rows) - len(failed)} of {len(rows)} targets pass"
        + (f"; failing: {', '.join(failed)}" if failed else ""),
    ]
    return "\n".join(lines)
