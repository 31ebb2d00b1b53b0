"""The documented history 1990-2024 happens in the model, over several seeds.

The expected rungs below are copied from the partnership table of
docs/sources.md (source C, B), not read from the scenario file, so
a wrong event in the file fails here.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.experiments.replicate import replicate
from sim.schema.events import PartnershipUpgrade
from sim.schema.scenario import LEVELS, load_scenario
from tests.conftest import ROOT

HISTORY = ROOT / "scenarios" / "history_1990_2024.toml"
SEEDS = 6

# (partner, year, rung reached that year): the documented ladder steps.
DOCUMENTED = [
    ("russia", 2009, "strategic"),
    ("russia", 2019, "comprehensive_strategic"),
    ("china", 2003, "extended"),
    ("china", 2011, "strategic"),
    ("china", 2014, "comprehensive_strategic"),
    ("japan", 1998, "comprehensive"),
    ("japan", 2010, "strategic"),
    ("united_states", 2004, "comprehensive"),
    ("united_states", 2019, "strategic"),
    ("india", 1994, "extended"),
    ("india", 2009, "comprehensive"),
    ("india", 2015, "strategic"),
    ("south_korea", 1999, "extended"),
    ("south_korea", 2011, "comprehensive"),
    ("south_korea", 2021, "strategic"),
    ("turkey", 2005, "comprehensive"),
    ("germany", 2008, "comprehensive"),
    ("germany", 2024, "strategic"),
    ("eu", 1993, "extended"),
    ("canada", 2004, "extended"),
    ("australia", 2007, "extended"),
    ("kazakhstan", 2007, "extended"),
]


@pytest.fixture(scope="module")
def history():
    config = load_scenario(HISTORY)
    return config, replicate(config, SEEDS, workers=2, progress=False)


def yearly(frame, column):
    run = frame[frame["step"] > 0]
    return run.groupby("year")[column]


def test_runs_1990_to_2024(history):
    config, reps = history
    frame = reps.frames[0]
    assert config.start_year == 1990 and frame["year"].iloc[1] == 1990
    assert frame["year"].iloc[-1] == 2024 and frame["quarter"].iloc[-1] == 4


@pytest.mark.parametrize(("partner", "year", "rung"), DOCUMENTED)
def test_level_reached_in_the_documented_year(history, partner, year, rung):
    _, reps = history
    for frame in reps.frames:
        levels = yearly(frame, f"level.{partner}")
        assert levels.last()[year] == LEVELS.index(rung), (partner, year)
        assert levels.first()[year - 1] < LEVELS.index(rung) or (partner, year) == (
            "south_korea",
            2006,
        ), (partner, year)


def test_levels_never_run_ahead_of_the_documents(history):
    """Diplomacy alone never climbs: every level is the last documented rung (or the start)."""
    config, reps = history
    for pid, spec in config.partners.items():
        steps = sorted(
            (e.step(config.start_year), LEVELS.index(e.level))
            for e in config.events
            if isinstance(e, PartnershipUpgrade) and e.partner == pid
        )
        for frame in reps.frames:
            expected = np.full(len(frame), LEVELS.index(spec.level))
            for step, rung in steps:
                expected[frame["step"].to_numpy() >= step] = rung
            assert np.array_equal(frame[f"level.{pid}"].to_numpy(), expected), pid


def test_2016_episode_fees_transit_costs_and_a_concession(history):
    """P1: China presses over Tibet from 2016 Q4 with fees and transit costs; Mongolia concedes
    within the episode (before China's patience runs out)."""
    config, reps = history
    patience = config.partners["china"].patience_quarters
    for run in reps.runs:
        start = [
            line
            for line in run.events
            if line.startswith(("2016 Q4", "2017")) and "China presses over tibet" in line
        ]
        assert start, run.events
        assert "import fees" in start[0] and "extra transit costs" in start[0]
        after = run.events[run.events.index(start[0]) + 1 :]
        ending = next(
            line for line in after if "China" in line and ("concedes" in line or "lifts" in line)
        )
        assert "Mongolia concedes to China" in ending
        year, quarter = int(ending[:4]), int(ending[6])
        started = int(start[0][:4]) * 4 + int(start[0][6])
        assert year * 4 + quarter - started < patience
        # The fees bite from the next quarter's trade: a cost, and pressure in the frame.
        step = started - config.start_year * 4 + 1
        assert run.frame.loc[run.frame["step"] == step, "pressure_cost_bn_usd"].item() > 0
        assert run.frame.loc[run.frame["step"] == step - 1, "active_pressure"].item() >= 1


def test_china_coal_share_rises_after_2017(history):
    """F10: China's share of coal exports higher in 2018-19 than in 2014-15."""
    _, reps = history
    for frame in reps.frames:
        coal = yearly(frame, "china_commodity_share.coal").mean()
        assert coal[[2018, 2019]].mean() > coal[[2014, 2015]].mean() + 0.001


def test_china_export_share_2018_and_fdi_share_after_the_cap(history):
    """F1: about 0.90 of exports to China in 2018; F2: China above half of FDI after 2010."""
    _, reps = history
    shares = [yearly(f, "export_share.china").mean()[2018] for f in reps.frames]
    assert np.mean(shares) == pytest.approx(0.90, abs=0.03)
    for frame in reps.frames:
        fdi = yearly(frame, "fdi_share.china").mean()
        assert (fdi.loc[2010:2024] > 0.5).all()


def test_export_revenue_falls_in_2022(history):
    """F11: the war year earns less than the year before, in every replication."""
    _, reps = history
    for frame in reps.frames:
        revenue = yearly(frame, "export_revenue_bn_usd").sum()
        assert revenue[2022] < revenue[2021]


def test_every_event_cites_a_source():
    config = load_scenario(HISTORY)
    assert config.events and all(e.source for e in config.events)
    text = HISTORY.read_text(encoding="utf-8")
    assert text.count("[[events]]") == len(config.events)
