"""Turning a run into tables: the per-step frame and the summary metrics.

The per-step frame is wide (one row per step, one column per metric, vector
metrics spread as ``metric.partner``); ``long_frame`` melts it into the tidy
long form (step, year, quarter, metric, partner, value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.model.model import (
    COMMODITY_METRICS,
    RAW_METRICS,
    SCALAR_METRICS,
    VECTOR_METRICS,
    BalanceModel,
)
from sim.schema.scenario import Scenario

# Summary metrics: name -> (column of the wide frame, how it is reduced over the run).
SUMMARY_METRICS = {
    "china_export_share_mean": ("export_share.china", "mean"),
    "russia_export_share_mean": ("export_share.russia", "mean"),
    "third_neighbour_export_share_mean": ("third_neighbour_export_share", "mean"),
    "export_hhi_mean": ("export_hhi", "mean"),
    "export_revenue_bn_usd_total": ("export_revenue_bn_usd", "sum"),
    "china_fdi_share_final": ("fdi_share.china", "last"),
    "largest_fdi_share_max": ("largest_fdi_share", "max"),
    "largest_fdi_share_final": ("largest_fdi_share", "last"),
    "third_neighbour_fdi_share_final": ("third_neighbour_fdi_share", "last"),
    "fdi_stock_bn_usd_final": ("fdi_stock_bn_usd", "last"),
    "cap_breach_quarters": ("cap_breaches", "nonzero"),
    "fdi_rejected_bn_usd_total": ("fdi_rejected_bn_usd", "sum"),
    "fdi_redirected_bn_usd_total": ("fdi_redirected_bn_usd", "sum"),
    "pressure_quarters": ("active_pressure", "nonzero"),
    "pressure_cost_bn_usd_total": ("pressure_cost_bn_usd", "sum"),
    "concessions": ("concessions", "last"),
    "autonomy_mean": ("autonomy", "mean"),
    "autonomy_final": ("autonomy", "last"),
    "leverage_china_mean": ("leverage_china", "mean"),
    "leverage_russia_mean": ("leverage_russia", "mean"),
}


# Indicators derived after the run -> the raw metrics (DataCollector records) they need.
DERIVED_FROM = {
    "export_hhi": ("export_share",),
    "import_hhi": ("import_share",),
    "fdi_hhi": ("fdi_share",),
    "largest_fdi_share": ("fdi_share",),
    "cap_breaches": ("fdi_share", "fdi_inflow_share", "cap_level", "cap_on_stock"),
    "third_neighbour_export_share": ("export_share",),
    "third_neighbour_fdi_share": ("fdi_share",),
    "mining_export_share": ("exports_by_commodity",),
    "leverage_china": ("effective_leverage",),
    "leverage_russia": ("effective_leverage",),
    "china_commodity_share": ("commodity_to_china", "exports_by_commodity"),
}


def metrics_needed(columns: Iterable[str]) -> tuple[str, ...]:
    """The raw metrics to record for these per-step columns (``metric`` or
    ``metric.partner``): a sweep records only what its outputs are computed from."""
    needed: set[str] = set()
    for column in columns:
        base = column.split(".", 1)[0]
        if base in RAW_METRICS:
            needed.add(base)
        elif base in DERIVED_FROM:
            needed.update(DERIVED_FROM[base])
        elif base not in ("step", "year", "quarter"):
            raise KeyError(f"unknown per-step column {column!r}")
    return tuple(name for name in RAW_METRICS if name in needed)


def summary_columns(names: Iterable[str]) -> list[str]:
    """The per-step columns these summary metrics reduce."""
    return [SUMMARY_METRICS[name][0] for name in names]


def run_columns(model: BalanceModel) -> dict[str, np.ndarray]:
    """Every per-step column as a numpy array: the DataCollector's records, vectors spread
    into ``metric.partner`` columns, plus the indicators derived from them (concentration,
    cap breaches, group shares) where the model recorded what they need. Derived after the
    run, not collected, because arithmetic over all steps at once is much cheaper."""
    raw = model.datacollector.model_vars
    steps = np.arange(len(next(iter(raw.values()))))
    columns: dict[str, np.ndarray] = {
        "step": steps,
        "year": model.start_year + np.maximum(steps - 1, 0) // 4,
        "quarter": np.where(steps > 0, (steps - 1) % 4 + 1, 0),
    }
    columns.update(
        {name: np.asarray(raw[name], dtype=float) for name in SCALAR_METRICS if name in raw}
    )
    blocks = {
        name: np.asarray(raw[name], dtype=float)
        for name in (*VECTOR_METRICS, *COMMODITY_METRICS)
        if name in raw
    }

    def basis_of_cap() -> np.ndarray:
        on_stock = columns["cap_on_stock"].astype(bool)[:, None]
        return np.where(on_stock, blocks["fdi_share"], blocks["fdi_inflow_share"])

    def by_good() -> np.ndarray:
        return blocks["exports_by_commodity"]

    derive = {
        "export_hhi": lambda: (blocks["export_share"] ** 2).sum(axis=1),
        "import_hhi": lambda: (blocks["import_share"] ** 2).sum(axis=1),
        "fdi_hhi": lambda: (blocks["fdi_share"] ** 2).sum(axis=1),
        "largest_fdi_share": lambda: blocks["fdi_share"].max(axis=1),
        "cap_breaches": lambda: (basis_of_cap() > columns["cap_level"][:, None] + 1e-9).sum(axis=1),
        "third_neighbour_export_share": lambda: blocks["export_share"][:, model.is_third].sum(
            axis=1
        ),
        "third_neighbour_fdi_share": lambda: blocks["fdi_share"][:, model.is_third].sum(axis=1),
        "mining_export_share": lambda: (
            by_good()[:, model.is_mining].sum(axis=1) / by_good().sum(axis=1)
        ),
        "leverage_china": lambda: blocks["effective_leverage"][:, model.CHINA],
        "leverage_russia": lambda: blocks["effective_leverage"][:, model.RUSSIA],
    }
    for name, compute in derive.items():
        if all(needed in raw for needed in DERIVED_FROM[name]):
            columns[name] = compute()
    for name in VECTOR_METRICS:
        if name in blocks:
            for i, partner in enumerate(model.partner_ids):
                columns[f"{name}.{partner}"] = blocks[name][:, i]
    for name in COMMODITY_METRICS:
        if name in blocks:
            for i, good in enumerate(model.commodity_names):
                columns[f"{name}.{good}"] = blocks[name][:, i]
    if all(needed in raw for needed in DERIVED_FROM["china_commodity_share"]):
        china = blocks["commodity_to_china"] / np.maximum(by_good(), 1e-300)
        for i, good in enumerate(model.commodity_names):
            columns[f"china_commodity_share.{good}"] = china[:, i]
    return columns


def model_frame(model: BalanceModel) -> pd.DataFrame:
    """The per-step table of a run, wide (as written to ``steps.csv``)."""
    return pd.DataFrame(run_columns(model))


def long_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Tidy form: one row per step and metric (and partner or commodity, if any)."""
    ids = ["step", "year", "quarter"]
    long = frame.melt(id_vars=ids, var_name="metric", value_name="value")
    split = long["metric"].str.split(".", n=1, expand=True)
    long["metric"] = split[0]
    long["partner"] = split[1] if split.shape[1] > 1 else None
    return long[[*ids, "metric", "partner", "value"]]


