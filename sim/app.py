"""Live dashboard for instructors: Mesa's SolaraViz page over BalanceModel.

Start it with ``python run.py dashboard [SCENARIO]`` (or ``solara run sim/app.py``).
The scenario to open first comes from the environment variable
``SIM_DASHBOARD_SCENARIO`` (the CLI sets it), because ``solara run`` executes
this file as ``__main__`` and passes no arguments. Nothing heavy happens at
import time: models are built when a browser opens the page.

Layout: the sidebar holds a scenario picker (any scenario file under
``scenarios/``, plus the files beside the one the page was started with), a switch
for the projector layout, Mesa's play/step/reset controls and the sliders; the main
area holds the event log and five charts, drawn from one snapshot of the model per
redraw (see ``snapshot``), in two columns (``?layout=projector`` in the address, or
the switch, fits them all on a 1280x720 screen).
Sliders change the model on reset, as in every Mesa page; picking a scenario
rebuilds the page with that file's own values as slider defaults, so a slider
left alone means "what the scenario says".
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import parse_qs

import numpy as np
import solara

from sim.catalog import BASELINE, SCENARIO_DIR, is_scenario_data
from sim.cli.palette import AUTONOMY, CONCESSIONS, GROUP_COLOURS, PRESSURE, partner_colour
from sim.cli.plots import pressure_title
from sim.metrics import REGISTRY, column_title
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
from mesa.visualization.utils import update_counter  # noqa: E402  (3.3 and 3.5 alike)

ENV_SCENARIO = "SIM_DASHBOARD_SCENARIO"

EVENT_LOG_LINES = 200  # newest first, in a scroll box
DRAW_WAIT_S = 5.0  # longest a step waits for a redraw under way (see DashboardModel.step)


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
        concession_price: float | None = None,
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
            concession_price=concession_price,
            rng=parsed if rng is None else rng,
        )
        self.scenario_file = scenario_file
        self.seed_used = parsed
        # Set while no redraw of the page is under way (see ``step`` and ``Charts``).
        self.page_drawn = threading.Event()
        self.page_drawn.set()

    def step(self) -> None:
        """One quarter, but never while the page is drawing the last one.

        With Mesa's "Use Threads" one thread steps the model (a batch of "render
        interval" quarters, a pause of the play interval, and again) while another
        redraws the page. Unchecked, the stepping ran ahead of the drawing by 12-14
        quarters a redraw, and a press on pause, which waits for the redraw under way,
        came 24 quarters late. So a step waits here while a redraw is under way
        (``Charts`` clears ``page_drawn`` as it starts and sets it once on the page):
        each redraw shows one batch more, and pausing stops within one redraw. Mesa
        3.3 and 3.5 run threaded play alike (``ModelController``), so this holds on both. Without
        threads the same thread steps and draws, one after the other, and never waits.
        The wait is bounded, so a page that stops drawing (a closed tab) cannot hang it.
        """
        self.page_drawn.wait(timeout=DRAW_WAIT_S)
        super().step()


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
        # What conceding costs Mongolia, as a share of a year's export revenue: near 0 it
        # gives in at once; from about 0.5 on a larger price changes little (holding out
        # is then what it weighs), so the slider stops there.
        "concession_price": {
            "type": "SliderFloat",
            "label": "Price of conceding",
            "value": config.pressure.concession_price,
            "min": 0.0,
            "max": max(0.5, config.pressure.concession_price),
            "step": 0.01,
        },
        "seed": {
            "type": "InputText",
            "label": "Seed (Enter, then Reset)",
            "value": str(config.seed),
        },
    }


def settings_parts(model: BalanceModel, alignment: float | None = None) -> list[str]:
    """The settings the running model uses now: the sliders' values as Reset applied them,
    then whatever events changed since (a cap decreed in 2010, a new policy). Read from the
    model's live settings, never from the scenario as given. ``alignment`` is the value
    recorded with a snapshot (it drifts each quarter), else the model's own."""
    live = model.settings
    cap = live.investment.cap
    cap_text = "no cap" if cap.enforcement == "none" else f"cap {cap.level:.0%} ({cap.enforcement})"
    level = model.alignment if alignment is None else alignment
    response: str = live.pressure.response
    if response == "bargain":
        response = f"bargain (conceding costs {live.pressure.concession_price:.2f} of revenue)"
    return [
        cap_text,
        f"alignment {level:.2f}",
        f"third-neighbour engagement {live.diplomacy.third_neighbour_engagement:.1f}",
        f"response: {response}",
        f"strategy: {live.diplomacy.strategy.replace('_', ' ')}",
        f"seed {model.seed_used}",
    ]


