"""Scheduled events: each kind changes the model, dates land on the right quarter,
bad events give one clear error (file, event index, key), and nothing leaks between runs."""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pandas as pd
import pytest

from sim.model import economy
from sim.model.model import BalanceModel
from sim.model.run import simulate
from sim.model.timeline import Timeline
from sim.schema.events import KIND_NAMES
from sim.schema.scenario import LEVELS, ScenarioError, load_scenario, validate
from tests.conftest import ROOT, write

BASELINE_PATH = ROOT / "scenarios" / "baseline.toml"


def with_events(baseline, *events: dict, **top):
    """The baseline (2010 start) with these events, validated like a file."""
    data = baseline.model_dump(mode="json", exclude_none=True)
    data.update(top)
    data["events"] = list(events)
    return validate(data, "test.toml")


def run_to(config, year: int, quarter: int = 4, seed: int = 1) -> BalanceModel:
    model = BalanceModel(config, rng=seed)
    while model.steps < (year - config.start_year) * 4 + quarter:
        model.step()
    return model


def step_of(model: BalanceModel) -> str:
    return f"{model.year}Q{model.quarter}"


# --- every kind is a real change ---------------------------------------------------------


def test_partnership_sets_level_and_lifts_max_level(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "partnership",
            "at": "2012Q3",
            "partner": "rest_of_world",
            "level": "strategic",
            "source": "test",
        },
    )
    model = run_to(cfg, 2012, 2)
    i = model.partner_ids.index("rest_of_world")
    assert model.level[i] == 0
    model.step()
    assert step_of(model) == "2012Q3"
    assert model.level[i] == LEVELS.index("strategic") and model.max_level[i] >= model.level[i]
    assert any(
        line.startswith("2012 Q3: Rest of world: partnership now strategic")
        for line in model.event_log
    )


def test_investment_cap_change_binds_from_its_year(baseline):
    cfg = with_events(baseline, {"kind": "investment_cap", "year": 2015, "enforcement": "strict"})
    model = run_to(cfg, 2014)
    assert model.fdi_share.max() > 0.4  # leaky before
    model = run_to(cfg, 2015, 2)
    assert model.settings.investment.cap.enforcement == "strict"
    assert model.fdi_share.max() <= model.settings.investment.cap.level + 1e-9
    assert baseline.investment.cap.enforcement == "leaky"  # the scenario is untouched


def quiet_with_red_line(baseline, stake_bn_usd: float):
    """The baseline with no red line crossed by chance, China's stake over Tibet fixed
    (no private noise), and a scheduled crossing of it in 2016 Q4."""
    cfg = with_events(
        baseline, {"kind": "red_line", "at": "2016Q4", "neighbour": "china", "red_line": "tibet"}
    )
    data = cfg.model_dump(mode="json", exclude_none=True)
    for partner in ("china", "russia"):
        for line in data["partners"][partner]["red_lines"].values():
            line["hazard_per_year"] = 0.0
            line["alignment_trigger"] = False
    data["partners"]["china"]["red_lines"]["tibet"]["stake_bn_usd"] = stake_bn_usd
    data["pressure"]["resolve_noise"] = 0.0
    return validate(data, "test.toml")


def test_red_line_event_makes_china_press_when_its_stake_beats_its_cost(baseline):
    """A scheduled crossing makes the neighbour consider pressing: with a stake worth far
    more than pressing costs it over its horizon, it presses that quarter, with its tools."""
    model = run_to(quiet_with_red_line(baseline, stake_bn_usd=20.0), 2016, 4)
    lines = [line for line in model.event_log if "over tibet" in line]
    assert lines and lines[0].startswith(
        "2016 Q4: China presses over tibet: import fees, extra transit costs"
    ), lines
    episode = model.neighbour("china").episode
    assert episode is not None and episode.red_line == "tibet"
    horizon = model.settings.pressure.horizon_quarters
    assert episode.belief * episode.stake_bn_usd > episode.last_coercer_cost_bn_usd * horizon


