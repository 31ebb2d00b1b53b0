"""Turning a run into tables: the per-step frame and the summary metrics.

The per-step frame is wide (one row per step, one column per metric, vector
metrics spread as ``metric.partner``); ``long_frame`` melts it into the tidy
long form (step, year, quarter, metric, partner, value).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.model import COMMODITY_METRICS, SCALAR_METRICS, VECTOR_METRICS, BalanceModel
from sim.scenario import Scenario

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


def run_columns(model: BalanceModel) -> dict[str, np.ndarray]:
    """Every per-step column as a numpy array: the DataCollector's records, vectors spread
    into ``metric.partner`` columns, plus the indicators derived from them (concentration,
    cap breaches, group shares). Derived after the run, not collected, because the
    arithmetic over all steps at once is much cheaper than step by step."""
    raw = model.datacollector.model_vars
    steps = np.arange(len(raw["autonomy"]))
    columns: dict[str, np.ndarray] = {
        "step": steps,
        "year": model.start_year + np.maximum(steps - 1, 0) // 4,
        "quarter": np.where(steps > 0, (steps - 1) % 4 + 1, 0),
    }
    for name in SCALAR_METRICS:
        columns[name] = np.asarray(raw[name], dtype=float)
    blocks = {name: np.asarray(raw[name], dtype=float)
              for name in (*VECTOR_METRICS, *COMMODITY_METRICS)}
    export, fdi, by_good = blocks["export_share"], blocks["fdi_share"], \
        blocks["exports_by_commodity"]
    on_stock = columns["cap_on_stock"].astype(bool)[:, None]
    basis = np.where(on_stock, fdi, blocks["fdi_inflow_share"])
    columns.update({
        "export_hhi": (export**2).sum(axis=1),
        "import_hhi": (blocks["import_share"] ** 2).sum(axis=1),
        "fdi_hhi": (fdi**2).sum(axis=1),
        "largest_fdi_share": fdi.max(axis=1),
        "cap_breaches": (basis > columns["cap_level"][:, None] + 1e-9).sum(axis=1),
        "third_neighbour_export_share": export[:, model.is_third].sum(axis=1),
        "third_neighbour_fdi_share": fdi[:, model.is_third].sum(axis=1),
        "mining_export_share": by_good[:, model.is_mining].sum(axis=1) / by_good.sum(axis=1),
        "leverage_china": blocks["effective_leverage"][:, model.CHINA],
        "leverage_russia": blocks["effective_leverage"][:, model.RUSSIA],
    })
    for name in VECTOR_METRICS:
        for i, partner in enumerate(model.partner_ids):
            columns[f"{name}.{partner}"] = blocks[name][:, i]
    for name in COMMODITY_METRICS:
        for i, good in enumerate(model.commodity_names):
            columns[f"{name}.{good}"] = blocks[name][:, i]
    china = blocks["commodity_to_china"] / np.maximum(by_good, 1e-300)
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


def summarize(table: Mapping[str, Any]) -> dict[str, float]:
    """Scalar outcomes of one run (steps after the initial state only), from the per-step
    frame or straight from ``run_columns`` (no DataFrame needed)."""
    after_start = np.asarray(table["step"]) > 0
    out = {}
    for name, (column, how) in SUMMARY_METRICS.items():
        series = np.asarray(table[column], dtype=float)[after_start]
        if how == "nonzero":
            value = np.count_nonzero(series > 0)
        elif how == "last":
            value = series[-1]
        else:
            value = getattr(series, how)()
        out[name] = float(value)
    return out


def simulate(config: Scenario, seed: int | None = None, steps: int | None = None,
             progress=None) -> tuple[BalanceModel, pd.DataFrame]:
    """Run one model to the end; ``progress`` is called once per step if given."""
    model = run_model(config, seed, steps, progress)
    return model, model_frame(model)


def run_model(config: Scenario, seed: int | None = None, steps: int | None = None,
              progress=None) -> BalanceModel:
    """Build and run one model, then let Mesa forget it (see ``_release``)."""
    model = BalanceModel(config, rng=config.seed if seed is None else seed)
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
