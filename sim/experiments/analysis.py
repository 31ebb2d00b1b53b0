"""What a sweep says: sensitivity indices, main effects, heatmaps and line plots.

By sampler: Sobol first-order and total indices with bootstrap confidence intervals
(SALib) for ``sobol``; Morris mu*, mu and sigma with a confidence interval on mu* for
``morris``; for ``grid``, ``random`` and ``lhs`` the main-effect share of each parameter
(the variance of the output's mean across the parameter's levels or deciles, over the
output's total variance: a first-order index read straight off the runs), heatmaps over
two parameters and line plots with bands over one.

Replications: SALib takes one output per design row, so each point's replications are
averaged first (failed runs left out). The indices are then about the expected output;
the run-to-run noise shows in ``point_means.csv`` (column ``<output>.sd``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.cli import output
from sim.experiments import storage
from sim.schema.scenario import ScenarioError

CONF_LEVEL = 0.95
MAX_HEATMAP_PAIRS = 3


@dataclass
class AnalysisReport:
    folder: Path
    method: str
    indices: pd.DataFrame
    table: str
    files: list[Path] = field(default_factory=list)


def analyze(results: Path, top: int = 3, plots: bool = True) -> AnalysisReport:
    """Indices (CSV), plots (PNG) and a printed table of the most influential parameters."""
    results = Path(results)
    manifest = storage.read_manifest(results)
    if manifest is None:
        raise ScenarioError(
            results,
            storage.MANIFEST,
            "no manifest.json",
            "a results folder written by run.py sweep",
        )
    method = manifest["sampler"]["method"]
    keys = list(manifest["parameters"])
    outputs = list(manifest["outputs"]["summary"])
    runs = storage.load_runs(results)
    expected = int(manifest["n_runs"])
    have = len(runs)
    if have != expected and method in ("sobol", "morris"):
        raise ScenarioError(
            results,
            "runs",
            f"{have} of {expected} runs",
            "a finished sweep (Sobol and Morris designs need every point); "
            "resume it with run.py sweep FILE --out " + str(results),
        )
    ok = runs[runs["error"].isna()]
    if ok.empty:
        raise ScenarioError(results, "runs", "no successful runs", "at least one finished run")
    design = storage.load_design(results).set_index("point_id").sort_index()
    means = ok.groupby("point_id")[outputs].mean()
    if method in ("sobol", "morris") and len(means) != len(design):
        lost = sorted(set(design.index) - set(means.index))[:5]
        raise ScenarioError(
            results,
            "runs",
            f"points with no successful run (e.g. {lost})",
            "at least one successful replication of every point",
        )
    folder = results / "analysis"
    folder.mkdir(exist_ok=True)
    files = [output.write_csv(folder / "point_means.csv", _point_table(design, ok, keys, outputs))]
    if method == "sobol":
        indices = _sobol(manifest, keys, outputs, means)
        rank_by, label = "ST", "S_T"
    elif method == "morris":
        indices = _morris(manifest, keys, outputs, means, design)
        rank_by, label = "mu_star", "mu*"
    else:
        indices = _main_effects(ok, keys, outputs, method)
        rank_by, label = "main_effect", "main effect"
    name = {"sobol": "sobol_indices.csv", "morris": "morris_indices.csv"}.get(
        method, "main_effects.csv"
    )
    files.append(output.write_csv(folder / name, indices))
    if plots:
        files.extend(_plots(folder, method, indices, ok, keys, outputs))
    table = _influence_table(indices, rank_by, label, top, method, have, expected)
    output.write_text(folder / "most_influential.txt", table + "\n")
    return AnalysisReport(folder=folder, method=method, indices=indices, table=table, files=files)


def _problem(keys: list[str]) -> dict:
    return {"num_vars": len(keys), "names": keys, "bounds": [[0.0, 1.0]] * len(keys)}


def _point_table(
    design: pd.DataFrame, ok: pd.DataFrame, keys: list[str], outputs: list[str]
) -> pd.DataFrame:
    grouped = ok.groupby("point_id")[outputs]
    stats = grouped.mean().join(grouped.std(ddof=1).add_suffix(".sd"))
    stats.insert(0, "replications", grouped.size())
    return design[keys].join(stats, how="inner").reset_index()


def _sobol(
    manifest: dict, keys: list[str], outputs: list[str], means: pd.DataFrame
) -> pd.DataFrame:
    from SALib.analyze import sobol

    second = bool(manifest["sampler"].get("second_order"))
    rows = []
    for name in outputs:
        y = means[name].to_numpy(dtype=float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            rows.extend(
                {
                    "output": name,
                    "parameter": k,
                    "S1": np.nan,
                    "S1_conf": np.nan,
                    "ST": np.nan,
                    "ST_conf": np.nan,
                    "note": "constant output",
                }
                for k in keys
            )
            continue
        si = sobol.analyze(
            _problem(keys),
            y,
            calc_second_order=second,
            conf_level=CONF_LEVEL,
            print_to_console=False,
            seed=manifest["seed"],
        )
        for i, k in enumerate(keys):
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


def _morris(
    manifest: dict, keys: list[str], outputs: list[str], means: pd.DataFrame, design: pd.DataFrame
) -> pd.DataFrame:
    from SALib.analyze import morris

    x = design[[f"u.{k}" for k in keys]].to_numpy(dtype=float)
    levels = int(manifest["sampler"].get("levels", 4))
    rows = []
    for name in outputs:
        y = means[name].to_numpy(dtype=float)
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            rows.extend(
                {
                    "output": name,
                    "parameter": k,
                    "mu_star": np.nan,
                    "mu_star_conf": np.nan,
                    "mu": np.nan,
                    "sigma": np.nan,
                    "note": "constant output",
                }
                for k in keys
            )
            continue
        si = morris.analyze(
            _problem(keys),
            x,
            y,
            conf_level=CONF_LEVEL,
            num_levels=levels,
            print_to_console=False,
            seed=manifest["seed"],
        )
        for i, k in enumerate(keys):
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


def _groups(runs: pd.DataFrame, key: str, method: str) -> pd.Series:
    """Levels of a parameter: its values on a grid or if categorical, else deciles."""
    column = runs[key]
    if (
        method == "grid"
        or not pd.api.types.is_numeric_dtype(column)
        or pd.api.types.is_bool_dtype(column)
        or column.nunique() <= 10
    ):
        return column.astype(str) if not pd.api.types.is_numeric_dtype(column) else column
    return pd.qcut(column, q=10, duplicates="drop")


def _main_effects(
    ok: pd.DataFrame, keys: list[str], outputs: list[str], method: str
) -> pd.DataFrame:
    rows = []
    for name in outputs:
        y = ok[name]
        total = float(y.var(ddof=0))
        for k in keys:
            level_mean = y.groupby(_groups(ok, k, method), observed=True).transform("mean")
            share = float(level_mean.var(ddof=0) / total) if total > 0 else np.nan
            by_level = y.groupby(_groups(ok, k, method), observed=True).mean()
            rows.append(
                {
                    "output": name,
                    "parameter": k,
                    "main_effect": share,
                    "mean_min": float(by_level.min()),
                    "mean_max": float(by_level.max()),
                    "note": "" if total > 0 else "constant output",
                }
            )
    return pd.DataFrame(rows)


def _influence_table(
    indices: pd.DataFrame, rank_by: str, label: str, top: int, method: str, have: int, expected: int
) -> str:
    head = (
        f"most influential parameters ({method} sweep, {have} of {expected} runs; "
        f"ranked by {label})"
    )
    lines = [head, "-" * len(head)]
    width = max(len(o) for o in indices["output"].unique())
    for name, group in indices.groupby("output", sort=False):
        ranked = group.dropna(subset=[rank_by]).sort_values(rank_by, ascending=False)
        if ranked.empty:
            lines.append(f"{name:<{width}}  (constant: no parameter moves it)")
            continue
        shown = "; ".join(
            f"{r.parameter} {getattr(r, rank_by):.3g}" for r in ranked.head(top).itertuples()
        )
        lines.append(f"{name:<{width}}  {shown}")
    return "\n".join(lines)


# --- plots ---------------------------------------------------------------------------------


def _plots(
    folder: Path,
    method: str,
    indices: pd.DataFrame,
    ok: pd.DataFrame,
    keys: list[str],
    outputs: list[str],
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    for name in outputs:
        figures = []
        if method in ("sobol", "morris"):
            group = indices[indices["output"] == name]
            if group.iloc[:, 2].notna().any():
                figures.append((f"{method}_{name}.png", _index_bars(plt, method, name, group)))
        else:
            figures.append((f"lines_{name}.png", _lines(plt, ok, keys, name, method)))
            if method == "grid" and len(keys) >= 2:
                figures.append((f"heatmap_{name}.png", _heatmaps(plt, ok, keys, name)))
        for filename, fig in figures:
            files.append(output.write_figure(folder / filename, fig))
            plt.close(fig)
    return files


def _index_bars(plt, method: str, name: str, group: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(max(6, 0.7 * len(group) + 2), 4))
    x = np.arange(len(group))
    if method == "sobol":
        ax.bar(x - 0.2, group["S1"], 0.4, yerr=group["S1_conf"], capsize=3, label="first order S1")
        ax.bar(x + 0.2, group["ST"], 0.4, yerr=group["ST_conf"], capsize=3, label="total ST")
        ax.set_ylabel(f"Sobol index ({int(CONF_LEVEL * 100)}% CI)")
    else:
        ax.bar(
            x - 0.2,
            group["mu_star"],
            0.4,
            yerr=group["mu_star_conf"],
            capsize=3,
            label="mu* (mean |elementary effect|)",
        )
        ax.bar(x + 0.2, group["sigma"], 0.4, label="sigma (interactions, non-linearity)")
        ax.set_ylabel("effect per unit of the parameter's range")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set_xticks(x, group["parameter"], rotation=35, ha="right", fontsize=8)
    ax.set_title(name)
    ax.legend(fontsize=8)
    return fig


def _levels(ok: pd.DataFrame, key: str, method: str) -> pd.Series:
    groups = _groups(ok, key, method)
    if isinstance(groups.dtype, pd.CategoricalDtype):
        return groups.apply(lambda interval: interval.mid).astype(float)
    return groups


def _lines(plt, ok: pd.DataFrame, keys: list[str], name: str, method: str):
    fig, axes = plt.subplots(
        1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False, sharey=True
    )
    for ax, key in zip(axes[0], keys, strict=True):
        level = _levels(ok, key, method)
        stats = (
            ok[name]
            .groupby(level, observed=True)
            .agg(mean="mean", low=lambda s: s.quantile(0.05), high=lambda s: s.quantile(0.95))
        )
        numeric = pd.api.types.is_numeric_dtype(stats.index)
        if not numeric:
            stats = stats.reindex(_order(ok, key))
        x = stats.index.to_numpy(dtype=float) if numeric else np.arange(len(stats))
        ax.fill_between(x, stats["low"], stats["high"], alpha=0.25, label="5-95% of runs")
        ax.plot(x, stats["mean"], marker="o", label="mean")
        if not numeric:
            ax.set_xticks(x, [str(v) for v in stats.index])
        ax.set_xlabel(key, fontsize=8)
    axes[0][0].set_ylabel(name, fontsize=8)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(
        f"{name}: mean over runs at each level (other parameters and replications pooled)",
        fontsize=9,
    )
    return fig


def _heatmaps(plt, ok: pd.DataFrame, keys: list[str], name: str):
    pairs = list(itertools.combinations(keys, 2))[:MAX_HEATMAP_PAIRS]
    fig, axes = plt.subplots(1, len(pairs), figsize=(4.4 * len(pairs), 3.8), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs, strict=True):
        grid = ok.pivot_table(index=b, columns=a, values=name, aggfunc="mean").reindex(
            index=_order(ok, b), columns=_order(ok, a)
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


def _order(ok: pd.DataFrame, key: str) -> list:
    """Levels in a reader's order: numbers ascending, labels as the sweep file lists them."""
    column = ok.sort_values("point_id")[key]
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return sorted(column.unique())
    return list(dict.fromkeys(column.tolist()))


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