def test_red_line_event_passes_when_pressing_would_cost_china_more(baseline):
    """The converse: a stake below what pressing would cost it, and China lets the
    crossing pass (logged, with the cost it weighed); no episode, no cost to anyone."""
    model = run_to(quiet_with_red_line(baseline, stake_bn_usd=0.05), 2017, 4)
    passed = [line for line in model.event_log if "crossing of tibet pass" in line]
    assert len(passed) == 1 and passed[0].startswith("2016 Q4: China lets"), model.event_log
    cost = float(passed[0].split("would cost it ")[1].split(" bn USD")[0])
    belief = 0.5  # nothing happened before: the neighbours' expectation is where it starts
    assert belief * 0.05 <= cost * model.settings.pressure.horizon_quarters
    assert not any("presses over" in line for line in model.event_log)
    assert model.neighbour("china").episode is None
    frame = model.datacollector.get_model_vars_dataframe()
    assert (frame["active_pressure"] == 0).all() and (frame["pressure_cost_bn_usd"] == 0).all()


def test_demand_shock_scales_demand_and_reverts(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "demand_shock",
            "year": 2012,
            "partner": "china",
            "commodity": "coal",
            "factor": 3.0,
            "quarters": 4,
        },
    )
    model = BalanceModel(cfg, rng=3)
    i, c = model.partner_ids.index("china"), model.commodity_names.index("coal")
    before = model.market[i, c]
    while model.steps < 9:  # 2012 Q1
        model.step()
    assert model.market[i, c] == pytest.approx(3 * before)
    while model.steps < 13:  # four quarters later
        model.step()
    assert model.market[i, c] == pytest.approx(before)


def test_transit_shock_raises_fees_cuts_prices_and_revenue(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "transit_shock",
            "year": 2013,
            "transit_fee": {"china": 0.2},
            "price_factor": 0.7,
            "quarters": 2,
        },
    )
    plain, shocked = BalanceModel(baseline, rng=5), BalanceModel(cfg, rng=5)
    for _ in range(13):
        plain.step()
        shocked.step()
    china = shocked.partner_ids.index("china")
    assert shocked.transit_fee[china] == pytest.approx(plain.transit_fee[china] + 0.2)
    # The shock enters this quarter's AR(1) step, so it is already damped once.
    assert shocked.log_price == pytest.approx(
        plain.log_price + plain.price_persistence * math.log(0.7)
    )
    assert shocked.export_revenue_bn_usd < 0.75 * plain.export_revenue_bn_usd
    for _ in range(2):
        shocked.step()
    assert shocked.transit_fee[china] == pytest.approx(baseline.trade.transit_fee["china"])


def test_credit_line_adds_debt_and_the_refinery_cuts_fuel_imports(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "credit_line",
            "year": 2011,
            "partner": "india",
            "debt_share": 0.5,
            "refinery_year": 2013,
            "refinery_substitution": 0.75,
        },
    )
    model = run_to(cfg, 2012)
    india = model.partner_ids.index("india")
    assert model.debt_weight[india] == pytest.approx(baseline.partners["india"].debt_share + 0.5)
    fuel_before = model.fuel_imports
    model.step()  # 2013 Q1: on line
    assert model.settings.trade.imports.refinery_substitution == 0.75
    assert model.fuel_imports == pytest.approx(fuel_before * 0.25)
    assert model.settings.pressure.exposure.energy == pytest.approx(
        baseline.pressure.exposure.energy * 0.25
    )
    assert baseline.trade.imports.refinery_substitution == 0.0  # not mutated


def test_refinery_in_the_credit_year_is_on_line_at_once(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "credit_line",
            "at": "2012Q2",
            "partner": "india",
            "debt_share": 0.0,
            "refinery_year": 2012,
            "refinery_substitution": 0.5,
        },
    )
    model = run_to(cfg, 2012, 2)
    assert model.settings.trade.imports.refinery_substitution == 0.5
    assert any(line.startswith("2012 Q2: the refinery") for line in model.event_log)


def test_trade_deal_changes_demand_only_when_passed(baseline):
    deal = {
        "kind": "trade_deal",
        "year": 2011,
        "partner": "united_states",
        "commodity": "cashmere",
        "demand_factor": 4.0,
    }
    passed = run_to(with_events(baseline, deal), 2011, 1)
    failed = run_to(with_events(baseline, {**deal, "passed": False}), 2011, 1)
    us, cash = passed.partner_ids.index("united_states"), passed.commodity_names.index("cashmere")
    assert passed.market[us, cash] == pytest.approx(4 * failed.market[us, cash])
    assert passed.flows[us, cash] > 2 * failed.flows[us, cash]
    assert any("fails" in line for line in failed.event_log)


