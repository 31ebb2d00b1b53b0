"""`run.py run`: one scenario, a progress bar, a summary table and a results folder."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm import tqdm

from sim.catalog import TARGETS
from sim.cli import output, plots
from sim.experiments.compare import MIN_EFFECT, compare, episode_lengths, labels_for
from sim.experiments.replicate import BAND, Replications, replicate
from sim.metrics import (
    SUMMARIES,
    band_plots,
    column_title,
    format_value,
    summarize,
    summary_label,
    summary_metrics,
)
from sim.model.run import simulate
from sim.schema.base import ScenarioError
from sim.schema.scenario import Scenario, load_scenario

if TYPE_CHECKING:  # the sweep extra (pyarrow, SALib): not needed by `run`
    from sim.experiments.analysis import AnalysisReport
    from sim.model.model import BalanceModel


# One run is one draw of the model's randomness (price shocks, red-line draws, pressure
# episodes): said under every single-run table and in its summary.json.
ONE_DRAW = (
    "one run is one draw of the model's randomness: use --replications N for a mean and a band"
)


def load_with_options(
    path: Path,
    overrides: list[str] | tuple[str, ...],
    seed: int | None = None,
    steps: int | None = None,
) -> Scenario:
    """The scenario with ``--set`` overrides, then ``--seed`` and ``--steps`` applied as
    overrides of the keys ``seed`` and ``steps``: validated with the file, so the command
    line has the file's ranges and a bad value is the schema's one line, naming the
    option."""
    options = {}
    if seed is not None:
        options[f"seed={seed}"] = f"--seed {seed}"
    if steps is not None:
        options[f"steps={steps}"] = f"--steps {steps}"
    try:
        return load_scenario(path, [*overrides, *options])
    except ScenarioError as exc:
        option = options.get(exc.file.removeprefix("--set "))
        if option is None:
            raise
        raise ScenarioError(option, exc.key, exc.found, exc.expected) from None


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
    """Validate first (no folder for a bad scenario, no run for a folder that cannot be
    written), run, then write every file atomically."""
    config = load_with_options(path, overrides, seed, steps)
    output.check_writable(out)
    seed = config.seed
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
    print(f"({ONE_DRAW})")
    folder = output.new_results_dir(config.name, out)
    with output.partial_output(folder):
        write_run(folder, config, seed, model, frame, summary, plots_wanted)
    return folder


def write_run(
    folder: Path,
    config: Scenario,
    seed: int,
    model: BalanceModel,
    frame: pd.DataFrame,
    summary: dict[str, float],
    plots_wanted: bool = True,
) -> None:
    output.write_text(folder / "scenario.toml", config.model_copy(update={"seed": seed}).to_toml())
    output.write_csv(folder / "steps.csv", frame)
    output.write_json(
        folder / "summary.json",
        {
            "scenario": config.name,
            "seed": seed,
            "steps": config.steps,
            "note": ONE_DRAW,
            "metrics": summary,
        },
    )
    output.write_text(folder / "events.txt", "\n".join(model.event_log) + "\n")
    output.write_csv(folder / "episodes.csv", episodes_frame(model.episode_records()))
    if plots_wanted:
        third = [p for p, a in zip(model.partner_ids, model.is_third, strict=True) if a]
        other = [
            p
            for p, g in zip(model.partner_ids, model.is_neighbour | model.is_third, strict=True)
            if not g
        ]
        figures = plots.run_figures(frame, third, other)
        for name, fig in figures.items():
            output.write_figure(folder / name, fig)
        plots.close(figures)


# --- replications and comparisons (sim.experiments.replicate, .compare) ------------------


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
    """Validate, check the output folder, run N replications, print means and bands,
    write the results folder."""
    config = load_with_options(path, overrides, seed, steps)
    output.check_writable(out)
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
    with output.partial_output(folder):
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
    rows = [{"replication": r.index, "seed": r.seed, **e} for r in reps.runs for e in r.episodes]
    output.write_csv(folder / "episodes.csv", episodes_frame(rows))
    if plots_wanted:
        write_band_plots(folder, {config.name: reps.frames})


EPISODE_COLUMNS = (
    "neighbour",
    "red_line",
    "started",
    "quarters",
    "outcome",
    "tools",
    "backed_by",
    "stake_bn_usd",
    "cost_to_mongolia_bn_usd",
    "cost_to_coercer_bn_usd",
)


def episodes_frame(rows: list[dict]) -> pd.DataFrame:
    """Pressure episodes as a table (the header even when there were none)."""
    lead = [c for c in ("replication", "seed") if rows and c in rows[0]]
    return pd.DataFrame(rows, columns=[*lead, *EPISODE_COLUMNS])


def write_band_plots(folder: Path, frames: dict[str, list[pd.DataFrame]]) -> None:
    """The band plots the metric registry asks for (file and column), titled by it."""
    for name, column in band_plots().items():
        fig = plots.band_figure(frames, column, column_title(column), band=BAND)
        output.write_figure(folder / name, fig)
        plots.close([fig])


TERMINAL = 100  # columns the default comparison table fits (--wide: everything)


def _short(x: float) -> str:
    """A signed difference in at most 8 characters: 3 significant digits, exponent only
    for tiny values (rounding noise then reads as what it is: +7.1e-15)."""
    if not math.isfinite(x):
        return "nan"
    if x == 0:
        return "+0"
    if abs(x) >= 1000:
        return f"{x:+.0f}"
    if abs(x) >= 0.001:
        return f"{x:+.3g}"
    return f"{x:+.1e}"


def _mean_cell(value: float) -> str:
    """A mean in at most 8 characters (a mean of counts keeps its decimals)."""
    return f"{value:.3f}" if abs(value) < 1e4 else f"{value:.3g}"


def format_comparison(
    table: pd.DataFrame,
    label_a: str,
    label_b: str,
    count: int,
    wide: bool = False,
    episodes: pd.DataFrame | None = None,
) -> str:
    """The comparison as a table: by default each mean and B - A with its interval, fitted
    to a 100-column terminal (long metric names wrap); ``wide`` adds each scenario's band
    of single runs and the smallest difference that counts, on one line per metric."""
    labels = [summary_label(m) for m in table["metric"]]
    how = "paired by seed" if table["paired"].all() else "Welch"
    intro = f"A = {label_a}, B = {label_b}: "
    if wide:
        intro += f"mean [5%, 95%] over {count} replications"
    else:
        intro += f"mean over {count} replications (--wide: bands of single runs)"
    lines = (
        [intro]
        if len(intro) <= TERMINAL or wide
        else intro.replace(", B =", "\nB =", 1).split("\n")
    )
    rows: list[str] = []
    if wide:
        width, cell, diff = max(len(s) for s in labels), 27, 34
        head = (
            f"{'':<{width}}  {label_a[:cell]:>{cell}}  {label_b[:cell]:>{cell}}  "
            f"{'B - A [90% CI]':>{diff}}  {'counts from':>11}  different?"
        )
        for label, row in zip(labels, table.itertuples(), strict=True):
            a = f"{row.a_mean:.3f} [{row.a_p05:.3f}, {row.a_p95:.3f}]"
            b = f"{row.b_mean:.3f} [{row.b_p05:.3f}, {row.b_p95:.3f}]"
            d = f"{row.difference:+.3g} [{row.diff_low:+.3g}, {row.diff_high:+.3g}]"
            mark = "YES" if row.different else "no"
            rows.append(
                f"{label:<{width}}  {a:>{cell}}  {b:>{cell}}  {d:>{diff}}  "
                f"{row.min_effect:>11.3g}  {mark}"
            )
    else:
        width, cell, diff = 36, 8, 29  # the scenarios' names are in the line above
        head = (
            f"{'':<{width}}  {'A':>{cell}}  {'B':>{cell}}  {'B - A [90% CI]':>{diff}}  different?"
        )
        for label, rec in zip(labels, table.to_dict("records"), strict=True):
            a, b = _mean_cell(rec["a_mean"]), _mean_cell(rec["b_mean"])
            low, high = _short(rec["diff_low"]), _short(rec["diff_high"])
            d = f"{_short(rec['difference'])} [{low}, {high}]"
            mark = "YES" if rec["different"] else "no"
            name, *rest = textwrap.wrap(label, width) or [""]
            rows.append(f"{name:<{width}}  {a:>{cell}}  {b:>{cell}}  {d:>{diff}}  {mark}")
            rows += [f"  {more}" for more in rest]
    lines += [head, "-" * min(len(head), TERMINAL if not wide else len(head)), *rows]
    lines += textwrap.wrap(
        f"different? YES: the 90% confidence interval of B - A ({how}) excludes 0 and the "
        f"difference is at least {MIN_EFFECT:.0%} of the metric's scale (a share or index: one "
        "percentage point; an amount or count: of the larger mean or band); no: it may be "
        "noise between seeds, or too small to matter",
        TERMINAL,
    )
    meanings = dict.fromkeys(SUMMARIES[m].definition for m in table["metric"] if m in SUMMARIES)
    for meaning in meanings:
        if meaning:  # what a metric measures, once, where it could read backwards
            lines += textwrap.wrap(meaning, TERMINAL)
    if episodes is not None and len(episodes):
        lines += ["", *format_episodes(episodes)]
    return "\n".join(lines)


def format_episodes(episodes: pd.DataFrame) -> list[str]:
    """Pressure episodes per scenario and neighbour: how many a run, how long (quarters),
    how they ended; fits 100 columns."""
    lines = [
        "Pressure episodes, all runs: how many a run, how many quarters each lasted, how "
        "they ended",
        f"{'':<28}  {'a run':>6}  {'quarters: mean [min, max]':>26}  "
        f"{'conceded':>8}  {'resisted':>8}  {'under way':>9}",
    ]
    records = episodes.to_dict("records")
    scenarios = list(dict.fromkeys(str(rec["scenario"]) for rec in records))
    letters = {label: "AB"[k] if k < 2 else str(k) for k, label in enumerate(scenarios)}
    for rec in records:
        scenario, neighbour = str(rec["scenario"]), str(rec["neighbour"])
        who = f"{letters[scenario]} ({scenario[:14]}): {neighbour.title()}"
        if rec["episodes_per_run"] == 0:
            span = "-"
        else:
            span = (
                f"{rec['quarters_mean']:.1f} [{rec['quarters_min']:.0f}, {rec['quarters_max']:.0f}]"
            )
        lines.append(
            f"{who:<28}  {rec['episodes_per_run']:>6.2f}  {span:>26}  "
            f"{rec['conceded']:>8}  {rec['resisted']:>8}  {rec['under_way']:>9}"
        )
    return lines


def compare_and_report(
    path_a: Path,
    path_b: Path,
    replications: int,
    overrides: list[str] | tuple[str, ...] = (),
    out: str | None = None,
    plots_wanted: bool = True,
    workers: int | None = None,
    wide: bool = False,
) -> Path:
    """Validate both files first, run both, print the table, write the results folder."""
    config_a = load_scenario(path_a, overrides)
    config_b = load_scenario(path_b, overrides)
    output.check_writable(out)
    label_a, label_b = labels_for(path_a, path_b, config_a.name, config_b.name)
    reps_a = replicate(config_a, replications, workers=workers, label=label_a)
    reps_b = replicate(config_b, replications, workers=workers, label=label_b)
    table = compare(reps_a, reps_b)
    episodes = episode_lengths({label_a: reps_a, label_b: reps_b})
    print(format_comparison(table, label_a, label_b, replications, wide, episodes))
    folder = output.new_results_dir(f"compare-{config_a.name}-vs-{config_b.name}", out)
    with output.partial_output(folder):
        output.write_text(folder / "a.toml", config_a.to_toml())
        output.write_text(folder / "b.toml", config_b.to_toml())
        output.write_csv(folder / "comparison.csv", table)
        output.write_csv(folder / "episode_lengths.csv", episodes)
        output.write_json(
            folder / "comparison.json",
            {
                "a": {"label": label_a, "file": str(path_a), "master_seed": config_a.seed},
                "b": {"label": label_b, "file": str(path_b), "master_seed": config_b.seed},
                "replications": replications,
                "band": BAND,
                "min_effect": MIN_EFFECT,
                "metrics": table.to_dict(orient="records"),
                "episodes": episodes.to_dict(orient="records"),
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


# --- validation against observed data (sim.experiments.validation) ------------------------

# The shipped observed data (package data sim.observed: data/observed in the source tree).
DEFAULT_TARGETS = TARGETS
ROLE_TITLES = {
    "calibration": "calibration (figures the model was tuned to, or its inputs)",
    "held_out": "held out (never used for tuning)",
}
ROLE_NAMES = {"calibration": "calibration", "held_out": "held out"}


def _num(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.3g}"


def _observed_cell(row: Any) -> str:  # a row of DataFrame.itertuples()
    if pd.isna(row.low) and pd.isna(row.high):
        return _num(row.observed)
    high = "inf)" if pd.isna(row.high) else f"{_num(row.high)}]"
    low = "(-inf" if pd.isna(row.low) else f"[{_num(row.low)}"
    return f"{_num(row.observed)} {low}, {high}"


def _simulated_cell(row: Any) -> str:
    if pd.isna(row.sim_mean):
        return "-"
    return f"{_num(row.sim_mean)} [{_num(row.sim_p05)}, {_num(row.sim_p95)}]"


def validation_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The printed (and Markdown) columns of the validation table, one row per row."""
    return pd.DataFrame(
        {
            "target": table["id"],
            "when": [d if d else str(y) for y, d in zip(table["year"], table["date"], strict=True)],
            "partner": table["partner"],
            "observed [range]": [_observed_cell(r) for r in table.itertuples()],
            "simulated [90%]": [_simulated_cell(r) for r in table.itertuples()],
            "rule": table["rule"],
            "result": ["pass" if ok else "MISS" for ok in table["pass"]],
            "note": table["note"],
        }
    )


