"""`run.py run`: one scenario, a progress bar, a summary table and a results folder."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from sim.cli import output, plots
from sim.metrics import format_value, summarize, summary_label, summary_metrics
from sim.model.run import simulate
from sim.schema.scenario import load_scenario


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
