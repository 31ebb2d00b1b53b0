"""Live dashboard for instructors: Mesa's SolaraViz page over BalanceModel.

Start it with ``python run.py dashboard [SCENARIO]`` (or ``solara run sim/app.py``).
The scenario to open first comes from the environment variable
``SIM_DASHBOARD_SCENARIO`` (the CLI sets it), because ``solara run`` executes
this file as ``__main__`` and passes no arguments. Nothing heavy happens at
import time: models are built when a browser opens the page.

Layout: the sidebar holds a scenario picker (any scenario file under
``scenarios/``, plus the files beside the one the page was started with), Mesa's
play/step/reset controls and the sliders; the main area holds the panels.
Sliders change the model on reset, as in every Mesa page; picking a scenario
rebuilds the page with that file's own values as slider defaults, so a slider
left alone means "what the scenario says".
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import solara

from sim.catalog import BASELINE, SCENARIO_DIR, is_scenario_data
from sim.cli.palette import AUTONOMY, CONCESSIONS, GROUP_COLOURS, PRESSURE, partner_colour
from sim.model.model import BalanceModel
from sim.schema.base import UserError, read_toml
from sim.schema.scenario import LEVELS, Scenario, ScenarioError, load_scenario

# Mesa 3.3's own ComponentsView trips Solara's hook-rule check when it is imported; the
# warning is about Mesa's code, not ours, and would only puzzle an instructor.
warnings.filterwarnings(
    "ignore", message=r"(?s).*ComponentsView: `use_state` found despite", category=UserWarning
)
# Plain http on the loopback is the intended set-up, not a misconfigured proxy.
warnings.filterwarnings(
    "ignore", message=r"Cookies with samesite=none require https", category=UserWarning
)
from mesa.visualization import SolaraViz  # noqa: E402

ENV_SCENARIO = "SIM_DASHBOARD_SCENARIO"

EVENT_LOG_LINES = 200  # newest first, in a scroll box


# --- the model the page drives ----------------------------------------------------------


class DashboardModel(BalanceModel):
    """BalanceModel built from a scenario file, with the page's inputs as overrides.

    Mesa's reset calls the class again with every page input as a keyword, so the
    file path travels as one (a fixed parameter) and the seed arrives as the text
    of a text box. No ``**kwargs`` and an explicit ``rng``: with ``**kwargs`` Mesa
    3.5's reset fails ("rng and scenario.rng must be the same").
    """

    def __init__(
        self,
        scenario_file: str = str(BASELINE),
        *,
        investment_cap: float | None = None,
        cap_enforcement: str | None = None,
        alignment: float | None = None,
        third_neighbour_engagement: float | None = None,
        concession_threshold: float | None = None,
        seed: str | int | None = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        config = load_scenario(scenario_file)
        parsed, self.seed_note = parse_seed(seed, config.seed)
        super().__init__(
            config,
            investment_cap=investment_cap,
            cap_enforcement=cap_enforcement,
            alignment=alignment,
            third_neighbour_engagement=third_neighbour_engagement,
            concession_threshold=concession_threshold,
            rng=parsed if rng is None else rng,
        )
        self.scenario_file = scenario_file
        self.seed_used = parsed


def parse_seed(text: str | int | None, default: int) -> tuple[int, str]:
    """A seed from a text box: whole number >= 0, else the scenario's seed and a note why."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return default, ""
    try:
        value = int(str(text).strip())
    except ValueError:
        return default, f"seed {str(text)!r} is not a whole number; used the scenario's {default}"
    if value < 0:
        return default, f"seed {value} is negative; used the scenario's {default}"
    return value, ""


# --- which files the picker offers --------------------------------------------------------


