"""The design of a sweep: one row per sampled point, checked against the scenario schema.

A unit-cube sampler (sim.experiments.samplers) draws points in the unit cube, mapped
here to each parameter's levels, range or distribution; a levels sampler (the grid)
gives the full factorial of the parameters' levels. The unit coordinates are kept
(columns ``u.<key>``) because Morris analysis needs them.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri

from sim.experiments.spec import ParamSpec, SweepSpec, param_key
from sim.schema.base import ScenarioError, set_path
from sim.schema.scenario import validate

POINT = "point_id"


def unit_sample(spec: SweepSpec) -> np.ndarray:
    """Points in the unit cube (rows), drawn by the sweep's sampler."""
    kind = spec.kind
    if kind.unit_sample is None:
        raise ValueError(f"the {kind.name} sampler has no unit-cube design")
    return kind.unit_sample(spec.file.sampler, spec.keys, spec.design_seed)


def from_unit(param: ParamSpec, u: np.ndarray) -> list:
    """Map unit coordinates to values of one parameter (levels, range or distribution)."""
    u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
    if param.values is not None:
        k = len(param.values)
        return [param.values[i] for i in np.minimum((u * k).astype(int), k - 1)]
    if param.dist == "normal":
        assert param.mean is not None and param.sd is not None  # checked with the sweep file
        x = param.mean + param.sd * ndtri(np.clip(u, 1e-12, 1 - 1e-12))
    else:
        assert param.low is not None and param.high is not None  # checked with the sweep file
        if param.dist == "loguniform":
            lo, hi = math.log(param.low), math.log(param.high)
            x = np.exp(lo + u * (hi - lo))
        else:
            x = param.low + u * (param.high - param.low)
    if param.integer:
        return [int(round(v)) for v in x]
    return [float(v) for v in x]


def expected_points(spec: SweepSpec) -> int:
    """How many points the sampler gives: the count the tests and the docs promise."""
    levels = [len(p.grid_levels) for p in spec.params]
    return spec.kind.count(spec.file.sampler, len(spec.params), levels)


def design(spec: SweepSpec) -> pd.DataFrame:
    """One row per point: ``point_id``, one column per key path, and ``u.<key>`` columns."""
    columns: dict[str, list] = {}
    if spec.kind.levelled:
        rows = list(itertools.product(*(p.grid_levels for p in spec.params)))
        for i, param in enumerate(spec.params):
            columns[param.key] = [row[i] for row in rows]
        count = len(rows)
    else:
        unit = unit_sample(spec)
        count = len(unit)
        for i, param in enumerate(spec.params):
            columns[param.key] = from_unit(param, unit[:, i])
        for i, param in enumerate(spec.params):
            columns[f"u.{param.key}"] = unit[:, i].tolist()
    frame = pd.DataFrame({POINT: np.arange(count, dtype=np.int64), **columns})
    for param in spec.params:
        frame[param.key] = frame[param.key].astype(_pandas_dtype(param.dtype))
    return frame


def _pandas_dtype(arrow: str) -> Any:
    return {"string": "object", "bool": "bool", "int64": "int64"}.get(arrow, "float64")


def point_values(spec: SweepSpec, frame: pd.DataFrame) -> list[tuple]:
    """Each point's parameter values as plain Python values, in key order."""
    cols = [frame[key].tolist() for key in spec.keys]
    return list(zip(*cols, strict=True)) if cols else [() for _ in range(len(frame))]


def apply_point(base: dict, keys: list[str], values: tuple) -> dict:
    """A copy of the base scenario data with one point's values set at their key paths."""
    data = copy.deepcopy(base)
    for key, value in zip(keys, values, strict=True):
        set_path(data, key, value)
    return data


def validate_points(spec: SweepSpec, frame: pd.DataFrame) -> None:
    """Check every point against the scenario schema before any run starts.

    Identical points are checked once. The first bad point raises one ScenarioError
    naming the sweep file, the parameter and the point.
    """
    base = spec.base.model_dump(mode="json")
    seen: set[tuple] = set()
    for point, values in zip(frame[POINT].tolist(), point_values(spec, frame), strict=True):
        if values in seen:
            continue
        seen.add(values)
        data = apply_point(base, spec.keys, values)
        try:
            validate(data, spec.path)
        except ScenarioError as exc:
            key = param_key(exc.key) if exc.key in spec.keys else (exc.key or "parameters")
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(spec.keys, values, strict=True))
            raise ScenarioError(
                spec.path,
                key,
                f"point {point} ({shown}) gives a scenario "
                f"that fails: {exc.key or 'scenario'}: {exc.found}",
                f"{exc.expected}; narrow the parameter's range or values",
            ) from None
