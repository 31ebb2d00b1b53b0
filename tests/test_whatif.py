"""Every shipped what-if loads, opens with its question, sources and what it shows, runs,
and moves the outcome it is about in the direction the question expects, relative to the
scenario it extends.

Each comparison runs both scenarios on the same replication seeds and reads the
difference B - A and its 90% interval through ``sim.experiments.compare``, the code path
of ``run.py compare``; a what-if passes only when the whole interval clears a margin, so a
model change that takes its effect away fails here.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache

import numpy as np
import pandas as pd
import pytest

from sim.catalog import list_lines
from sim.experiments.compare import compare, difference_interval
from sim.experiments.replicate import Replication, Replications, replicate
from sim.schema.scenario import load_scenario
from tests.conftest import ROOT

WHATIF = ROOT / "scenarios" / "whatif"
SEEDS = 8  # replications per scenario: a run of 140 quarters takes about 30 ms
RESIST_SEEDS = 64  # the history concedes in 2016 in most runs, not all (58 in 64)


@cache
def runs(path: str, seeds: int = SEEDS) -> Replications:
    return replicate(load_scenario(path), seeds, workers=1, progress=False)


def pair(name: str, seeds: int = SEEDS) -> tuple[Replications, Replications]:
    path = WHATIF / f"{name}.toml"
    parent = (path.parent / tomllib.loads(path.read_text())["extends"]).resolve()
    return runs(str(parent), seeds), runs(str(path), seeds)


@cache
def compared(name: str) -> pd.DataFrame:
    """``run.py compare`` base vs what-if: one row per summary metric, paired by seed."""
    base, what = pair(name)
    table = compare(base, what).set_index("metric")
    assert table["paired"].all(), f"{name}: not on the base's seeds"
    return table


def since(reps: Replications, column: str, year: int) -> np.ndarray:
    """Each run's mean of a per-step column from ``year`` on."""
    return np.array([f.loc[f["year"] >= year, column].mean() for f in reps.frames])


def late_difference(name: str, column: str, year: int) -> tuple[float, float, float]:
    """B - A of a per-step column's mean from ``year`` on, with compare's paired 90% CI."""
    base, what = pair(name)
    return difference_interval(since(base, column, year), since(what, column, year), True)


def test_every_whatif_opens_with_its_question_a_source_and_what_it_shows():
    files = sorted(WHATIF.glob("*.toml"))
    assert len(files) >= 9
    for path in files:
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith("# What if") and first.rstrip().endswith("?"), path.name
        header = text.split("\nextends")[0]
        assert "Documented:" in header and "It shows" in header, path.name
        assert re.search(r"\b(F|P|S)\d+\b|\bC\b", header), f"{path.name}: no source id"
        assert re.search(r"\[[+-]?\d", header), f"{path.name}: no measured interval"
        assert "run.py compare" in header, path.name
        config = load_scenario(path)
        assert config.description and config.name == path.stem


def test_list_shows_every_whatif_with_its_description():
    lines = list_lines()
    for path in WHATIF.glob("*.toml"):
        line = next(x for x in lines if x.startswith(f"scenarios/whatif/{path.name}"))
        assert load_scenario(path).description in line
    assert not any("calibration.toml" in x for x in lines)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("strict_cap", marks=pytest.mark.slow),
        "us_trade_deal",
        pytest.param("resist_2016", marks=pytest.mark.slow),
    ],
)
def test_whatif_shares_the_base_seed(name):
    """Common random numbers: a what-if runs on the same replication seeds as its base."""
    base, what = pair(name)
    assert base.seeds == what.seeds


def test_strict_cap_keeps_china_under_a_third_at_a_cost():
    _, what = pair("strict_cap")
    table = compared("strict_cap")
    assert (what.summaries()["largest_fdi_share_max"] <= 1 / 3 + 1e-6).all()
    assert table.loc["china_fdi_share_final", "diff_high"] < -0.3  # measured -0.50
    assert table.loc["cap_breach_quarters", "b_p95"] == 0
    # the cost against the leaky cap: a fire sale, and investment that builds no mines
    assert table.loc["fire_sale_loss_bn_usd_total", "diff_low"] > 0.1  # measured 0.87
    assert table.loc["export_revenue_bn_usd_total", "diff_high"] < -10.0  # measured -57
    assert table.loc["fdi_stock_bn_usd_final", "diff_high"] < -5.0  # measured -29


def test_no_cap_lets_china_grow_and_rejects_nothing():
    _, what = pair("no_cap")
    table = compared("no_cap")
    assert table.loc["china_fdi_share_final", "diff_low"] > 0.02  # measured +0.110
    assert (what.summaries()["fdi_rejected_bn_usd_total"] == 0.0).all()


def test_third_neighbours_step_up_brings_investment_without_provoking():
    """The step-up is economic: investment and attention, political ties as in the
    baseline; economic ties alone neither cross the neighbours' tolerance nor bring more
    concessions (only political ties make western alignment, P3)."""
    base, what = pair("third_neighbours_step_up")
    table = compared("third_neighbours_step_up")
    assert table.loc["third_neighbour_fdi_share_final", "diff_low"] > 0.1  # measured +0.201
    assert table.loc["china_fdi_share_final", "diff_high"] < -0.1  # measured -0.191
    assert table.loc["fdi_stock_bn_usd_final", "diff_low"] > 5.0  # measured +19
    assert late_difference("third_neighbours_step_up", "attention.united_states", 2035)[1] > 0.2
    ties = [c for c in base.frames[0].columns if c.startswith("political_tie.")]
    for a, b in zip(base.frames, what.frames, strict=True):
        np.testing.assert_allclose(b[ties].to_numpy(), a[ties].to_numpy(), atol=1e-9)
    tolerance = what.config.pressure.western_alignment_tolerance
    assert max(f["western_alignment"].max() for f in what.frames) < tolerance
    triggered = {
        (pid, line)
        for pid, spec in what.config.partners.items()
        for line, red in spec.red_lines.items()
        if red.alignment_trigger
    }
    episodes = [e for run in what.runs for e in run.episodes]
    assert episodes and not any((e["neighbour"], e["red_line"]) in triggered for e in episodes)
    # no more concessions: not on average (one more in all the runs at most: a changed
    # episode can end either way), and not beyond noise
    concessions = table.loc["concessions"]
    assert concessions["difference"] <= 1 / SEEDS and concessions["diff_low"] <= 0.0


