"""`run.py compare A B`: two scenarios side by side (`run.py list` is sim/catalog.py).

A comparison runs both scenarios over the same replication seeds (each from its
own master seed; a what-if that inherits the baseline's seed therefore meets the
same price shocks and red-line draws: common random numbers) and reports, per
summary metric, each mean with its 90% band, the difference, and whether the
bands overlap: bands that do not overlap mark a difference bigger than noise.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.cli import output
from sim.experiments.replicate import BAND, Replications, replicate, write_band_plots
from sim.schema.scenario import load_scenario


def compare(a: Replications, b: Replications) -> pd.DataFrame:
    """One row per summary metric: both means and bands, B - A, and band overlap."""
    bands_a, bands_b = a.summary_bands(), b.summary_bands()
    rows = []
    for name, ba in bands_a.items():
        bb = bands_b[name]
        rows.append(
            {
                "metric": name,
                "a_mean": ba["mean"],
                "a_p05": ba["p05"],
                "a_p95": ba["p95"],
                "b_mean": bb["mean"],
                "b_p05": bb["p05"],
                "b_p95": bb["p95"],
                "difference": bb["mean"] - ba["mean"],
                "bands_overlap": bool(ba["p05"] <= bb["p95"] and bb["p05"] <= ba["p95"]),
            }
        )
    return pd.DataFrame(rows)


def format_comparison(table: pd.DataFrame, label_a: str, label_b: str, count: int) -> str:
    from sim.metrics import summary_label

    labels = [summary_label(m) for m in table["metric"]]
    width = max(len(s) for s in labels)
    cell = 27
    head = (
        f"{'':<{width}}  {label_a[:cell]:>{cell}}  {label_b[:cell]:>{cell}}  {'B - A':>9}  overlap?"
    )
    lines = [
        f"A = {label_a}, B = {label_b}: mean [5%, 95%] over {count} replications",
        head,
        "-" * len(head),
    ]
    for label, row in zip(labels, table.itertuples(), strict=True):
        a = f"{row.a_mean:.3f} [{row.a_p05:.3f}, {row.a_p95:.3f}]"
        b = f"{row.b_mean:.3f} [{row.b_p05:.3f}, {row.b_p95:.3f}]"
        mark = "yes" if row.bands_overlap else "NO"
        lines.append(f"{label:<{width}}  {a:>{cell}}  {b:>{cell}}  {row.difference:>+9.3f}  {mark}")
    lines.append("overlap NO: the difference is larger than the spread between seeds")
    return "\n".join(lines)


def labels_for(path_a: Path, path_b: Path, name_a: str, name_b: str) -> tuple[str, str]:
    """Scenario names, or file names when the names are the same."""
    if name_a != name_b:
        return name_a, name_b
    if path_a.stem != path_b.stem:
        return path_a.stem, path_b.stem
    return f"A ({name_a})", f"B ({name_b})"


def compare_and_report(
    path_a: Path,
    path_b: Path,
    replications: int,
    overrides: list[str] = (),
    out: str | None = None,
    plots_wanted: bool = True,
    workers: int | None = None,
) -> Path:
    """Validate both files first, run both, print the table, write the results folder."""
    config_a = load_scenario(path_a, overrides)
    config_b = load_scenario(path_b, overrides)
    label_a, label_b = labels_for(path_a, path_b, config_a.name, config_b.name)
    reps_a = replicate(config_a, replications, workers=workers, label=label_a)
    reps_b = replicate(config_b, replications, workers=workers, label=label_b)
    table = compare(reps_a, reps_b)
    print(format_comparison(table, label_a, label_b, replications))
    folder = output.new_results_dir(f"compare-{config_a.name}-vs-{config_b.name}", out)
    output.write_text(folder / "a.toml", config_a.to_toml())
    output.write_text(folder / "b.toml", config_b.to_toml())
    output.write_csv(folder / "comparison.csv", table)
    output.write_json(
        folder / "comparison.json",
        {
            "a": {"label": label_a, "file": str(path_a), "master_seed": config_a.seed},
            "b": {"label": label_b, "file": str(path_b), "master_seed": config_b.seed},
            "replications": replications,
            "band": BAND,
            "metrics": table.to_dict(orient="records"),
        },
    )
    if plots_wanted:
        write_band_plots(folder, {label_a: reps_a.frames, label_b: reps_b.frames})
    return folder