def test_debt_call_raises_leverage_and_settlement_ends_it(baseline):
    cfg = with_events(
        baseline,
        {"kind": "debt_call", "year": 2011, "partner": "russia", "debt_share": 2.0},
        {"kind": "debt_settlement", "year": 2013, "partner": "russia", "remaining_share": 0.05},
    )
    plain = run_to(baseline, 2012)
    called = run_to(cfg, 2012)
    russia = called.RUSSIA
    assert called.effective_leverage[russia] > plain.effective_leverage[russia] + 0.05
    settled = run_to(cfg, 2013, 2)
    assert settled.debt_weight[russia] == pytest.approx(0.05)


def test_alignment_change_sets_level_and_trend(baseline):
    cfg = with_events(
        baseline, {"kind": "alignment", "at": "2011Q2", "level": 0.9, "trend_per_year": -0.2}
    )
    model = run_to(cfg, 2011, 2)
    assert model.alignment == pytest.approx(0.9 - 0.05)  # the trend applies in the same step
    model.step()
    assert model.alignment == pytest.approx(0.9 - 0.1)
    assert baseline.alignment.trend_per_year == 0.01


def test_attention_and_diplomacy_change(baseline):
    cfg = with_events(
        baseline,
        {"kind": "attention", "year": 2011, "partner": "france", "attention": 1.0},
        {
            "kind": "diplomacy",
            "year": 2011,
            "strategy": "third_neighbour",
            "third_neighbour_engagement": 3.0,
        },
    )
    model = run_to(cfg, 2011, 1)
    france = model.partner_ids.index("france")
    assert model.attention[france] > 0.9
    assert model.mongolia.strategy == "third_neighbour"
    assert model.settings.diplomacy.third_neighbour_engagement == 3.0


def test_same_quarter_events_apply_in_file_order(baseline):
    first = {"kind": "partnership", "year": 2011, "partner": "france", "level": "strategic"}
    cfg = with_events(baseline, first, {**first, "level": "extended"})
    model = run_to(cfg, 2011, 1)
    assert model.level[model.partner_ids.index("france")] == LEVELS.index("extended")


def test_runs_share_nothing_and_repeat_exactly(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "demand_shock",
            "year": 2011,
            "partner": "china",
            "commodity": "coal",
            "factor": 2.0,
        },
        {"kind": "transit_shock", "year": 2012, "transit_fee": {"russia": 0.1}},
        {"kind": "mine_project", "year": 2011, "commodity": "copper", "capacity_bn_usd": 1.0},
        {"kind": "crossing", "year": 2012, "neighbour": "china", "factor": 0.5},
    )
    _, first = simulate(cfg, 11, steps=20)
    _, second = simulate(cfg, 11, steps=20)
    pd.testing.assert_frame_equal(first, second)
    fresh, plain = BalanceModel(cfg, rng=11), BalanceModel(baseline, rng=11)
    for name in ("market", "capacity", "crossing_capacity", "transit_fee"):
        assert np.array_equal(getattr(fresh, name), getattr(plain, name)), name


def test_timeline_counts_pending(baseline):
    cfg = with_events(
        baseline,
        {
            "kind": "demand_shock",
            "year": 2011,
            "partner": "china",
            "commodity": "coal",
            "factor": 2.0,
            "quarters": 2,
        },
    )
    timeline = Timeline(cfg.events, cfg.start_year)
    assert timeline.pending == 1


# --- loading and errors ------------------------------------------------------------------

BASE = f'extends = "{BASELINE_PATH}"\n'


@functools.cache
def inherited() -> int:
    """How many events the baseline holds: a file that extends it gets them first, so its
    own first event is ``events.<inherited()>`` of the resolved scenario; errors name the
    file and count its own events (issue 18): ``events.0`` is its first."""
    return len(load_scenario(BASELINE_PATH).events)


def load_text(tmp_path, text: str):
    return load_scenario(write(tmp_path / "s.toml", BASE + text))