def count_line(table: pd.DataFrame) -> str:
    """The count line, e.g. "calibration: 9 of 9 pass; held out: 5 of 23 pass" (targets)."""
    from sim.experiments.validation import counts

    parts = []
    for role, name in ROLE_NAMES.items():
        passed, total, _, _ = counts(table, role)
        parts.append(f"{name}: {passed} of {total} pass")
    return "; ".join(parts)


def format_validation(table: pd.DataFrame, title: str) -> str:
    """Calibration rows first, then the held-out rows, each section with its count."""
    from sim.experiments.validation import counts

    cells = validation_cells(table)
    widths = {c: max(len(c), *(len(str(v)) for v in cells[c])) for c in cells.columns[:-1]}
    head = "  ".join(f"{c:<{w}}" for c, w in widths.items()) + "  note"
    lines = [title]
    for role, name in ROLE_NAMES.items():
        part = cells[table["role"].to_numpy() == role]
        passed, total, rows_ok, rows = counts(table, role)
        lines += ["", ROLE_TITLES[role], head, "-" * len(head)]
        for row in part.itertuples(index=False):
            values = [str(v) for v in row]
            text = "  ".join(f"{v:<{w}}" for v, w in zip(values, widths.values(), strict=False))
            lines.append(f"{text}  {values[-1]}".rstrip())
        lines.append(
            f"{name}: {passed} of {total} targets pass ({rows_ok} of {rows} rows; "
            "a target passes when all its rows do)"
        )
    lines += ["", count_line(table)]
    return "\n".join(lines)


