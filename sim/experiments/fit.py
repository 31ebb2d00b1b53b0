"""Fitting free parameters to the calibration targets (``run.py calibrate --fit``).

The fit specification (``scenarios/fit.toml``, ``sim.schema.fit``) names the parameters,
their bounds, the calibration targets and the seeds. ``load_plan`` checks it against the
scenario, the calibration targets and the validation split (a held-out target is refused:
held-out data are never used for fitting); ``fit`` runs ``scipy.optimize.least_squares``
on residuals of the replicated means; ``scenario_text_with`` and ``provenance_text_with``
say what the scenario and provenance files become. Nothing here prints or writes a file.

The spec's ``[validation]`` table adds calibration targets of ``run.py validate`` on the
scenario they are checked on (the history, which extends the fitted baseline, so the
values written there reach it). Those are measured by ``sim.experiments.validation``
itself (``evaluate``) on replications made as ``validate`` makes them (``replicate``,
seeds 0..n-1 of the scenario's master seed): with the same count, the fit's pass is
``validate``'s. Their residuals: a signed distance to the observed interval in tolerances
for ``about``; the hinges below for ``above`` and ``largest`` (against the threshold or
the next partner's mean that ``validate`` compares with); and for a share of
replications (a dated episode event, the coal-ahead indicator) a hinge that pulls until
the share clears one half by ``share_margin``: ``max(0, (1/2 - share) / share_margin +
1)``, so 1 at the pass line.

A share is a step function of the parameters over a fixed set of seeds: it moves only
when some replication's event crosses in or out, so least squares' finite differences
see zero almost everywhere, and where no run shows the event (no run concedes in 2016
at the baseline's price) there is no slope at all. A parameter marked ``scan = n`` in
the spec is therefore first scanned at n points evenly spread over its (log) range, the
others held: a coarse global look along the one dimension where the steps are. It then
moves only as far as the targets need: to the point nearest its value whose fit error is
within ``scan_tolerance`` of the best on that line, narrowed by bisection towards its
value (the step lies between two grid points). Without that, it would go wherever noise
in the smooth targets is lowest, e.g. to a price at which Mongolia concedes to anything.
Least squares then fits the smooth targets from there, and a point it evaluates replaces
the scan's only when its fit error is lower, so a step that falls off a share's step is
simply not taken.

Residuals, one per target: (mean - value) / tolerance for ``about``; for ``above``,
``below``, ``greater_than`` and ``largest`` a hinge: the shortfall over ``hinge_scale``
times the threshold (times the compared metric for a margin), plus ``hinge_margin``, and
zero once the target holds by that margin (with none, a fit may leave an inequality at its
very edge, where other seeds miss it). The same seeds are run at every point (common
random numbers), so the objective is a deterministic function of the parameters and
finite differences see the parameters, not the luck of the draw.
"""

from __future__ import annotations

import copy
import datetime
import math
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomlkit
from pydantic import ValidationError
from tomlkit.items import InlineTable, Item

from sim.catalog import TARGETS, resolve_scenario
from sim.experiments import validation as val
from sim.experiments.calibration import (
    Target,
    _documented,
    load_targets,
    measure,
    passes,
    statistic,
)
from sim.experiments.executor import execute
from sim.experiments.replicate import replicate
from sim.experiments.seeds import run_seed
from sim.metrics import INDEX_COLUMNS, REGISTRY, metrics_needed, model_frame
from sim.model.run import run_model
from sim.schema.base import (
    ScenarioError,
    UserError,
    close_match,
    explain,
    get_path,
    read_toml,
    set_path,
)
from sim.schema.fit import FitParameter, FitSpec, ValidationTargets, read_fit_spec
from sim.schema.provenance import (
    ProvenanceFile,
    field_spec,
    leaves,
    parameter_rows,
    read_provenance,
)
from sim.schema.scenario import Scenario, load_scenario, validate
from sim.schema.targets import DATED_RULES, Observed, TargetFile
from sim.schema.targets import Target as ValidationTarget
from sim.schema.targets import load_targets as load_validation_targets

DIGITS = 4  # significant digits written back: the objective is noisier than that
HINGE_KINDS = ("above", "below", "greater_than", "largest")
SCAN_REFINE = 4  # bisections after a scan: a step is found to 1/16 of a grid interval


# --- the plan: a fit specification checked against what it names -----------------------


@dataclass(frozen=True)
class ValidationPlan:
    """The spec's ``[validation]`` table, loaded: the scenario the targets are checked on,
    the targets (role "calibration") and the observed rows they read."""

    scenario_path: Path
    config: Scenario
    targets_path: Path
    targets: list[ValidationTarget]
    observed: Observed
    seeds: int = 8
    share_margin: float = 0.1


@dataclass(frozen=True)
class Plan:
    """A fit specification with everything it names loaded and checked."""

    spec_path: Path
    spec: FitSpec
    scenario_path: Path
    config: Scenario
    targets: list[Target]
    provenance_path: Path | None
    validation: ValidationPlan | None = None