def scenario_choices(start: Path) -> dict[str, Path]:
    """Label -> path for every scenario file under scenarios/ and beside ``start``.

    Calibration targets and sweep plans live under scenarios/ too but are not
    scenarios, so they are left out. Whether a file is a valid scenario is
    checked when it is chosen, not here (a broken file should still be listed,
    so its error can be shown). Beside ``start`` means that folder only, not its
    subfolders: it may be a home directory.
    """
    choices: dict[str, Path] = {}
    start = start.resolve()
    roots = [(SCENARIO_DIR, "**/*.toml")]
    if not start.is_relative_to(SCENARIO_DIR.resolve()):
        roots.append((start.parent, "*.toml"))
    for root, pattern in roots:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root)
            if not _may_be_scenario(path):
                continue
            label = relative.as_posix() if root == SCENARIO_DIR else str(path)
            choices.setdefault(label, path)
    if start not in {p.resolve() for p in choices.values()}:
        choices[str(start)] = start
    return choices


def _may_be_scenario(path: Path) -> bool:
    """The catalog's rule (not targets, not a sweep); a file that does not read is listed,
    so that its error can be shown."""
    try:
        return is_scenario_data(read_toml(path))
    except UserError:
        return True


def label_of(choices: dict[str, Path], path: Path) -> str:
    """The picker label of ``path`` (its own text if it is not in the list)."""
    for label, candidate in choices.items():
        if candidate.resolve() == path.resolve():
            return label
    return str(path)


def scenario_error(path: Path) -> str | None:
    """The CLI's error line for a file that is not a valid scenario, else None."""
    try:
        load_scenario(path)
    except ScenarioError as exc:
        return f"error: {exc}"
    return None


def model_params(path: Path, config: Scenario) -> dict:
    """Mesa inputs, defaulting to the scenario's own values."""
    cap = config.investment.cap
    # Short labels: a long one squeezes the slider track to nothing in the sidebar.
    return {
        "scenario_file": str(path),
        "investment_cap": {
            "type": "SliderFloat",
            "label": "Investment cap",
            "value": cap.level,
            "min": 0.1,
            "max": 1.0,
            "step": 0.01,
        },
        "cap_enforcement": {
            "type": "Select",
            "label": "Cap enforcement",
            "value": cap.enforcement,
            "values": ["strict", "leaky", "none"],
        },
        "alignment": {
            "type": "SliderFloat",
            "label": "Sino-Russian alignment",
            "value": config.alignment.level,
            "min": 0.0,
            "max": 1.0,
            "step": 0.05,
        },
        "third_neighbour_engagement": {
            "type": "SliderFloat",
            "label": "3rd-neighbour engagement",
            "value": config.diplomacy.third_neighbour_engagement,
            "min": 0.0,
            "max": 5.0,
            "step": 0.1,
        },
        "concession_threshold": {
            "type": "SliderFloat",
            "label": "Concession threshold",
            "value": config.pressure.concession_threshold,
            "min": 0.0,
            "max": 0.2,
            "step": 0.005,
        },
        "seed": {
            "type": "InputText",
            "label": "Seed (Enter, then Reset)",
            "value": str(config.seed),
        },
    }


def settings_text(model: BalanceModel) -> str:
    """The inputs the running model was built with (sliders act only on Reset)."""
    cfg = model.config
    return (
        f"cap {cfg.investment.cap.level:.0%} ({cfg.investment.cap.enforcement}) · "
        f"alignment {cfg.alignment.level:.2f} · third-neighbour engagement "
        f"{cfg.diplomacy.third_neighbour_engagement:.1f} · concession threshold "
        f"{cfg.pressure.concession_threshold:.3f} · seed {model.seed_used}"
    )


# --- grouping partners so a class can read the charts ------------------------------------


def partner_groups(model: BalanceModel) -> dict[str, np.ndarray]:
    """China, Russia, all third neighbours together, rest of world: boolean masks."""
    n = model.n_partners
    china = np.arange(n) == model.CHINA
    russia = np.arange(n) == model.RUSSIA
    rest = ~(model.is_neighbour | model.is_third)
    groups = {
        "China": china,
        "Russia": russia,
        "Third neighbours": model.is_third,
        "Rest of world": rest,
    }
    return {name: mask for name, mask in groups.items() if mask.any()}