def test_neighbours_aligned_pool_their_leverage_and_back_each_other():
    base, what = pair("neighbours_aligned")
    table = compared("neighbours_aligned")
    assert table.loc["leverage_russia_mean", "diff_low"] > 0.1  # measured +0.16
    assert table.loc["autonomy_mean", "diff_high"] < -0.03  # measured -0.061

    def backed(reps: Replications) -> float:
        episodes = [e for run in reps.runs for e in run.episodes]
        return sum(bool(e["backed_by"]) for e in episodes) / max(len(episodes), 1)

    assert backed(what) > backed(base) + 0.2  # measured 0.87 against 0.56


def test_refinery_cuts_russian_energy_leverage():
    for column, low, high in (
        ("import_share.russia", -np.inf, -0.05),  # measured -0.094
        ("leverage_russia", -np.inf, -0.05),  # measured -0.14
        ("autonomy", 0.05, np.inf),  # measured +0.10
    ):
        _, lo, hi = late_difference("refinery_built", column, 2025)
        assert lo > low and hi < high, column


def test_us_trade_deal_sells_more_to_the_us():
    """The 90% bands of single runs do not overlap, read from compare's own table."""
    row = compared("us_trade_deal").loc["exports_to_us_mean"]
    assert row["different"] and row["diff_low"] > 0.0005  # measured +0.0016 bn USD
    assert not row["bands_overlap"] and row["b_p05"] > row["a_p95"]
    _, low, _ = late_difference("us_trade_deal", "third_neighbour_export_share", 2019)
    assert low > 0


def test_new_strategic_partners_climb_and_invest():
    base, what = pair("new_strategic_partners")
    table = compared("new_strategic_partners")
    for frame in what.frames:
        for pid in ("germany", "turkey", "vietnam"):
            assert frame[f"level.{pid}"].iloc[-1] >= 3  # strategic
    assert late_difference("new_strategic_partners", "level.vietnam", 2025)[1] > 1.0
    assert table.loc["third_neighbour_fdi_share_final", "diff_low"] > 0.001  # measured +0.0026
    assert table.loc["china_fdi_share_final", "diff_high"] < 0.0


def test_port_route_via_russia_moves_exports_off_china():
    table = compared("port_route_via_russia")
    assert table.loc["third_neighbour_export_share_mean", "diff_low"] > 0.002  # measured +0.0031
    assert table.loc["china_export_share_mean", "diff_high"] < -0.002  # measured -0.0030
    base, what = pair("port_route_via_russia")
    for pid in ("japan", "south_korea"):
        before = since(base, f"exports_by_partner.{pid}", 2025).mean()
        _, low, _ = late_difference("port_route_via_russia", f"exports_by_partner.{pid}", 2025)
        assert low > 0.2 * before, pid  # measured +35% and +40%


def _episode_2016(run: Replication) -> dict:
    """China's episode over the 2016 visit (none when it let the crossing pass)."""
    found = [e for e in run.episodes if e["neighbour"] == "china" and e["started"] == "2016Q4"]
    return found[0] if found else {"quarters": 0, "outcome": "none"}


def _conceded_2016_17(run: Replication) -> int:
    """Concessions to China from the visit (2016 Q4) to the end of 2017."""
    window = ("2016 Q4", "2017 ")
    return sum(line.startswith(window) and "concedes to China" in line for line in run.events)


@pytest.mark.slow
def test_resisting_in_2016_means_no_concession_and_never_shorter_pressure():
    """From the visit to the end of 2017 Mongolia never concedes, so China's 2016 episode
    lasts at least as long as in the history, run by run (pressure that outlasts 2017
    meets the history's policy again); before, the history's policy."""
    base, what = pair("resist_2016", RESIST_SEEDS)
    assert base.seeds == what.seeds
    assert all(_conceded_2016_17(run) == 0 for run in what.runs)
    quarters_a = np.array([_episode_2016(run)["quarters"] for run in base.runs])
    quarters_b = np.array([_episode_2016(run)["quarters"] for run in what.runs])
    assert (quarters_b >= quarters_a).all()
    # before and after, the history's policy: concessions in other years remain
    assert sum(line[:4] < "2016" and "concedes to" in line for r in what.runs for line in r.events)


def test_resisting_in_2016_makes_the_2016_pressure_last_longer():
    """The what-if's point: where the history conceded, holding out prolongs the pressure.
    It needs a history that concedes in 2016 often enough to show (P1): 58 runs in 64."""
    base, what = pair("resist_2016", RESIST_SEEDS)
    assert any(_conceded_2016_17(run) > 0 for run in base.runs)  # else nothing to reverse
    quarters_a = np.array([_episode_2016(run)["quarters"] for run in base.runs])
    quarters_b = np.array([_episode_2016(run)["quarters"] for run in what.runs])
    _, low, _ = difference_interval(quarters_a, quarters_b, paired=True)
    assert low > 0  # measured +3.69 quarters [+3.39, +3.98]
