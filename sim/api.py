"""One entry point for outside tools (EMA Workbench, SALib, a notebook): a scenario and
typed overrides in, the summary outcomes of one replication out. See docs/api.md."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.catalog import resolve_scenario
from sim.schema.base import ScenarioError, set_path
from sim.schema.scenario import Scenario, load_scenario, validate


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds (``np.float64(0.1)`` -> ``0.1``), so the
    schema sees the same types as from a TOML file; anything else as it is."""
    if isinstance(value, np.generic | np.ndarray) and np.ndim(value) == 0:
        return value.item()
    return value


def scenario_with(scenario: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """The scenario (shipped name or path) with values set by dotted key path, validated
    exactly like ``--set``: an unknown key or a bad value is a ScenarioError."""
    path = resolve_scenario(scenario)
    config = load_scenario(path)
    if not overrides:
        return config
    data = config.model_dump(mode="json", exclude_none=True)  # what scenario.toml holds
    origin: dict[tuple, str] = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not key or any(not p for p in key.split(".")):
            raise ScenarioError(
                "overrides", str(key), f"found {key!r}", "a dotted key path, e.g. alignment.level"
            )
        set_path(data, key, plain(value))
        origin[tuple(key.split("."))] = f"overrides[{key!r}]"
    return validate(data, path, origin)


def evaluate(
    scenario: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    steps: int | None = None,
) -> dict[str, float]:
    """Run one replication and return its summary outcomes by name.

    ``scenario``: a shipped name (``"baseline"``, ``"whatif/strict_cap"``) or a path.
    ``overrides``: typed values by key path, e.g. ``{"trade.transit_fee.china": 0.12}``
    (numpy scalars accepted). ``seed``: the run's seed (default: the scenario's);
    ``steps``: quarters (default: the scenario's). Same seed, same numbers.
    """
    from sim.model.run import run_summary  # the model loads only when a run is asked for

    config = scenario_with(scenario, overrides)
    if steps is not None:
        config = config.model_copy(update={"steps": int(plain(steps))})
    used = config.seed if seed is None else int(plain(seed))
    return {name: float(value) for name, value in run_summary(config, used).items()}