def fdi_lines(model: BalanceModel, top: int = 3) -> list[int]:
    """China, Russia and the ``top`` largest other origins at the start: one line each.

    The cap is per origin, so FDI is drawn origin by origin, never summed into a
    group (a sum above the cap would be no breach)."""
    first = np.asarray(model.datacollector.model_vars["fdi_share"][0])
    others = [i for i in np.argsort(-first) if i not in (model.CHINA, model.RUSSIA)]
    return [model.CHINA, model.RUSSIA, *[int(i) for i in others[:top]]]


def _series(model: BalanceModel, name: str) -> np.ndarray:
    """One recorded metric as an array: (steps,) or (steps, partners)."""
    return np.asarray([np.asarray(v, dtype=float) for v in model.datacollector.model_vars[name]])


def _years(model: BalanceModel) -> np.ndarray:
    """Time axis in years: step 0 is the start of ``start_year``, each step a quarter."""
    steps = np.arange(len(model.datacollector.model_vars["autonomy"]))
    return model.start_year + steps / 4.0


def _figure(title: str, left: float = 0.08, right: float = 0.97):
    """A matplotlib Figure (no pyplot: the page draws from several threads).

    Fixed margins, no layout engine: "constrained" made each redraw ~4x slower, and
    five redraws per quarter set how fast the page can play."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2, 3.4), dpi=100)
    fig.subplots_adjust(left=left, right=right, top=0.9, bottom=0.1)
    ax = fig.subplots()
    ax.set_title(title, fontsize=12, loc="left")
    ax.grid(alpha=0.3)
    return fig, ax


def _x_range(ax, model: BalanceModel) -> None:
    """The whole run on the x axis from the start, so lines grow to the right."""
    ax.set_xlim(model.start_year, model.start_year + max(model.max_steps, 4) / 4.0)


# --- panels (plain functions: Mesa wraps them so they redraw after each step) ------------


def ExportPanel(model: BalanceModel):
    """Export shares, stacked: how much of what Mongolia sells goes where."""
    fig, ax = _figure("Exports by destination (share of total)")
    years, shares = _years(model), _series(model, "export_share")
    groups = partner_groups(model)
    ax.stackplot(
        years,
        *[shares[:, mask].sum(axis=1) for mask in groups.values()],
        labels=list(groups),
        colors=[GROUP_COLOURS[g] for g in groups],
        alpha=0.9,
    )
    ax.set_ylim(0, 1)
    _x_range(ax, model)
    ax.legend(loc="lower left", fontsize=9, framealpha=0.9)
    return solara.FigureMatplotlib(fig, format="png")


def FdiPanel(model: BalanceModel):
    """FDI stock shares by origin against the cap: a line above the dashes is a breach."""
    fig, ax = _figure("Foreign investment stock by origin (share)")
    years, shares = _years(model), _series(model, "fdi_share")
    for k, i in enumerate(fdi_lines(model)):
        name = model.partner_names[i]
        colour = partner_colour(name, k - 2)
        ax.plot(years, shares[:, i], label=name, color=colour, lw=2.2 if k < 2 else 1.5)
    cap = model.settings.investment.cap
    ax.axhline(
        cap.level, color="black", ls="--", lw=1.5, label=f"cap {cap.level:.0%} ({cap.enforcement})"
    )
    ax.set_ylim(0, 1)
    _x_range(ax, model)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9, ncol=2)
    return solara.FigureMatplotlib(fig, format="png")


def PressurePanel(model: BalanceModel):
    """Pressure episodes under way each quarter (bars) and concessions so far (line)."""
    fig, ax = _figure("Pressure episodes and concessions", left=0.1, right=0.9)
    years = _years(model)
    ax.bar(
        years,
        _series(model, "active_pressure"),
        width=0.25,
        color=PRESSURE,
        label="episodes under way",
    )
    ax.set_ylabel("episodes under way")
    ax.set_ylim(0, 2.5)
    ax.set_yticks([0, 1, 2])
    twin = ax.twinx()
    twin.step(
        years,
        _series(model, "concessions"),
        where="post",
        color=CONCESSIONS,
        lw=2.2,
        label="concessions so far",
    )
    twin.set_ylabel("concessions so far")
    twin.set_ylim(0, max(3.0, float(model.concessions) + 1.0))
    _x_range(ax, model)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=9, framealpha=0.9)
    return solara.FigureMatplotlib(fig, format="png")


def AutonomyPanel(model: BalanceModel):
    """The autonomy index: room to decide for itself, lost by concessions."""
    fig, ax = _figure("Autonomy index (1 = free to choose)")
    ax.plot(_years(model), _series(model, "autonomy"), color=AUTONOMY, lw=2.4)
    ax.set_ylim(0, 1)
    _x_range(ax, model)
    return solara.FigureMatplotlib(fig, format="png")


def LevelsPanel(model: BalanceModel):
    """Partnership level per partner now (bars) and at the start (black ticks)."""
    fig, ax = _figure("Partnership levels now (| = at the start)", left=0.2)
    shown = [i for i in range(model.n_partners) if model.is_neighbour[i] or model.is_third[i]]
    start = np.asarray(model.datacollector.model_vars["level"][0])
    names = [model.partner_names[i] for i in shown]
    colours = [
        GROUP_COLOURS.get(model.partner_names[i], GROUP_COLOURS["Third neighbours"]) for i in shown
    ]
    rows = np.arange(len(shown))
    ax.barh(rows, [model.level[i] + 0.15 for i in shown], color=colours, height=0.7)
    ax.scatter([start[i] + 0.15 for i in shown], rows, marker="|", s=120, color="black", zorder=3)
    ax.set_yticks(rows, names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xticks(
        range(len(LEVELS)),
        [name.replace("comprehensive", "compr.").replace("_", " ") for name in LEVELS],
        fontsize=8,
    )
    ax.set_xlim(0, len(LEVELS) - 0.6)
    ax.grid(axis="y", alpha=0)
    return solara.FigureMatplotlib(fig, format="png")


def EventLogPanel(model: BalanceModel):
    """What just happened, newest first: the text a class reads aloud.

    Fixed height with its own scroll bar, so a long log never spills over the
    chart below it; this quarter's events are in bold."""
    when = f"{model.year} Q{model.quarter}"
    now = when if model.steps else None
    lines = list(reversed(model.event_log[-EVENT_LOG_LINES:]))
    with solara.Column(
        classes=["event-log"], gap="4px", style={"padding": "6px 14px", "height": "370px"}
    ) as panel:
        solara.Markdown(
            f"### Event log — {when if now else f'start of {model.start_year}'}"
            f", quarter {model.steps} of {model.max_steps}"
        )
        solara.Markdown(
            f"Autonomy **{model.autonomy:.2f}** · concessions **{model.concessions}** · "
            f"episodes under way **{model.active_episodes}** · China's share of exports "
            f"**{model.export_share[model.CHINA]:.0%}**, of FDI "
            f"**{model.fdi_share[model.CHINA]:.0%}** · FDI stock "
            f"**{model.fdi_stock_bn_usd:.1f} bn USD**  \n"
            f"<small>Settings of this run: {settings_text(model)}</small>"
        )
        if model.seed_note:
            solara.Warning(model.seed_note, dense=True)
        with solara.Div(
            style={
                "flex": "1 1 0",
                "overflow-y": "auto",
                "min-height": "0",
                "border-top": "1px solid #ddd",
            }
        ):
            if lines:
                solara.Markdown(
                    "\n".join(
                        f"- **{line}**" if now and line.startswith(now) else f"- {line}"
                        for line in lines
                    )
                )
            else:
                solara.Markdown("_Nothing has happened yet: press Step or ▶._")
    return panel