# --- one consistent reading of the model per redraw --------------------------------------

# What the panels draw, per quarter (raw metrics of sim.metrics, recorded by the model).
SERIES = (
    "export_share",
    "fdi_share",
    "active_pressure",
    "concessions",
    "autonomy",
    "alignment",
    "level",
    "cap_level",
    "fdi_stock_bn_usd",
)
_DATED = re.compile(r"^(\d{4}) Q([1-4]): ")


@dataclass(frozen=True)
class Snapshot:
    """The model as every panel of one redraw sees it.

    With Mesa's "Use Threads" the model steps on another thread while the page draws,
    so two reads of the model may see two different quarters (and arrays of different
    lengths). The page reads the model once per redraw, here, and draws only from this."""

    step: int  # quarters recorded after the start
    max_steps: int
    start_year: int
    series: dict[str, np.ndarray]  # name -> (step + 1,) or (step + 1, partners)
    partner_names: tuple[str, ...]
    china: int
    russia: int
    is_neighbour: np.ndarray
    is_third: np.ndarray
    events: tuple[str, ...]  # newest first, none later than ``step``
    settings: tuple[str, ...]  # settings_parts: the cap in force first
    seed_note: str

    @property
    def years(self) -> np.ndarray:
        """Time axis in years: step 0 is the start of ``start_year``, each step a quarter."""
        return self.start_year + np.arange(self.step + 1) / 4.0

    @property
    def when(self) -> str:
        """The quarter shown, as the event log dates it."""
        if self.step == 0:
            return f"start of {self.start_year}"
        return f"{self.start_year + (self.step - 1) // 4} Q{(self.step - 1) % 4 + 1}"

    def now(self, name: str) -> np.ndarray:
        """The latest recorded value of one series."""
        return self.series[name][-1]


