"""A checked sweep: the sweep file (sim.schema.sweep) with its base scenario resolved,
its sampler's settings checked (sim.experiments.samplers), every parameter's key path
found in the base scenario and its outputs known to the model, before any run.

Every problem a user can fix becomes one :class:`~sim.schema.base.ScenarioError`
naming the sweep file, the key, what was found and what was expected.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

from sim.experiments.samplers import SAMPLERS, SamplerKind
from sim.schema.base import ScenarioError, close_match, get_path
from sim.schema.scenario import Scenario, load_scenario
from sim.schema.sweep import (
    Outputs,
    Parameter,
    SweepFile,
    Value,
    param_key,
    read_sweep_file,
    sweep_keys,
)

__all__ = ["ParamSpec", "SweepSpec", "load_sweep", "param_key", "sweep_keys"]


@dataclass
class ParamSpec:
    """A checked parameter: key path, its kind and how unit coordinates map to values."""

    key: str
    values: list[Value] | None
    low: float | None
    high: float | None
    dist: str
    mean: float | None
    sd: float | None
    integer: bool
    grid_levels: list[Value] = field(default_factory=list)

    @property
    def categorical(self) -> bool:
        return self.values is not None

    @property
    def dtype(self) -> str:
        """Arrow type name of the column, so that every chunk has the same schema."""
        if self.values is not None:
            kinds = {type(v) for v in self.values}
            if kinds == {str}:
                return "string"
            if kinds == {bool}:
                return "bool"
            if kinds == {int}:
                return "int64"
            return "float64" if kinds <= {int, float} else "string"
        return "int64" if self.integer else "float64"


@dataclass
class SweepSpec:
    """A checked sweep file with its resolved base scenario: all a run needs."""

    path: Path
    text: str
    sha256: str
    file: SweepFile
    base_path: Path
    overrides: list[str]
    base: Scenario
    params: list[ParamSpec]
    summary: list[str]
    series: list[str]

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def method(self) -> str:
        return self.file.sampler.method

    @property
    def kind(self) -> SamplerKind:
        """The sampler's registry entry."""
        return SAMPLERS[self.method]

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    @property
    def design_seed(self) -> int:
        seed = self.file.sampler.seed
        return self.file.seed if seed is None else seed


def load_sweep(path: str | Path, extra_overrides: list[str] | tuple[str, ...] = ()) -> SweepSpec:
    """Read and check a sweep file; ``extra_overrides`` are --set changes to its base."""
    path = Path(path)
    sweep, text, sha256 = read_sweep_file(path)
    base_path = path.parent / sweep.base
    if not base_path.exists():
        raise ScenarioError(
            path,
            "base",
            f"{sweep.base!r} does not exist (looked for {base_path})",
            "a scenario file path relative to the sweep file",
        )
    overrides = [*sweep.overrides, *extra_overrides]
    base = load_scenario(base_path, overrides)
    if not sweep.parameters:
        raise ScenarioError(path, "parameters", "no parameters", "at least one key path to vary")
    kind = _check_sampler(sweep, path)
    base_data = base.model_dump(mode="json")
    params = [
        _check_parameter(key, spec, kind, base_data, path) for key, spec in sweep.parameters.items()
    ]
    summary, series = _check_outputs(sweep.outputs, base, path)
    return SweepSpec(
        path=path,
        text=text,
        sha256=sha256,
        file=sweep,
        base_path=base_path,
        overrides=overrides,
        base=base,
        params=params,
        summary=summary,
        series=series,
    )


def _check_sampler(sweep: SweepFile, path: Path) -> SamplerKind:
    method = sweep.sampler.method
    if method not in SAMPLERS:
        raise ScenarioError(
            path,
            "sampler.method",
            f"found {method!r}{close_match(method, SAMPLERS)}",
            f"one of: {', '.join(SAMPLERS)}",
        )
    kind = SAMPLERS[method]
    problem = kind.check(sweep.sampler)
    if problem is not None:
        raise ScenarioError(path, *problem)
    return kind


