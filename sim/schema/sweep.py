"""Sweep files: the tables of the TOML file and how a problem in one is explained.

Only the shape of the file lives here. What a sampler accepts, whether a key path
exists in the base scenario and which metrics exist are checked by
``sim.experiments.spec.load_sweep``, which knows the samplers and the model. Every
problem becomes one :class:`~sim.schema.base.ScenarioError` naming the sweep file, the
key, what was found and what was expected, exactly like scenario files.

Parameters are key paths into the resolved base scenario, written as quoted TOML
keys (``[parameters."investment.cap.level"]``); the unquoted form
(``[parameters.investment.cap.level]``) is accepted too and read as the same path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from sim.catalog import is_scenario_data
from sim.schema.base import ScenarioError, Strict, explain, read_toml
from sim.schema.fields import SafeName

Value = bool | int | float | str


class Parameter(Strict):
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


class Sampler(Strict):
    """Which sampler and its settings; each sampler checks the settings it uses."""

    method: str = Field(
        description="the sampler: one of sim.experiments.samplers.SAMPLERS "
        "(listed in docs/sweeps.md)"
    )
    samples: Annotated[int, Field(ge=1, le=10_000_000)] | None = Field(
        None,
        description="random/lhs/halton: points; sobol: base N (a power of 2; N*(D+2) points, "
        "N*(2D+2) with second order); morris: trajectories (N*(D+1) points)",
    )
    second_order: bool = Field(False, description="sobol: also estimate second-order indices")
    levels: Annotated[int, Field(ge=2, le=100)] = Field(
        4, description="morris: number of grid levels of each parameter"
    )
    seed: Annotated[int, Field(ge=0)] | None = Field(
        None, description="seed of the design itself (default: the sweep's seed)"
    )


class Outputs(Strict):
    summary: list[str] | None = Field(
        None,
        description="summary metrics to keep, one column each (default: all of "
        "sim.metrics.summary_metrics())",
    )
    series: list[str] = Field(
        default_factory=list,
        description="per-step columns to keep in the series table, "
        "e.g. 'autonomy', 'export_share.china'",
    )
    series_every: Annotated[int, Field(ge=1)] = Field(
        1, description="keep every n-th step of the series (step 0 always kept)"
    )


class SweepFile(Strict):
    name: SafeName = Field(description="short name, used for the results folder")
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


def read_sweep_file(path: str | Path) -> tuple[SweepFile, str, str]:
    """The validated file, its text and the SHA-256 of its bytes (a resume must match)."""
    path = Path(path)
    data = read_toml(path, "sweep file")
    raw = path.read_bytes()
    if is_scenario_data(data) and "sampler" not in data and "parameters" not in data:
        # A scenario given to `sweep`: say so, not every missing sweep key.
        raise ScenarioError(
            path,
            "",
            "this is a scenario file, not a sweep file",
            "a sweep file (name, base, seed, [sampler], [parameters]), "
            "e.g. scenarios/sweeps/cap_grid.toml; run a scenario with run.py run",
        )
    if isinstance(data.get("parameters"), dict):
        data["parameters"] = flatten_parameters(data["parameters"])
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise explain_sweep(exc, path) from None
    return sweep, raw.decode("utf-8", errors="replace"), hashlib.sha256(raw).hexdigest()


def param_key(key: str) -> str:
    """How a parameter's key appears in messages: the TOML spelling of the table."""
    return f'parameters."{key}"'


def flatten_parameters(table: dict, prefix: str = "") -> dict:
    """Accept both ``[parameters."a.b"]`` and ``[parameters.a.b]`` for key path a.b."""
    spec_keys = set(Parameter.model_fields)
    out: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict) and value and not (set(value) & spec_keys):
            out.update(flatten_parameters(value, full + "."))
        else:
            out[full] = value
    return out


def explain_sweep(exc: ValidationError, path: Path) -> ScenarioError:
    """The first problem pydantic found, as one ScenarioError (parameters named by path)."""

    def key_of(loc: tuple[str, ...]) -> str:
        if loc[:1] == ("parameters",) and len(loc) > 1:
            return ".".join([param_key(loc[1]), *loc[2:]])
        return ".".join(loc)

    return explain(exc, path, SweepFile, key_of=key_of)


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
