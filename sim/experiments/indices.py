"""What a sweep says, as pure functions of its design and outputs (usable from a notebook).

Sobol first-order and total indices with bootstrap confidence intervals (SALib);
Morris mu*, mu and sigma with a confidence interval on mu*; for any design, the
main-effect share of each parameter (the variance of the output's mean across the
parameter's levels or deciles, over the output's total variance: a first-order index
read straight off the runs). Figures are built with matplotlib's ``Figure`` API, so no
backend is chosen and nothing global changes; writing them is the caller's job.

Replications: SALib takes one output per design row, so each point's replications are
averaged first (failed runs left out). The indices are then about the expected output;
the run-to-run noise shows in :func:`point_means` (column ``<output>.sd``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

CONF_LEVEL = 0.95
MAX_HEATMAP_PAIRS = 3
FLOOR_PERMUTATIONS = 99  # random relabellings of a parameter's levels per noise floor
FLOOR_QUANTILE = 0.95  # a main effect above this share of the relabellings is not noise


@dataclass
class SweepData:
    """A sweep's design and outputs: all its analysis reads.

    ``design``: one row per point, indexed by point_id (parameter columns, ``u.<key>``
    unit coordinates). ``runs``: successful runs (point_id, parameters, outputs).
    """

    design: pd.DataFrame
    runs: pd.DataFrame
    keys: list[str]
    outputs: list[str]
    sampler: dict = field(default_factory=dict)
    seed: int = 0
    levelled: bool = False  # parameters take a few levels (a grid), not a continuum
    # listed values of categorical parameters, in the sweep file's order (plots use it)
    levels: dict[str, list] = field(default_factory=dict)
    log_keys: frozenset[str] = frozenset()  # parameters drawn log-uniformly: log axes

    @property
    def means(self) -> pd.DataFrame:
        """Each point's outputs, averaged over its replications (SALib's Y)."""
        return self.runs.groupby("point_id")[self.outputs].mean()


def salib_problem(keys: list[str]) -> dict:
    """The SALib problem: every parameter in the unit interval, mapped afterwards."""
    return {"num_vars": len(keys), "names": keys, "bounds": [[0.0, 1.0]] * len(keys)}


def point_means(data: SweepData) -> pd.DataFrame:
    """Per point: parameter values, replications, mean and sd of every output."""
    grouped = data.runs.groupby("point_id")[data.outputs]
    stats = grouped.mean().join(grouped.std(ddof=1).add_suffix(".sd"))
    stats.insert(0, "replications", grouped.size())
    return data.design[data.keys].join(stats, how="inner").reset_index()


def _not_analysable(y: np.ndarray) -> str:
    """Why an output cannot be analysed, or "": a NaN or inf among the values (say so:
    that is not a constant output) or one value everywhere."""
    bad = int((~np.isfinite(y)).sum())
    if bad:
        return f"not analysed: {bad} non-finite value(s)"
    if np.ptp(y) == 0:
        return "constant output"
    return ""


def sobol_indices(data: SweepData) -> pd.DataFrame:
    """S1 and ST with confidence intervals, per output and parameter."""
    from SALib.analyze import sobol

    means = data.means
    rows: list[dict[str, object]] = []
    for name in data.outputs:
        y = means[name].to_numpy(dtype=float)
        if note := _not_analysable(y):
            rows.extend(
                {"output": name, "parameter": k, "S1": np.nan, "S1_conf": np.nan}
                | {"ST": np.nan, "ST_conf": np.nan, "note": note}
                for k in data.keys
            )
            continue
        si = sobol.analyze(
            salib_problem(data.keys),
            y,
            calc_second_order=bool(data.sampler.get("second_order")),
            conf_level=CONF_LEVEL,
            print_to_console=False,
            seed=data.seed,
        )
        for i, k in enumerate(data.keys):
            rows.append(
                {
                    "output": name,
                    "parameter": k,
                    "S1": si["S1"][i],
                    "S1_conf": si["S1_conf"][i],
                    "ST": si["ST"][i],
                    "ST_conf": si["ST_conf"][i],
                    "note": "",
                }
            )
    return pd.DataFrame(rows)


def morris_indices(data: SweepData) -> pd.DataFrame:
    """mu*, its confidence interval, mu and sigma, per output and parameter."""
    from SALib.analyze import morris

    x = data.design[[f"u.{k}" for k in data.keys]].to_numpy(dtype=float)
    means = data.means
    rows: list[dict[str, object]] = []
    for name in data.outputs:
        y = means[name].to_numpy(dtype=float)
        if note := _not_analysable(y):
            rows.extend(
                {"output": name, "parameter": k, "mu_star": np.nan, "mu_star_conf": np.nan}
                | {"mu": np.nan, "sigma": np.nan, "note": note}
                for k in data.keys
            )
            continue
        si = morris.analyze(
            salib_problem(data.keys),
            x,
            y,
            conf_level=CONF_LEVEL,
            num_levels=int(data.sampler.get("levels", 4)),
            print_to_console=False,
            seed=data.seed,
        )
        for i, k in enumerate(data.keys):
            rows.append(
                {
                    "output": name,
                    "parameter": k,
                    "mu_star": si["mu_star"][i],
                    "mu_star_conf": si["mu_star_conf"][i],
                    "mu": si["mu"][i],
                    "sigma": si["sigma"][i],
                    "note": "",
                }
            )
    return pd.DataFrame(rows)


def groups(runs: pd.DataFrame, key: str, levelled: bool) -> pd.Series:
    """Levels of a parameter: its values on a grid or if categorical, else deciles."""
    column = runs[key]
    if (
        levelled
        or not pd.api.types.is_numeric_dtype(column)
        or pd.api.types.is_bool_dtype(column)
        or column.nunique() <= 10
    ):
        return column.astype(str) if not pd.api.types.is_numeric_dtype(column) else column
    return pd.qcut(column, q=10, duplicates="drop")


def _share(codes: np.ndarray, y: np.ndarray, total: float) -> float:
    """Variance of the level means (weighted by runs) over the total variance."""
    counts = np.bincount(codes)
    sums = np.bincount(codes, weights=y)
    used = counts > 0
    means = sums[used] / counts[used]
    return float((counts[used] * (means - y.mean()) ** 2).sum() / (len(y) * total))


def main_effects(data: SweepData) -> pd.DataFrame:
    """Share of each output's variance explained by each parameter's level means, with
    its noise floor.

    The share of a parameter the model never reads is not 0: k level means of n noisy
    runs spread by chance, about (k - 1) / (n - 1) of the variance. ``noise_floor`` is
    the 95th percentile of the share after randomly relabelling the runs' levels (the
    same level sizes, no link to the output): a share below it is not an effect
    (``above_floor`` False). Runs with a NaN or inf output are left out of that output
    and counted in ``note``.
    """
    ok, rows = data.runs, []
    rng = np.random.default_rng(data.seed)
    for name in data.outputs:
        values = ok[name].to_numpy(dtype=float)
        finite = np.isfinite(values)
        y = values[finite]
        dropped = int((~finite).sum())
        note = f"{dropped} run(s) with a non-finite value left out" if dropped else ""
        total = float(y.var()) if len(y) else 0.0
        for k in data.keys:
            level = groups(ok, k, data.levelled)[finite]
            codes, uniques = pd.factorize(level, sort=True)
            if total > 0 and len(uniques) > 1:
                share = _share(codes, y, total)
                floor = float(
                    np.quantile(
                        [
                            _share(rng.permutation(codes), y, total)
                            for _ in range(FLOOR_PERMUTATIONS)
                        ],
                        FLOOR_QUANTILE,
                    )
                )
            else:
                share = floor = np.nan
            by_level = pd.Series(y).groupby(codes).mean()
            rows.append(
                {
                    "output": name,
                    "parameter": k,
                    "main_effect": share,
                    "noise_floor": floor,
                    "above_floor": bool(share > floor) if np.isfinite(share) else False,
                    "mean_min": float(by_level.min()) if len(by_level) else np.nan,
                    "mean_max": float(by_level.max()) if len(by_level) else np.nan,
                    "note": note if total > 0 or not len(y) else "constant output",
                }
            )
    return pd.DataFrame(rows)


def influence_table(
    indices: pd.DataFrame,
    rank_by: str,
    label: str,
    top: int,
    method: str,
    have: int,
    expected: int,
    notes: list[str] | None = None,
) -> str:
    """The most influential parameters of each output, as text, then any notes (failed
    runs left out, damaged files skipped). With a noise floor (main effects), a share
    below it is marked "(noise)"."""
    head = (
        f"most influential parameters ({method} sweep, {have} of {expected} runs; "
        f"ranked by {label})"
    )
    lines = [head, "-" * len(head)]
    width = max(len(o) for o in indices["output"].unique())
    floor = "noise_floor" in indices.columns
    for name, group in indices.groupby("output", sort=False):
        ranked = group.dropna(subset=[rank_by]).sort_values(rank_by, ascending=False)
        if ranked.empty:
            note = next((n for n in group["note"] if n), "constant output")
            shown = "constant: no parameter moves it" if note == "constant output" else note
            lines.append(f"{name:<{width}}  ({shown})")
            continue
        shown = "; ".join(
            f"{r.parameter} {getattr(r, rank_by):.3g}"
            + (
                ""
                if not floor
                else f" (floor {r.noise_floor:.3g}{'' if r.above_floor else ': noise'})"
            )
            for r in ranked.head(top).itertuples()
        )
        lines.append(f"{name:<{width}}  {shown}")
    if floor:
        lines.append(
            "floor: the share a parameter with no effect reaches by chance, per parameter "
            f"({FLOOR_QUANTILE:.0%} of {FLOOR_PERMUTATIONS} random relabellings)"
        )
    lines.extend(f"note: {n}" for n in notes or [])
    return "\n".join(lines)


# --- figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bars:
    """How a sampler's indices table is drawn: two bars per parameter (``column`` with
    its optional ``conf`` error bar and ``label``), a y-axis label and the file prefix.
    Declared by each sampler's registry entry, so no code here names a sampler."""

    prefix: str  # figure files are "<prefix>_<output>.png"
    first: tuple[str, str | None, str]  # (column, confidence column or None, legend)
    second: tuple[str, str | None, str]
    ylabel: str


