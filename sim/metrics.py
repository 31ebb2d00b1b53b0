"""The metric registry: every indicator of a run, declared once.

Each ``Metric`` says what it is (name, label, unit), where it comes from (``kind``:
recorded raw each step, derived per step after the run, or a summary over the run),
what it needs and how it is computed. The DataCollector's reporters, the per-step
table, the summaries, the run table's labels, plot titles, a sweep's allowed outputs
and ``metrics_needed`` all read ``REGISTRY``: a new indicator is one new entry.

Raw metrics are model attributes of the same name (Mesa copies each every step).
Derived metrics are computed after the run from the recorded arrays, over all steps at
once: the same numbers as collecting them, at a fraction of the per-step cost
(``benchmarks/bench_run.py``). This module knows nothing of ``BalanceModel`` beyond
the few attributes in ``Run``, so the model can import the registry without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

Kind = Literal["raw", "derived", "summary"]
By = Literal["step", "partner", "commodity"]  # one value per step, or one per partner / good
How = Literal["mean", "sum", "last", "max", "nonzero"]

INDEX_COLUMNS = ("step", "year", "quarter")  # the per-step table's index, not metrics
WHOLE_UNITS = ("quarters", "count")  # shown without decimals


class Statics(Protocol):
    """What a derivation may know of the model besides the records: who is who."""

    partner_ids: list[str]
    commodity_names: list[str]
    is_third: np.ndarray
    is_mining: np.ndarray
    CHINA: int
    RUSSIA: int


class Run(Statics, Protocol):
    """A finished model, as far as turning it into tables goes."""

    start_year: int
    datacollector: Any


Derive = Callable[[Mapping[str, np.ndarray], Statics], np.ndarray]


@dataclass(frozen=True)
class Metric:
    """One indicator. ``needs``: the metrics it is computed from (raw or derived for a
    derived metric, the base of ``of`` for a summary); ``derive`` maps the recorded arrays
    (steps first, then partners or goods) and the model's statics to the per-step values;
    a summary reduces the per-step column ``of`` over the steps after the start by ``how``
    ("nonzero": the number of steps with a positive value)."""

    name: str
    label: str  # human words; a by-partner label reads after the partner ("China's ...")
    unit: str = ""  # "" for shares and indices
    kind: Kind = "raw"
    by: By = "step"
    needs: tuple[str, ...] = ()
    derive: Derive | None = None
    of: str = ""
    how: How | None = None
    # Band plots of a replicated run: (file, column key) pairs; the key is "" for a
    # per-step metric, a partner id or good for one column of a vector metric.
    band_plots: tuple[tuple[str, str], ...] = ()
    definition: str = ""  # how it is computed, in words (figure titles show it)

    @property
    def whole(self) -> bool:
        """Counts (quarters, concessions) print as whole numbers."""
        return self.unit in WHOLE_UNITS


def raw(
    name: str,
    label: str,
    unit: str = "",
    by: By = "step",
    band_plots: tuple[tuple[str, str], ...] = (),
    definition: str = "",
) -> Metric:
    """Recorded each step from the model attribute ``name``."""
    return Metric(name, label, unit, "raw", by, band_plots=band_plots, definition=definition)


def derived(
    name: str,
    label: str,
    needs: tuple[str, ...],
    derive: Derive,
    unit: str = "",
    by: By = "step",
    band_plots: tuple[tuple[str, str], ...] = (),
    definition: str = "",
) -> Metric:
    """Computed after the run from recorded arrays (all steps at once)."""
    return Metric(
        name,
        label,
        unit,
        "derived",
        by,
        needs,
        derive,
        band_plots=band_plots,
        definition=definition,
    )


def summary(
    name: str, label: str, of: str, how: How, unit: str = "", definition: str = ""
) -> Metric:
    """One number per run: the per-step column ``of`` reduced by ``how``."""
    return Metric(
        name,
        label,
        unit,
        "summary",
        "step",
        (of.split(".", 1)[0],),
        None,
        of,
        how,
        definition=definition,
    )


# Effective leverage is exposure in this quarter's flows, chosen so (not a counterfactual
# loss) because it scales the tools a neighbour presses with and the autonomy index; the
# words travel with the metric so a reader of compare or a plot is not surprised that
# closing a neighbour's border lowers that neighbour's leverage (issue 18).
LEVERAGE_MEANING = (
    "effective leverage = how much of Mongolia's economy runs through that neighbour in "
    "this quarter's flows (shares of exports, transit, fuel, FDI stock, debt; plus the "
    "other neighbour's, times the alignment), not what Mongolia stands to lose: a "
    "neighbour that closes its border or stops buying cuts those flows, so its leverage "
    "goes down while Mongolia loses revenue (see export revenue and the cost of pressure)"
)


def _hhi(share: str) -> Derive:
    return lambda a, s: (a[share] ** 2).sum(axis=1)


def _cap_breaches(a: Mapping[str, np.ndarray], s: Statics) -> np.ndarray:
    """Origins above the cap on its basis (the stock, or this quarter's inflows)."""
    on_stock = a["cap_on_stock"].astype(bool)[:, None]
    basis = np.where(on_stock, a["fdi_share"], a["fdi_inflow_share"])
    return (basis > a["cap_level"][:, None] + 1e-9).sum(axis=1)


def _mining_share(a: Mapping[str, np.ndarray], s: Statics) -> np.ndarray:
    goods = a["exports_by_commodity"]
    return goods[:, s.is_mining].sum(axis=1) / goods.sum(axis=1)


# Money is valued at the reference (2018) prices of the commodities, times each quarter's
# price shocks: no inflation or price trend, so 1990 and 2040 are in the same dollars.
MONEY = "bn USD, 2018 prices"
QUARTERLY = "bn USD per quarter, 2018 prices"

METRICS: tuple[Metric, ...] = (
    # --- raw, one value per step (model attributes) ----------------------------------
    raw(
        "export_revenue_bn_usd",
        "export revenue",
        QUARTERLY,
        band_plots=(("export_revenue.png", ""),),
    ),
    raw("fdi_stock_bn_usd", "FDI stock", MONEY),
    raw("fdi_rejected_bn_usd", "FDI rejected by the cap", QUARTERLY),
    raw("fdi_redirected_bn_usd", "FDI redirected to other origins", QUARTERLY),
    raw("fdi_divested_bn_usd", "FDI divested under a strict cap", QUARTERLY),
    raw("active_pressure", "pressure episodes under way", "count"),
    raw(
        "pressure_cost_bn_usd",
        "cost of neighbour pressure",
        QUARTERLY,
        band_plots=(("pressure_cost.png", ""),),
    ),
    raw(
        "coercer_cost_bn_usd",
        "what pressing costs the neighbours (imports forgone, standing)",
        QUARTERLY,
    ),
    raw("concessions", "concessions so far", "count"),
    raw("reputation", "neighbours' expectation that Mongolia concedes"),
    raw("fire_sale_loss_bn_usd", "loss on forced sales under a strict cap", QUARTERLY),
    raw(
        "autonomy",
        "autonomy index",
        band_plots=(("autonomy.png", ""),),
        definition="one minus the largest effective leverage, less concessions",
    ),
    raw("alignment", "Sino-Russian alignment"),
    raw("western_alignment", "alignment with the third neighbours"),
    raw("cap_level", "investment cap (largest share of one origin)"),
    raw("cap_on_stock", "cap applies to the stock (1) or to inflows (0)"),
    # --- raw, by partner ---------------------------------------------------------------
    raw(
        "export_share",
        "share of exports",
        by="partner",
        band_plots=(("export_share_china.png", "china"),),
    ),
    raw("exports_by_partner", "exports", QUARTERLY, by="partner"),
    raw("import_share", "share of imports", by="partner"),
    raw("fuel_share", "share of fuel imports", by="partner"),
    raw(
        "fdi_share",
        "share of the FDI stock",
        by="partner",
        band_plots=(("fdi_share_china.png", "china"),),
    ),
    raw("fdi_inflow_share", "share of FDI inflows", by="partner"),
    raw("level", "partnership level (0 to 4)", by="partner"),
    raw("attention", "economic attention to Mongolia", by="partner"),
    raw("political_tie", "political and security tie with Mongolia", by="partner"),
    raw("effective_leverage", "effective leverage", by="partner", definition=LEVERAGE_MEANING),
    # --- raw, by commodity -------------------------------------------------------------
    raw("exports_by_commodity", "exports", QUARTERLY, by="commodity"),
    raw("commodity_to_china", "exports to China", QUARTERLY, by="commodity"),
    raw("exports_mt", "export volume", "Mt per year", by="commodity"),
    raw("capacity", "export capacity", "bn USD per year, 2018 prices", by="commodity"),
    # --- derived after the run ---------------------------------------------------------
    derived(
        "export_hhi", "export concentration, Herfindahl", ("export_share",), _hhi("export_share")
    ),
    derived(
        "import_hhi", "import concentration, Herfindahl", ("import_share",), _hhi("import_share")
    ),
    derived("fdi_hhi", "FDI concentration, Herfindahl", ("fdi_share",), _hhi("fdi_share")),
    derived(
        "largest_fdi_share",
        "largest FDI share of one origin",
        ("fdi_share",),
        lambda a, s: a["fdi_share"].max(axis=1),
    ),
    derived(
        "cap_breaches",
        "origins over the cap",
        ("fdi_share", "fdi_inflow_share", "cap_level", "cap_on_stock"),
        _cap_breaches,
        "count",
    ),
    derived(
        "third_neighbour_export_share",
        "third neighbours' share of exports",
        ("export_share",),
        lambda a, s: a["export_share"][:, s.is_third].sum(axis=1),
        band_plots=(("third_neighbour_export_share.png", ""),),
    ),
    derived(
        "third_neighbour_fdi_share",
        "third neighbours' share of the FDI stock",
        ("fdi_share",),
        lambda a, s: a["fdi_share"][:, s.is_third].sum(axis=1),
    ),
    derived(
        "mining_export_share",
        "mining's share of exports",
        ("exports_by_commodity",),
        _mining_share,
    ),
    derived(
        "leverage_china",
        "China's effective leverage",
        ("effective_leverage",),
        lambda a, s: a["effective_leverage"][:, s.CHINA],
        definition=LEVERAGE_MEANING,
    ),
    derived(
        "leverage_russia",
        "Russia's effective leverage",
        ("effective_leverage",),
        lambda a, s: a["effective_leverage"][:, s.RUSSIA],
        definition=LEVERAGE_MEANING,
    ),
    derived(
        "china_commodity_share",
        "China's share of exports",
        ("commodity_to_china", "exports_by_commodity"),
        lambda a, s: a["commodity_to_china"] / np.maximum(a["exports_by_commodity"], 1e-300),
        by="commodity",
    ),
    # --- summaries over the run (steps after the initial state); this order is the
    # order of the columns of replications.csv and of a sweep's runs table -------------
    summary(
        "china_export_share_mean", "China's share of exports (mean)", "export_share.china", "mean"
    ),
    summary(
        "russia_export_share_mean",
        "Russia's share of exports (mean)",
        "export_share.russia",
        "mean",
    ),
    summary(
        "third_neighbour_export_share_mean",
        "third neighbours' share of exports (mean)",
        "third_neighbour_export_share",
        "mean",
    ),
    summary("export_hhi_mean", "export concentration, Herfindahl (mean)", "export_hhi", "mean"),
    summary(
        "export_revenue_bn_usd_total",
        "export revenue, bn USD (total)",
        "export_revenue_bn_usd",
        "sum",
        MONEY,
    ),
    summary(
        "china_fdi_share_final", "China's share of the FDI stock (final)", "fdi_share.china", "last"
    ),
    summary(
        "largest_fdi_share_max", "largest FDI share of one origin (max)", "largest_fdi_share", "max"
    ),
    summary(
        "largest_fdi_share_final",
        "largest FDI share of one origin (final)",
        "largest_fdi_share",
        "last",
    ),
    summary(
        "third_neighbour_fdi_share_final",
        "third neighbours' share of FDI (final)",
        "third_neighbour_fdi_share",
        "last",
    ),
    summary(
        "fdi_stock_bn_usd_final", "FDI stock, bn USD (final)", "fdi_stock_bn_usd", "last", MONEY
    ),
    summary(
        "cap_breach_quarters",
        "quarters with an origin over the cap",
        "cap_breaches",
        "nonzero",
        "quarters",
    ),
    summary(
        "fdi_rejected_bn_usd_total",
        "FDI rejected by the cap, bn USD (total)",
        "fdi_rejected_bn_usd",
        "sum",
        MONEY,
    ),
    summary(
        "fdi_redirected_bn_usd_total",
        "FDI redirected to other origins, bn USD (total)",
        "fdi_redirected_bn_usd",
        "sum",
        MONEY,
    ),
    summary(
        "pressure_quarters",
        "quarters under neighbour pressure",
        "active_pressure",
        "nonzero",
        "quarters",
    ),
    summary(
        "pressure_cost_bn_usd_total",
        "cost of pressure, bn USD (total)",
        "pressure_cost_bn_usd",
        "sum",
        MONEY,
    ),
    summary(
        "coercer_cost_bn_usd_total",
        "cost of pressing to the neighbours, bn USD (total)",
        "coercer_cost_bn_usd",
        "sum",
        MONEY,
    ),
    summary(
        "fire_sale_loss_bn_usd_total",
        "loss on forced sales under the cap, bn USD (total)",
        "fire_sale_loss_bn_usd",
        "sum",
        MONEY,
    ),
    summary(
        "exports_to_us_mean",
        "exports to the United States, bn USD a quarter (mean)",
        "exports_by_partner.united_states",
        "mean",
        QUARTERLY,
    ),
    summary("concessions", "concessions", "concessions", "last", "count"),
    summary("autonomy_mean", "autonomy index (mean)", "autonomy", "mean"),
    summary("autonomy_final", "autonomy index (final)", "autonomy", "last"),
    summary(
        "leverage_china_mean",
        "China's effective leverage (mean)",
        "leverage_china",
        "mean",
        definition=LEVERAGE_MEANING,
    ),
    summary(
        "leverage_russia_mean",
        "Russia's effective leverage (mean)",
        "leverage_russia",
        "mean",
        definition=LEVERAGE_MEANING,
    ),
)

# Raw and derived names share one namespace (per-step columns); a summary may share a
# raw metric's name ("concessions"), so summaries have their own.
REGISTRY: dict[str, Metric] = {m.name: m for m in METRICS if m.kind != "summary"}
SUMMARIES: dict[str, Metric] = {m.name: m for m in METRICS if m.kind == "summary"}

# --- views of the registry ------------------------------------------------------------


def raw_metrics(by: By | None = None) -> tuple[str, ...]:
    """Names the DataCollector records (model attributes), in registry order."""
    return tuple(
        m.name for m in REGISTRY.values() if m.kind == "raw" and (by is None or m.by == by)
    )


def summary_metrics() -> tuple[str, ...]:
    """Every summary metric, in the order of the summary tables' columns."""
    return tuple(SUMMARIES)


def summary_label(name: str) -> str:
    return SUMMARIES[name].label if name in SUMMARIES else name


def band_plots() -> dict[str, str]:
    """The band plots of a replicated run: file name -> per-step column."""
    return {
        file: f"{m.name}.{key}" if key else m.name
        for m in REGISTRY.values()
        for file, key in m.band_plots
    }


def format_value(name: str, value: float, width: int = 12) -> str:
    """A summary value as the tables show it: counts whole, the rest to 3 decimals."""
    whole = name in SUMMARIES and SUMMARIES[name].whole
    return f"{value:>{width}.0f}" if whole else f"{value:>{width}.3f}"


def column_title(column: str) -> str:
    """Human title of a per-step column: "China's share of exports", "Export revenue (bn
    USD per quarter)", "Exports: coal (bn USD per quarter)"."""
    base, _, key = column.partition(".")
    metric = REGISTRY[base]
    text = metric.label
    if key and metric.by == "partner":
        partner = key.replace("_", " ").title()
        text = f"{partner}'{'' if partner.endswith('s') else 's'} {text}"
    elif key:
        text = f"{text}: {key.replace('_', ' ')}"
    text = text[0].upper() + text[1:]
    return f"{text} ({metric.unit})" if metric.unit else text


def _raw_needs(name: str) -> set[str]:
    metric = REGISTRY[name]
    if metric.kind == "raw":
        return {name}
    return set().union(*(_raw_needs(need) for need in metric.needs))


def metrics_needed(columns: Iterable[str]) -> tuple[str, ...]:
    """The raw metrics to record for these per-step columns (``metric`` or
    ``metric.partner``): a sweep records only what its outputs are computed from."""
    needed: set[str] = set()
    for column in columns:
        base = column.split(".", 1)[0]
        if base in REGISTRY:
            needed |= _raw_needs(base)
        elif base not in INDEX_COLUMNS:
            raise KeyError(f"unknown per-step column {column!r}")
    return tuple(name for name in raw_metrics() if name in needed)


def summary_columns(names: Iterable[str]) -> list[str]:
    """The per-step columns these summary metrics reduce."""
    return [SUMMARIES[name].of for name in names]


# --- from a finished run to tables ------------------------------------------------------


# The column order of the per-step table (steps.csv).
_COLUMN_ORDER: dict[tuple[str, str], int] = {
    ("raw", "step"): 0,
    ("derived", "step"): 1,
    ("raw", "partner"): 2,
    ("raw", "commodity"): 3,
    ("derived", "partner"): 4,
    ("derived", "commodity"): 5,
}


def _spread(name: str, values: np.ndarray, by: By, run: Statics) -> dict[str, np.ndarray]:
    if by == "step":
        return {name: values}
    keys = run.partner_ids if by == "partner" else run.commodity_names
    return {f"{name}.{key}": values[:, i] for i, key in enumerate(keys)}


def run_columns(model: Run) -> dict[str, np.ndarray]:
    """Every per-step column as a numpy array: the DataCollector's records (vectors spread
    into ``metric.partner`` / ``metric.good`` columns) and every derived metric whose needs
    were recorded (``_COLUMN_ORDER``)."""
    records = model.datacollector.model_vars
    values = {
        name: np.asarray(records[name], dtype=float)
        for name, m in REGISTRY.items()
        if m.kind == "raw" and name in records
    }
    steps = np.arange(len(next(iter(records.values()))))
    columns: dict[str, np.ndarray] = {
        "step": steps,
        "year": model.start_year + np.maximum(steps - 1, 0) // 4,
        "quarter": np.where(steps > 0, (steps - 1) % 4 + 1, 0),
    }
    for m in REGISTRY.values():  # in registry order: a derivation may use an earlier one
        if m.derive is not None and all(need in values for need in m.needs):
            values[m.name] = m.derive(values, model)
    # registry order within each group of _COLUMN_ORDER (the sort is stable)
    for name in sorted(values, key=lambda n: _COLUMN_ORDER[REGISTRY[n].kind, REGISTRY[n].by]):
        columns.update(_spread(name, values[name], REGISTRY[name].by, model))
    return columns


def model_frame(model: Run) -> pd.DataFrame:
    """The per-step table of a run, wide (as written to ``steps.csv``)."""
    return pd.DataFrame(run_columns(model))


def summarize(
    table: Mapping[str, Any] | pd.DataFrame, names: Iterable[str] | None = None
) -> dict[str, float]:
    """Scalar outcomes of one run (steps after the initial state only), from the per-step
    frame or straight from ``run_columns`` (no DataFrame needed); all of them, or ``names``."""
    after_start = np.asarray(table["step"]) > 0
    out = {}
    for name in SUMMARIES if names is None else names:
        metric = SUMMARIES[name]
        if names is None and metric.of not in table:
            continue  # a partner this scenario does not have (e.g. no United States)
        series = np.asarray(table[metric.of], dtype=float)[after_start]
        how = metric.how
        if how == "last":
            out[name] = float(series[-1])
        elif how == "nonzero":
            out[name] = float(np.count_nonzero(series > 0))
        else:  # mean, sum, max
            out[name] = float(getattr(series, str(how))())
    return out
