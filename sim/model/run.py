"""Running one model to the end: the unit of work of runs, replications and sweeps.

Here rather than in ``sim.metrics`` because the model reads the metric registry (what to
record): the registry stays below the model, and running sits above both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import mesa
import pandas as pd

from sim.metrics import model_frame, run_columns, summarize
from sim.model.model import BalanceModel
from sim.schema.scenario import Scenario


def run_model(
    config: Scenario,
    seed: int | None = None,
    steps: int | None = None,
    progress: Callable[[], object] | None = None,
    metrics: Iterable[str] | None = None,
) -> BalanceModel:
    """Build and run one model, then let Mesa forget it (see ``_release``). ``metrics``:
    the raw metrics to record (all by default; see ``sim.metrics.metrics_needed``)."""
    model = BalanceModel(config, rng=config.seed if seed is None else seed, metrics=metrics)
    for _ in range(config.steps if steps is None else steps):
        model.step()
        if progress is not None:
            progress()
    _release(model)
    return model


def simulate(
    config: Scenario,
    seed: int | None = None,
    steps: int | None = None,
    progress: Callable[[], object] | None = None,
) -> tuple[BalanceModel, pd.DataFrame]:
    """Run one model to the end; ``progress`` is called once per step if given."""
    model = run_model(config, seed, steps, progress)
    return model, model_frame(model)


def run_summary(config: Scenario, seed: int) -> dict[str, float]:
    """Summary metrics of one seeded run: the unit of work of replications and sweeps."""
    return summarize(run_columns(run_model(config, seed)))


def _release(model: BalanceModel) -> None:
    """Let a finished model be freed. Mesa 3.3's Agent keeps a class-level id counter per
    model (``Agent._ids``, keyed by the model) that holds every model a process ever built:
    about 0.5 MB per 140-quarter run, without bound in replications and sweeps. Mesa 3.5
    has no such table and this does nothing there."""
    ids = vars(mesa.Agent).get("_ids")
    if isinstance(ids, dict):
        ids.pop(model, None)