def index_figures(bars: Bars, data: SweepData, indices: pd.DataFrame) -> list[tuple[str, Figure]]:
    """One bar chart of the indices per output that is not constant."""
    figures = []
    for name in data.outputs:
        group = indices[indices["output"] == name]
        if group[bars.first[0]].notna().any():
            figures.append((f"{bars.prefix}_{name}.png", index_bars(bars, name, group)))
    return figures


def effect_figures(data: SweepData, indices: pd.DataFrame) -> list[tuple[str, Figure]]:
    """Per output: the main effects against their noise floor, lines with bands over each
    parameter; on a grid, heatmaps over pairs."""
    figures = []
    for name in data.outputs:
        group = indices[indices["output"] == name]
        if group["main_effect"].notna().any():
            figures.append((f"main_effects_{name}.png", main_effect_bars(name, group)))
        figures.append((f"lines_{name}.png", lines(data, name)))
        if data.levelled and len(data.keys) >= 2:
            figures.append((f"heatmap_{name}.png", heatmaps(data, name)))
    return figures


def index_bars(bars: Bars, name: str, group: pd.DataFrame) -> Figure:
    """The two indices of ``bars`` side by side for each parameter of one output."""
    fig = Figure(figsize=(max(6, 0.7 * len(group) + 2), 4))
    ax = fig.subplots()
    x = np.arange(len(group))
    for shift, (column, conf, label) in ((-0.2, bars.first), (0.2, bars.second)):
        ax.bar(
            x + shift,
            group[column],
            0.4,
            yerr=group[conf] if conf else None,
            capsize=3 if conf else None,
            label=label,
        )
    ax.set_ylabel(bars.ylabel)
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xticks(x, group["parameter"], rotation=35, ha="right", fontsize=8)
    ax.set_title(name)
    ax.legend(fontsize=8)
    return fig


