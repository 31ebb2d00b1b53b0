"""Figures of one run (or of replications: a mean line with a band).

Every function takes the wide per-step frame(s) from ``sim.metrics`` and
returns a matplotlib Figure; saving is the caller's job (atomically). Figures are made
with matplotlib's ``Figure`` API, not pyplot: importing this module in a notebook leaves
its backend and its open figures alone, and worker threads may draw at the same time.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.cli.palette import AUTONOMY, CONCESSIONS, GROUP_COLOURS, PRESSURE
from sim.metrics import REGISTRY, column_title


def time_axis(frame: pd.DataFrame) -> np.ndarray:
    """Calendar time of each row: step k ends start_year + k/4."""
    start = frame["year"].iloc[0]
    return start + frame["step"].to_numpy() / 4.0


def partner_groups(
    frame: pd.DataFrame, metric: str, third: list[str], other: list[str]
) -> pd.DataFrame:
    """China, Russia, third neighbours summed, rest of world: what a reader compares."""
    cols = {c.split(".", 1)[1]: c for c in frame.columns if c.startswith(metric + ".")}
    return pd.DataFrame(
        {
            "China": frame[cols["china"]],
            "Russia": frame[cols["russia"]],
            "Third neighbours": frame[[cols[p] for p in third if p in cols]].sum(axis=1),
            "Rest of world": frame[[cols[p] for p in other if p in cols]].sum(axis=1),
        }
    )


def stacked_shares(
    frame: pd.DataFrame,
    metric: str,
    title: str,
    third: list[str],
    other: list[str],
    cap: np.ndarray | None = None,
) -> Figure:
    """Shares stacked by group; ``cap`` is the cap in force each step (1: none), drawn only
    where a cap exists (the history has none before 2010)."""
    fig = Figure(figsize=(8, 4.2))
    ax = fig.subplots()
    groups = partner_groups(frame, metric, third, other)
    t = time_axis(frame)
    ax.stackplot(
        t,
        groups.T.to_numpy(),
        labels=groups.columns,
        colors=[GROUP_COLOURS[g] for g in groups.columns],
        alpha=0.85,
    )
    if cap is not None and (np.asarray(cap) < 1).any():
        level = np.where(np.asarray(cap, dtype=float) < 1, cap, np.nan)
        shown = ", ".join(f"{v:.2f}" for v in dict.fromkeys(level[~np.isnan(level)].round(4)))
        ax.step(
            t,
            level,
            where="post",
            color="black",
            linestyle="--",
            linewidth=1.5,
            label=f"investment cap ({shown})",
        )
    ax.set_ylim(0, 1)
    ax.set_xlim(t[0], t[-1])
    ax.set_xlabel("year")
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.9)
    return fig


def pressure_title() -> str:
    """The pressure panel's title, from the registry's labels (report and page alike)."""
    episodes = REGISTRY["active_pressure"].label
    return f"{episodes[0].upper()}{episodes[1:]} and {REGISTRY['concessions'].label}"


def pressure_figure(frame: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(8, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    t = time_axis(frame)
    top.bar(
        t,
        frame["pressure_cost_bn_usd"],
        width=0.25,
        color=CONCESSIONS,
        label=column_title("pressure_cost_bn_usd"),
    )
    top.set_ylabel(REGISTRY["pressure_cost_bn_usd"].unit)
    top.set_title(pressure_title())
    top.legend(fontsize=8)
    bottom.step(
        t,
        frame["concessions"],
        where="post",
        color=CONCESSIONS,
        label=column_title("concessions"),
    )
    bottom.fill_between(
        t,
        0,
        frame["active_pressure"],
        step="post",
        color=PRESSURE,
        alpha=0.4,
        label=column_title("active_pressure"),
    )
    bottom.set_ylabel(REGISTRY["concessions"].unit)
    bottom.set_xlabel("year")
    bottom.legend(fontsize=8)
    return fig


def autonomy_figure(frame: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(8, 3.8))
    ax = fig.subplots()
    t = time_axis(frame)
    ax.plot(t, frame["autonomy"], color=AUTONOMY, linewidth=2, label=column_title("autonomy"))
    ax.plot(
        t,
        frame["leverage_china"],
        color=GROUP_COLOURS["China"],
        linewidth=1,
        label=column_title("leverage_china"),
    )
    ax.plot(
        t,
        frame["leverage_russia"],
        color=GROUP_COLOURS["Russia"],
        linewidth=1,
        label=column_title("leverage_russia"),
    )
    ax.set_ylim(0, 1)
    ax.set_xlabel("year")
    ax.set_title(f"{column_title('autonomy')}: {REGISTRY['autonomy'].definition}")
    ax.legend(fontsize=8)
    # Leverage is this quarter's exposure: a closed border lowers it (issue 18).
    fig.subplots_adjust(bottom=0.2)
    ax.set_xlabel(
        "year (leverage = exposure in this quarter's flows, not what Mongolia stands to "
        "lose: a closed border lowers it)",
        fontsize=8,
    )
    return fig


def run_figures(frame: pd.DataFrame, third: list[str], other: list[str]) -> dict[str, Figure]:
    """The standard figures of one run, by file name (the cap line from the per-step
    ``cap_level`` column, so it follows events that set or change the cap)."""
    cap = frame["cap_level"].to_numpy() if "cap_level" in frame else None
    return {
        "export_shares.png": stacked_shares(
            frame, "export_share", f"{column_title('export_share')} by partner", third, other
        ),
        "fdi_shares.png": stacked_shares(
            frame, "fdi_share", f"{column_title('fdi_share')} by origin", third, other, cap=cap
        ),
        "pressure.png": pressure_figure(frame),
        "autonomy.png": autonomy_figure(frame),
    }


def band_figure(
    frames: dict[str, list[pd.DataFrame]], column: str, title: str, band: float = 0.9
) -> Figure:
    """Mean line and a central ``band`` interval per label, over replications."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    lo_q, hi_q = (1 - band) / 2, 1 - (1 - band) / 2
    for label, runs in frames.items():
        values = np.stack([run[column].to_numpy() for run in runs])
        t = time_axis(runs[0])
        ax.plot(t, values.mean(axis=0), label=f"{label} (mean)")
        ax.fill_between(
            t,
            np.quantile(values, lo_q, axis=0),
            np.quantile(values, hi_q, axis=0),
            alpha=0.25,
            label=f"{label} ({band:.0%} band)",
        )
    if column.split(".", 1)[0] in CAPPED:
        _band_cap_lines(ax, frames)
    ax.set_title(title)
    ax.set_xlabel("year")
    ax.legend(fontsize=8)
    return fig