def error_of(tmp_path, text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_text(tmp_path, text)
    return info.value


def test_toml_dates_and_round_trip(tmp_path):
    cfg = load_text(
        tmp_path,
        '[[events]]\nat = "2016Q3"\nkind = "red_line"\n'
        'neighbour = "china"\nred_line = "tibet"\n'
        '[[events]]\nyear = 2017\nkind = "demand_shock"\n'
        'partner = "china"\ncommodity = "coal"\nfactor = 1.5\n',
    )
    n = inherited()
    assert n > 0 and cfg.events[:n] == load_scenario(BASELINE_PATH).events  # parent's first
    assert [e.step(2010) for e in cfg.events[n:]] == [27, 29]
    again = load_scenario(write(tmp_path / "resolved.toml", cfg.to_toml()))
    assert again == cfg


def test_unknown_kind_lists_known_kinds(tmp_path):
    err = error_of(tmp_path, '[[events]]\nyear = 2016\nkind = "invasion"\n')
    assert err.key == "events.0.kind" and err.file.endswith("s.toml")
    assert "invasion" in err.found
    for kind in KIND_NAMES:
        assert kind in err.expected


def test_wrong_field_names_event_index_and_key(tmp_path):
    text = (
        '[[events]]\nyear = 2011\nkind = "partnership"\npartner = "japan"\n'
        'level = "strategic"\n\n[[events]]\nyear = 2012\nkind = "partnership"\n'
        'partner = "japan"\nlevel = "best_friends"\n'
    )
    err = error_of(tmp_path, text)
    assert err.key == "events.1.level"
    assert "best_friends" in err.found and "comprehensive_strategic" in err.expected


def test_unknown_key_in_event_suggests(tmp_path):
    err = error_of(
        tmp_path,
        '[[events]]\nyear = 2016\nkind = "demand_shock"\npartner = "china"'
        '\ncommodity = "coal"\nfactr = 2\n',
    )
    assert err.key == "events.0.factr" and "factor" in err.found


def test_missing_or_double_date(tmp_path):
    err = error_of(tmp_path, '[[events]]\nkind = "alignment"\nlevel = 0.5\n')
    own = "events.0"  # its own first event, whatever it extends
    assert (err.key == own or err.key.startswith(own + ".")) and "year" in err.expected
    err = error_of(tmp_path, '[[events]]\nkind = "alignment"\nat = "2016-3"\n')
    assert (err.key == own or err.key.startswith(own + ".")) and "2016Q3" in err.expected


def test_cross_references(tmp_path):
    err = error_of(
        tmp_path,
        '[[events]]\nyear = 2016\nkind = "partnership"\npartner = "japn"\nlevel = "strategic"\n',
    )
    assert err.key == "events.0.partner" and "japan" in err.found
    err = error_of(
        tmp_path,
        '[[events]]\nyear = 2016\nkind = "red_line"\nneighbour = "china"\nred_line = "tibett"\n',
    )
    assert err.key == "events.0.red_line" and "tibet" in err.expected
    err = error_of(
        tmp_path,
        '[[events]]\nyear = 2016\nkind = "trade_deal"\n'
        'partner = "united_states"\ncommodity = "wool"\ndemand_factor = 2\n',
    )
    assert err.key == "events.0.commodity" and "cashmere" in err.expected
    err = error_of(tmp_path, '[[events]]\nyear = 2001\nkind = "alignment"\nlevel = 0.5\n')
    assert err.key == "events.0.year" and "2010Q1" in err.expected


def test_events_add_to_the_parents_and_errors_name_the_parent(tmp_path):
    parent = write(
        tmp_path / "parent.toml",
        BASE + '[[events]]\nyear = 2012\nkind = "alignment"\nlevel = 0.5\n',
    )
    child = write(
        tmp_path / "child.toml",
        'extends = "parent.toml"\n[[events]]\nyear = 2013\nkind = "alignment"\nlevel = 0.6\n',
    )
    cfg = load_scenario(child)
    n = inherited()
    assert [e.kind for e in cfg.events[:n]] == [e.kind for e in load_scenario(BASELINE_PATH).events]
    assert [e.level for e in cfg.events[n:]] == [0.5, 0.6]  # the parent's, then the child's
    write(parent, BASE + '[[events]]\nyear = 2012\nkind = "alignment"\nlevel = 5\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert info.value.file.endswith("parent.toml")
    assert info.value.key == "events.0.level"


def test_cli_prints_one_line_for_a_bad_event(tmp_path, capsys):
    from sim.cli.main import main

    path = write(tmp_path / "bad.toml", BASE + '[[events]]\nyear = 2016\nkind = "coup"\n')
    assert main(["run", str(path), "--no-plots", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "events.0.kind" in err and "partnership" in err


def test_the_event_union_lists_every_kind_and_each_kind_is_applied():
    """Event is written out for the type checker; it must hold exactly EVENT_KINDS, and
    the timeline must know what each kind does."""
    from typing import get_args

    from sim.model.timeline import APPLY
    from sim.schema.events import EVENT_KINDS, Event

    union = get_args(get_args(Event)[0])
    assert set(union) == set(EVENT_KINDS)
    assert set(APPLY) == set(EVENT_KINDS)


# One event of every kind, each alone in its quarter (Q2 or Q3 of the 1990s, when the
# history schedules nothing and no new year moves the key): a change that forgets to bump
# a version shows there. A new kind must be added here (the test checks all are).
LONE_EVENTS = (
    {"kind": "partnership", "at": "1991Q2", "partner": "france", "level": "extended"},
    {"kind": "investment_cap", "at": "1991Q3", "enforcement": "leaky", "level": 0.5},
    {"kind": "red_line", "at": "1992Q2", "neighbour": "russia", "red_line": "energy"},
    {"kind": "demand_shock", "at": "1992Q3", "partner": "japan", "commodity": "coal", "factor": 2},
    {"kind": "transit_shock", "at": "1993Q2", "transit_fee": {"china": 0.05}, "quarters": 2},
    {"kind": "diplomacy", "at": "1993Q3", "third_neighbour_engagement": 4.0},
    {
        "kind": "credit_line",
        "at": "1994Q2",
        "partner": "india",
        "debt_share": 0.1,
        "refinery_year": 1994,
        "refinery_substitution": 0.75,
    },
    {
        "kind": "trade_deal",
        "at": "1994Q3",
        "partner": "united_states",
        "commodity": "cashmere",
        "demand_factor": 3,
    },
    {"kind": "debt_call", "at": "1995Q2", "partner": "russia", "debt_share": 0.5},
    {"kind": "debt_settlement", "at": "1995Q3", "partner": "russia", "remaining_share": 0.1},
    {"kind": "alignment", "at": "1996Q2", "level": 0.6, "trend_per_year": 0.0},
    {"kind": "attention", "at": "1996Q3", "partner": "japan", "attention": 0.9},
    {"kind": "response", "at": "1997Q2", "response": "resist", "quarters": 3},
    {"kind": "mine_project", "at": "1997Q3", "commodity": "copper", "capacity_bn_usd": 0.5},
    {"kind": "crossing", "at": "1998Q2", "neighbour": "china", "factor": 0.0, "quarters": 2},
    {
        "kind": "new_route",
        "at": "1998Q3",
        "via": "russia",
        "partners": ["south_korea"],
        "freight_usd_per_t": 60.0,
        "add_mt_per_year": 2.0,
    },
    {"kind": "demand_growth", "at": "1999Q2", "partner": "india", "growth_per_year": 0.1},
)
# What the allocation caches: demand pull, flows and what follows from them, fuel, offers.
CACHED = (
    "pull",
    "revenue_factor",
    "flows",
    "exports_mt",
    "crossing_load",
    "fuel_imports",
    "fuel_share",
    "import_share",
    "offer_base",
)


def history_with_every_kind(quiet: bool = False):
    """The history, the resist_2016 what-if's event, and LONE_EVENTS. ``quiet``: no red
    line is crossed by chance, so no episode moves the key in a lone event's quarter."""
    from sim.catalog import resolve_scenario

    history = load_scenario(resolve_scenario("history_1990_2024"))
    if quiet:
        data = history.model_dump(mode="json", exclude_none=True)
        for partner in ("china", "russia"):
            for line in data["partners"][partner]["red_lines"].values():
                line["hazard_per_year"] = 0.0
                line["alignment_trigger"] = False
        # The lone red line's episode ends the quarter after it starts, whatever the
        # bargain's parameters: it cannot overlap (and mask) a later lone event.
        data["pressure"]["response"] = "concede"
        history = validate(data, "history.toml")
    extra = load_scenario(resolve_scenario("whatif/resist_2016")).events[-1:]
    lone = validate(
        {**history.model_dump(mode="json", exclude={"events"}), "events": list(LONE_EVENTS)}
    ).events
    assert {e.kind for e in lone} == set(KIND_NAMES), "one lone event of every kind"
    return history.model_copy(update={"events": [*history.events, *extra, *lone]})


def stale_quarters(model: BalanceModel) -> tuple[list[str], int]:
    """Run to the end; at every step, compare the values trade was cleared with against a
    fresh computation (every cache key, ``model._*_key``, invalidated). Returns the
    quarters (and cached names) where they differed, and the number of steps checked."""
    clear_trade = model._clear_trade
    stale: list[str] = []
    checked = []

    def clear_and_check() -> None:
        clear_trade()
        cached = [np.array(getattr(model, name), copy=True) for name in CACHED]
        for name in [n for n in vars(model) if n.startswith("_") and n.endswith("_key")]:
            setattr(model, name, object())  # every cache's key now matches nothing
        model._allocate_trade()
        for name, before in zip(CACHED, cached, strict=True):
            if not np.array_equal(before, getattr(model, name)):
                stale.append(f"{model.year} Q{model.quarter} {name}")
        checked.append(model.steps)

    model._clear_trade = clear_and_check  # type: ignore[method-assign]
    while model.running:
        model.step()
    return stale, len(checked)


def test_the_cached_trade_allocation_is_never_stale():
    """The allocation and the investment offers are recomputed only when their inputs
    change (a key of the moving state plus two versions: settings, and volumes, which the
    new year bumps too). Over the history plus one lone event of every kind, the values
    trade is cleared with equal a fresh computation at every step (pressure and diplomacy
    late in a step act from the next quarter on)."""
    config = history_with_every_kind()
    stale, checked = stale_quarters(BalanceModel(config, rng=3))
    assert stale == [] and checked == config.steps


@pytest.mark.parametrize(
    ("bump", "lone"),
    [
        # diplomacy, the refinery, the new route
        ("_settings_changed", {"1993 Q3", "1994 Q2", "1998 Q3"}),
        # the mine, the border closed and reopened
        ("_volumes_changed", {"1997 Q3", "1998 Q2", "1998 Q4"}),
    ],
)
def test_the_staleness_check_catches_a_forgotten_version_bump(bump, lone):
    """The check above is not vacuous: with either version bump forgotten (the method
    still does its other work), the cache is stale in the quarter of each lone event that
    needs that bump, and the check says so."""
    model = BalanceModel(history_with_every_kind(quiet=True), rng=3)
    if bump == "_volumes_changed":

        def forgetful() -> None:  # the mix of mining capacity still follows
            model.mining_mix = economy.shares(model.capacity * model.is_mining)

    else:

        def forgetful() -> None:
            pass

    setattr(model, bump, forgetful)
    stale, _ = stale_quarters(model)
    missed = lone - {entry.rsplit(" ", 1)[0] for entry in stale}
    assert not missed, f"a forgotten {bump} went unnoticed in {sorted(missed)}"


def test_strict_cap_events_forced_sale_is_in_the_event_log(baseline):
    """Issue 18: a strict cap's forced sale moved the FDI stock but said nothing in the
    event log (the page's log showed the cap change, then nothing about the sale)."""
    cfg = with_events(baseline, {"kind": "investment_cap", "at": "2015Q1", "enforcement": "strict"})
    model = run_to(cfg, 2015, 1)
    assert model.fdi_divested_bn_usd > 0.1, "the test needs a sale: China is above the cap"
    sales = [line for line in model.event_log if "forced sale" in line]
    assert len(sales) == 1, model.event_log
    (line,) = sales
    assert line.startswith("2015 Q1: "), line
    sellers = re.search(r"sold \(([^)]*)\)", line)
    assert sellers, line
    sold = {
        name: float(value)
        for name, value in re.findall(r"([^,]+?) (\d+\.\d\d) bn USD", sellers.group(1))
    }
    assert sold.get("China") == pytest.approx(model.fdi_divested_bn_usd, abs=0.006), line
    assert f"fire-sale loss of {model.fire_sale_loss_bn_usd:.2f} bn USD" in line
    assert "33%" in line and "strict" in line
    model.step()
    assert [line for line in model.event_log if "forced sale" in line] == sales, "one sale"