def summarize(table: Mapping[str, Any], names: Iterable[str] | None = None) -> dict[str, float]:
    """Scalar outcomes of one run (steps after the initial state only), from the per-step
    frame or straight from ``run_columns`` (no DataFrame needed); all of them, or ``names``."""
    after_start = np.asarray(table["step"]) > 0
    out = {}
    for name in SUMMARY_METRICS if names is None else names:
        column, how = SUMMARY_METRICS[name]
        series = np.asarray(table[column], dtype=float)[after_start]
        if how == "nonzero":
            value = np.count_nonzero(series > 0)
        elif how == "last":
            value = series[-1]
        else:
            value = getattr(series, how)()
        out[name] = float(value)
    return out


def simulate(
    config: Scenario, seed: int | None = None, steps: int | None = None, progress=None
) -> tuple[BalanceModel, pd.DataFrame]:
    """Run one model to the end; ``progress`` is called once per step if given."""
    model = run_model(config, seed, steps, progress)
    return model, model_frame(model)


def run_model(
    config: Scenario,
    seed: int | None = None,
    steps: int | None = None,
    progress=None,
    metrics: Iterable[str] | None = None,
) -> BalanceModel:
    """Build and run one model, then let Mesa forget it (see ``_release``). ``metrics``:
    the raw metrics to record (all by default; see ``metrics_needed``)."""
    model = BalanceModel(config, rng=config.seed if seed is None else seed, metrics=metrics)
    for _ in range(config.steps if steps is None else steps):
        model.step()
        if progress is not None:
            progress()
    _release(model)
    return model


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