PANELS: list[Callable] = [
    EventLogPanel,
    ExportPanel,
    FdiPanel,
    PressurePanel,
    AutonomyPanel,
    LevelsPanel,
]


# --- the page -----------------------------------------------------------------------------


def start_scenario() -> Path:
    """The file named by the CLI (environment variable), else the baseline."""
    return Path(os.environ.get(ENV_SCENARIO) or BASELINE)


# Page state, one value per browser session (Solara keeps a reactive variable per
# session). It lives outside the components because a scenario change rebuilds the
# whole layout, components and all (see Layout).
_shown: solara.Reactive[str] = solara.reactive("")  # file on the page; "" = at start
_picked: solara.Reactive[str] = solara.reactive("")  # picker label; "" = at start
_error: solara.Reactive[str | None] = solara.reactive(None)  # None = the start file's
_generation: solara.Reactive[int] = solara.reactive(0)  # bumped by "back to settings"


def _shown_path() -> str:
    if _shown.value:
        return _shown.value
    start = start_scenario()
    return str(BASELINE if scenario_error(start) else start)


@solara.component
def Layout(children: list | None = None):
    """Solara's AppLayout, rebuilt whole when the scenario changes or is restored.

    Mesa's controls and sliders sit in the layout's sidebar (a portal), where they
    keep their state across a rebuild of the page below them: Mesa would go on
    resetting to the old file and slider values. A fresh layout starts them anew."""
    key = f"{_shown_path()}#{_generation.value}"
    return solara.AppLayout(children=children or []).key(key)