def validation_markdown(table: pd.DataFrame, title: str) -> str:
    from sim.experiments.validation import counts

    cells = validation_cells(table)
    out = [f"# {title}", ""]
    for role, name in ROLE_NAMES.items():
        part = cells[table["role"].to_numpy() == role]
        out += [f"## {ROLE_TITLES[role]}", ""]
        out.append("| " + " | ".join(cells.columns) + " |")
        out.append("|" + "---|" * len(cells.columns))
        for row in part.itertuples(index=False):
            out.append("| " + " | ".join(str(v).replace("|", "/") for v in row) + " |")
        passed, total, rows_ok, rows = counts(table, role)
        out += ["", f"{name}: {passed} of {total} targets pass ({rows_ok} of {rows} rows)", ""]
    out += [count_line(table), ""]
    return "\n".join(out)


def format_identifiability(table: pd.DataFrame) -> str:
    """One line per parameter and fixed value, then which parameters are identified."""
    from sim.experiments.fit import CHI2_95_ONE_DOF

    lines = [
        "identifiability screen: each parameter fixed a quarter of its range from the fit, "
        "the others refitted; the rise of the sum of squares (tolerance units) against "
        f"{CHI2_95_ONE_DOF} (chi-square 95%, one degree of freedom). A screen, not a test: "
        "residuals are not standardised errors and the refits have a smaller budget, so "
        "'yes' is optimistic; 'NO' (another value fits as well) is the robust finding; a "
        "negative rise: the refit found a better point than the fit",
        f"{'parameter':<46} {'fitted':>9} {'fixed at':>9} {'rise':>9}  told apart",
    ]
    for row in table.to_dict("records"):
        lines.append(
            f"{row['parameter']:<46} {float(row['fitted']):>9.4g} {float(row['fixed_at']):>9.4g} "
            f"{float(row['rise']):>+9.3g}  {'yes' if row['rejected'] else 'NO'}"
        )
    if not table.empty:
        verdict = table.groupby("parameter", sort=False)["identified"].first()
        named = [str(k) for k, v in verdict.items() if v]
        loose = [str(k) for k, v in verdict.items() if not v]
        lines += [
            "",
            f"identified by the calibration set ({len(named)} of {len(verdict)}): "
            + (", ".join(named) or "none"),
            "not identified (some other value fits as well): " + (", ".join(loose) or "none"),
        ]
    return "\n".join(lines)