def snapshot(model: BalanceModel) -> Snapshot:
    """Copy what the page draws, cut to the quarters recorded for every series.

    The DataCollector's lists only grow and Mesa copies each value it records, so a copy
    of each list cut to their common length is one consistent history, however far the
    stepping thread has gone meanwhile. Events of a quarter still being stepped are
    left out with it."""
    recorded = {name: list(model.datacollector.model_vars[name]) for name in SERIES}
    events = list(model.event_log[-EVENT_LOG_LINES * 2 :])
    n = min(len(values) for values in recorded.values())
    series = {name: np.asarray(values[:n], dtype=float) for name, values in recorded.items()}
    step = n - 1
    last = (model.start_year + (step - 1) // 4, (step - 1) % 4 + 1) if step else (0, 0)
    shown = [line for line in events if _date(line) <= last]
    return Snapshot(
        step=step,
        max_steps=model.max_steps,
        start_year=model.start_year,
        series=series,
        partner_names=tuple(model.partner_names),
        china=model.CHINA,
        russia=model.RUSSIA,
        is_neighbour=np.asarray(model.is_neighbour),
        is_third=np.asarray(model.is_third),
        events=tuple(reversed(shown[-EVENT_LOG_LINES:])),
        settings=tuple(settings_parts(model, alignment=float(series["alignment"][-1]))),
        seed_note=getattr(model, "seed_note", ""),
    )


def _date(line: str) -> tuple[int, int]:
    """(year, quarter) of an event-log line; undated lines count as the start."""
    match = _DATED.match(line)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# --- grouping partners so a class can read the charts ------------------------------------


def partner_groups(snap: Snapshot) -> dict[str, np.ndarray]:
    """China, Russia, all third neighbours together, rest of world: boolean masks."""
    n = len(snap.partner_names)
    rest = ~(snap.is_neighbour | snap.is_third)
    groups = {
        "China": np.arange(n) == snap.china,
        "Russia": np.arange(n) == snap.russia,
        "Third neighbours": snap.is_third,
        "Rest of world": rest,
    }
    return {name: mask for name, mask in groups.items() if mask.any()}


def fdi_lines(snap: Snapshot, top: int = 3) -> list[int]:
    """China, Russia and the ``top`` largest other origins at the start: one line each.

    The cap is per origin, so FDI is drawn origin by origin, never summed into a
    group (a sum above the cap would be no breach)."""
    first = snap.series["fdi_share"][0]
    others = [i for i in np.argsort(-first) if i not in (snap.china, snap.russia)]
    return [snap.china, snap.russia, *[int(i) for i in others[:top]]]


# --- charts: one matplotlib Figure each, from a snapshot ---------------------------------


@dataclass(frozen=True)
class ChartSize:
    """Figure size and type sizes of one layout."""

    width: float  # inches at 100 dpi
    height: float
    title: int
    text: int


STANDARD = ChartSize(6.2, 3.4, 12, 9)
# Two columns of three rows beside the sidebar on a 1280x720 projector.
PROJECTOR = ChartSize(4.3, 2.05, 10, 7)


def _figure(title: str, size: ChartSize, left: float = 0.08, right: float = 0.97):
    """A matplotlib Figure (no pyplot: the page draws from several threads).

    Fixed margins, no layout engine: "constrained" made each redraw ~4x slower, and
    five redraws per quarter set how fast the page can play."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size.width, size.height), dpi=100)
    bottom = 0.15 if size.height > 3 else 0.2  # room for the year axis's label
    fig.subplots_adjust(left=left, right=right, top=0.88, bottom=bottom)
    ax = fig.subplots()
    ax.set_title(title, fontsize=size.title, loc="left")
    ax.tick_params(labelsize=size.text)
    ax.grid(alpha=0.3)
    return fig, ax


def _x_range(ax, snap: Snapshot) -> None:
    """The whole run on the x axis from the start, so lines grow to the right."""
    ax.set_xlim(snap.start_year, snap.start_year + max(snap.max_steps, 4) / 4.0)


def export_chart(snap: Snapshot, size: ChartSize = STANDARD):
    """Export shares, stacked: how much of what Mongolia sells goes where."""
    fig, ax = _figure(f"{column_title('export_share')} by destination", size)
    shares = snap.series["export_share"]
    groups = partner_groups(snap)
    ax.stackplot(
        snap.years,
        *[shares[:, mask].sum(axis=1) for mask in groups.values()],
        labels=list(groups),
        colors=[GROUP_COLOURS[g] for g in groups],
        alpha=0.9,
    )
    ax.set_ylim(0, 1)
    _x_range(ax, snap)
    ax.set_xlabel("year", fontsize=size.text)
    ax.legend(loc="lower left", fontsize=size.text, framealpha=0.9)
    return fig


def cap_line(snap: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Years and cap levels to draw: each quarter's cap as recorded, NaN where there was
    none (enforcement 'none' records 1), and the cap now held on to the end of the axis."""
    years, levels = snap.years, snap.series["cap_level"].copy()
    levels[levels >= 1.0] = np.nan
    end = snap.start_year + max(snap.max_steps, 4) / 4.0
    return np.append(years, end), np.append(levels, levels[-1])


def fdi_chart(snap: Snapshot, size: ChartSize = STANDARD):
    """FDI stock shares by origin against the cap: a line above the dashes is a breach."""
    fig, ax = _figure(f"{column_title('fdi_share')} by origin", size)
    shares = snap.series["fdi_share"]
    for k, i in enumerate(fdi_lines(snap)):
        name = snap.partner_names[i]
        colour = partner_colour(name, k - 2)
        ax.plot(snap.years, shares[:, i], label=name, color=colour, lw=2.2 if k < 2 else 1.5)
    years, levels = cap_line(snap)
    if np.isfinite(levels).any():
        ax.step(years, levels, where="post", color="black", ls="--", lw=1.5, label=snap.settings[0])
    ax.set_ylim(0, 1)
    _x_range(ax, snap)
    ax.set_xlabel("year", fontsize=size.text)
    ax.legend(loc="upper right", fontsize=size.text - 1, framealpha=0.9, ncol=2)
    return fig


def pressure_chart(snap: Snapshot, size: ChartSize = STANDARD):
    """Pressure episodes under way each quarter (bars) and concessions so far (line)."""
    fig, ax = _figure(pressure_title(), size, left=0.1, right=0.9)
    concessions = snap.series["concessions"]
    episodes, conceded = REGISTRY["active_pressure"].label, REGISTRY["concessions"].label
    ax.bar(snap.years, snap.series["active_pressure"], width=0.25, color=PRESSURE, label=episodes)
    ax.set_ylabel(episodes, fontsize=size.text)
    ax.set_ylim(0, 2.5)
    ax.set_yticks([0, 1, 2])
    twin = ax.twinx()
    twin.step(snap.years, concessions, where="post", color=CONCESSIONS, lw=2.2, label=conceded)
    twin.set_ylabel(conceded, fontsize=size.text)
    twin.tick_params(labelsize=size.text)
    twin.set_ylim(0, max(3.0, float(concessions[-1]) + 1.0))
    _x_range(ax, snap)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=size.text, framealpha=0.9)
    return fig


