"""`run.py run`: one scenario, a progress bar, a summary table and a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from tqdm import tqdm

from sim.cli import output, plots
from sim.experiments.compare import compare, labels_for
from sim.experiments.replicate import BAND, Replications, replicate
from sim.metrics import column_title, format_value, summarize, summary_label, summary_metrics
from sim.model.run import simulate
from sim.schema.scenario import load_scenario

if TYPE_CHECKING:  # the sweep extra (pyarrow, SALib): not needed by `run`
    from sim.experiments.analysis import AnalysisReport


def format_summary(summary: dict[str, float], title: str) -> str:
    """The run table: one line per summary metric, labelled from the metric registry."""
    width = max(len(summary_label(name)) for name in (*summary_metrics(), *summary))
    lines = [title, "-" * (width + 14)]
    for name, value in summary.items():
        lines.append(f"{summary_label(name):<{width}}  {format_value(name, value)}")
    return "\n".join(lines)


def run_and_report(
    path: Path,
    overrides: list[str],
    seed: int | None = None,
    steps: int | None = None,
    out: str | None = None,
    plots_wanted: bool = True,
) -> Path:
    """Validate first (no folder for a bad scenario), run, then write every file atomically."""
    config = load_scenario(path, overrides)
    if steps is not None:
        config = config.model_copy(update={"steps": steps})
    seed = config.seed if seed is None else seed
    with tqdm(
        total=config.steps, desc=f"{config.name} (seed {seed})", unit="quarter", leave=False
    ) as bar:
        model, frame = simulate(config, seed, progress=bar.update)
    summary = summarize(frame)
    print(
        format_summary(
            summary, f"{config.name}: {config.start_year} + {config.steps} quarters, seed {seed}"
        )
    )
    folder = output.new_results_dir(config.name, out)
    write_run(folder, config, seed, model, frame, summary, plots_wanted)
    return folder


def write_run(
    folder: Path, config, seed: int, model, frame, summary: dict, plots_wanted: bool = True
) -> None:
    output.write_text(folder / "scenario.toml", config.model_copy(update={"seed": seed}).to_toml())
    output.write_csv(folder / "steps.csv", frame)
    output.write_json(
        folder / "summary.json",
        {"scenario": config.name, "seed": seed, "steps": config.steps, "metrics": summary},
    )
    output.write_text(folder / "events.txt", "\n".join(model.event_log) + "\n")
    if plots_wanted:
        third = [p for p, a in zip(model.partner_ids, model.is_third, strict=True) if a]
        other = [
            p
            for p, g in zip(model.partner_ids, model.is_neighbour | model.is_third, strict=True)
            if not g
        ]
        figures = plots.run_figures(frame, third, other, config.investment.cap.level)
        for name, fig in figures.items():
            output.write_figure(folder / name, fig)
        plots.close(figures)


# --- replications and comparisons (sim.experiments.replicate, .compare) ------------------

# Band plots of a replicated run (and of a comparison): file -> per-step column (its
# title comes from the metric registry).
BAND_PLOTS = {
    "export_share_china.png": "export_share.china",
    "third_neighbour_export_share.png": "third_neighbour_export_share",
    "fdi_share_china.png": "fdi_share.china",
    "export_revenue.png": "export_revenue_bn_usd",
    "pressure_cost.png": "pressure_cost_bn_usd",
    "autonomy.png": "autonomy",
}


def format_bands(bands: dict[str, dict[str, float]], title: str) -> str:
    width = max(len(summary_label(name)) for name in bands)
    lines = [title, f"{'':<{width}}  {'mean':>10}  {'5%':>10}  {'95%':>10}", "-" * (width + 38)]
    for name, b in bands.items():
        lines.append(
            f"{summary_label(name):<{width}}  {b['mean']:>10.3f}  "
            f"{b['p05']:>10.3f}  {b['p95']:>10.3f}"
        )
    return "\n".join(lines)


def replicate_and_report(
    path: Path,
    overrides: list[str],
    replications: int,
    seed: int | None = None,
    steps: int | None = None,
    out: str | None = None,
    plots_wanted: bool = True,
    workers: int | None = None,
) -> Path:
    """Validate, run N replications, print means and bands, write the results folder."""
    config = load_scenario(path, overrides)
    if seed is not None:
        config = config.model_copy(update={"seed": seed})
    if steps is not None:
        config = config.model_copy(update={"steps": steps})
    reps = replicate(config, replications, workers=workers)
    bands = reps.summary_bands()
    print(
        format_bands(
            bands,
            f"{config.name}: {config.start_year} + {config.steps} quarters, "
            f"{replications} replications of seed {config.seed} "
            f"(mean and central {BAND:.0%} band)",
        )
    )
    folder = output.new_results_dir(config.name, out)
    write_replications(folder, reps, bands, plots_wanted)
    return folder


def write_replications(
    folder: Path, reps: Replications, bands: dict, plots_wanted: bool = True
) -> None:
    config = reps.config
    output.write_text(folder / "scenario.toml", config.to_toml())
    output.write_csv(folder / "replications.csv", reps.summaries())
    output.write_csv(folder / "steps_band.csv", reps.step_bands())
    output.write_json(
        folder / "summary.json",
        {
            "scenario": config.name,
            "master_seed": config.seed,
            "steps": config.steps,
            "replications": len(reps.runs),
            "seeds": reps.seeds,
            "band": BAND,
            "metrics": bands,
        },
    )
    logs = [
        f"--- replication {r.index} (seed {r.seed}) ---\n" + "\n".join(r.events) for r in reps.runs
    ]
    output.write_text(folder / "events.txt", "\n\n".join(logs) + "\n")
    if plots_wanted:
        write_band_plots(folder, {config.name: reps.frames})


def write_band_plots(folder: Path, frames: dict[str, list[pd.DataFrame]]) -> None:
    for name, column in BAND_PLOTS.items():
        fig = plots.band_figure(frames, column, column_title(column), band=BAND)
        output.write_figure(folder / name, fig)
        plots.close([fig])


def format_comparison(table: pd.DataFrame, label_a: str, label_b: str, count: int) -> str:
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


def compare_and_report(
    path_a: Path,
    path_b: Path,
    replications: int,
    overrides: list[str] | tuple[str, ...] = (),
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


# --- sweep analysis (sim.experiments.analysis) -------------------------------------------


def write_analysis(report: AnalysisReport) -> AnalysisReport:
    """Write a sweep's analysis to ``<results>/analysis/``: point means, the indices, the
    figures and the most-influential table; ``report.files`` lists what was written."""
    folder = report.folder
    folder.mkdir(exist_ok=True)
    files = [
        output.write_csv(folder / "point_means.csv", report.point_means),
        output.write_csv(folder / report.index_file, report.indices),
    ]
    for filename, fig in report.figures:
        files.append(output.write_figure(folder / filename, fig))
    plots.close([fig for _, fig in report.figures])
    output.write_text(folder / "most_influential.txt", report.table + "\n")
    report.files = files
    return report