def main_effect_bars(name: str, group: pd.DataFrame) -> Figure:
    """Each parameter's main effect, with its noise floor drawn over the bar."""
    fig = Figure(figsize=(max(6, 0.7 * len(group) + 2), 4))
    ax = fig.subplots()
    x = np.arange(len(group))
    ax.bar(x, group["main_effect"], 0.6, label="main effect (share of variance)")
    ax.scatter(
        x,
        group["noise_floor"],
        marker="_",
        s=600,
        color="black",
        zorder=3,
        label=f"noise floor ({FLOOR_QUANTILE:.0%} of random relabellings)",
    )
    ax.set_xticks(x, group["parameter"], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("share of the output's variance")
    ax.set_title(name)
    ax.legend(fontsize=8)
    return fig


def _levels(ok: pd.DataFrame, key: str, levelled: bool) -> pd.Series:
    level = groups(ok, key, levelled)
    if isinstance(level.dtype, pd.CategoricalDtype):
        return level.apply(lambda interval: interval.mid).astype(float)
    return level


def lines(data: SweepData, name: str) -> Figure:
    ok, keys = data.runs, data.keys
    fig = Figure(figsize=(3.6 * len(keys), 3.4))
    axes = fig.subplots(1, len(keys), squeeze=False, sharey=True)
    for ax, key in zip(axes[0], keys, strict=True):
        level = _levels(ok, key, data.levelled)
        stats = (
            ok[name]
            .groupby(level, observed=True)
            .agg(mean="mean", low=lambda s: s.quantile(0.05), high=lambda s: s.quantile(0.95))
        )
        numeric = pd.api.types.is_numeric_dtype(stats.index)
        if not numeric:
            stats = stats.reindex([v for v in _order(data, key) if v in stats.index])
        x = stats.index.to_numpy(dtype=float) if numeric else np.arange(len(stats))
        ax.fill_between(x, stats["low"], stats["high"], alpha=0.25, label="5-95% of runs")
        ax.plot(x, stats["mean"], marker="o", label="mean")
        if not numeric:
            ax.set_xticks(x, [str(v) for v in stats.index])
        elif key in data.log_keys:
            ax.set_xscale("log")  # drawn log-uniformly: equal steps are equal ratios
        ax.set_xlabel(key, fontsize=8)
    axes[0][0].set_ylabel(name, fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"{name}: mean over runs at each level (other parameters and replications pooled)",
        fontsize=9,
    )
    return fig


def heatmaps(data: SweepData, name: str) -> Figure:
    ok = data.runs
    pairs = list(itertools.combinations(data.keys, 2))[:MAX_HEATMAP_PAIRS]
    fig = Figure(figsize=(4.4 * len(pairs), 3.8))
    axes = fig.subplots(1, len(pairs), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        grid = ok.pivot_table(index=b, columns=a, values=name, aggfunc="mean").reindex(
            index=_order(data, b), columns=_order(data, a)
        )
        image = ax.imshow(grid.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(
            range(len(grid.columns)), [_short(v) for v in grid.columns], fontsize=7, rotation=30
        )
        ax.set_yticks(range(len(grid.index)), [_short(v) for v in grid.index], fontsize=7)
        ax.set_xlabel(a, fontsize=8)
        ax.set_ylabel(b, fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(f"{name}: mean over replications and the other parameters", fontsize=9)
    return fig


def _order(data: SweepData, key: str) -> list:
    """Levels in a reader's order: listed values as the sweep file lists them (whatever
    the sampler; a design's first appearance is an accident of the draw), other numbers
    ascending."""
    column = data.runs[key]
    if key in data.levels:
        present = set(column.tolist())
        return [v for v in data.levels[key] if v in present]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return sorted(column.unique())
    return list(dict.fromkeys(column.sort_values().tolist()))


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