def load_plan(spec_path: str | Path, split_path: str | Path = TARGETS) -> Plan:
    """Read ``spec_path`` and check what it names; any problem is one ScenarioError naming
    the spec file and its key: a target id that is held out in the validation split
    (``split_path``), unknown among the calibration targets or not declared calibration
    there; a parameter key the scenario lacks, that is not a float, or whose bounds leave
    the schema's range or do not contain the scenario's value; in ``[validation]``, a
    target whose role is not "calibration" (or that the split holds out), one checked on
    another scenario than the table's, and a scenario that does not take every fitted key
    from the fitted scenario."""
    spec_path = Path(spec_path)
    spec = read_fit_spec(spec_path)
    folder = spec_path.parent
    scenario_path = folder / spec.scenario
    config = load_scenario(scenario_path)
    targets = _checked_targets(spec, spec_path, folder / spec.targets_file, Path(split_path))
    _check_parameters(spec.parameter, config, spec_path, scenario_path)
    provenance_path = None
    if spec.provenance:
        provenance_path = folder / spec.provenance
        if not provenance_path.is_file():
            raise ScenarioError(
                spec_path,
                "provenance",
                f"no file {provenance_path}",
                'an existing provenance file beside the spec, or "" to update none',
            )
    checks = None
    if spec.validation is not None:
        checks = _validation_plan(
            spec.validation, spec_path, scenario_path, spec.parameter, Path(split_path)
        )
    return Plan(spec_path, spec, scenario_path, config, targets, provenance_path, checks)


