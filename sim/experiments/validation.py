"""Simulated against observed: which model output each observed series is compared with,
how a year of it is read from the runs, and the pass rule of each kind of target.

Pure functions over finished replications (``sim.experiments.replicate``), the targets
and the observed rows (``sim.schema.targets``); printing and files are ``sim.cli``'s.

How a simulated value is made
    Each replication's per-step table (quarters after the start) is reduced to one value
    per calendar year by ``MODEL_OUTPUTS`` (the one table of series -> columns): the mean
    of the four quarters for shares and levels, the sum for flows (exports), the last
    quarter for stocks (year-end, as UNCTAD reports them) and rungs, a ratio of sums for
    a commodity's share of export value, the change of the year-end stock for FDI inflows
    (the model has no flow output; the change is net of divestment). Money (bn USD at 2018
    prices in the model) is turned into current USD with the US GDP deflator of
    ``data/inputs`` (``current_usd``), the unit the observed money series are in. The
    table shows the
    mean over replications and the central 90% band (5% and 95%). A series with no entry
    (gold, inside ``other_minerals``) is a row with the note "no model output", never
    dropped.

Pass rules (``data/observed/README.md``)
    about       the distance from the simulated mean to the observed interval is at most
                the tolerance: 0 inside ``[low, high]``, else to the nearer end; only
                ``low`` = ``[low, +inf)``; no range = the distance to ``value``.
    index       (``compare = "index"``) the same rule on ``value(year) / value(base_year)``,
                observed and simulated alike (each replication divided by its own base
                year); the tolerance is in index points (1.0 = the base year's level).
    above       the simulated mean exceeds the target's ``value``, else the row's ``low``,
                else the row's ``value``.
    largest     the partner's simulated mean share is larger than every other partner's
                (the same per-partner metric, same year).
    indicator   (``coal_ahead_of_copper``) the indicator the majority of replications
                show equals the observed one; the mean column is the share of
                replications with coal ahead, and an even split is a miss.
    pressure / concession / end (dated series)
                the event is in the run's log within ``tolerance`` quarters of the
                date's quarter in at least half of the replications: the partner
                presses; Mongolia concedes (to anyone); the partner's episode ends
                (Mongolia concedes to it or it lifts its pressure). The mean column is the
                share of replications with the event.
    A row with no simulated value (no model output, no previous year for a change)
    fails, with the reason in its note.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.catalog import INPUTS_DIR
from sim.experiments.replicate import HIGH_Q, LOW_Q, Replications
from sim.schema.inputs import deflator
from sim.schema.targets import DATED_RULES, Observed, Target, date_quarter

Aggregate = Literal["mean", "sum", "last", "ratio", "ahead", "change"]

COLUMNS = [
    "id",
    "series",
    "year",
    "date",
    "partner",
    "role",
    "required",
    "observed",
    "low",
    "high",
    "sim_mean",
    "sim_p05",
    "sim_p95",
    "tolerance",
    "rule",
    "pass",
    "note",
]
NO_OUTPUT = "no model output"
_LOG_LINE = re.compile(r"^(\d{4}) Q([1-4]): (.*)$")


@dataclass(frozen=True)
class ModelOutput:
    """Per-step columns of the run table (``{partner}`` is filled from the observed row)
    and how one calendar year of them is reduced (see the module docstring)."""

    columns: tuple[str, ...]
    how: Aggregate
    label: str
    money: bool = False  # bn USD at 2018 prices in the model: compared in current USD


# The one place that says what each observed series is compared with.
MODEL_OUTPUTS: dict[str, ModelOutput | None] = {
    "china_export_share": ModelOutput(("export_share.china",), "mean", "China's share of exports"),
    "russia_export_share": ModelOutput(
        ("export_share.russia",), "mean", "Russia's share of exports"
    ),
    "china_import_share": ModelOutput(("import_share.china",), "mean", "China's share of imports"),
    "russia_import_share": ModelOutput(
        ("import_share.russia",), "mean", "Russia's share of imports"
    ),
    "exports_total_bn_usd": ModelOutput(
        ("export_revenue_bn_usd",),
        "sum",
        "exports in the year (bn USD, current)",
        money=True,
    ),
    "mining_export_share": ModelOutput(
        ("mining_export_share",), "mean", "mining's share of exports"
    ),
    "coal_export_share": ModelOutput(
        ("exports_by_commodity.coal", "export_revenue_bn_usd"), "ratio", "coal's share of exports"
    ),
    "copper_export_share": ModelOutput(
        ("exports_by_commodity.copper", "export_revenue_bn_usd"),
        "ratio",
        "copper's share of exports",
    ),
    "gold_export_share": None,  # gold is inside other_minerals
    "coal_exports_mt": ModelOutput(("exports_mt.coal",), "mean", "coal exports (Mt in the year)"),
    "coal_china_share": ModelOutput(
        ("china_commodity_share.coal",), "mean", "China's share of coal exports"
    ),
    "coal_ahead_of_copper": ModelOutput(
        ("commodity_to_china.coal", "commodity_to_china.copper"),
        "ahead",
        "coal ahead of copper in exports to China (share of runs)",
    ),
    "fuel_imports_russia_share": ModelOutput(
        ("fuel_share.russia",), "mean", "Russia's share of fuel imports"
    ),
    "fdi_china_share": ModelOutput(("fdi_share.china",), "mean", "China's share of the FDI stock"),
    "fdi_inflows_bn_usd": ModelOutput(
        ("fdi_stock_bn_usd",),
        "change",
        "change of the FDI stock in the year (bn USD, current)",
        money=True,
    ),
    "fdi_stock_bn_usd": ModelOutput(
        ("fdi_stock_bn_usd",),
        "last",
        "FDI stock, year-end (bn USD, current)",
        money=True,
    ),
    "partnership_levels": ModelOutput(
        ("level.{partner}",), "last", "partnership level (0 initial ... 4 comp. strategic)"
    ),
    # Dated: passed from the event logs; the plot shows this column's band.
    "pressure_episodes": ModelOutput(("active_pressure",), "mean", "pressure episodes under way"),
}


def model_output(series: str) -> ModelOutput | None:
    return MODEL_OUTPUTS.get(series)


# --- simulated years -------------------------------------------------------------------------


def current_usd(years: pd.Index) -> pd.Series:
    """The factor that turns the model's bn USD at 2018 prices into current bn USD in each
    year: the shipped US GDP deflator relative to 2018 (``sim.schema.inputs``; the nearest
    observed year outside the data)."""
    ratio = deflator(INPUTS_DIR)
    return pd.Series(
        np.interp(years.to_numpy(float), ratio.index.to_numpy(float), ratio.to_numpy()),
        index=years,
    )


def yearly(frame: pd.DataFrame, output: ModelOutput, partner: str | None = None) -> pd.Series:
    """One replication's value for each calendar year (KeyError: a column the run lacks);
    money in current USD (``current_usd``), as the observed series are reported."""
    values = _yearly(frame, output, partner)
    if output.money:
        values = values * current_usd(values.index)
    return values


def _yearly(frame: pd.DataFrame, output: ModelOutput, partner: str | None) -> pd.Series:
    run = frame[frame["step"] > 0]
    cols = [c.format(partner=partner) for c in output.columns]
    missing = [c for c in cols if c not in run.columns]
    if missing:
        raise KeyError(missing[0])
    by_year = run.groupby("year")
    first = cols[0]
    if output.how in ("mean", "sum", "last"):
        return getattr(by_year[first], output.how)()
    if output.how == "change":
        end = by_year[first].last()
        return end - end.shift(1)
    sums = by_year[cols].sum()
    if output.how == "ratio":
        return sums[first] / sums[cols[1]]
    return (sums[first] > sums[cols[1]]).astype(float)  # ahead


def simulated_years(
    reps: Replications,
    output: ModelOutput,
    partner: str | None = None,
    base_year: int | None = None,
) -> pd.DataFrame:
    """Years x replications; divided by each replication's own base year for an index."""
    table = pd.DataFrame({run.index: yearly(run.frame, output, partner) for run in reps.runs})
    if base_year is not None:
        table = table / table.loc[base_year]
    return table