def _share(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.0%}"


def format_skill(scores: pd.DataFrame, replications: int | None = None) -> str:
    """The skill table (one row per held-out series) and the headline line under it."""
    from sim.experiments.skill import headline

    lines = [
        "skill against naive forecasts on the held-out years (1 - MAE model / MAE best naive; "
        "> 0: the model beats persistence, trend and drivers alike)",
    ]
    head = (
        f"{'series':<27} {'years':>5} {'MAE model':>9} {'persist.':>9} {'trend':>9} "
        f"{'drivers':>9} {'best naive':<12} {'skill':>6} {'in band':>7}"
    )
    lines += [head, "-" * len(head)]
    for row in scores.to_dict("records"):
        best = str(row["best_naive"])
        best = best if len(best) <= 12 else "none"
        score = float(row["skill"])
        lines.append(
            f"{row['series']:<27} {int(row['n_years']):>5} {_num(float(row['mae_model'])):>9} "
            f"{_num(float(row['mae_persistence'])):>9} {_num(float(row['mae_trend'])):>9} "
            f"{_num(float(row['mae_drivers'])):>9} {best:<12} "
            f"{'-' if math.isnan(score) else f'{score:+.2f}':>6} "
            f"{_share(float(row['coverage_90'])):>7}"
        )
    lines += ["", headline(scores, replications)]
    return "\n".join(lines)