def autonomy_chart(snap: Snapshot, size: ChartSize = STANDARD):
    """The autonomy index: room to decide for itself, lost by concessions."""
    fig, ax = _figure(f"{column_title('autonomy')} (1 = free to choose)", size)
    ax.plot(
        snap.years,
        snap.series["autonomy"],
        color=AUTONOMY,
        lw=2.4,
        label=REGISTRY["autonomy"].label,
    )
    ax.set_ylim(0, 1)
    _x_range(ax, snap)
    return fig


def levels_chart(snap: Snapshot, size: ChartSize = STANDARD):
    """Partnership level per partner now (bars) and at the start (black ticks)."""
    fig, ax = _figure(f"{column_title('level')} now (| = at the start)", size, left=0.2)
    shown = [i for i in range(len(snap.partner_names)) if snap.is_neighbour[i] or snap.is_third[i]]
    start, now = snap.series["level"][0], snap.now("level")
    names = [snap.partner_names[i] for i in shown]
    colours = [
        GROUP_COLOURS.get(snap.partner_names[i], GROUP_COLOURS["Third neighbours"]) for i in shown
    ]
    rows = np.arange(len(shown))
    bars = ax.barh(rows, [now[i] + 0.15 for i in shown], color=colours, height=0.7)
    for bar, name in zip(bars, names, strict=True):
        bar.set_label(name)  # so a test can read each partner's colour
    ax.scatter([start[i] + 0.15 for i in shown], rows, marker="|", s=120, color="black", zorder=3)
    ax.set_yticks(rows, names, fontsize=size.text - 1)
    ax.invert_yaxis()
    ax.set_xticks(
        range(len(LEVELS)),
        [name.replace("comprehensive", "compr.").replace("_", " ") for name in LEVELS],
        fontsize=size.text - 1,
    )
    ax.set_xlim(0, len(LEVELS) - 0.6)
    ax.grid(axis="y", alpha=0)
    return fig


CHARTS: tuple[Callable, ...] = (
    export_chart,
    fdi_chart,
    pressure_chart,
    autonomy_chart,
    levels_chart,
)


# --- the main area: event log and charts, in a grid ---------------------------------------

# Each slider's value at rest: Solara's sliders show their value in a bubble only while
# dragged (Mesa gives no way to ask for "always"); the bubble is in the page already, so
# it is shown all the time, above the thumb. The layouts are CSS grids; the main area
# holds nothing else, so the empty placeholders Mesa and Solara leave there get no gaps
# (the projector grid is sized to the screen's height less the bar at the top).
STYLE = """
.v-navigation-drawer .v-input__slider { padding-top: 26px; }
.v-navigation-drawer .v-slider__thumb-label-container { display: block !important; }
.v-navigation-drawer .v-slider__thumb-label { transform: translateY(-20%) translateY(-12px)
    translateX(-50%) rotate(45deg) scale(0.85) !important; }
.dash-grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px;
    padding: 8px 12px; }
.dash-grid .dash-cell { min-width: 0; min-height: 0; overflow: hidden; }
.dash-grid img { max-width: 100%; height: auto; display: block; }
.dash-grid.standard .event-log { height: 340px; }
.solara-content-main .v-sheet.d-flex { row-gap: 0 !important; }
.dash-grid.projector { grid-template-rows: repeat(3, calc((100vh - 64px - 40px) / 3));
    gap: 6px; padding: 4px 8px; }
.dash-grid.projector img { max-height: 100%; width: auto; margin: 0 auto; }
.dash-grid.projector .event-log { height: 100%; font-size: 14px; line-height: 1.3; }
.dash-grid.projector .event-log h3 { font-size: 16px; margin: 0; }
.event-log { display: flex; flex-direction: column; gap: 4px; padding: 6px 14px;
    font-size: 16px; }
.dash-grid.standard img { max-height: max(300px, calc((100vh - 64px - 60px) / 3));
    width: auto; margin: 0 auto; }
.dash-grid.standard .event-log { height: max(300px, calc((100vh - 64px - 60px) / 3)); }
.event-log .event-lines { flex: 1 1 0; overflow-y: auto; min-height: 0;
    border-top: 1px solid #ddd; }
.event-log ul { margin: 4px 0; padding-left: 18px; }
"""