def _leaf_paths(data: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        if isinstance(value, dict):
            paths.extend(_leaf_paths(value, f"{prefix}{key}."))
        else:
            paths.append(f"{prefix}{key}")
    return paths


def _check_parameter(
    key: str, spec: Parameter, kind: SamplerKind, base: dict, path: Path
) -> ParamSpec:
    where = param_key(key)
    try:
        current = get_path(base, key)
    except KeyError:
        close = difflib.get_close_matches(key, _leaf_paths(base), n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(
            path,
            where,
            f"no key '{key}' in the base scenario{hint}",
            "a key path to a value of the scenario, e.g. investment.cap.level "
            "or partners.china.tools.import_fee",
        ) from None
    if isinstance(current, dict):
        raise ScenarioError(
            path,
            where,
            f"'{key}' is a table of the scenario",
            "a key path to a single value inside it",
        )
    if isinstance(current, list):
        raise ScenarioError(path, where, f"'{key}' is a list", "a key path to a single value")
    has_range = spec.min is not None or spec.max is not None
    has_normal = spec.dist == "normal"
    given = sum([spec.values is not None, has_range and not has_normal, has_normal])
    if given != 1:
        raise ScenarioError(
            path,
            where,
            "values, a range and a distribution mixed"
            if given > 1
            else "no values, range or distribution",
            "exactly one of: values = [...]; min and max; dist = 'normal' with mean and sd",
        )
    low = high = None
    if spec.values is not None:
        if not spec.values:
            raise ScenarioError(path, f"{where}.values", "an empty list", "at least one value")
        if spec.levels is not None:
            raise ScenarioError(
                path,
                f"{where}.levels",
                f"found {spec.levels}",
                "no levels when values are listed (each value is a level)",
            )
    elif has_normal:
        for name in ("mean", "sd"):
            if getattr(spec, name) is None:
                raise ScenarioError(
                    path, f"{where}.{name}", "missing", f"{name} of the normal distribution"
                )
        if has_range:
            raise ScenarioError(
                path,
                f"{where}.min",
                "a range with dist = 'normal'",
                "mean and sd only (out-of-bounds draws are caught by the scenario check)",
            )
        if kind.levelled:
            raise ScenarioError(
                path,
                f"{where}.dist",
                f"'normal' in a {kind.name}",
                f"values = [...] or min, max and levels for a {kind.name}",
            )
    else:
        for name in ("min", "max"):
            if getattr(spec, name) is None:
                raise ScenarioError(path, f"{where}.{name}", "missing", "both min and max")
        low, high = float(spec.min), float(spec.max)  # type: ignore[arg-type]
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ScenarioError(
                path, f"{where}.max", f"min {low} and max {high}", "finite bounds with min < max"
            )
        if spec.dist == "loguniform" and low <= 0:
            raise ScenarioError(
                path,
                f"{where}.min",
                f"found {low}",
                "a positive lower bound for dist = 'loguniform'",
            )
        if kind.levelled and spec.levels is None:
            raise ScenarioError(
                path,
                f"{where}.levels",
                "missing",
                f"the number of levels (>= 2) of a range in a {kind.name}",
            )
        if not kind.levelled and spec.levels is not None:
            raise ScenarioError(
                path,
                f"{where}.levels",
                f"found {spec.levels}",
                f"no levels with the {kind.name} sampler (levels are for grids)",
            )
    if spec.mean is not None and not has_normal:
        raise ScenarioError(
            path, f"{where}.mean", f"found {spec.mean}", "mean only with dist = 'normal'"
        )
    param = ParamSpec(
        key=key,
        values=spec.values,
        low=low,
        high=high,
        dist=spec.dist,
        mean=spec.mean,
        sd=spec.sd,
        integer=spec.integer,
    )
    if kind.levelled:
        param.grid_levels = _grid_levels(param, spec.levels)
    return param


def _grid_levels(param: ParamSpec, levels: int | None) -> list[Value]:
    if param.values is not None:
        return list(param.values)
    assert param.low is not None and param.high is not None and levels is not None
    points: list[Value]
    if param.dist == "loguniform":
        points = [
            math.exp(
                math.log(param.low)
                + i * (math.log(param.high) - math.log(param.low)) / (levels - 1)
            )
            for i in range(levels)
        ]
    else:
        points = [param.low + i * (param.high - param.low) / (levels - 1) for i in range(levels)]
    if param.integer:
        return list(dict.fromkeys(int(round(float(v))) for v in points))
    return points


def _check_outputs(outputs: Outputs, base: Scenario, path: Path) -> tuple[list[str], list[str]]:
    from sim.metrics import summary_metrics
    from sim.model.run import simulate

    known = summary_metrics()
    summary = list(known) if outputs.summary is None else list(outputs.summary)
    for i, name in enumerate(summary):
        if name not in known:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ScenarioError(
                path,
                f"outputs.summary[{i}]",
                f"unknown metric '{name}'{hint}",
                f"one of: {', '.join(known)}",
            )
    if not summary:
        raise ScenarioError(path, "outputs.summary", "an empty list", "at least one metric")
    if len(set(summary)) != len(summary):
        raise ScenarioError(path, "outputs.summary", "a metric listed twice", "each once")
    series = list(outputs.series)
    if series:
        _, frame = simulate(base, base.seed, steps=1)
        columns = [c for c in frame.columns if c not in ("step", "year", "quarter")]
        for i, name in enumerate(series):
            if name not in columns:
                close = difflib.get_close_matches(name, columns, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ScenarioError(
                    path,
                    f"outputs.series[{i}]",
                    f"unknown per-step column '{name}'{hint}",
                    "a column of the per-step table (steps.csv of run.py run)",
                )
        if len(set(series)) != len(series):
            raise ScenarioError(path, "outputs.series", "a column listed twice", "each once")
    return summary, series
