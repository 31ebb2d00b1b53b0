"""Scheduled events: each kind changes the model, dates land on the right quarter,
bad events give one clear error (file, event index, key), and nothing leaks between runs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

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


def test_red_line_event_forces_an_episode_whatever_the_leverage(baseline):
    cfg = with_events(
        baseline, {"kind": "red_line", "at": "2016Q4", "neighbour": "china", "red_line": "tibet"}
    )
    data = cfg.model_dump(mode="json", exclude_none=True)
    data["partners"]["china"]["red_lines"] = {"tibet": {"hazard_per_year": 0.0}}
    data["partners"]["china"]["pressure_threshold"] = 1.0  # never presses on its own
    cfg = validate(data, "test.toml")
    model = run_to(cfg, 2016, 4)
    lines = [line for line in model.event_log if "presses over tibet" in line]
    assert lines and lines[0].startswith(
        "2016 Q4: China presses over tibet: import fees, extra transit costs"
    )


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
    before = model.demand[i, c]
    while model.steps < 9:  # 2012 Q1
        model.step()
    assert model.demand[i, c] == pytest.approx(3 * before)
    while model.steps < 13:  # four quarters later
        model.step()
    assert model.demand[i, c] == pytest.approx(before)


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
    assert passed.demand[us, cash] == pytest.approx(4 * failed.demand[us, cash])
    assert passed.allocation[us, cash] > 2 * failed.allocation[us, cash]
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
    )
    _, first = simulate(cfg, 11, steps=20)
    _, second = simulate(cfg, 11, steps=20)
    pd.testing.assert_frame_equal(first, second)
    fresh = BalanceModel(cfg, rng=11)
    assert np.array_equal(fresh.demand, BalanceModel(baseline, rng=11).demand)


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
    assert [e.step(2010) for e in cfg.events] == [27, 29]
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
    assert err.key.startswith("events.0") and "year" in err.expected
    err = error_of(tmp_path, '[[events]]\nkind = "alignment"\nat = "2016-3"\n')
    assert err.key.startswith("events.0") and "2016Q3" in err.expected


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
    assert [e.level for e in cfg.events] == [0.5, 0.6]
    write(parent, BASE + '[[events]]\nyear = 2012\nkind = "alignment"\nlevel = 5\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(child)
    assert info.value.file.endswith("parent.toml") and info.value.key == "events.0.level"


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


def test_the_cached_trade_allocation_is_never_stale():
    """The allocation and the investment offers are recomputed only when their inputs
    change (a key of the moving state plus the settings' version). Over the history, whose
    events exercise every kind, the values trade is cleared with equal a fresh computation
    at every step (pressure and diplomacy late in a step act from the next quarter on)."""
    from sim.catalog import resolve_scenario

    history = load_scenario(resolve_scenario("history_1990_2024"))
    extra = load_scenario(resolve_scenario("whatif/resist_2016")).events[-1:]
    # Settings changes alone in their quarter (nothing else moves the key then).
    lone = validate(
        {
            **history.model_dump(mode="json", exclude={"events"}),
            "events": [
                {"kind": "diplomacy", "at": "2005Q3", "third_neighbour_engagement": 4.0},
                {
                    "kind": "credit_line",
                    "at": "2007Q2",
                    "partner": "india",
                    "debt_share": 0.1,
                    "refinery_year": 2008,
                    "refinery_substitution": 0.75,
                },
            ],
        }
    ).events
    config = history.model_copy(update={"events": [*history.events, *extra, *lone]})
    model = BalanceModel(config, rng=3)
    clear_trade = model._clear_trade
    checked = []

    def clear_and_check() -> None:
        clear_trade()
        cached = [model.allocation, model.revenue_factor, model.offer_base, model.fuel_share]
        cached = [array.copy() for array in cached]
        model._allocate_trade()
        fresh = [model.allocation, model.revenue_factor, model.offer_base, model.fuel_share]
        for a, b in zip(cached, fresh, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"stale at {model.year} Q{model.quarter}")
        checked.append(model.steps)

    model._clear_trade = clear_and_check  # type: ignore[method-assign]
    for _ in range(config.steps):
        model.step()
    assert len(checked) == config.steps
