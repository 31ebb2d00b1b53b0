"""Sweep files: what to vary, how to sample it, what to keep, checked before any run.

A sweep file is TOML validated by the pydantic models below. Every problem a user
can fix (an unknown key, a key path that is not in the scenario, a bound, a sampler
setting) becomes one :class:`~sim.schema.scenario.ScenarioError` naming the sweep file, the
key, what was found and what was expected, exactly like scenario files.

Parameters are key paths into the resolved base scenario, written as quoted TOML
keys (``[parameters."investment.cap.level"]``); the unquoted form
(``[parameters.investment.cap.level]``) is accepted too and read as the same path.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.schema.scenario import Scenario, ScenarioError, load_scenario

SAMPLERS = ("grid", "random", "lhs", "sobol", "morris")
Value = bool | int | float | str


class _Strict(BaseModel):
    """Unknown keys are errors, as in scenario files."""

    model_config = ConfigDict(extra="forbid")


class Parameter(_Strict):
    """One varied scenario key: a list of levels, a range, or a distribution."""

    values: list[Value] | None = Field(
        None, description="explicit levels (numbers, strings or booleans); any sampler"
    )
    min: float | None = Field(None, description="lower bound of a range")
    max: float | None = Field(None, description="upper bound of a range")
    levels: Annotated[int, Field(ge=2, le=1000)] | None = Field(
        None, description="grid only: number of evenly spaced levels between min and max"
    )
    dist: Literal["uniform", "loguniform", "normal"] = Field(
        "uniform", description="how a range is sampled; 'normal' uses mean and sd instead"
    )
    mean: float | None = Field(None, description="mean of a normal distribution")
    sd: Annotated[float, Field(gt=0.0)] | None = Field(
        None, description="standard deviation of a normal distribution"
    )
    integer: bool = Field(False, description="round sampled values to whole numbers")


class Sampler(_Strict):
    method: Literal["grid", "random", "lhs", "sobol", "morris"] = Field(
        description="grid (full factorial), random, lhs (Latin hypercube), "
        "sobol (Saltelli design, SALib), morris (elementary effects, SALib)"
    )
    samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        None,
        description="random/lhs: points; sobol: base N (a power of 2; N*(D+2) points, "
        "N*(2D+2) with second order); morris: trajectories (N*(D+1) points)",
    )
    second_order: bool = Field(False, description="sobol: also estimate second-order indices")
    levels: Annotated[int, Field(ge=2, le=100)] = Field(
        4, description="morris: number of grid levels of each parameter"
    )
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="seed of the design itself (default: the sweep's seed)"
    )


class Outputs(_Strict):
    summary: list[str] | None = Field(
        None,
        description="summary metrics to keep, one column each (default: all of "
        "sim.metrics.SUMMARY_METRICS)",
    )
    series: list[str] = Field(
        default_factory=list,
        description="per-step columns to keep in the series table, "
        "e.g. 'autonomy', 'export_share.china'",
    )
    series_every: Annotated[int, Field(ge=1)] = Field(
        1, description="keep every n-th step of the series (step 0 always kept)"
    )


class SweepFile(_Strict):
    name: str = Field(description="short name, used for the results folder")
    description: str = Field("", description="one line: the question this sweep asks")
    base: str = Field(description="base scenario file, relative to the sweep file")
    overrides: list[str] = Field(
        default_factory=list,
        description="KEY=VALUE changes to the base scenario, like --set (e.g. 'steps=40')",
    )
    seed: Annotated[int, Field(ge=0)] = Field(
        description="master seed: run i gets sim.experiments.seeds.run_seed(seed, i)"
    )
    replications: Annotated[int, Field(ge=1, le=100_000)] = Field(
        1, description="runs per sampled point, each with its own seed"
    )
    chunk_runs: Annotated[int, Field(ge=1)] | None = Field(
        None, description="runs per task (default: about one second of work)"
    )
    sampler: Sampler
    parameters: dict[str, Parameter] = Field(description="varied key paths, at least one")
    outputs: Outputs = Outputs()


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
    def keys(self) -> list[str]:
        return [p.key for p in self.params]

    @property
    def design_seed(self) -> int:
        seed = self.file.sampler.seed
        return self.file.seed if seed is None else seed


def load_sweep(path: str | Path, extra_overrides: list[str] | tuple[str, ...] = ()) -> SweepSpec:
    """Read and check a sweep file; ``extra_overrides`` are --set changes to its base."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(path, "", "file not found", "an existing sweep file") from None
    except OSError as exc:
        raise ScenarioError(
            path, "", f"cannot read it ({exc.strerror})", "a readable file"
        ) from None
    text = raw.decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"invalid TOML: {exc}", "valid TOML") from None
    if isinstance(data.get("parameters"), dict):
        data["parameters"] = _flatten_parameters(data["parameters"], path)
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, path) from None

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
    _check_sampler(sweep, path)
    base_data = base.model_dump(mode="json")
    params = [
        _check_parameter(key, spec, sweep.sampler.method, base_data, path)
        for key, spec in sweep.parameters.items()
    ]
    summary, series = _check_outputs(sweep.outputs, base, path)
    return SweepSpec(
        path=path,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        file=sweep,
        base_path=base_path,
        overrides=overrides,
        base=base,
        params=params,
        summary=summary,
        series=series,
    )


def param_key(key: str) -> str:
    """How a parameter's key appears in messages: the TOML spelling of the table."""
    return f'parameters."{key}"'