def validate_and_report(
    targets_path: Path | None = None,
    replications: int = 8,
    out: str | None = None,
    workers: int | None = None,
) -> tuple[Path, pd.DataFrame]:
    """Check the targets file and its CSVs first (no folder for a bad file), run each
    scenario the targets name, print the table, write CSV, Markdown and one plot per
    series to results/validate-<timestamp>/."""
    from sim.catalog import INPUTS_DIR, resolve_scenario
    from sim.experiments import skill, validation
    from sim.schema.inputs import driver_table
    from sim.schema.targets import load_targets

    path = Path(targets_path) if targets_path is not None else DEFAULT_TARGETS
    configs = {}

    def run_years(name: str) -> range:
        if name not in configs:
            configs[name] = load_scenario(resolve_scenario(name))
        config = configs[name]
        return range(config.start_year, config.start_year + -(-config.steps // 4))

    targets, observed = load_targets(path, run_years)
    output.check_writable(out)
    runs = {
        name: replicate(config, replications, workers=workers, label=f"{name} x{replications}")
        for name, config in configs.items()
    }
    table = validation.validate(runs, targets, observed)
    names = ", ".join(configs)
    title = (
        f"validate: {names}, {replications} replications (mean and central {BAND:.0%} band) "
        f"against {path}"
    )
    print(format_validation(table, title))
    units = {name: str(rows["unit"].iloc[0]) for name, rows in observed.items()}
    scores, naive = skill.skill_table(table, units, driver_table(INPUTS_DIR))
    print("\n" + format_skill(scores, replications))
    folder = output.new_results_dir("validate", out)
    with output.partial_output(folder):
        output.write_csv(folder / "validation.csv", table)
        output.write_csv(folder / "skill.csv", scores[skill.SKILL_COLUMNS])
        skill_text = (
            "\n## Skill on the held-out years\n\n```\n"
            + format_skill(scores, replications)
            + "\n```\n"
        )
        output.write_text(folder / "validation.md", validation_markdown(table, title) + skill_text)
        series = list(dict.fromkeys(table["series"]))
        for name in tqdm(series, desc="plots", unit="plot", leave=False):
            first = next(t for t in targets if t.series == name)
            base = next((t.base_year for t in targets if t.series == name and t.base_year), None)
            fig = validation.series_figure(
                name, observed, table, runs[first.scenario], base, naive.get(name)
            )
            output.write_figure(folder / f"{name}.png", fig)
            plots.close([fig])
    return folder, table


# --- describe (sim.schema.provenance) -----------------------------------------------------


def describe(
    path: Path,
    overrides: list[str],
    mode: str = "schema",
    out: str | None = None,
    provenance: str | None = None,
) -> Path | None:
    """Print the schema (``mode="schema"``), or the parameter table (``"markdown"``) or the
    assumptions sweep (``"sweep"``) built from the provenance file; ``out`` writes the
    text atomically instead of printing it."""
    from sim.catalog import SCENARIO_DIR
    from sim.schema import provenance as prov

    config = load_scenario(path, overrides)
    if mode == "schema":
        text = prov.schema_text(config, config.name) + "\n"
    else:
        prov_path = Path(provenance) if provenance else SCENARIO_DIR / prov.PROVENANCE_FILE
        table = prov.read_provenance(prov_path)
        rows = prov.parameter_rows(table, config, prov_path)
        if mode == "markdown":
            text = prov.markdown(rows, table, config.name, prov.MARKDOWN_COMMAND)
        else:
            text = prov.assumptions_sweep(rows, prov.SWEEP_COMMAND)
    if out is None:
        print(text, end="")
        return None
    try:
        return output.write_text(out, text)
    except OSError as exc:
        raise output.OutputError(f"{out}: cannot write it ({exc.strerror or exc})") from None