# The sidebar in two columns (scenario and controls | sliders), so that every control is
# on the screen: always in the projector layout, and in the default layout when the
# window is at least 1600 px wide (at 1920x1080 one column was 1218 px tall and
# scrolled). Mesa's "Information" card repeats the event log's quarter and is left out.
# Each slider's label sits above its track, with room between them for the value's
# bubble (it covered the label). "&" stands for the layout's selector; Solara caps
# the sidebar at 600 px.
SIDEBAR_TWO_COLUMNS = """
& .v-navigation-drawer { width: WIDTHpx !important; max-width: none !important; }
& .v-navigation-drawer__content > div {
    display: grid; grid-template-columns: repeat(2, minmax(0, 1fr));
    grid-template-rows: auto 1fr; align-items: start; }
& .v-navigation-drawer__content > div > .v-sheet.d-flex { display: contents !important; }
& .v-navigation-drawer__content > div > .v-card:first-child { grid-column: 1; grid-row: 1; }
& .v-navigation-drawer .v-sheet.d-flex > .v-card:nth-child(1) { grid-column: 1; grid-row: 2; }
& .v-navigation-drawer .v-sheet.d-flex > .v-card:nth-child(2) {
    grid-column: 2; grid-row: 1 / span 2; }
& .v-navigation-drawer .v-sheet.d-flex > .v-card:nth-child(3) { display: none; }
& .v-navigation-drawer .v-input__slider { padding-top: 4px; margin-top: 0; }
& .v-navigation-drawer .v-input__slider .v-input__slot { flex-wrap: wrap; }
& .v-navigation-drawer .v-input__slider label {
    width: 100%; max-width: 100%; height: auto; margin-bottom: 38px; }
& .v-navigation-drawer .v-input__slider .v-slider { margin-left: 0; }
& .v-main, & main { padding-left: WIDTHpx !important; }
"""

# Tighter still in the projector layout, for a 1280x720 screen.
PROJECTOR_SIDEBAR = """
& .v-navigation-drawer .v-card__title { font-size: 16px; padding: 6px 12px; }
& .v-navigation-drawer .v-card__text,
& .v-navigation-drawer .v-card > div:not(.v-card__title) {
    padding-top: 0; padding-bottom: 6px; }
& .v-navigation-drawer .v-card { margin: 4px !important; }
& .v-navigation-drawer .v-input { margin-top: 0; }
& .v-navigation-drawer .v-messages { min-height: 0; }
& .v-navigation-drawer .v-input__slot { margin-bottom: 0; }
& .v-navigation-drawer .v-input__slider label { font-size: 14px; }
& .v-navigation-drawer .v-btn { font-size: 12px; }
"""


def _scoped(rules: str, selector: str, width: int = 0) -> str:
    return rules.replace("&", selector).replace("WIDTH", str(width))


STYLE += _scoped(SIDEBAR_TWO_COLUMNS, "body:has(.dash-grid.projector)", 580)
STYLE += _scoped(PROJECTOR_SIDEBAR, "body:has(.dash-grid.projector)")
STYLE += (
    "@media (min-width: 1600px) {"
    + _scoped(SIDEBAR_TWO_COLUMNS, "body:has(.dash-grid.standard)", 680)
    + "}\n"
)


def _label(name: str) -> str:
    """A metric's label from the registry, as HTML text."""
    return escape(REGISTRY[name].label)


def _title(column: str) -> str:
    """A per-step column's title from the registry, as HTML text."""
    return escape(column_title(column))