def _flatten_parameters(table: dict, path: Path, prefix: str = "") -> dict:
    """Accept both ``[parameters."a.b"]`` and ``[parameters.a.b]`` for key path a.b."""
    spec_keys = set(Parameter.model_fields)
    out: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value and not (set(value) & spec_keys):
            out.update(_flatten_parameters(value, path, full + "."))
        else:
            out[full] = value
    return out


def _explain(exc: ValidationError, path: Path) -> ScenarioError:
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = [str(part) for part in err["loc"]]
    if loc[:1] == ["parameters"] and len(loc) > 1:
        key = ".".join([param_key(loc[1]), *loc[2:]])
        model: type[BaseModel] | None = Parameter if len(loc) > 2 else None
        parent = loc[2:-1]
    else:
        key = ".".join(loc)
        model, parent = SweepFile, loc[:-1]
        for part in parent:
            info = model.model_fields.get(part) if model else None
            ann = info.annotation if info else None
            model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return ScenarioError(
            path,
            key,
            f"unknown key '{loc[-1]}'{hint}",
            f"one of: {', '.join(known) or 'nothing here'}{more}",
        )
    if err["type"] == "missing":
        return ScenarioError(path, key, "missing", f"a value for this required key{more}")
    found = err.get("input")
    shown = "a table" if isinstance(found, dict) else f"{found!r} ({type(found).__name__})"
    expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return ScenarioError(path, key, f"found {shown}", f"{expected}{more}")


def _check_sampler(sweep: SweepFile, path: Path) -> None:
    sampler = sweep.sampler
    if sampler.method == "grid":
        if sampler.samples is not None:
            raise ScenarioError(
                path,
                "sampler.samples",
                f"found {sampler.samples}",
                "no samples for a grid (its size is the product of the parameters' levels)",
            )
        return
    if sampler.samples is None:
        raise ScenarioError(
            path,
            "sampler.samples",
            "missing",
            f"a number of samples for the {sampler.method} sampler",
        )
    if sampler.method == "sobol":
        n = sampler.samples
        if n & (n - 1):
            lower = 1 << (n.bit_length() - 1)
            raise ScenarioError(
                path,
                "sampler.samples",
                f"found {n}",
                f"a power of 2 for Sobol sequences, e.g. {lower} or {lower * 2}",
            )
    if sampler.method == "morris" and sampler.samples < 2:
        raise ScenarioError(
            path, "sampler.samples", f"found {sampler.samples}", "at least 2 Morris trajectories"
        )


def _leaf_paths(data: dict, prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        if isinstance(value, dict):
            paths.extend(_leaf_paths(value, f"{prefix}{key}."))
        else:
            paths.append(f"{prefix}{key}")
    return paths


def lookup(data: dict, key: str) -> Any:
    """The value at a dotted key path of a nested dict (KeyError if absent)."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(key)
        node = node[part]
    return node


def _check_parameter(key: str, spec: Parameter, method: str, base: dict, path: Path) -> ParamSpec:
    where = param_key(key)
    try:
        current = lookup(base, key)
    except KeyError:
        close = difflib.get_close_matches(key, _leaf_paths(base), n=1, cutoff=0.7)
        hint = f"; did you mean '{close[0]}'?" if close else ""
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
        if method == "grid":
            raise ScenarioError(
                path,
                f"{where}.dist",
                "'normal' in a grid",
                "values = [...] or min, max and levels for a grid",
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
        if method == "grid" and spec.levels is None:
            raise ScenarioError(
                path,
                f"{where}.levels",
                "missing",
                "the number of levels (>= 2) of a range in a grid",
            )
        if method != "grid" and spec.levels is not None:
            raise ScenarioError(
                path,
                f"{where}.levels",
                f"found {spec.levels}",
                f"no levels with the {method} sampler (levels are for grids)",
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
    if method == "grid":
        param.grid_levels = _grid_levels(param, spec.levels)
    return param


def _grid_levels(param: ParamSpec, levels: int | None) -> list[Value]:
    if param.values is not None:
        return list(param.values)
    assert param.low is not None and param.high is not None and levels is not None
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
        return list(dict.fromkeys(int(round(v)) for v in points))
    return points


def _check_outputs(outputs: Outputs, base: Scenario, path: Path) -> tuple[list[str], list[str]]:
    from sim.metrics import SUMMARY_METRICS, simulate

    summary = list(SUMMARY_METRICS) if outputs.summary is None else list(outputs.summary)
    for i, name in enumerate(summary):
        if name not in SUMMARY_METRICS:
            close = difflib.get_close_matches(name, list(SUMMARY_METRICS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ScenarioError(
                path,
                f"outputs.summary[{i}]",
                f"unknown metric '{name}'{hint}",
                f"one of: {', '.join(SUMMARY_METRICS)}",
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


def sweep_keys() -> list[tuple[str, str]]:
    """Every key of a sweep file with its description (docs/sweeps.md must list each)."""
    rows: list[tuple[str, str]] = []
    for prefix, model in (
        ("", SweepFile),
        ("sampler.", Sampler),
        ("outputs.", Outputs),
        ('parameters."KEY".', Parameter),
    ):
        for name, info in model.model_fields.items():
            if name in ("sampler", "outputs", "parameters") and model is SweepFile:
                continue
            rows.append((prefix + name, info.description or ""))
    return rows