def band(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, 5% and 95% over replications (nan when there is no value)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan, math.nan
    low, high = np.quantile(values, [LOW_Q, HIGH_Q])
    return float(values.mean()), float(low), float(high)


# --- events ------------------------------------------------------------------------------


def log_events(lines: Iterable[str]) -> list[tuple[int, str]]:
    """(absolute quarter = year * 4 + quarter - 1, message) of each event-log line."""
    found = []
    for line in lines:
        match = _LOG_LINE.match(line)
        if match:
            found.append((int(match.group(1)) * 4 + int(match.group(2)) - 1, match.group(3)))
    return found


def is_event(message: str, expect: str, name: str) -> bool:
    """Does this log message show the expected kind of event by ``name``?"""
    if expect == "pressure":
        return message.startswith(f"{name} presses over")
    if expect == "concession":
        return message.startswith("Mongolia concedes to")
    return message.startswith((f"Mongolia concedes to {name}", f"{name} lifts its pressure"))


def partner_name(reps: Replications, partner: str) -> str:
    spec = reps.config.partners.get(partner)
    return spec.name if spec is not None else partner.replace("_", " ").title()


def event_shares(reps: Replications, target: Target, date: str) -> np.ndarray:
    """1 for each replication with the event within the tolerance, else 0."""
    year, quarter = date_quarter(date)
    when = year * 4 + quarter - 1
    name = partner_name(reps, target.partner or "")
    hits = [
        any(
            abs(q - when) <= target.tolerance and is_event(text, target.expect, name)
            for q, text in log_events(run.events)
        )
        for run in reps.runs
    ]
    return np.array(hits, dtype=float)


# --- the table ---------------------------------------------------------------------------


def rule_text(target: Target, output: ModelOutput | None) -> str:
    tol = f"±{target.tolerance:g}"
    if target.expect in DATED_RULES:
        return f"{target.expect} {tol} q"
    if output is not None and output.how == "ahead":
        return "indicator"
    if target.expect == "above":
        return "above low" if target.value is None else f"above {target.value:g}"
    if target.expect == "largest":
        return f"largest ({target.partner})"
    if target.compare == "index":
        return f"index/{target.base_year} {tol}"
    return f"about {tol}"


def distance(mean: float, value: float, low: float, high: float) -> float:
    """From the simulated mean to the observed interval (0 inside it)."""
    lo = low if not math.isnan(low) else (-math.inf if not math.isnan(high) else value)
    hi = high if not math.isnan(high) else (math.inf if not math.isnan(low) else value)
    return max(lo - mean, mean - hi, 0.0)


def check(
    target: Target,
    output: ModelOutput,
    obs: pd.Series,
    sims: np.ndarray,
    reps: Replications,
) -> tuple[float, float, float, bool, str, float]:
    """(mean, p05, p95, pass, note, reference) of one observed row of a yearly series. The
    reference is what an inequality compares the mean with (an indicator's one half, an
    "above"'s threshold, the next partner's mean for "largest"); nan for "about", which
    compares with the observed row's interval."""
    mean, p05, p95 = band(sims)
    if math.isnan(mean):
        return mean, p05, p95, False, "no simulated value for this year", math.nan
    if output.how == "ahead":
        shown = 1.0 if mean > 0.5 else 0.0 if mean < 0.5 else math.nan
        ok = shown == obs["value"]
        return mean, p05, p95, ok, f"coal ahead in {mean:.0%} of replications", 0.5
    if target.expect == "above":
        threshold = target.value
        if threshold is None:
            threshold = obs["low"] if not math.isnan(obs["low"]) else obs["value"]
        ok = mean > threshold
        return mean, p05, p95, ok, "" if ok else f"not above {threshold:g}", float(threshold)
    if target.expect == "largest":
        base = output.columns[0].split(".", 1)[0]
        year = int(obs["year"])
        others = {}
        for pid in reps.config.partners:
            if pid == target.partner:
                continue
            other = ModelOutput((f"{base}.{pid}",), output.how, output.label)
            others[pid] = band(simulated_years(reps, other).loc[year].to_numpy(dtype=float))[0]
        rival = max(others, key=lambda p: others[p])
        ok = mean > others[rival]
        return mean, p05, p95, ok, f"next: {rival} {others[rival]:.3f}", others[rival]
    off = distance(mean, obs["value"], obs["low"], obs["high"])
    ok = off <= target.tolerance + 1e-9
    return mean, p05, p95, ok, "" if ok else f"off by {off:.3g}", math.nan


def target_rows(target: Target, observed: Observed, reps: Replications) -> list[dict[str, object]]:
    """One row per observed row the target checks (a year can hold several partners)."""
    rows = observed[target.series]
    dated = "date" in rows
    output = model_output(target.series)
    picked = rows[rows["date" if dated else "year"].isin(target.points)]
    base_value = math.nan
    if target.compare == "index":
        base_value = float(rows.loc[rows["year"] == target.base_year, "value"].iloc[0])
    out = []
    for _, obs in picked.iterrows():
        value, low, high = (float(obs[k]) for k in ("value", "low", "high"))
        if target.compare == "index":
            value, low, high = value / base_value, low / base_value, high / base_value
            obs = obs.copy()
            obs["value"], obs["low"], obs["high"] = value, low, high
        partner = obs["partner"] if isinstance(obs["partner"], str) else target.partner
        row: dict[str, object] = {
            "id": target.id,
            "series": target.series,
            "year": int(obs["year"]),
            "date": obs["date"] if dated else "",
            "partner": partner or "",
            "role": target.role,
            "required": target.role == "calibration" and target.required,
            "observed": value,
            "low": low,
            "high": high,
            "tolerance": target.tolerance,
            "rule": rule_text(target, output),
        }
        reference = math.nan
        if dated:
            shares = event_shares(reps, target, str(obs["date"]))
            mean, p05, p95 = band(shares)
            ok, reference = mean >= 0.5, 0.5
            note = f"in {mean:.0%} of replications within ±{target.tolerance:g} quarter(s)"
        elif output is None:
            mean = p05 = p95 = math.nan
            ok, note = False, NO_OUTPUT
        else:
            try:
                sims = simulated_years(reps, output, obs["partner"], target.base_year)
            except KeyError as exc:
                mean = p05 = p95 = math.nan
                ok, note = False, f"{NO_OUTPUT} (no column {exc})"
            else:
                year = int(obs["year"])
                values = sims.loc[year].to_numpy(dtype=float)
                mean, p05, p95, ok, note, reference = check(target, output, obs, values, reps)
        row.update(sim_mean=mean, sim_p05=p05, sim_p95=p95, note=note, reference=reference)
        row["pass"] = bool(ok)
        out.append(row)
    return out


def validate(
    replications: Mapping[str, Replications], targets: list[Target], observed: Observed
) -> pd.DataFrame:
    """One row per target and observed row checked (see the module docstring), in the
    targets file's order; ``replications`` by each target's ``scenario``."""
    return evaluate(replications, targets, observed)[COLUMNS]


def evaluate(
    replications: Mapping[str, Replications], targets: list[Target], observed: Observed
) -> pd.DataFrame:
    """``validate``'s table with one more column, ``reference`` (see ``check``; one half for
    a dated row): what ``calibrate --fit`` turns a row into a residual with, so that the
    fit measures the targets exactly as ``run.py validate`` does."""
    rows = []
    for target in targets:
        rows.extend(target_rows(target, observed, replications[target.scenario]))
    return pd.DataFrame(rows, columns=[*COLUMNS, "reference"])


def counts(table: pd.DataFrame, role: str) -> tuple[int, int, int, int]:
    """(targets passing, targets, rows passing, rows) of one role; a target passes when
    every row of it passes."""
    part = table[table["role"] == role]
    by_target = part.groupby("id", sort=False)["pass"].all()
    return int(by_target.sum()), len(by_target), int(part["pass"].sum()), len(part)


# --- one figure per series ------------------------------------------------------------------


def series_figure(
    series: str,
    observed: Observed,
    table: pd.DataFrame,
    reps: Replications,
    base_year: int | None = None,
    naive: pd.DataFrame | None = None,
) -> Figure:
    """The simulated 90% band and mean over the years, the observed points with their
    ranges: calibration rows filled, held-out rows hollow, rows no target checks grey;
    ``naive``: the naive forecasts at the held-out years (``sim.experiments.skill``),
    drawn as dashed lines beside the band."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    output = model_output(series)
    rows = observed[series].copy()
    dated = "date" in rows
    checked = table[table["series"] == series]
    role_of: dict[tuple[int, str], dict[str, str]] = {}
    for year, date, who, role in checked[["year", "date", "partner", "role"]].itertuples(
        index=False
    ):
        role_of.setdefault((int(year), str(date)), {})[str(who)] = str(role)
    partners: list[str | None] = [None]
    if output is not None and "{partner}" in output.columns[0]:
        partners = [*sorted({p for p in rows["partner"] if isinstance(p, str)})]
    colours = [f"C{k % 10}" for k in range(len(partners))]
    base_value = math.nan
    if base_year is not None:
        base_value = float(rows.loc[rows["year"] == base_year, "value"].iloc[0])
    for partner, colour in zip(partners, colours, strict=True):
        label = partner.replace("_", " ") if partner else "simulated"
        if output is None:
            break
        if dated:
            x, values = _quarterly(reps, output.columns[0])
        else:
            sims = simulated_years(reps, output, partner, base_year)
            x, values = sims.index.to_numpy(dtype=float) + 0.5, sims.to_numpy(dtype=float)
        some = ~np.all(np.isnan(values), axis=1)  # a change has no first year
        x, values = x[some], values[some]
        mean = np.nanmean(values, axis=1)
        low, high = np.nanquantile(values, [LOW_Q, HIGH_Q], axis=1)
        ax.fill_between(x, low, high, color=colour, alpha=0.2, linewidth=0)
        ax.plot(x, mean, color=colour, linewidth=1.4, label=f"{label} (mean, 90% band)")
    for partner, colour in zip(partners, colours, strict=True):
        mine = rows if partner is None else rows[rows["partner"] == partner]
        for _, obs in mine.iterrows():
            scale = base_value if base_year is not None else 1.0
            value, low, high = (float(obs[k]) / scale for k in ("value", "low", "high"))
            if dated:
                year, quarter = date_quarter(str(obs["date"]))
                x0 = year + (quarter - 1) / 4 + 0.125
            else:
                x0 = int(obs["year"]) + 0.5
            roles = role_of.get((int(obs["year"]), str(obs["date"]) if dated else ""), {})
            mine_partner = obs["partner"] if isinstance(obs["partner"], str) else None
            role = roles.get(mine_partner) if mine_partner else next(iter(roles.values()), None)
            lower_bound = not math.isnan(low) and math.isnan(high)
            lo, hi = (low, high) if not math.isnan(low) and not math.isnan(high) else (value, value)
            face = {"calibration": colour, "held_out": "white"}.get(role or "", "none")
            edge = colour if role else "grey"
            marker = "^" if lower_bound else "o" if role else "x"
            ax.vlines(x0, lo, hi, color=edge, linewidth=1)
            ax.plot(
                x0,
                value,
                marker=marker,
                markersize=6,
                markerfacecolor=face,
                markeredgecolor=edge,
                color=edge,
                linestyle="none",
            )
    styles = {"persistence": (":", "0.35"), "trend": ("--", "0.35"), "drivers": ("-.", "0.35")}
    if naive is not None and base_year is None:
        for name, forecast in naive.items():
            if forecast.notna().any():
                style, colour = styles[str(name)]
                ax.plot(
                    naive.index.to_numpy(dtype=float) + 0.5,
                    forecast.to_numpy(dtype=float),
                    linestyle=style,
                    color=colour,
                    marker=".",
                    linewidth=1.0,
                    label=f"naive: {name}",
                )
    for marker, face, edge, text in (
        ("o", "black", "black", "observed, calibration"),
        ("o", "white", "black", "observed, held out"),
        ("x", "none", "grey", "observed, not a target"),
        ("^", "none", "black", "lower bound only"),
    ):
        ax.plot(
            [],
            [],
            marker=marker,
            markerfacecolor=face,
            markeredgecolor=edge,
            color=edge,
            linestyle="none",
            label=text,
        )
    title = output.label if output is not None else f"{series} ({NO_OUTPUT})"
    if base_year is not None:
        title = f"{title}: index, {base_year} = 1"
    ax.set_title(f"{series}: {title}", fontsize=10)
    ax.set_xlabel("year")
    ax.legend(fontsize=7, loc="best", ncol=2 if len(partners) > 3 else 1)
    ax.grid(alpha=0.3)
    return fig


def _quarterly(reps: Replications, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Calendar time and steps x replications of one per-step column (after the start)."""
    first = reps.frames[0]
    after = first["step"].to_numpy() > 0
    x = first["year"].to_numpy()[after] + (first["quarter"].to_numpy()[after] - 1) / 4 + 0.125
    values = np.stack([f[column].to_numpy(dtype=float)[after] for f in reps.frames], axis=1)
    return x, values
