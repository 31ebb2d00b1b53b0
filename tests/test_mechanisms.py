"""Model 2's mechanisms answer the questions they are about (issue: trade, coercion and
alignment that respond). Each test changes one thing and checks the outcome it should
move, over several seeds where the outcome is random."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.model import BalanceModel
from sim.schema.scenario import load_scenario, validate
from tests.conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.toml"


@pytest.fixture(scope="module")
def baseline():
    return load_scenario(BASELINE)


@pytest.fixture(scope="module")
def quiet(baseline):
    """The baseline with no red line ever crossed: trade alone, no pressure episodes."""
    return _quiet(baseline)


def _quiet(config):
    quiet = config.model_copy(deep=True)
    for partner in quiet.partners.values():
        for line in partner.red_lines.values():
            line.hazard_per_year = 0.0
    return quiet


def with_events(config, *events):
    data = config.model_dump()
    data["events"] = [*data["events"], *events]
    return validate(data)


def run_to(config, year: int, quarter: int = 4, seed: int = 1) -> BalanceModel:
    model = BalanceModel(config, rng=seed)
    while (model.year, model.quarter) < (year, quarter) or model.steps == 0:
        model.step()
    return model


def coal_mt(model: BalanceModel) -> float:
    return float(model.exports_mt[model.commodity_names.index("coal")])


# --- trade that responds ----------------------------------------------------------------


def test_a_coal_demand_shock_raises_coal_within_a_year_up_to_the_border(quiet):
    baseline = quiet.model_copy(deep=True)
    baseline.trade.commodities["coal"].capacity_bn_usd = 30.0  # mines that could fill it
    baseline.trade.crossings["china"].capacity_mt_per_year = 180.0  # room (200 after 2012)
    shock = {
        "at": "2015Q1",
        "kind": "demand_shock",
        "partner": "china",
        "commodity": "coal",
        "factor": 1.5,
    }
    huge = {**shock, "factor": 20.0}
    before = run_to(baseline, 2015, 4)
    shocked = run_to(with_events(baseline, shock), 2015, 4)
    flooded = run_to(with_events(baseline, huge), 2015, 4)
    assert coal_mt(shocked) > coal_mt(before) * 1.05  # within the year of the shock
    china = flooded.CHINA
    border = float(flooded.crossing_capacity[china])
    load = float(flooded.crossing_load[0])  # tonnes crossing into China
    assert load == pytest.approx(border, rel=1e-6)  # a flood of demand fills the border
    assert coal_mt(flooded) < border  # and coal gets only what denser goods leave
    assert coal_mt(flooded) > coal_mt(shocked)  # more demand fills what the border leaves
    assert float(shocked.crossing_load[0]) <= border + 1e-9


def test_closing_the_border_lowers_coal_and_reopening_restores_it(quiet):
    baseline = quiet
    closure = {
        "at": "2015Q1",
        "kind": "crossing",
        "neighbour": "china",
        "factor": 0.3,
        "quarters": 4,
    }
    open_ = run_to(baseline, 2015, 2)
    closed = run_to(with_events(baseline, closure), 2015, 2)
    assert coal_mt(closed) < 0.6 * coal_mt(open_)
    assert closed.export_revenue_bn_usd < open_.export_revenue_bn_usd
    reopened = run_to(with_events(baseline, closure), 2016, 2)
    assert coal_mt(reopened) == pytest.approx(coal_mt(run_to(baseline, 2016, 2)), rel=1e-9)


def test_a_trade_deal_raises_exports_to_that_partner(baseline):
    deal = {
        "year": 2015,
        "kind": "trade_deal",
        "partner": "united_states",
        "commodity": "cashmere",
        "demand_factor": 3.0,
    }
    us = baseline.partners and list(baseline.partners).index("united_states")
    cash = list(baseline.trade.commodities).index("cashmere")
    for seed in (1, 2, 3):
        a = run_to(baseline, 2016, 4, seed)
        b = run_to(with_events(baseline, deal), 2016, 4, seed)
        assert b.flows[us, cash] > 2.0 * a.flows[us, cash]


def test_a_new_route_changes_costs_and_capacity(baseline):
    route = {
        "year": 2015,
        "kind": "new_route",
        "via": "russia",
        "partners": ["japan", "south_korea"],
        "freight_usd_per_t": 40.0,
        "add_mt_per_year": 8.0,
    }
    a = run_to(baseline, 2016, 4)
    b = run_to(with_events(baseline, route), 2016, 4)
    japan = a.partner_ids.index("japan")
    assert b.crossing_of[japan] == b.RUSSIA and a.crossing_of[japan] == a.CHINA
    assert b.crossing_capacity[b.RUSSIA] == a.crossing_capacity[a.RUSSIA] + 8.0
    assert b.exports_by_partner[japan] > a.exports_by_partner[japan]
    assert b.export_share[b.CHINA] < a.export_share[a.CHINA]


def test_fuel_moves_away_from_a_marked_up_supplier_only_as_far_as_others_can_deliver(baseline):
    model = run_to(baseline, 2012, 1)
    normal = model.fuel_imports.copy()
    russia, china = model.RUSSIA, model.CHINA
    markup = np.zeros(model.n_partners)
    markup[russia] = 0.3
    squeezed = model._fuel(markup, model.relation)
    assert squeezed[russia] < normal[russia]
    assert squeezed[china] > normal[china]
    china_limit = model.fuel_capacity[china] / 4.0
    assert squeezed[china] <= china_limit + 1e-12
    assert squeezed.sum() == pytest.approx(normal.sum())  # Russia still fills the gap
    extreme = markup.copy()
    extreme[russia] = 5.0
    assert model._fuel(extreme, model.relation)[china] == pytest.approx(china_limit)


def test_investment_builds_capacity_and_a_strict_cap_costs_projects_and_fire_sales(baseline):
    strict = baseline.model_copy(deep=True)
    strict.investment.cap.enforcement = "strict"
    leaky = run_to(baseline, 2025, 4)
    capped = run_to(strict, 2025, 4)
    mining = leaky.is_mining
    assert capped.capacity[mining].sum() < leaky.capacity[mining].sum()  # lost projects
    fire_sales = run_to(strict, 2010, 1)
    assert fire_sales.fdi_divested_bn_usd > 0
    expected = fire_sales.fdi_divested_bn_usd * strict.investment.cap.fire_sale_discount
    assert fire_sales.fire_sale_loss_bn_usd == pytest.approx(expected)


# --- coercion as bargaining -------------------------------------------------------------


def _pressed_outcome(config, china_market: float, seed: int) -> tuple[float, str | None, int]:
    """Exposure to China, how a Tibet crossing in 2012 ends (None: not pressed), and how
    many quarters China pressed. China's import markets are scaled, and below their full
    size the third neighbours are reached through Russia, so that Mongolia's trade,
    transit and leverage with China vary while the pressure stays the same: the same
    tools and stake."""
    model = BalanceModel(config, rng=seed)
    model.market[model.CHINA] *= china_market
    if china_market < 1.0:
        model.route[model.route == model.CHINA] = model.RUSSIA
        model._set_crossings()
        model.crossing_capacity[model.RUSSIA] = 1e4
    model._settings_changed()
    china = model.neighbour("china")
    while model.steps < 8:
        model.step()
    exposure = float(model.exposure[model.CHINA])
    china.cross_red_line("tibet")
    model.step()
    episode = china.episode
    if episode is None:
        return exposure, None, 0
    while china.episode is episode and model.steps < 60:
        model.step()
    return exposure, episode.outcome, episode.quarters


def _demand_bound(config, import_need: float = 0.0):
    """Mines and borders with room to spare, so that trade is set by demand (a fee cuts
    sales instead of shifting them between buyers), and China's own cost of pressing held
    at its standing cost unless ``import_need`` says otherwise."""
    bound = config.model_copy(deep=True)
    for good in bound.trade.commodities.values():
        good.capacity_bn_usd = 50.0
    for crossing in bound.trade.crossings.values():
        crossing.capacity_mt_per_year = 1e4
    bound.partners["china"].import_need = import_need
    return bound


@pytest.mark.slow
def test_the_chance_of_conceding_rises_with_exposure_to_the_coercer(quiet):
    """The same pressure (tools, stake) at six levels of exposure, 60 seeds each, with
    the baseline's fitted price of conceding: the more Mongolia trades with China and
    through it, the more holding out costs, and the more often it concedes."""
    levels = (0.002, 0.01, 0.02, 0.05, 0.1, 0.2)
    exposures, rates = [], []
    for level in levels:
        runs = [_pressed_outcome(quiet, level, seed) for seed in range(60)]
        pressed = [outcome for _, outcome, _ in runs if outcome is not None]
        assert len(pressed) >= 50  # the same pressure: China presses at every level
        exposures.append(np.mean([e for e, _, _ in runs]))
        rates.append(np.mean([o == "conceded" for o in pressed]))
    assert np.all(np.diff(exposures) > 0)
    assert np.all(np.diff(rates) > -0.05), rates  # never falls by more than seed noise
    assert rates[-1] - rates[0] > 0.4, rates
    assert np.corrcoef(exposures, rates)[0, 1] > 0.9, rates


def test_mongolia_holds_out_against_pressure_that_costs_the_coercer_dear(quiet):
    """Drezner (1999) and Fearon (1995): a target that sees pressing is costly for the
    sender expects it to stop soon, so it holds out more often. When China needs the
    imports it forgoes, Mongolia concedes less to the same tools and stake."""

    def concession_rate(import_need: float) -> float:
        runs = [_pressed_outcome(_demand_bound(quiet, import_need), 0.8, s) for s in range(40)]
        pressed = [outcome for _, outcome, _ in runs if outcome is not None]
        assert len(pressed) >= 20
        return float(np.mean([o == "conceded" for o in pressed]))

    cheap, costly = concession_rate(0.0), concession_rate(0.5)
    assert costly < cheap - 0.3, (costly, cheap)


def test_the_coercer_pays_for_pressing_and_the_outputs_show_it(baseline):
    model = run_to(with_events(baseline, _tibet_2012()), 2014, 4)
    records = model.episode_records()
    tibet = [r for r in records if r["red_line"] == "tibet" and r["started"] == "2012Q1"]
    assert tibet, model.event_log
    assert tibet[0]["cost_to_coercer_bn_usd"] > 0
    assert tibet[0]["cost_to_mongolia_bn_usd"] > 0
    frame_cost = np.asarray(model.datacollector.model_vars["coercer_cost_bn_usd"])
    assert frame_cost.sum() == pytest.approx(sum(r["cost_to_coercer_bn_usd"] for r in records))


def _tibet_2012() -> dict:
    return {"at": "2012Q1", "kind": "red_line", "neighbour": "china", "red_line": "tibet"}


def test_a_neighbour_lets_a_crossing_pass_when_pressing_would_not_pay(baseline):
    cheap = baseline.model_copy(deep=True)
    cheap.partners["china"].red_lines["tibet"].stake_bn_usd = 0.0
    model = run_to(with_events(cheap, _tibet_2012()), 2012, 2)
    assert not any(r["red_line"] == "tibet" for r in model.episode_records())
    assert any("lets Mongolia's crossing of tibet pass" in line for line in model.event_log)


def test_a_concession_quiets_that_red_line_for_a_while(baseline):
    config = baseline.model_copy(deep=True)
    config.pressure.response = "concede"
    model = run_to(with_events(config, _tibet_2012()), 2012, 4)
    china = model.neighbour("china")
    assert china.quiet_until.get("tibet", 0) > model.steps
    years = config.pressure.concession_years
    assert china.quiet_until["tibet"] - model.steps <= 4 * years
    assert model.mongolia.reputation > 0.5  # conceding invites more pressure (Axelrod)


def test_holding_out_until_the_coercer_stops_builds_reputation(baseline):
    config = baseline.model_copy(deep=True)
    config.pressure.response = "resist"
    model = run_to(with_events(config, _tibet_2012()), 2016, 4)
    tibet = [r for r in model.episode_records() if r["started"] == "2012Q1"]
    assert tibet and tibet[0]["outcome"] == "resisted"
    assert model.mongolia.reputation < 0.5


# --- engagement with content ------------------------------------------------------------


def _with_priorities(config, economic: float):
    changed = config.model_copy(deep=True)
    for partner in changed.partners.values():
        if partner.group == "third":
            partner.economic_priority = economic
    changed.diplomacy.third_neighbour_engagement = 2.0
    return changed


def test_only_political_ties_count_as_western_alignment(baseline):
    economic = run_to(_with_priorities(baseline, 1.0), 2030, 4)
    political = run_to(_with_priorities(baseline, 0.0), 2030, 4)
    assert economic.western_alignment < political.western_alignment
    third = economic.is_third
    assert economic.attention[third].mean() > political.attention[third].mean()
    assert economic.political_tie[third].max() < political.political_tie[third].min() + 1e-9


def test_sino_russian_alignment_answers_western_political_alignment(baseline):
    calm = baseline.model_copy(deep=True)
    calm.pressure.western_alignment_tolerance = 0.0  # every bit of alignment counts
    low = run_to(_with_priorities(calm, 1.0), 2030, 4)
    high = run_to(_with_priorities(calm, 0.0), 2030, 4)
    assert high.alignment > low.alignment + 0.01
    off = calm.model_copy(deep=True)
    off.alignment.response_to_west = 0.0
    assert run_to(_with_priorities(off, 0.0), 2030, 4).alignment == pytest.approx(
        run_to(_with_priorities(off, 1.0), 2030, 4).alignment
    )


def test_a_scheduled_crossing_during_an_episode_is_not_held_for_later(quiet):
    """A crossing scheduled while the neighbour already presses adds no second episode,
    then or later (it was held until the episode ended and pressed years late)."""
    config = quiet.model_copy(deep=True)
    config.pressure.response = "resist"
    config.pressure.resolve_noise = 0.0
    for line in ("taiwan", "tibet"):
        config.partners["china"].red_lines[line].stake_bn_usd = 20.0
    model = BalanceModel(config, rng=1)
    china = model.neighbour("china")
    model.step()
    china.cross_red_line("taiwan")
    model.step()
    assert china.episode is not None and china.episode.red_line == "taiwan"
    china.cross_red_line("tibet")
    for _ in range(30):
        model.step()
    assert not any(r["red_line"] == "tibet" for r in model.episode_records()), model.event_log
    assert any("adds no second episode" in line for line in model.event_log)


def test_in_the_baseline_a_demand_shock_raises_what_full_mines_earn(quiet):
    """At the baseline's own settings the mines are full in the 2010s: a coal demand shock
    cannot raise the tonnes, but partners bid up the price (the scarcity rent), so coal
    earns more within the year; a smaller market earns less."""
    shock = {"at": "2015Q1", "kind": "demand_shock", "partner": "china", "commodity": "coal"}
    coal = quiet.trade.commodities
    index = list(coal).index("coal")
    before = run_to(quiet, 2015, 4)
    up = run_to(with_events(quiet, {**shock, "factor": 2.0}), 2015, 4)
    down = run_to(with_events(quiet, {**shock, "factor": 0.5}), 2015, 4)
    assert up.exports_by_commodity[index] > 1.05 * before.exports_by_commodity[index]
    assert down.exports_by_commodity[index] < 0.95 * before.exports_by_commodity[index]
    assert up.rent[index] > before.rent[index] > down.rent[index] >= 1.0


def test_closing_both_borders_stops_exports_without_an_error(quiet):
    """A full blockade is a what-if a student will try: exports fall to nothing and the run
    goes on (it stopped with a shape error)."""
    closures = [
        {"at": "2012Q1", "kind": "crossing", "neighbour": n, "factor": 0.0, "quarters": 4}
        for n in ("china", "russia")
    ]
    closed = run_to(with_events(quiet, *closures), 2012, 3)
    assert closed.export_revenue_bn_usd < 0.05 * run_to(quiet, 2012, 3).export_revenue_bn_usd
    assert run_to(with_events(quiet, *closures), 2014, 4).export_revenue_bn_usd > 0


def test_closing_a_border_without_a_limit_closes_it(quiet):
    """A border with no capacity limit (inf) closed by an event or a full restriction is
    closed, not 'inf * 0' (a nan that silently left it open)."""
    config = quiet.model_copy(deep=True)
    config.trade.crossings.pop("russia")  # Russia's border: no limit
    closure = {"at": "2012Q1", "kind": "crossing", "neighbour": "russia", "factor": 0.0}
    model = run_to(with_events(config, closure), 2012, 2)
    assert model.crossing_capacity[model.RUSSIA] == 0.0
    assert float(model.crossing_load[1]) == 0.0


def test_a_coercer_whose_expectation_never_fades_is_answered(quiet):
    """belief_update = 0 (allowed: the coercer never learns) made Mongolia's answer divide
    by zero (found by the fuzz test); now it expects the pressure to last its horizon."""
    config = quiet.model_copy(deep=True)
    config.pressure.belief_update = 0.0
    config.partners["china"].red_lines["tibet"].stake_bn_usd = 20.0
    model = run_to(with_events(config, _tibet_2012()), 2013, 4)
    assert any(r["red_line"] == "tibet" for r in model.episode_records())
