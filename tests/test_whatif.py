"""Every shipped what-if loads, opens with its question and source, runs, and moves its
outcome in the direction the question expects, relative to the scenario it extends."""

from __future__ import annotations

import tomllib
from functools import cache

import numpy as np
import pytest

from sim.catalog import list_lines
from sim.experiments.replicate import Replications, replicate
from sim.schema.scenario import load_scenario
from tests.conftest import ROOT

WHATIF = ROOT / "scenarios" / "whatif"
SEEDS = 4
LATE = 40  # the last ten years, where a policy change has had time to work


@cache
def runs(path: str) -> Replications:
    return replicate(load_scenario(path), SEEDS, workers=1, progress=False)


def pair(name: str) -> tuple[Replications, Replications]:
    path = WHATIF / f"{name}.toml"
    parent = (path.parent / tomllib.loads(path.read_text())["extends"]).resolve()
    return runs(str(parent)), runs(str(path))


def summary(reps: Replications, metric: str) -> float:
    return float(reps.summaries()[metric].mean())


def late(reps: Replications, column: str) -> float:
    return float(np.mean([f[column].iloc[-LATE:].mean() for f in reps.frames]))


def test_every_whatif_opens_with_its_question_and_a_source():
    files = sorted(WHATIF.glob("*.toml"))
    assert len(files) >= 8
    for path in files:
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith("# What if") and first.rstrip().endswith("?"), path.name
        header = text.split("\nextends")[0]
        assert any(tag in header for tag in ("F", "P", "(C)", "C)")), path.name
        assert "run.py compare" in header, path.name
        config = load_scenario(path)
        assert config.description and config.name == path.stem


def test_list_shows_every_whatif_with_its_description():
    lines = list_lines()
    for path in WHATIF.glob("*.toml"):
        line = next(x for x in lines if x.startswith(f"scenarios/whatif/{path.name}"))
        assert load_scenario(path).description in line
    assert not any("calibration.toml" in x for x in lines)


def test_strict_cap_keeps_china_under_a_third():
    base, what = pair("strict_cap")
    assert summary(what, "largest_fdi_share_final") <= 1 / 3 + 1e-6
    assert summary(what, "china_fdi_share_final") < summary(base, "china_fdi_share_final") - 0.1
    assert summary(what, "cap_breach_quarters") < summary(base, "cap_breach_quarters")


def test_no_cap_lets_china_grow_and_rejects_nothing():
    base, what = pair("no_cap")
    assert summary(what, "china_fdi_share_final") > summary(base, "china_fdi_share_final") + 0.05
    assert summary(what, "fdi_rejected_bn_usd_total") == 0.0


def test_third_neighbours_step_up_brings_investment():
    base, what = pair("third_neighbours_step_up")
    assert (
        summary(what, "third_neighbour_fdi_share_final")
        > summary(base, "third_neighbour_fdi_share_final") + 0.1
    )
    assert late(what, "attention.united_states") > late(base, "attention.united_states")


def test_neighbours_aligned_pool_their_leverage():
    base, what = pair("neighbours_aligned")
    assert summary(what, "leverage_russia_mean") > summary(base, "leverage_russia_mean") + 0.05
    assert summary(what, "autonomy_mean") < summary(base, "autonomy_mean")


def test_refinery_cuts_russian_energy_leverage():
    base, what = pair("refinery_built")
    assert late(what, "import_share.russia") < late(base, "import_share.russia") - 0.05
    assert late(what, "leverage_russia") < late(base, "leverage_russia")
    assert late(what, "autonomy") > late(base, "autonomy")


def test_us_trade_deal_sells_more_to_the_us():
    base, what = pair("us_trade_deal")
    assert late(what, "export_share.united_states") > 1.2 * late(base, "export_share.united_states")
    assert late(what, "third_neighbour_export_share") > late(base, "third_neighbour_export_share")


def test_new_strategic_partners_climb_and_invest():
    base, what = pair("new_strategic_partners")
    for pid in ("germany", "turkey", "vietnam"):
        assert what.frames[0][f"level.{pid}"].iloc[-1] >= 3  # strategic
    assert late(what, "level.vietnam") > late(base, "level.vietnam")
    assert summary(what, "third_neighbour_fdi_share_final") > summary(
        base, "third_neighbour_fdi_share_final"
    )


def test_resisting_in_2016_means_no_concession_and_longer_pressure():
    """Issue 11: the what-if resists in 2016-2017 only, as its name says."""
    base, what = pair("resist_2016")

    def conceded(run, years, to: str = "") -> int:
        return sum(line[:4] in years and f"concedes to {to}" in line for line in run.events)

    assert all(conceded(run, ("2016", "2017"), "China") == 0 for run in what.runs)
    assert all(conceded(run, ("2016", "2017"), "China") > 0 for run in base.runs)
    assert summary(what, "pressure_quarters") > summary(base, "pressure_quarters")
    # before and after, the history's policy: concessions in other years remain
    assert sum(conceded(run, tuple(str(y) for y in range(1990, 2016))) for run in what.runs) > 0
    for run in what.runs:
        assert any(
            line.startswith("2017") and "China lifts its pressure" in line for line in run.events
        )


@pytest.mark.parametrize("name", ["strict_cap", "us_trade_deal"])
def test_whatif_shares_the_base_seed(name):
    """Common random numbers: a what-if runs on the same replication seeds as its base."""
    base, what = pair(name)
    assert base.seeds == what.seeds