@solara.component
def Dashboard(path: str):
    """Mesa's page for one scenario file, its sliders defaulting to the file's values."""
    config = solara.use_memo(lambda: load_scenario(path), [path])
    model = solara.use_memo(lambda: DashboardModel(scenario_file=path), [path])
    SolaraViz(
        model,
        components=PANELS,
        model_params=model_params(Path(path), config),
        name=f"Mongolia between Russia, China and third neighbours — {config.name}",
        play_interval=150,
    )


@solara.component
def Page():
    """Scenario picker above Mesa's controls; a bad file shows the CLI's error, nothing else
    changes (the page keeps the last good scenario)."""
    start = solara.use_memo(start_scenario, [])
    choices = solara.use_memo(lambda: scenario_choices(start), [])
    shown = _shown_path()
    picked = _picked.value or label_of(choices, start)
    error = scenario_error(start) if _error.value is None else _error.value

    def choose(label: str | None) -> None:
        if label is None:
            return
        _picked.value = label
        problem = scenario_error(choices[label])
        _error.value = problem or ""
        if problem is None:
            _shown.value = str(choices[label])

    def restore() -> None:
        """Sliders back to the file's values and a fresh model (the file is read again)."""
        problem = scenario_error(Path(shown))
        _error.value = problem or ""
        if problem is None:
            _picked.value = label_of(choices, Path(shown))
            _generation.value += 1

    with solara.Sidebar():
        with solara.Card("Scenario"), solara.Column(gap="8px"):
            solara.Select("Scenario file", values=list(choices), value=picked, on_value=choose)
            if error:
                solara.Error(error, classes=["scenario-error"])
                solara.Text(f"Still showing: {label_of(choices, Path(shown))}")
            else:
                solara.Text(_description(shown))
            solara.Button(
                "Back to the scenario's settings", on_click=restore, outlined=True, color="primary"
            )
    Dashboard(shown)


def _description(path: str) -> str:
    """The scenario's one-line question ('' if the file cannot be read just now)."""
    try:
        return load_scenario(path).description
    except ScenarioError:
        return ""
