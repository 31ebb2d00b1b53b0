"""Skill: does the model forecast the held-out years better than a naive guess would?

A pass count cannot say that: a flat line passes wide tolerances about as often as the
model does. So ``run.py validate`` also scores every held-out series against three naive
forecasts built only from the data the calibration may use (the series' calibration
rows: the observed years up to the end of the calibration window and the documented
calibration figures), in the way forecasters judge a model (skill over a reference
forecast; Murphy 1988, Hyndman and Koehler 2006):

    persistence  the latest calibration observation, held constant;
    trend        a straight line fitted to the calibration observations (least squares),
                 carried forward;
    drivers      an ordinary least-squares regression of the series on the exogenous
                 inputs the model itself receives (observed real prices, China's import
                 demand: ``data/inputs``), fitted on the calibration observations; it uses
                 the drivers ``SERIES_DRIVERS`` lists for the series, as many as leave a
                 degree of freedom (``n - 2`` for ``n`` observations), none below three.

Shares and indicators are clipped to [0, 1]. A forecast that cannot be built (one
observation has no trend) is missing, not zero. The calibration rows a forecast uses are
those before the series' first held-out year (``skill_table`` says which are left out).

The error of a forecast in a year is its distance to the observed interval, exactly as
``validate``'s pass rule measures it: 0 inside ``[low, high]``, else to the nearer end (a
lower bound is ``[low, inf)``), the distance to the value where no range is given.

    skill = 1 - MAE(model mean) / MAE(best naive)

over the held-out years, where the best naive forecast is the one with the lowest
held-out error (chosen in hindsight: the bar is the hardest of the three). Skill above 0
means the model beats every naive forecast; 1 is a perfect forecast. ``coverage_90`` is
the share of held-out observations whose interval meets the model's central 90% band.

Pure functions over ``validate``'s table (``sim.experiments.validation``) and the driver
table; printing and files are ``sim.cli``'s. Dated series (episodes) are not forecasts of
a number and are judged by ``validate``'s event rules only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

NAIVE = ("persistence", "trend", "drivers")
SKILL_COLUMNS = [
    "series",
    "n_years",
    "mae_model",
    "mae_persistence",
    "mae_trend",
    "mae_drivers",
    "best_naive",
    "skill",
    "coverage_90",
]

# The exogenous inputs a naive regression of each series may use, most relevant first
# (the drivers that move the series in the model: its commodity's price, the export price
# level, China's import demand). Names are columns of the driver table (``data/inputs``).
EXPORT_PRICES = ("coal_price", "copper_price", "gold_price")
SERIES_DRIVERS: dict[str, tuple[str, ...]] = {
    "china_export_share": ("china_imports", "coal_price"),
    "russia_export_share": ("china_imports", "oil_price"),
    "china_import_share": ("china_imports", "oil_price"),
    "russia_import_share": ("oil_price", "china_imports"),
    "exports_total_bn_usd": ("coal_price", "copper_price", "gold_price", "china_imports"),
    "mining_export_share": ("copper_price", "coal_price", "gold_price"),
    "coal_export_share": ("coal_price", "copper_price", "gold_price"),
    "copper_export_share": ("copper_price", "coal_price", "gold_price"),
    "coal_exports_mt": ("coal_price", "china_imports"),
    "coal_china_share": ("china_imports", "coal_price"),
    "coal_ahead_of_copper": ("coal_price", "copper_price"),
    "fuel_imports_russia_share": ("oil_price",),
    "fdi_china_share": ("china_imports", "copper_price"),
    "fdi_inflows_bn_usd": ("copper_price", "coal_price", "china_imports"),
    "fdi_stock_bn_usd": ("copper_price", "coal_price", "china_imports"),
}


def naive_forecasts(
    years: Sequence[int] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    at: Sequence[int] | np.ndarray,
    drivers: pd.DataFrame | None = None,
    bounded: bool = False,
) -> dict[str, np.ndarray]:
    """The three naive forecasts at the years ``at`` from observations ``values`` in
    ``years`` (the calibration data); ``drivers``: years x driver columns, in the order
    the regression may use them. nan where a forecast cannot be built."""
    x = np.asarray(years, dtype=float)
    y = np.asarray(values, dtype=float)
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    ahead = np.asarray(at, dtype=float)
    out = {name: np.full(ahead.shape, math.nan) for name in NAIVE}
    if x.size:
        out["persistence"][:] = y[x == x.max()].mean()
    if np.unique(x).size >= 2:
        slope, intercept = np.polyfit(x, y, 1)
        out["trend"] = intercept + slope * ahead
    if drivers is not None:
        out["drivers"] = _regression(x, y, ahead, drivers)
    if bounded:
        out = {name: np.clip(f, 0.0, 1.0) for name, f in out.items()}
    return out


def _regression(x: np.ndarray, y: np.ndarray, ahead: np.ndarray, drivers: pd.DataFrame):
    """OLS of y on the first k drivers (k = n - 2, at most all of them), at least 3 points."""
    known = drivers.dropna()
    fit_rows = np.isin(x, known.index.to_numpy(dtype=float))
    x, y = x[fit_rows], y[fit_rows]
    k = min(drivers.shape[1], x.size - 2)
    result = np.full(ahead.shape, math.nan)
    if k < 1:
        return result
    columns = list(drivers.columns[:k])
    design = np.column_stack([np.ones(x.size), known.loc[x.astype(int), columns].to_numpy()])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    for i, year in enumerate(ahead.astype(int)):
        if year in known.index:
            result[i] = coef[0] + known.loc[year, columns].to_numpy(dtype=float) @ coef[1:]
    return result


def interval_error(forecast: np.ndarray, value: np.ndarray, low: np.ndarray, high: np.ndarray):
    """Distance from each forecast to its observed interval (validate's rule), vectorised."""
    has_low, has_high = ~np.isnan(low), ~np.isnan(high)
    lo = np.where(has_low, low, np.where(has_high, -np.inf, value))
    hi = np.where(has_high, high, np.where(has_low, np.inf, value))
    return np.maximum.reduce([lo - forecast, forecast - hi, np.zeros_like(forecast)])


def covered(p05: np.ndarray, p95: np.ndarray, value, low, high) -> np.ndarray:
    """Does the model's band [p05, p95] meet the observed interval (or value)?"""
    has_low, has_high = ~np.isnan(low), ~np.isnan(high)
    lo = np.where(has_low, low, np.where(has_high, -np.inf, value))
    hi = np.where(has_high, high, np.where(has_low, np.inf, value))
    return (p05 <= hi) & (p95 >= lo)


def skill_table(
    table: pd.DataFrame,
    units: Mapping[str, str],
    drivers: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One row per held-out yearly series of ``validate``'s table (``SKILL_COLUMNS``), and
    per series the naive forecasts at its held-out years (for the plots). ``units``: each
    series' unit (a share or an indicator is clipped to [0, 1]); ``drivers``: years x
    driver columns (``SERIES_DRIVERS`` names them).

    - The naive forecasts use the series' calibration rows from before its first held-out
      year (a forecast made then), and of those only rows with a value: a row that gives
      only a bound ("more than 0.6") is left out of the fits. With none, the series gets
      no skill ("none").
    - An indicator's model forecast is its majority over replications (an even split is
      0.5), as ``validate``'s pass rule reads it; indicators are left out of the band
      coverage, whose 0/1 band widens to [0, 1] as soon as a few runs differ.
    - Rows compared as an index (``compare = "index"``) are left out: their naive
      forecasts would be in levels.
    - A series with no model output stays, with no skill and nothing covered.
    - A best naive forecast with no error makes the model's skill -inf if the model has
      any (a loss, never hidden), 0 if it has none (a tie)."""
    rows, lines = [], {}
    yearly = table[
        (table["date"].astype(str) == "") & ~table["rule"].astype(str).str.startswith("index")
    ]
    for series, part in yearly.groupby("series", sort=False):
        test = part[part["role"] == "held_out"].drop_duplicates(["year", "partner"])
        if test.empty:
            continue
        years = test["year"].to_numpy(dtype=int)
        calib = part[(part["role"] == "calibration") & (part["year"] < years.min())]
        calib = calib[~_bound_only(calib)].drop_duplicates(["year", "partner"])
        unit = units.get(str(series), "")
        indicator = "indicator" in unit
        bounded = "share" in unit or indicator
        named = [d for d in SERIES_DRIVERS.get(str(series), ()) if drivers is not None]
        table_drivers = drivers[named] if drivers is not None and named else None
        naive = naive_forecasts(
            calib["year"].to_numpy(dtype=int),
            calib["observed"].to_numpy(dtype=float),
            years,
            table_drivers,
            bounded,
        )
        value, low, high = (test[c].to_numpy(dtype=float) for c in ("observed", "low", "high"))
        model = test["sim_mean"].to_numpy(dtype=float)
        if indicator:
            model = np.where(model > 0.5, 1.0, np.where(model < 0.5, 0.0, 0.5))
        errors = interval_error(model, value, low, high)
        no_output = bool(np.isnan(model).all())
        mae = {"model": float(errors.mean()) if not no_output else math.nan}
        for name, forecast in naive.items():
            err = interval_error(forecast, value, low, high)
            mae[name] = float(err.mean()) if not np.isnan(err).any() else math.nan
        built = {n: mae[n] for n in NAIVE if not math.isnan(mae[n])}
        best = min(built, key=lambda n: built[n]) if built else ""
        skill = math.nan
        if best and not no_output:
            if built[best] > 0:
                skill = 1.0 - mae["model"] / built[best]
            else:
                skill = -math.inf if mae["model"] > 0 else 0.0
        inside = covered(
            test["sim_p05"].to_numpy(dtype=float),
            test["sim_p95"].to_numpy(dtype=float),
            value,
            low,
            high,
        )
        label = "no model output" if no_output else best or "none (no calibration data)"
        rows.append(
            {
                "series": series,
                "n_years": len(test),
                "mae_model": mae["model"],
                "mae_persistence": mae["persistence"],
                "mae_trend": mae["trend"],
                "mae_drivers": mae["drivers"],
                "best_naive": label,
                "skill": skill,
                "coverage_90": math.nan if indicator else float(inside.mean()),
                "_inside": 0 if indicator else int(inside.sum()),
                "_banded": 0 if indicator else len(test),
            }
        )
        lines[str(series)] = pd.DataFrame(naive, index=years)
    frame = pd.DataFrame(rows, columns=[*SKILL_COLUMNS, "_inside", "_banded"])
    return frame, lines


def _bound_only(rows: pd.DataFrame) -> pd.Series:
    """Rows that give only a lower or only an upper bound, not a value."""
    return rows["low"].notna() != rows["high"].notna()


def headline(skill: pd.DataFrame, replications: int | None = None) -> str:
    """ "skill on K of N held-out series; band covers P% of held-out observations"."""
    scored = skill[skill["skill"].notna()]
    wins = int((scored["skill"] > 0).sum())
    observations = int(skill["_banded"].sum()) if "_banded" in skill else 0
    inside = int(skill["_inside"].sum()) if "_inside" in skill else 0
    share = inside / observations if observations else math.nan
    unscored = len(skill) - len(scored)
    extra = f" ({unscored} more not scored: no naive forecast or no model output)"
    over = f", over {replications} replications" if replications else ""
    return (
        f"skill on {wins} of {len(scored)} held-out series{extra if unscored else ''}; "
        f"band covers {share:.0%} of held-out observations ({inside} of {observations}; "
        f"indicators aside){over}"
    )
