"""The fit specification (``scenarios/fit.toml``): which scenario ``run.py calibrate --fit``
writes into, which calibration targets it fits, over which seeds, and which parameters it
may move within which bounds.

An optional ``[validation]`` table adds calibration targets of ``run.py validate``
(``data/observed/targets.toml``), checked on the scenario they are checked on there (the
history), which must take the fitted keys from the fitted scenario.

Only the file's own shape is checked here (types, bounds in order, no repeats); what it
names (target ids against the calibration targets and the validation split, parameter
keys against the scenario) is checked by ``sim.experiments.fit.load_plan``, which knows
the calibration targets. Paths in the file are relative to the file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from sim.schema.base import ScenarioError, Strict, explain, read_toml


class FitParameter(Strict):
    """One parameter the fit may move, searched in [low, high] (log-scaled when ``log``)."""

    key: str = Field(description="dotted scenario key path, e.g. investment.cap.leak")
    low: float = Field(description="lower bound of the search")
    high: float = Field(description="upper bound of the search")
    log: bool = Field(False, description="search log(value): for positive scale parameters")
    scan: int = Field(
        0,
        ge=0,
        le=50,
        description="points of a coarse scan of [low, high] before least squares (0: none): "
        "for a parameter that moves a share of replications (a dated episode target), a "
        "step function whose finite differences are zero almost everywhere",
    )


class ValidationTargets(Strict):
    """Calibration targets of ``run.py validate``, fitted on the scenario they are checked
    on; the fitted values reach it because it extends the fitted scenario."""

    scenario: str = Field(
        description="scenario the targets are checked on (e.g. history_1990_2024.toml); it "
        "must extend the fitted scenario and leave every fitted key to it"
    )
    targets_file: str | None = Field(
        None,
        description="validation targets file (default: the shipped data/observed/"
        "targets.toml, the one `run.py validate` reads)",
    )
    targets: list[str] = Field(
        min_length=1, description='ids of targets with role = "calibration" there'
    )
    seeds: int = Field(
        8,
        ge=1,
        le=1000,
        description="replications 0..seeds-1 of its master seed, as `run.py validate "
        "--replications N` runs them (its default: 8)",
    )
    share_margin: float = Field(
        0.1,
        gt=0.0,
        lt=0.5,
        description="a share-of-replications target (an episode event, an indicator) pulls "
        "until the share clears one half by this much; a shortfall of this much is a "
        "residual of 1",
    )


class FitSpec(Strict):
    scenario: str = Field(
        "baseline.toml", description="scenario file the fitted values are written into"
    )
    targets_file: str = Field(
        "calibration.toml", description="calibration targets file the ids come from"
    )
    provenance: str = Field(
        "provenance.toml",
        description='provenance file updated with each fitted key ("" to update none)',
    )
    targets: list[str] = Field(min_length=1, description="ids of calibration targets to fit")
    seeds: int = Field(
        8, ge=1, le=1000, description="replications 0..seeds-1 of the scenario's master seed"
    )
    max_evals: int = Field(
        200, ge=1, description="most objective evaluations (each runs every seed)"
    )
    diff_step: float = Field(
        0.05,
        gt=0.0,
        le=0.5,
        description="finite-difference step as a fraction of each parameter's search range",
    )
    hinge_scale: float = Field(
        0.05,
        gt=0.0,
        description="an above/below/greater_than/largest shortfall of this fraction of the "
        "threshold (or of the compared metric) counts as a residual of 1",
    )
    hinge_margin: float = Field(
        0.0,
        ge=0.0,
        le=10.0,
        description="in hinge scales: how far past its threshold an inequality must be "
        "before it stops pulling (0: at the threshold)",
    )
    scan_tolerance: float = Field(
        0.05,
        ge=0.0,
        description="a scanned parameter moves only as far as the targets need: to the "
        "point nearest its value whose fit error (RMS of residuals) is within this of the "
        "best on its line",
    )
    parameter: list[FitParameter] = Field(min_length=1, description="parameters to fit")
    validation: ValidationTargets | None = Field(
        None, description="calibration targets of `run.py validate` fitted as well"
    )


def read_fit_spec(path: str | Path) -> FitSpec:
    """The validated fit specification, or one ScenarioError naming the file and key."""
    path = Path(path)
    data = read_toml(path, "fit specification")
    try:
        spec = FitSpec.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, path, FitSpec) from None
    lists = [("targets", spec.targets)]
    if spec.validation is not None:
        lists.append(("validation.targets", spec.validation.targets))
    for where, idents in lists:
        seen: set[str] = set()
        for i, ident in enumerate(idents):
            if ident in seen:
                raise ScenarioError(
                    path, f"{where}.{i}", f"found {ident!r} twice", "each target id once"
                )
            seen.add(ident)
    keys: set[str] = set()
    for i, param in enumerate(spec.parameter):
        where = f"parameter.{i}"
        if not param.key or any(not part for part in param.key.split(".")):
            raise ScenarioError(path, f"{where}.key", f"found {param.key!r}", "a dotted key path")
        if param.key in keys:
            raise ScenarioError(path, f"{where}.key", f"found {param.key!r} twice", "each key once")
        keys.add(param.key)
        if not param.low < param.high:
            raise ScenarioError(
                path,
                f"{where}.high",
                f"low {param.low:g} and high {param.high:g}",
                "low < high",
            )
        if param.log and param.low <= 0:
            raise ScenarioError(
                path,
                f"{where}.low",
                f"found {param.low:g} with log = true",
                "a positive low bound (the search runs over log(value))",
            )
    return spec