def event_log_html(snap: Snapshot) -> str:
    """What just happened, newest first: the text a class reads aloud (this quarter's
    events in bold). Plain HTML: Solara's Markdown would load KaTeX from a CDN, and
    solara-assets does not ship it, so the page would ask for files it cannot serve."""
    when = snap.when
    share_exports = snap.now("export_share")[snap.china]
    share_fdi = snap.now("fdi_share")[snap.china]
    head = (
        f"<h3>Event log — {escape(when)}, quarter {snap.step} of {snap.max_steps}</h3>"
        f"<div>{_title('autonomy')} <b>{snap.now('autonomy'):.2f}</b> · {_label('concessions')} "
        f"<b>{snap.now('concessions'):.0f}</b> · {_label('active_pressure')} "
        f"<b>{snap.now('active_pressure'):.0f}</b> · {_title('export_share.china')} "
        f"<b>{share_exports:.0%}</b> · {_title('fdi_share.china')} <b>{share_fdi:.0%}</b> · "
        f"{_label('fdi_stock_bn_usd')} <b>{snap.now('fdi_stock_bn_usd'):.1f} "
        f"{escape(REGISTRY['fdi_stock_bn_usd'].unit)}</b><br>"
        f"<small>Settings of this run now: {escape(' · '.join(snap.settings))}</small></div>"
    )
    if snap.events:
        items = "".join(
            f"<li><b>{escape(line)}</b></li>"
            if snap.step and line.startswith(when)
            else f"<li>{escape(line)}</li>"
            for line in snap.events
        )
        lines = f"<ul>{items}</ul>"
    else:
        lines = "<p><i>Nothing has happened yet: press Step or ▶.</i></p>"
    return f"{head}<div class='event-lines'>{lines}</div>"


@solara.component
def Charts(model: solara.Reactive[BalanceModel], projector: bool):
    """Event log and five charts from one snapshot, redrawn whenever Mesa steps the model
    (Mesa's ``update_counter``) or replaces it on Reset (``model``)."""
    update_counter.get()
    current = model.value
    drawn = getattr(current, "page_drawn", None)
    if drawn is not None:  # the model waits to step until this redraw is on the page
        drawn.clear()
    solara.use_effect(lambda: drawn.set() if drawn is not None else None, None)
    snap = snapshot(current)
    size = PROJECTOR if projector else STANDARD
    solara.Style(STYLE)
    with solara.Div(classes=["dash-grid", "projector" if projector else "standard"]):
        with solara.Div(classes=["dash-cell"]):
            solara.HTML(tag="div", unsafe_innerHTML=event_log_html(snap), classes=["event-log"])
            if snap.seed_note:
                solara.Warning(snap.seed_note, dense=True)
        for chart in CHARTS:
            with solara.Div(classes=["dash-cell"]):
                solara.FigureMatplotlib(chart(snap, size), format="png")


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
_projector: solara.Reactive[bool | None] = solara.reactive(None)  # None = as the address says


def wants_projector(search: str | None) -> bool:
    """``?layout=projector`` in the page's address starts it in the projector layout."""
    return parse_qs(search or "").get("layout", [""])[-1] == "projector"


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
def Dashboard(path: str, projector: bool):
    """Mesa's page for one scenario file, its sliders defaulting to the file's values.

    Mesa draws the sidebar (controls, sliders) and steps the model; the main area is
    ours (``Charts``): no components are given to Mesa, so it shows no "Page 0" tab, and
    the charts can be laid out for a projector. The model is a reactive value that Mesa's
    Reset replaces and ``Charts`` reads."""
    config = solara.use_memo(lambda: load_scenario(path), [path])
    first = solara.use_memo(lambda: DashboardModel(scenario_file=path), [path])
    model: solara.Reactive[BalanceModel] = solara.use_reactive(first)
    SolaraViz(
        model,
        components=[],
        model_params=model_params(Path(path), config),
        name=f"Mongolia between Russia, China and third neighbours — {config.name}",
        play_interval=150,
    )
    Charts(model, projector)


@solara.component
def Page():
    """Scenario picker above Mesa's controls; a bad file shows the CLI's error, nothing else
    changes (the page keeps the last good scenario)."""
    start = solara.use_memo(start_scenario, [])
    choices = solara.use_memo(lambda: scenario_choices(start), [])
    shown = _shown_path()
    picked = _picked.value or label_of(choices, start)
    search = solara.use_router().search
    projector = wants_projector(search) if _projector.value is None else _projector.value
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
            solara.Switch(
                label="Projector layout (all charts on one screen)",
                value=projector,
                on_value=_projector.set,
            )
    Dashboard(shown, projector)


def _description(path: str) -> str:
    """The scenario's one-line question ('' if the file cannot be read just now)."""
    try:
        return load_scenario(path).description
    except ScenarioError:
        return ""
