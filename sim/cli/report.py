"""`run.py run`: one scenario, a progress bar, a summary table and a results folder."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from sim.cli import output, plots
from sim.metrics import SUMMARY_METRICS, simulate, summarize
from sim.schema.scenario import load_scenario

SUMMARY_LABELS = {
    "china_export_share_mean": "China's share of exports (mean)",
    "russia_export_share_mean": "Russia's share of exports (mean)",
    "third_neighbour_export_share_mean": "third neighbours' share of exports (mean)",
    "export_hhi_mean": "export concentration, Herfindahl (mean)",
    "export_revenue_bn_usd_total": "export revenue, bn USD (total)",
    "china_fdi_share_final": "China's share of the FDI stock (final)",
    "largest_fdi_share_max": "largest FDI share of one origin (max)",
    "largest_fdi_share_final": "largest FDI share of one origin (final)",
    "third_neighbour_fdi_share_final": "third neighbours' share of FDI (final)",
    "fdi_stock_bn_usd_final": "FDI stock, bn USD (final)",
    "cap_breach_quarters": "quarters with an origin over the cap",
    "fdi_rejected_bn_usd_total": "FDI rejected by the cap, bn USD (total)",
    "fdi_redirected_bn_usd_total": "FDI redirected to other origins, bn USD (total)",
    "pressure_quarters": "quarters under neighbour pressure",
    "pressure_cost_bn_usd_total": "cost of pressure, bn USD (total)",
    "concessions": "concessions",
    "autonomy_mean": "autonomy index (mean)",
    "autonomy_final": "autonomy index (final)",
    "leverage_china_mean": "China's effective leverage (mean)",
    "leverage_russia_mean": "Russia's effective leverage (mean)",
}
assert set(SUMMARY_LABELS) == set(SUMMARY_METRICS)
COUNTS = {"cap_breach_quarters", "pressure_quarters", "concessions"}


def format_summary(summary: dict[str, float], title: str) -> str:
    width = max(len(label) for label in SUMMARY_LABELS.values())
    lines = [title, "-" * (width + 14)]
    for name, value in summary.items():
        shown = f"{value:>12.0f}" if name in COUNTS else f"{value:>12.3f}"
        lines.append(f"{SUMMARY_LABELS.get(name, name):<{width}}  {shown}")
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