def _validation_plan(
    table: ValidationTargets,
    spec_path: Path,
    fitted_path: Path,
    params: Sequence[FitParameter],
    split_path: Path,
) -> ValidationPlan:
    """Load and check the spec's ``[validation]`` table (see ``load_plan``)."""
    folder = spec_path.parent
    scenario_path = folder / table.scenario
    config = load_scenario(scenario_path)
    _check_inherits(scenario_path, fitted_path, params, spec_path)
    targets_path = folder / table.targets_file if table.targets_file else TARGETS
    configs: dict[str, Scenario] = {}

    def run_years(name: str) -> range:  # as `run.py validate` reads a target's scenario
        if name not in configs:
            configs[name] = load_scenario(resolve_scenario(name))
        run = configs[name]
        return range(run.start_year, run.start_year + -(-run.steps // 4))

    every, observed = load_validation_targets(targets_path, run_years)
    available = {t.id: t for t in every}
    split = split_roles(split_path) if split_path.resolve() != targets_path.resolve() else {}
    chosen = []
    for i, ident in enumerate(table.targets):
        key = f"validation.targets.{i}"
        if ident not in available:
            raise ScenarioError(
                spec_path,
                key,
                f"unknown target id {ident!r} in {targets_path}{close_match(ident, available)}",
                "one of: " + ", ".join(t.id for t in every if t.role == "calibration"),
            )
        target = available[ident]
        for role, where in ((target.role, targets_path), (split.get(ident), split_path)):
            if role not in (None, "calibration"):
                raise ScenarioError(
                    spec_path,
                    key,
                    f"{ident!r} has role {role!r} in {where}",
                    'a target with role = "calibration": held-out data are never used for fitting',
                )
        checked_on = resolve_scenario(target.scenario)
        if checked_on.resolve() != scenario_path.resolve():
            raise ScenarioError(
                spec_path,
                key,
                f"{ident!r} is checked on {checked_on} in {targets_path}, not on {scenario_path}",
                "targets that `run.py validate` checks on the table's scenario",
            )
        if target.expect not in DATED_RULES and val.model_output(target.series) is None:
            raise ScenarioError(
                spec_path,
                key,
                f"{ident!r} reads {target.series}, which has no model output",
                "a target the model can be compared with",
            )
        if target.expect == "about" and not is_share(target) and not target.tolerance:
            raise _zero_tolerance(spec_path, key, ident, targets_path)
        chosen.append(target)
    return ValidationPlan(
        scenario_path,
        config,
        targets_path,
        chosen,
        observed,
        table.seeds,
        table.share_margin,
    )


def _check_inherits(
    path: Path, fitted_path: Path, params: Sequence[FitParameter], spec_path: Path
) -> None:
    """``path`` must be the fitted scenario or extend it, and no file on the way may set
    a fitted key itself: else the values the fit writes would not reach what it checked.
    (``load_scenario`` has already followed the chain: no cycle, every file there.)"""
    here, own = path, []
    while here.resolve() != fitted_path.resolve():
        data = read_toml(here)
        own.append((here, data))
        parent = data.get("extends")
        if not isinstance(parent, str):
            raise ScenarioError(
                spec_path,
                "validation.scenario",
                f"{path} does not extend {fitted_path}",
                "a scenario that extends the fitted one, so that the fitted values reach it",
            )
        here = here.parent / parent
    for file, data in own:
        for param in params:
            try:
                get_path(data, param.key)
            except KeyError:
                continue
            raise ScenarioError(
                spec_path,
                "validation.scenario",
                f"{file} sets {param.key} itself",
                f"a scenario that takes every fitted key from {fitted_path} (the value written "
                "there must be the one it runs with)",
            )


def split_roles(split_path: Path) -> dict[str, str]:
    """Target id -> role ("calibration" or "held_out") in the validation split."""
    data = read_toml(split_path, "targets file")
    try:
        split = TargetFile.model_validate(data)
    except ValidationError as exc:
        raise explain(exc, split_path, TargetFile) from None
    return {t.id: t.role for t in split.target}


def _checked_targets(
    spec: FitSpec, spec_path: Path, targets_path: Path, split_path: Path
) -> list[Target]:
    roles = split_roles(split_path)
    available = {t.id: t for t in load_targets(targets_path)}
    chosen = []
    for i, ident in enumerate(spec.targets):
        key = f"targets.{i}"
        if roles.get(ident) == "held_out":
            raise ScenarioError(
                spec_path,
                key,
                f"found {ident!r}, a held-out target in {split_path}",
                "a calibration target: held-out data are never used for fitting",
            )
        if ident not in available:
            raise ScenarioError(
                spec_path,
                key,
                f"unknown target id {ident!r} in {targets_path}{close_match(ident, available)}",
                "one of: " + ", ".join(available),
            )
        if roles.get(ident) != "calibration":
            raise ScenarioError(
                spec_path,
                key,
                f"{ident!r} is not declared in the validation split {split_path}",
                'a target with role = "calibration" there (the split says what may be fitted)',
            )
        target = available[ident]
        if target.kind == "about" and not target.tolerance:
            raise _zero_tolerance(spec_path, key, ident, targets_path)
        chosen.append(target)
    return chosen


def _check_parameters(
    params: Sequence[FitParameter], config: Scenario, spec_path: Path, scenario_path: Path
) -> None:
    data = config.model_dump(mode="json", exclude_none=True)
    for i, param in enumerate(params):
        where = f"parameter.{i}"
        try:
            value = get_path(data, param.key)
        except KeyError:
            keys = [k for k, v in leaves(data) if _is_number(v)]
            raise ScenarioError(
                spec_path,
                f"{where}.key",
                f"unknown key {param.key!r} in {scenario_path}{close_match(param.key, keys)}",
                "a numeric key path of the scenario (see `run.py describe`)",
            ) from None
        facts = field_spec(param.key)
        if not _is_number(value) or facts.type != "float":
            raise ScenarioError(
                spec_path,
                f"{where}.key",
                f"{param.key} is {value!r} ({facts.type})",
                "a key holding a float (the fit moves values continuously)",
            )
        for end in ("low", "high"):
            bound = getattr(param, end)
            if not facts.contains(bound):
                raise ScenarioError(
                    spec_path,
                    f"{where}.{end}",
                    f"found {bound:g}",
                    f"a bound inside {param.key}'s range {facts.range_text}",
                )
        if not param.low <= value <= param.high:
            raise ScenarioError(
                spec_path,
                where,
                f"[{param.low:g}, {param.high:g}] without the value {value:g} of "
                f"{param.key} in {scenario_path}",
                "bounds that contain the scenario's value (the fit starts there)",
            )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- the objective ----------------------------------------------------------------------


def _columns(targets: Sequence[Target]) -> list[str]:
    """Per-step columns the targets read (a ``largest`` reads every column of its prefix)."""
    columns: list[str] = []
    for t in targets:
        columns.append(t.metric)
        if t.other:
            columns.append(t.other)
        if t.among and t.among.split(".", 1)[0] in REGISTRY:
            columns.append(t.among.split(".", 1)[0])
    return [c for c in columns if c.split(".", 1)[0] not in INDEX_COLUMNS]


def steps_needed(config: Scenario, targets: Sequence[Target]) -> int:
    """Quarters up to the end of the last year a target reads: what follows cannot change
    it (tests/test_fit.py checks that a shortened run gives the same statistics)."""
    last = max(t.year or config.calibration_year for t in targets)
    return min(config.steps, max(1, (last - config.start_year + 1) * 4))


def simulate_targets(
    config: Scenario, targets: Sequence[Target], seeds: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """Per target and seed: what the target compares (``measure``) and its own metric's
    statistic (the scale of a margin), each an array of shape (targets, seeds). Runs stop
    after the last year the targets read and record only the metrics they need."""
    steps = steps_needed(config, targets)
    metrics = metrics_needed(_columns(targets))
    measured = np.empty((len(targets), len(seeds)))
    own = np.empty_like(measured)
    for j, seed in enumerate(seeds):
        frame = model_frame(run_model(config, seed, steps=steps, metrics=metrics))
        for i, target in enumerate(targets):
            year = target.year or config.calibration_year
            measured[i, j] = measure(target, frame, year)
            own[i, j] = statistic(frame, target.metric, year, target.aggregate)
    return measured, own


def residual(
    target: Target, mean: float, own_mean: float, hinge_scale: float, hinge_margin: float = 0.0
) -> float:
    """The target's residual at a replicated mean (see the module's docstring)."""
    if target.kind == "about":
        assert target.value is not None and target.tolerance  # load_plan checks both
        return (mean - target.value) / target.tolerance
    if target.kind in ("greater_than", "largest"):
        shortfall, reference = -mean, own_mean  # the mean is a margin: positive passes
    else:
        assert target.value is not None
        sign = 1.0 if target.kind == "above" else -1.0
        shortfall, reference = sign * (target.value - mean), target.value
    scale = hinge_scale * (abs(reference) or 1.0)
    return max(0.0, shortfall / scale + hinge_margin)


def simulate_validation(config: Scenario, checks: ValidationPlan) -> pd.DataFrame:
    """``validation.evaluate``'s rows for the plan's targets on ``checks.seeds``
    replications of ``config``, made as ``run.py validate`` makes them (in this process)."""
    reps = replicate(config, checks.seeds, workers=1, progress=False)
    runs = {t.scenario: reps for t in checks.targets}
    return val.evaluate(runs, checks.targets, checks.observed)


class NotMeasured(UserError):
    """A validation target row the runs give no value for: the fit cannot pull it."""


def is_share(target: ValidationTarget) -> bool:
    """A target passed by a share of replications: a dated event, an indicator."""
    if target.expect in DATED_RULES:
        return True
    output = val.model_output(target.series)
    return output is not None and output.how == "ahead"


def validation_residual(
    target: ValidationTarget,
    row: Mapping[Any, Any],
    hinge_scale: float,
    hinge_margin: float = 0.0,
    share_margin: float = 0.1,
) -> float:
    """The residual of one row of ``validation.evaluate`` (see the module's docstring); a
    row with no simulated value is a NotMeasured error (nothing to fit)."""
    mean, reference = float(row["sim_mean"]), float(row["reference"])
    if math.isnan(mean):
        raise NotMeasured(
            f"calibrate --fit: validation target {target.id} ({row['year']}) has no simulated "
            f"value ({row['note']}); fit only targets the model measures"
        )
    if is_share(target):
        # An indicator observed 0 wants the share below one half; events and 1, above.
        wanted_above = target.expect in DATED_RULES or float(row["observed"]) >= 0.5
        shortfall = reference - mean if wanted_above else mean - reference
        return max(0.0, shortfall / share_margin + 1.0)
    if target.expect == "above":
        scale = hinge_scale * (abs(reference) or 1.0)
        return max(0.0, (reference - mean) / scale + hinge_margin)
    if target.expect == "largest":
        scale = hinge_scale * (abs(mean) or 1.0)
        return max(0.0, (reference - mean) / scale + hinge_margin)
    observed, low, high = (float(row[k]) for k in ("observed", "low", "high"))
    off = val.distance(mean, observed, low, high)
    return math.copysign(off, mean - observed) / target.tolerance


def rms(values: np.ndarray) -> float:
    """The fit error: root mean square of the residuals."""
    return float(np.sqrt(np.mean(np.square(values))))


# --- the fit ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Runs:
    """Which replications a scenario's targets were measured on."""

    scenario: str  # the scenario's name
    master_seed: int
    seeds: int

    @property
    def text(self) -> str:
        last = self.seeds - 1
        which = "seed 0" if last == 0 else f"seeds 0-{last}"
        return f"{which} of master seed {self.master_seed}"


@dataclass(frozen=True)
class FitResult:
    """What a fit found: a row per parameter and per target row, before and after."""

    parameters: pd.DataFrame  # key, low, high, log, start, fitted
    targets: pd.DataFrame  # id, scenario, point, kind, documented, value, start_mean,
    # start_residual, start_passed, mean, residual, passed
    start_error: float
    error: float
    evaluations: int
    runs: list[Runs]  # the fitted scenario's, then the validation scenario's (if any)
    status: str
    config: Scenario = field(repr=False)

    @property
    def master_seed(self) -> int:
        return self.runs[0].master_seed

    @property
    def seeds(self) -> int:
        return self.runs[0].seeds

    @property
    def fitted(self) -> dict[str, float]:
        return dict(zip(self.parameters["key"], self.parameters["fitted"], strict=True))

    @property
    def moved(self) -> dict[str, float]:
        """The fitted values that differ from the start: what ``calibrate --fit`` writes (a
        parameter the targets do not pull at this point is not marked fitted)."""
        p = self.parameters[self.parameters["fitted"] != self.parameters["start"]]
        return dict(zip(p["key"], p["fitted"], strict=True))

    @property
    def target_ids(self) -> list[str]:
        """Target ids, each once, in the table's order (a target may have several rows)."""
        return list(dict.fromkeys(self.targets["id"]))

    def ids_on(self, scenario: str) -> list[str]:
        """The target ids measured on ``scenario``, each once."""
        return list(dict.fromkeys(self.targets.loc[self.targets["scenario"] == scenario, "id"]))


class _BudgetSpent(Exception):
    """Raised inside the objective to stop the search when the evaluations run out."""


# residuals, means, passes, and the validation rows they came from (None without any)
Evaluation = tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame | None]


def fit(
    config: Scenario,
    targets: Sequence[Target],
    parameters: Sequence[FitParameter],
    *,
    validation: ValidationPlan | None = None,
    seeds: int = 8,
    max_evals: int = 200,
    diff_step: float = 0.05,
    hinge_scale: float = 0.05,
    hinge_margin: float = 0.0,
    scan_tolerance: float = 0.05,
    progress: Callable[[int, float], object] | None = None,
) -> FitResult:
    """A scan of each parameter marked ``scan`` (see the module's docstring), then least
    squares over the parameters' unit (or log) scaled ranges from the best point so far;
    replications 0..seeds-1 of the scenario's master seed at every point, and those of
    ``validation`` for its targets (its scenario with the same parameter values). Returns
    the best point found (the scan's choice, or any later point with a lower fit error;
    never worse than the start), its values rounded to ``DIGITS`` significant digits and
    evaluated again as written.

    ``max_evals`` bounds the evaluations, the scan's and the finite differences' included
    (the rounded point is one more); ``progress`` is called after each new evaluation with
    the count so far and the best fit error."""
    from scipy.optimize import least_squares

    base = config.model_dump(mode="json", exclude_none=True)
    run_seeds = [run_seed(config.seed, i) for i in range(seeds)]
    checked = validation.config if validation is not None else None
    checked_base = checked.model_dump(mode="json", exclude_none=True) if checked else {}
    low = np.array([p.low for p in parameters])
    high = np.array([p.high for p in parameters])
    logs = np.array([p.log for p in parameters])
    start = np.array([float(get_path(base, p.key)) for p in parameters])

    def to_unit(x: np.ndarray) -> np.ndarray:
        lin = (x - low) / (high - low)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = (np.log(x) - np.log(low)) / (np.log(high) - np.log(low))
        return np.clip(np.where(logs, lg, lin), 0.0, 1.0)

    def from_unit(u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.exp(np.log(low) + u * (np.log(high) - np.log(low)))
        return np.clip(np.where(logs, lg, low + u * (high - low)), low, high)

    cache: dict[tuple[float, ...], Evaluation] = {}
    best: dict[str, Any] = {"error": math.inf, "x": start}

    def measure_at(x: np.ndarray) -> Evaluation:
        measured, own = simulate_targets(
            _with_values(config, base, parameters, x), targets, run_seeds
        )
        means, own_means = measured.mean(axis=1), own.mean(axis=1)
        res = [
            residual(t, m, o, hinge_scale, hinge_margin)
            for t, m, o in zip(targets, means, own_means, strict=True)
        ]
        ok = [passes(t, m) for t, m in zip(targets, means, strict=True)]
        means_out = list(means)
        table = None
        if validation is not None and checked is not None:
            table = simulate_validation(
                _with_values(checked, checked_base, parameters, x), validation
            )
            by_id = {t.id: t for t in validation.targets}
            for row in table.to_dict("records"):
                res.append(
                    validation_residual(
                        by_id[row["id"]], row, hinge_scale, hinge_margin, validation.share_margin
                    )
                )
                means_out.append(float(row["sim_mean"]))
                ok.append(bool(row["pass"]))
        return np.array(res), np.array(means_out), np.array(ok), table

    def evaluate(x: np.ndarray, budget: bool = True) -> Evaluation:
        """(residuals, means, passes, rows) at parameter values ``x``; a new point counts."""
        point = tuple(float(v) for v in x)
        if point in cache:
            return cache[point]
        if budget and len(cache) >= max_evals:
            raise _BudgetSpent
        cache[point] = measure_at(x)
        error = rms(cache[point][0])
        if error < best["error"]:
            best.update(error=error, x=np.array(point))
        if progress is not None:
            progress(len(cache), best["error"])
        return cache[point]

    first = evaluate(start)
    start_res, start_means, start_pass = first[:3]
    status = "the start already fits every target exactly"
    if rms(start_res) > 0 and max_evals > 1:
        try:
            scanned = _scan(parameters, best, evaluate, to_unit, from_unit, scan_tolerance)
            found = least_squares(
                lambda u: evaluate(from_unit(u))[0],
                to_unit(best["x"]),
                bounds=(0.0, 1.0),
                method="trf",
                diff_step=diff_step,
                x_scale=1.0,
                xtol=1e-3,
                ftol=1e-4,
                max_nfev=max_evals,
            )
            status = scanned + str(found.message)
        except _BudgetSpent:
            status = f"stopped after {max_evals} evaluations (max_evals)"
    rounded = np.clip([_round(v) for v in best["x"]], low, high)
    chosen = np.where(best["x"] == start, start, rounded)  # an unmoved value stays as it was
    final = evaluate(chosen, budget=False)  # as written: one beyond the budget
    if rms(final[0]) > rms(start_res):  # rounding cost more than the fit gained: keep the start
        chosen, final = start, first
    res, means, ok, rows = final
    params = pd.DataFrame(
        {
            "key": [p.key for p in parameters],
            "low": low,
            "high": high,
            "log": logs,
            "start": start,
            "fitted": chosen,
        }
    )
    labels = _target_labels(config, targets, validation, rows)
    table = pd.DataFrame(
        {
            **labels,
            "start_mean": start_means,
            "start_residual": start_res,
            "start_passed": start_pass,
            "mean": means,
            "residual": res,
            "passed": ok,
        }
    )
    runs = [Runs(config.name, config.seed, seeds)]
    if validation is not None:
        runs.append(Runs(validation.config.name, validation.config.seed, validation.seeds))
    return FitResult(
        parameters=params,
        targets=table,
        start_error=rms(start_res),
        error=rms(res),
        evaluations=len(cache),
        runs=runs,
        status=status,
        config=_with_values(config, base, parameters, chosen),
    )


def required_misses(result: FitResult) -> list[str]:
    """The required calibration targets (documented figures) the fitted point misses, as
    "id (scenario, point)": ``calibrate --fit`` writes nothing while there are any."""
    rows = result.targets
    missed = rows[rows["required"].astype(bool) & ~rows["passed"].astype(bool)]
    return [f"{r['id']} ({r['scenario']}, {r['point']})" for r in missed.to_dict("records")]


# --- identifiability: profile refits ------------------------------------------------------

PROFILE_STEP = 0.25  # how far from the fit each parameter is fixed: a quarter of its range
# The 95% quantile of chi-square with one degree of freedom, the profile-likelihood rule of
# Raue et al. (2009, Bioinformatics 25(15)): with residuals that were standardised errors, a
# rise of the sum of squares above it when one parameter is fixed elsewhere and the rest
# refitted would reject that value. Here residuals are in tolerances, zero inside an
# observed range and with hinge margins, so it is a screen's yardstick, not a 95% test.
CHI2_95_ONE_DOF = 3.841


def profile_values(param: FitParameter, fitted: float, step: float = PROFILE_STEP) -> list:
    """Two other values in the parameter's search range, ``step`` of the range (log-scaled
    when ``log``) below and above the fitted value; where one side has no room, both on
    the other side (``step`` and ``2 * step`` away)."""
    scale = math.log if param.log else float
    lo, hi = scale(param.low), scale(param.high)
    u = (scale(fitted) - lo) / (hi - lo)
    points = [u - step, u + step]
    if points[0] < 0.0:
        points = [u + step, u + 2 * step]
    elif points[1] > 1.0:
        points = [u - 2 * step, u - step]
    points = [min(max(p, 0.0), 1.0) for p in points]
    values = [lo + p * (hi - lo) for p in points]
    return [_round(math.exp(v) if param.log else v) for v in values]


def sum_of_squares(result: FitResult) -> float:
    """The fit's sum of squared residuals (each in its target's tolerance units)."""
    return float((result.targets["residual"].to_numpy(dtype=float) ** 2).sum())


def search_settings(spec: FitSpec) -> dict[str, Any]:
    """The spec's settings of the search, as ``fit``'s keyword arguments (one place for
    ``calibrate --fit`` and the identifiability refits)."""
    return {
        "seeds": spec.seeds,
        "diff_step": spec.diff_step,
        "hinge_scale": spec.hinge_scale,
        "hinge_margin": spec.hinge_margin,
        "scan_tolerance": spec.scan_tolerance,
    }


def _fixed(config: Scenario, values: Mapping[str, float]) -> Scenario:
    data = config.model_dump(mode="json", exclude_none=True)
    for key, value in values.items():
        set_path(data, key, float(value))
    return validate(data, "the profile's fixed values")


def identifiability(
    plan: Plan,
    result: FitResult,
    *,
    max_evals: int = 40,
    step: float = PROFILE_STEP,
    workers: int | None = None,
    progress: Callable[[str, float], object] | None = None,
) -> pd.DataFrame:
    """Which fitted parameters the calibration set identifies: each parameter is fixed at
    two other values (``profile_values``: ``step`` of its range from the fit), the others
    are refitted from the full fit (same seeds, same targets), and the rise of the sum of
    squares is compared with ``CHI2_95_ONE_DOF``. One row per parameter and fixed value;
    ``identified`` is true for a parameter only when both values are rejected. A negative
    rise means the refit found a better point than the full fit (a local optimum there).
    The refits are independent: they run on the one executor, one per chunk, on
    ``workers`` processes."""
    base = sum_of_squares(result)
    chunks = [
        (param.key, value)
        for param in plan.spec.parameter
        for value in profile_values(param, result.fitted[param.key], step)
    ]
    found: dict[tuple[str, float], dict[str, Any]] = {}

    def on_result(chunk: tuple[str, float], row: dict[str, Any]) -> None:
        found[chunk] = row
        if progress is not None:
            progress(*chunk)

    execute(
        _profile_refit,
        (plan, result.fitted, max_evals),
        lambda slots: chunks,
        on_result,
        workers=workers,
        preload=("sim.experiments.fit",),
    )
    rows = []
    for key, value in chunks:
        row = found[(key, value)]
        rise = row.pop("sum_of_squares") - base
        rows.append(
            {
                "parameter": key,
                "fitted": result.fitted[key],
                "fixed_at": value,
                **row,
                "sum_of_squares": base + rise,
                "rise": rise,
                "rejected": rise > CHI2_95_ONE_DOF,
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        table["identified"] = table.groupby("parameter")["rejected"].transform("all")
    return table


def _profile_refit(shared: tuple[Plan, dict[str, float], int], chunk: tuple[str, float]):
    """One profile refit (a task of the executor): ``chunk``'s parameter fixed at its
    value, the others refitted from the full fit's values."""
    plan, fitted, max_evals = shared
    key, value = chunk
    spec = plan.spec
    fixed = {**fitted, key: value}
    checks = plan.validation
    if checks is not None:
        checks = replace(checks, config=_fixed(checks.config, fixed))
    refit = fit(
        _fixed(plan.config, fixed),
        plan.targets,
        [p for p in spec.parameter if p.key != key],
        validation=checks,
        max_evals=max_evals,
        **search_settings(spec),
    )
    return {
        "fit_error": refit.error,
        "sum_of_squares": sum_of_squares(refit),
        "evaluations": refit.evaluations,
        "refitted": "; ".join(f"{k}={v:.4g}" for k, v in refit.fitted.items()),
    }


def _scan(
    parameters: Sequence[FitParameter],
    best: dict[str, Any],
    evaluate: Callable[[np.ndarray], Evaluation],
    to_unit: Callable[[np.ndarray], np.ndarray],
    from_unit: Callable[[np.ndarray], np.ndarray],
    tolerance: float,
    refine: int = SCAN_REFINE,
) -> str:
    """Scan each parameter marked ``scan`` over its range, the others at the best point so
    far, and move it only as far as the targets need: to the point nearest its current
    value whose fit error is within ``tolerance`` of the best seen on the line, narrowed
    by ``refine`` bisections towards the current value (a share's step lies between two
    grid points). ``best`` is set to that point. Returns what it did, for the status."""
    done = []
    for k, param in enumerate(parameters):
        if not param.scan:
            continue
        start = np.array(best["x"])
        here = to_unit(start)
        line: dict[float, float] = {}  # unit value -> fit error along this parameter

        def along(u: float, start: np.ndarray = start, k: int = k) -> np.ndarray:
            """The point with parameter k at unit value u, the others exactly as they were."""
            unit = to_unit(start)
            unit[k] = u
            x = start.copy()
            x[k] = from_unit(unit)[k]
            return x

        def at(u: float, along: Callable = along, line: dict = line) -> float:
            line[u] = rms(evaluate(along(u))[0])
            return line[u]

        line[float(here[k])] = rms(evaluate(start)[0])  # where it is (evaluated already)
        for u in np.linspace(0.0, 1.0, param.scan) if param.scan > 1 else [0.5]:
            at(float(u))
        good = [u for u, e in line.items() if e <= min(line.values()) + tolerance]
        chosen = min(good, key=lambda u: abs(u - here[k]))
        if chosen != here[k]:  # bisect towards the current value between the grid points
            toward = [u for u in line if (u - chosen) * (here[k] - chosen) > 0]
            far = min(toward, key=lambda u: abs(u - chosen))
            for _ in range(refine):
                middle = (chosen + far) / 2.0
                if at(middle) <= min(line.values()) + tolerance:
                    chosen = middle
                else:
                    far = middle
        best.update(error=line[chosen], x=start if chosen == here[k] else along(chosen))
        done.append(f"{param.key} ({len(line)} points)")
    return f"scanned {', '.join(done)}; then " if done else ""


def _target_labels(
    config: Scenario,
    targets: Sequence[Target],
    validation: ValidationPlan | None,
    rows: pd.DataFrame | None,
) -> dict[str, list]:
    """The descriptive columns of the result's target table, one entry per residual."""
    labels: dict[str, list] = {
        "id": [t.id for t in targets],
        "scenario": [config.name] * len(targets),
        "point": [str(t.year or config.calibration_year) for t in targets],
        "kind": [t.kind for t in targets],
        "documented": [_documented(t) for t in targets],
        "value": [t.value for t in targets],
        "required": [True] * len(targets),  # calibration.toml holds documented figures only
    }
    if validation is not None and rows is not None:
        kinds = {t.id: _validation_kind(t) for t in validation.targets}
        for row in rows.to_dict("records"):
            labels["id"].append(row["id"])
            labels["scenario"].append(validation.config.name)
            labels["point"].append(str(row["date"] or row["year"]))
            labels["kind"].append(kinds[row["id"]])
            where = f" {row['partner']}" if row["partner"] else ""
            labels["documented"].append(f"{row['series']}{where}: {row['rule']}")
            labels["value"].append(row["observed"])
            labels["required"].append(bool(row["required"]))
    return labels


def _validation_kind(target: ValidationTarget) -> str:
    if target.expect in DATED_RULES:
        return f"share ({target.expect})"
    return "share (indicator)" if is_share(target) else target.expect


def _with_values(
    config: Scenario, base: dict, parameters: Sequence[FitParameter], x: np.ndarray
) -> Scenario:
    """The scenario with the parameters set to ``x``, validated like the file."""
    data = copy.deepcopy(base)
    for param, value in zip(parameters, x, strict=True):
        set_path(data, param.key, float(value))
    return validate(data, "the fitted values")


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


# --- the source line and the files it goes into ----------------------------------------


def seeds_text(result: FitResult) -> str:
    """Which replications: "seeds 0-7 of master seed 88", each scenario named when the
    fit read two."""
    if len(result.runs) == 1:
        return result.runs[0].text
    return ", ".join(f"{r.text} ({r.scenario})" for r in result.runs)


def source_parts(result: FitResult, today: datetime.date) -> tuple[str, str]:
    """(fitted_to, by) of the provenance entry; the scenario's comment joins them. With
    validation targets, each scenario's ids are named: "F1, F2 (baseline) and P1-concession
    (history_1990_2024)"."""
    if len(result.runs) == 1:
        fitted_to = ", ".join(result.target_ids)
    else:
        fitted_to = " and ".join(
            f"{', '.join(result.ids_on(r.scenario))} ({r.scenario})" for r in result.runs
        )
    by = f"calibrate --fit, {today.isoformat()}, {seeds_text(result)}; fit error {result.error:.3g}"
    return fitted_to, by


def source_line(result: FitResult, today: datetime.date) -> str:
    fitted_to, by = source_parts(result, today)
    return f"fitted to {fitted_to} by {by}"


def scenario_text_with(text: str, values: Mapping[str, float], comment: str, file: Path) -> str:
    """The scenario file's text with each key set to its value and ``comment`` after it;
    every other line, comment and value kept (tomlkit). A key the file does not set (it
    comes from ``extends``) is added to its table."""
    doc = tomlkit.parse(text)
    for key, value in values.items():
        parts = key.split(".")
        node: Any = doc
        for part in parts[:-1]:
            if part not in node:
                node[part] = tomlkit.table()
            node = node[part]
        if isinstance(node, InlineTable):
            raise ScenarioError(
                file,
                key,
                "a value inside an inline table { ... }",
                "the key on a line of its own, where it can carry its source comment",
            )
        old = node[parts[-1]] if parts[-1] in node else None
        new = tomlkit.item(value)
        new.comment(comment)
        new.trivia.comment_ws = _comment_gap(old, new)
        node[parts[-1]] = new
    out = tomlkit.dumps(doc)
    expected = tomllib.loads(text)
    for key, value in values.items():
        set_path(expected, key, value)
    if tomllib.loads(out) != expected:  # a tomlkit surprise must not reach the file
        raise RuntimeError(f"{file}: writing the fitted values changed other values")
    return out


def _comment_gap(old: Item | None, new: Item) -> str:
    """Whitespace before the comment: the old comment's column when there was one."""
    if old is None or not old.trivia.comment:
        return "  "
    column = len(old.as_string()) + len(old.trivia.comment_ws)
    return " " * max(1, column - len(new.as_string()))


def check_provenance(plan: Plan) -> None:
    """Before a fit that will write: the plan's provenance file must describe its scenario
    (every parameter covered, no stale entry), or the write would fail after the work."""
    if plan.provenance_path is not None:
        table = read_provenance(plan.provenance_path)
        parameter_rows(table, plan.config, plan.provenance_path)


def provenance_text_with(
    text: str,
    result: FitResult,
    keys: Collection[str],
    today: datetime.date,
    path: Path,
) -> str:
    """The provenance file's text with the entry of each of ``keys`` (fitted parameters)
    made ``fitted`` (to the targets, by this fit, its range the search bounds); a key
    covered only by a wildcard gets an entry of its own. Checked against the fitted
    scenario before it is returned: a provenance file that does not describe the fitted
    scenario is a ScenarioError."""
    fitted_to, by = source_parts(result, today)
    doc = tomlkit.parse(text)
    if "parameters" not in doc:
        doc["parameters"] = tomlkit.table()
    params: Any = doc["parameters"]
    p = result.parameters
    for key, low, high in zip(p["key"], p["low"].tolist(), p["high"].tolist(), strict=True):
        if key not in keys:
            continue
        if key in params:
            entry = params[key]
        else:
            entry = tomlkit.table()
            params[key] = entry
        for stale in ("source", "reason", "values"):
            if stale in entry:
                del entry[stale]
        entry["provenance"] = "fitted"
        entry["fitted_to"] = fitted_to
        entry["by"] = by
        entry["range"] = [float(low), float(high)]
    out = tomlkit.dumps(doc)
    try:
        table = ProvenanceFile.model_validate(tomllib.loads(out))
    except ValidationError as exc:
        raise explain(exc, path, ProvenanceFile) from None
    parameter_rows(table, result.config, path)
    return out


def format_fit(result: FitResult) -> str:
    """The before/after table ``calibrate --fit`` prints: the parameters, then the target
    rows of each scenario under its name (a validation target's row with its year or
    date); a share of replications is shown as such."""
    p = result.parameters
    width = max(len("parameter"), *(len(k) for k in p["key"]))
    lines = [
        f"{'parameter':<{width}} {'low':>9} {'high':>9} {'start':>10} {'fitted':>10}",
        "-" * (width + 42),
    ]
    for row in p.itertuples(index=False):
        lines.append(
            f"{row.key:<{width}} {row.low:>9.4g} {row.high:>9.4g} "
            f"{row.start:>10.4g} {row.fitted:>10.4g}" + ("  (log)" if row.log else "")
        )
    t = result.targets.copy()
    several = len(result.runs) > 1
    first = t["scenario"] == result.runs[0].scenario
    t["label"] = t["id"].where(first, t["id"] + " " + t["point"])
    ids = max(len("target"), *(len(i) for i in t["label"]))
    doc = min(52, max(len("documented"), *(len(d) for d in t["documented"])))
    header = (
        f"{'target':<{ids}} {'documented':<{doc}} {'start':>8} {'resid':>7}       "
        f"{'fitted':>8} {'resid':>7}"
    )
    lines += ["", header, "-" * (ids + doc + 46)]
    for runs in result.runs:
        if several:
            lines.append(f"on {runs.scenario} ({runs.text}):")
        for row in t[t["scenario"] == runs.scenario].itertuples(index=False):
            before = "pass" if row.start_passed else "MISS"
            after = "pass" if row.passed else "MISS"
            lines.append(
                f"{row.label:<{ids}} {row.documented:<{doc}.{doc}} {row.start_mean:>8.3f} "
                f"{row.start_residual:>7.2f} {before}  {row.mean:>8.3f} {row.residual:>7.2f} "
                f"{after}"
            )
    each = " and ".join(f"{r.seeds} seeds ({r.scenario})" for r in result.runs)
    lines += [
        "",
        f"fit error (RMS of residuals) {result.start_error:.3g} -> {result.error:.3g} "
        f"in {result.evaluations} evaluations of {each} each; {result.status}",
    ]
    if any(t["kind"].str.startswith("share")):
        lines.append(
            "a share row's mean is the share of replications that show it (pass: at least "
            "half for an episode event, a majority for an indicator)"
        )
    return "\n".join(lines)


def _zero_tolerance(spec_path: Path, key: str, ident: str, targets_path: Path) -> ScenarioError:
    """An 'about' target with no tolerance cannot be a residual (residuals are in tolerances)."""
    return ScenarioError(
        spec_path,
        key,
        f"{ident!r} has tolerance 0 in {targets_path}",
        "an 'about' target with a positive tolerance (residuals are in tolerances)",
    )
