"""Observed inputs (``data/inputs``, shipped as ``sim.inputs``): the world the history runs
in, never a target.

Annual commodity prices in current US dollars (coal, copper, gold, crude oil), a
published US price deflator, and China's imports, each row with its public source (the
same CSV format as ``data/observed``; ``data/inputs/README.md``). From them:

- ``price_paths``: each commodity's real price (deflated to 2018 dollars) as an index,
  2018 = 1, by year. A scenario that names an index (``trade.commodities.<c>.price_index``,
  ``trade.imports.fuel_price_index``) has its quarterly price noise move around that path
  instead of around the 2018 level: the model's money is at 2018 prices, so a real index
  relative to 2018 is what multiplies it.
- ``deflator``: the deflator as a ratio to 2018, which turns the model's 2018 dollars into
  the current dollars observed series are reported in (``validate``).
- ``demand_growth``: the yearly growth of China's real imports, which a partner's import
  markets follow when the scenario names it (``partners.<p>.demand_index``).
- ``driver_table``: real prices and China's real imports by year, the exogenous inputs of
  the naive "drivers" forecast (``sim.experiments.skill``).

A price outside the data takes its nearest observed year (a run past 2024 holds the 2024
price, one before 1990 the 1990 price); a market that follows China's imports holds its
level outside the data. Scenarios that run outside 1990-2024 therefore see a flat world
there: the baseline names no path. Read once per process and folder (``functools.cache``).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sim.schema.base import ScenarioError
from sim.schema.targets import read_series

PriceIndex = Literal["coal", "copper", "gold", "oil"]
PRICE_INDICES: tuple[PriceIndex, ...] = ("coal", "copper", "gold", "oil")
DemandIndex = Literal["china_imports"]
REFERENCE_YEAR = 2018  # the model's money is at 2018 prices
DEFLATOR = "us_gdp_deflator"
CHINA_IMPORTS = "china_imports_bn_usd"


def _read(folder: Path, name: str) -> pd.Series:
    """One input CSV as value by year (checked like an observed series)."""
    frame = read_series(Path(folder) / f"{name}.csv")
    by_year = frame.groupby("year")["value"].mean()
    if (by_year <= 0).any():
        year = int(by_year.index[(by_year <= 0).to_numpy()][0])
        raise ScenarioError(folder / f"{name}.csv", f"year {year}", "a value <= 0", "a positive")
    return by_year


def _filled(series: pd.Series, years: range) -> pd.Series:
    """The series on every year of ``years``: observed years as given, log-linear between
    them, the nearest observed year outside them."""
    logs = np.interp(
        np.asarray(years, dtype=float), series.index.to_numpy(float), np.log(series.to_numpy())
    )
    return pd.Series(np.exp(logs), index=list(years))


@cache
def deflator(folder: Path) -> pd.Series:
    """The US price deflator relative to 2018 (1.0 in 2018), by year."""
    raw = _read(folder, DEFLATOR)
    if REFERENCE_YEAR not in raw.index:
        raise ScenarioError(folder / f"{DEFLATOR}.csv", "year", "no 2018 row", "a 2018 value")
    return raw / raw.loc[REFERENCE_YEAR]


@cache
def price_paths(folder: Path) -> pd.DataFrame:
    """Years x price indices: the real price relative to 2018 (nominal / deflator), over
    the years the deflator covers (a gap in a price series is filled log-linearly)."""
    ratio = deflator(folder)
    years = range(int(ratio.index.min()), int(ratio.index.max()) + 1)
    columns = {}
    for name in PRICE_INDICES:
        nominal = _read(folder, f"{name}_price_usd")
        real = nominal / ratio.reindex(nominal.index)
        real = real.dropna()
        if REFERENCE_YEAR not in real.index:
            raise ScenarioError(
                folder / f"{name}_price_usd.csv", "year", "no 2018 row", "a 2018 price"
            )
        columns[name] = _filled(real / real.loc[REFERENCE_YEAR], years)
    return pd.DataFrame(columns)


def price_level(folder: Path, index: str, year: int) -> float:
    """The real price index of ``index`` in ``year`` (2018 = 1; nearest year outside)."""
    paths = price_paths(folder)
    year = min(max(year, int(paths.index[0])), int(paths.index[-1]))
    return float(paths[index].to_numpy()[year - int(paths.index[0])])


@cache
def demand_paths(folder: Path) -> pd.DataFrame:
    """Years x demand indices: China's merchandise imports deflated to 2018 USD (bn USD),
    over the years both series cover."""
    imports = _read(folder, CHINA_IMPORTS)
    real = (imports / deflator(folder).reindex(imports.index)).dropna()
    years = range(int(real.index.min()), int(real.index.max()) + 1)
    return pd.DataFrame({"china_imports": _filled(real, years)})


def demand_growth(folder: Path, index: str, year: int) -> float:
    """The growth factor of a demand index from ``year - 1`` to ``year``; 1 outside the
    data: a market that follows the index holds its level before the first and after the
    last observed year (it does not fall back to ``demand_growth_per_year``)."""
    paths = demand_paths(folder)
    first, last = int(paths.index[0]), int(paths.index[-1])
    if not first < year <= last:
        return 1.0
    values = paths[index].to_numpy()
    return float(values[year - first] / values[year - 1 - first])


@cache
def driver_table(folder: Path) -> pd.DataFrame:
    """Years x drivers for the naive regression: ``<name>_price`` (real index, 2018 = 1;
    the price paths above, gaps filled) and ``china_imports`` (real, bn USD at 2018
    prices; nan where the deflator or the imports have no row)."""
    paths = price_paths(folder)
    table = paths.rename(columns={n: f"{n}_price" for n in PRICE_INDICES})
    try:
        imports = _read(folder, CHINA_IMPORTS)
    except ScenarioError:
        return table
    real = imports / deflator(folder).reindex(imports.index)
    table["china_imports"] = real.reindex(table.index)
    return table