# Per-origin FDI shares: the investment cap applies to each of them.
CAPPED = ("fdi_share", "largest_fdi_share")


def _band_cap_lines(ax: Axes, frames: dict[str, list[pd.DataFrame]]) -> None:
    """The investment cap in force each quarter (``cap_level``; 1 = none), dashed: once
    when every label has the same cap, else one line per label."""
    caps: dict[str, np.ndarray] = {}
    for label, runs in frames.items():
        if runs and "cap_level" in runs[0]:
            level = runs[0]["cap_level"].to_numpy(dtype=float)
            caps[label] = np.where(level < 1, level, np.nan)
    caps = {label: level for label, level in caps.items() if np.isfinite(level).any()}
    if not caps:
        return
    levels = list(caps.values())
    same = all(np.array_equal(levels[0], other, equal_nan=True) for other in levels[1:])
    styles = ["--", ":", "-."]
    for k, (label, level) in enumerate(caps.items()):
        t = time_axis(frames[label][0])
        shown = ", ".join(f"{v:.2f}" for v in dict.fromkeys(level[np.isfinite(level)].round(4)))
        name = f"investment cap ({shown})" if same else f"investment cap, {label} ({shown})"
        ax.step(t, level, where="post", color="black", ls=styles[k % 3], lw=1.5, label=name)
        if same:
            break


def close(figures: dict[str, Figure] | Iterable[Figure]) -> None:
    """Free the figures' memory now. Without pyplot nothing else holds them, so this only
    speeds up the release; kept so callers need not know."""
    for fig in figures.values() if isinstance(figures, dict) else figures:
        fig.clear()
