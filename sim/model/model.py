"""BalanceModel: Mongolia between Russia, China and its third neighbours.

One step is one quarter. The step order is in ``BalanceModel.step``; the
arithmetic over partners is in ``sim.model.economy``; decisions are in
``sim.model.agents``. docs/ODD.md describes every mechanism.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import mesa
import numpy as np

from sim.catalog import BASELINE, INPUTS_DIR
from sim.metrics import column_title, raw_metrics
from sim.model import economy
from sim.model.agents import Episode, Mongolia, Neighbour, Partner, ThirdNeighbour
from sim.model.timeline import Timeline
from sim.schema.base import UserError
from sim.schema.fields import LEVELS
from sim.schema.inputs import demand_growth, price_level
from sim.schema.scenario import Scenario, load_scenario, validate


class NonFiniteError(UserError):
    """The model produced inf or nan: a run stops instead of recording it."""


class Recorder(mesa.DataCollector):
    """Mesa's DataCollector, recording model attributes by a plain copy instead of a deep
    copy: every recorded value is a number or a numpy array, and the generic deep copy was
    a fifth of a step's time. The tables it builds are Mesa's own."""

    def collect(self, model: mesa.Model) -> None:
        steps = getattr(self, "_collection_steps", None)  # Mesa 3.5 keeps the times too
        if steps is not None:
            steps.append(getattr(model, "time", model.steps))
        records = self.model_vars
        for var, name in self.model_reporters.items():
            value = getattr(model, name)
            records[var].append(value.copy() if type(value) is np.ndarray else value)


class BalanceModel(mesa.Model):
    """Trade, investment and pressure around a landlocked small state.

    Keyword arguments override the scenario (the calibrated baseline when
    ``config`` is None), so ``mesa.batch_run`` can vary them directly. ``metrics``
    narrows what the DataCollector records (all raw metrics of ``sim.metrics`` by default).
    """

    def __init__(
        self,
        config: Scenario | None = None,
        *,
        investment_cap: float | None = None,
        cap_basis: str | None = None,
        cap_enforcement: str | None = None,
        cap_leak: float | None = None,
        alignment: float | None = None,
        third_neighbour_engagement: float | None = None,
        concession_price: float | None = None,
        response: str | None = None,
        strategy: str | None = None,
        rng: int | np.random.Generator | None = None,
        metrics: Iterable[str] | None = None,
    ) -> None:
        config = config if config is not None else load_scenario(BASELINE)
        config = _with_overrides(
            config,
            investment_cap,
            cap_basis,
            cap_enforcement,
            cap_leak,
            alignment,
            third_neighbour_engagement,
            concession_price,
            response,
            strategy,
        )
        super().__init__(rng=config.seed if rng is None else rng)
        self.config = config  # the scenario as given; never changed
        self.settings = _live_settings(config)
        self._settings_version = 0
        self.start_year = config.start_year
        self.max_steps = config.steps
        self.alignment = config.alignment.level
        self.event_log: list[str] = []
        self._setup_partners(config)
        self._reset_flows()
        self._setup_trade(config)
        self.mongolia = Mongolia(self, config.pressure.response, config.diplomacy.strategy)
        self._clear_trade()
        self.revenue_trend = self.annual_revenue
        self._measure_dependence()
        self.timeline = Timeline(config.events, config.start_year)  # scheduled events
        self.datacollector = Recorder(model_reporters=_reporters(metrics))
        self.datacollector.collect(self)

    @classmethod
    def from_scenario(
        cls, path: str, overrides: list[str] | tuple[str, ...] = (), **kwargs
    ) -> BalanceModel:
        """Build from a scenario file; raises ScenarioError on bad input."""
        return cls(load_scenario(path, overrides), **kwargs)

    # --- the step: one quarter ---------------------------------------------------------

    def step(self) -> None:
        self.timeline.apply(self)  # scheduled events due this quarter
        self._align_neighbours()  # Sino-Russian alignment: trend, and answer to the West
        self._move_prices()  # commodity prices: AR(1) shocks
        if self.quarter == 1 and self.steps > 1:
            self._new_year()  # import markets grow; mines finished last year open
        self._clear_trade()  # gravity demand, mine and border limits, revenue, costs
        self._track_revenue()
        self._invest()  # offers, screening under the cap, capacity built
        self._measure_dependence()  # exposure, leverage, autonomy
        self.mongolia.respond_to_pressure()  # hold out or concede, by expected costs
        for neighbour in self.neighbours:  # keep pressing if it pays; red lines; press
            neighbour.press()
        self.mongolia.conduct_diplomacy()  # effort: economic ties, political ties, ladder
        self._check_finite()  # a run never records inf or nan
        self.datacollector.collect(self)
        if self.steps >= self.max_steps:
            self.running = False

    # Quantities whose sum covers every partner array (a nan or inf anywhere reaches one).
    # The metrics checked each quarter (named in an error by their registry titles).
    FINITE = (
        "export_revenue_bn_usd",
        "fdi_stock_bn_usd",
        "pressure_cost_bn_usd",
        "coercer_cost_bn_usd",
        "autonomy",
        "western_alignment",
        "alignment",
    )

    def _check_finite(self) -> None:
        """Stop the run with a clear error naming the quarter and the quantity, instead of
        recording inf or nan (one sum per quarter: cheap)."""
        total = (
            self.export_revenue_bn_usd
            + self.fdi_stock_bn_usd
            + self.pressure_cost_bn_usd
            + self.coercer_cost_bn_usd
            + self.autonomy
            + self.western_alignment
            + self.alignment
        )
        if math.isfinite(total):  # leverage reaches autonomy: nan there shows too
            return
        values = [getattr(self, name) for name in self.FINITE]
        bad = [
            column_title(name)
            for name, v in zip(self.FINITE, values, strict=True)
            if not math.isfinite(v)
        ]
        raise NonFiniteError(
            f"{self.year} Q{self.quarter}: not a finite number: "
            f"{', '.join(bad)} (values too extreme for the model)"
        )

    # --- set-up ------------------------------------------------------------------------

    def _setup_partners(self, config: Scenario) -> None:
        specs = config.partners
        self.partner_ids = list(specs)
        self.partner_names = [p.name for p in specs.values()]
        self.n_partners = n = len(specs)
        groups = np.array([p.group for p in specs.values()])
        self.is_neighbour = groups == "neighbour"
        self.is_third = groups == "third"
        self.CHINA = self.partner_ids.index("china")
        self.RUSSIA = self.partner_ids.index("russia")
        self.other_neighbour = {self.CHINA: self.RUSSIA, self.RUSSIA: self.CHINA}
        index = {pid: i for i, pid in enumerate(self.partner_ids)}
        self.route = np.array(
            [-1 if p.route == "direct" else index[p.route] for p in specs.values()]
        )
        self.transport = np.array([p.transport_cost for p in specs.values()])
        self.freight_per_t = np.array([p.freight_usd_per_t for p in specs.values()])
        self.fuel_supply = np.array([p.fuel_supply for p in specs.values()])
        self.fuel_capacity = np.array(
            [
                np.inf if p.fuel_capacity_bn_usd is None else p.fuel_capacity_bn_usd
                for p in specs.values()
            ]
        )
        self.market_growth = np.array([1.0 + p.demand_growth_per_year for p in specs.values()])
        self.market_scale = np.ones(n)
        self.demand_index = {
            i: p.demand_index for i, p in enumerate(specs.values()) if p.demand_index
        }
        self.economic_priority = np.array([p.economic_priority for p in specs.values()])
        self.goods_supply = np.array([p.goods_supply for p in specs.values()])
        self.fdi_appetite = np.array([p.fdi_appetite_bn_usd for p in specs.values()])
        self.fdi_stock = np.array([p.fdi_stock_bn_usd for p in specs.values()])
        self.debt_weight = np.array([p.debt_share for p in specs.values()])
        self.base_relation = np.array([p.relation for p in specs.values()])
        self.level = np.array([LEVELS.index(p.level) for p in specs.values()])
        self.max_level = np.array([LEVELS.index(p.max_level) for p in specs.values()])
        self.attention = np.array(
            [p.attention if p.group == "third" else 1.0 for p in specs.values()]
        )
        # Political and security ties with third neighbours start where attention is.
        political_tie = np.where(self.is_third, self.attention, 0.0)
        # One 2 x partners array, so diplomacy moves both kinds of tie in one operation;
        # ``attention`` and ``political_tie`` are its rows (views: they move with it).
        self.ties = np.vstack([self.attention, political_tie])
        self.attention, self.political_tie = self.ties[0], self.ties[1]
        self.engagement = np.zeros(n)
        self.transit_fee = np.zeros(n)
        for pid, fee in config.trade.transit_fee.items():
            self.transit_fee[index[pid]] = fee
        self.partners: list[Partner] = []
        self.neighbours: list[Neighbour] = []
        for i, (pid, spec) in enumerate(specs.items()):
            if spec.group == "neighbour":
                agent = Neighbour(
                    self,
                    i,
                    pid,
                    spec.name,
                    spec.group,
                    spec.red_lines,
                    spec.tools.model_dump(),
                    spec.import_need,
                    spec.standing_cost_bn_usd,
                )
                self.neighbours.append(agent)
            elif spec.group == "third":
                agent = ThirdNeighbour(self, i, pid, spec.name, spec.group)
            else:
                agent = Partner(self, i, pid, spec.name, spec.group)
            self.partners.append(agent)
        self.initial_fdi_total = self.fdi_stock.sum()
        self.neighbour_index = np.array([self.CHINA, self.RUSSIA])
        self._debt_changed()
        self._set_crossings()
        self.crossing_capacity = np.full(n, np.inf)
        for pid, crossing in config.trade.crossings.items():
            self.crossing_capacity[index[pid]] = crossing.capacity_mt_per_year
        self._volumes_version = 0
        self._fuel_answers: dict[tuple, np.ndarray] = {}
        self._volumes_key = -1
        self._freight_key = -1
        self.third_count = max(int(self.is_third.sum()), 1) * (len(LEVELS) - 1)
        self.third_weight = self.is_third / self.third_count  # western alignment's weights
        self.neighbour_weight = self.is_neighbour * 1.0
        self.exposure = np.zeros(n)
        self.effective_leverage = np.zeros(n)
        self._derive_diplomacy()

    def _setup_trade(self, config: Scenario) -> None:
        goods = config.trade.commodities
        self.commodity_names = list(goods)
        self.capacity = np.array([c.capacity_bn_usd for c in goods.values()])
        self.bulk = np.array([c.mt_per_bn_usd for c in goods.values()])
        self.demand_scale = np.array([c.demand_scale for c in goods.values()])
        self.is_mining = np.array([c.mining for c in goods.values()])
        self.price_volatility = np.array([c.price_volatility for c in goods.values()])
        self.price_persistence = np.array([c.price_persistence for c in goods.values()])
        self.log_price = np.zeros(len(goods))  # the shock: AR(1) around the level below
        self.price_index = [c.price_index for c in goods.values()]
        self.fuel_price_index = config.trade.imports.fuel_price_index
        self._observe_prices(config.start_year)
        self.market = np.array(
            [[p.demand.get(c, 0.0) for c in goods] for p in config.partners.values()]
        )
        self.densest_first = np.argsort(self.bulk, kind="stable").tolist()
        self.capacity_pipeline = np.zeros(len(goods))  # built this year, opens next
        self.mining_mix = economy.shares(self.capacity * self.is_mining)

    def _set_crossings(self) -> None:
        """Whose border each partner's exports cross: its own for a neighbour, the route's
        for the others (-1: none); ``crosses[k, j]`` = 1 when exports to j cross neighbour k."""
        own = np.where(self.is_neighbour, np.arange(self.n_partners), -1)
        self.crossing_of = np.where(self.route >= 0, self.route, own)
        self.routed = (self.crossing_of >= 0) & (self.crossing_of != np.arange(self.n_partners))
        self.crosses = np.stack([self.crossing_of == k for k in self.neighbour_index]) * 1.0
        # Exports that only pass through a neighbour to someone else: its transit leverage.
        self.transits = np.stack([self.route == k for k in self.neighbour_index]) * 1.0

    def _reset_flows(self) -> None:
        n = self.n_partners
        self.import_fee = np.zeros(n)
        self.surcharge = np.zeros(n)
        self.energy_markup = np.zeros(n)
        self.border_cut = np.zeros(n)
        self.meetings_suspended = np.zeros(n, dtype=bool)
        self.fdi_inflow = np.zeros(n)
        self.fdi_rejected_bn_usd = self.fdi_redirected_bn_usd = self.fdi_divested_bn_usd = 0.0
        self.fdi_stock_bn_usd = float(self.fdi_stock.sum())
        self.active_pressure = 0
        self.pressure_cost_bn_usd = 0.0
        self.coercer_cost_bn_usd = 0.0
        self.fire_sale_loss_bn_usd = 0.0
        self.concessions = 0
        self.autonomy_loss = 0.0
        self.episodes_ended: list[Episode] = []
        self._trade_key: tuple | None = None
        self.fdi_share = economy.shares(self.fdi_stock)
        self.fdi_inflow_share = np.zeros(n)

    # --- submodels ---------------------------------------------------------------------

    def _relation(self) -> np.ndarray:
        bonus = 1.0 + self.settings.diplomacy.level_trade_bonus * self.level
        return self.base_relation * bonus * np.where(self.meetings_suspended, 0.8, 1.0)

    def _observe_prices(self, year: int) -> None:
        """The year's observed real price level (log, 2018 = 0) of each commodity that
        follows a path (``price_index``), and of fuel; 0 (the 2018 price) for the rest."""
        self.log_price_level = np.array(
            [math.log(price_level(INPUTS_DIR, i, year)) if i else 0.0 for i in self.price_index]
        )
        index = self.fuel_price_index
        self.fuel_price_level = price_level(INPUTS_DIR, index, year) if index else 1.0

    def _move_prices(self) -> None:
        log_price = self.log_price
        log_price *= self.price_persistence
        log_price += self.rng.standard_normal(log_price.size) * self.price_volatility

    def _pull(
        self, import_fee: np.ndarray, surcharge: np.ndarray, relation: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Demand per unit of market size, and revenue kept per unit of export value."""
        trade = self.settings.trade
        if self._freight_key != self._settings_version:  # routes and freight changed
            self._freight_key = self._settings_version
            self.costs = economy.trade_costs(self.transport, self.freight_per_t, self.bulk)
            # Values are at delivered prices net of freight: fees and pressure take the rest.
            self.freight_netback = np.maximum(1.0 - self.costs, economy.MIN_NETBACK)
        back = economy.netback(
            self.costs, self.routed, self.crossing_of, self.transit_fee, surcharge, import_fee
        )
        pull = economy.export_pull(
            self.market,
            self.demand_scale,
            relation,
            back,
            trade.relation_elasticity,
            trade.cost_elasticity,
        )
        return pull, back / self.freight_netback

    def _flows(self, pull: np.ndarray, border_cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Export volumes this year's markets take (bn USD/year at reference prices), with
        ``border_cut`` of each border closed by pressure, and the price each commodity
        clears at relative to the reference price (its scarcity rent)."""
        capacity = self.crossing_capacity[self.neighbour_index]
        if border_cut.any():
            cut = np.minimum(border_cut, 1.0)[self.neighbour_index]
            open_ = np.where(cut >= 1.0, 0.0, capacity * (1.0 - cut))  # closed unlimited: 0
        else:
            open_ = capacity
        wanted = pull * self.market_scale[:, None]
        flows = economy.export_flows(
            wanted,
            self.capacity,
            self.bulk,
            self.crosses,
            open_.tolist(),
            self.densest_first,
        )
        trade = self.settings.trade
        rent = economy.scarcity_rent(
            wanted, self.capacity, trade.cost_elasticity, trade.rent_ceiling
        )
        return flows, rent

    def _new_year(self) -> None:
        """Once a year, as import contracts and mine plans run: partners' markets grow,
        the capacity built with last year's investment opens and depletion takes its
        share."""
        for i, index in self.demand_index.items():  # markets that follow an observed series
            self.market_growth[i] = demand_growth(INPUTS_DIR, index, self.year)
        self.market_scale *= self.market_growth
        self._observe_prices(self.year)
        depletion = self.settings.investment.capacity_depletion_per_year
        self.capacity = self.capacity * (1.0 - depletion * self.is_mining) + self.capacity_pipeline
        self.capacity_pipeline = np.zeros_like(self.capacity)
        self._volumes_changed()

    def _clear_trade(self) -> None:
        if self._trade_inputs() != self._trade_key:
            self._allocate_trade()
        if self._volumes_key != self._volumes_version:
            self._move_volumes()
        self.price = np.exp(self.log_price_level + self.log_price)
        # bn USD this quarter per bn USD a year at reference prices, by commodity
        self.quarter_value = per_quarter = self.price * self.rent / 4.0
        self.exports_by_commodity = self.volume_by_commodity * per_quarter
        self.exports_by_partner = self.flows @ per_quarter
        total = economy.total(self.exports_by_commodity)
        self.export_share = (
            self.exports_by_partner / total if total > 0 else np.zeros(self.n_partners)
        )
        self.commodity_to_china = self.flows[self.CHINA] * per_quarter
        self.export_revenue_bn_usd = float(self.kept_by_commodity @ per_quarter)
        self.pressure_cost_bn_usd = self.coercer_cost_bn_usd = 0.0
        for neighbour in self.neighbours:
            episode = neighbour.episode
            if episode is not None:
                mongolia, coercer = self.episode_costs(episode, active=True)
                episode.cost_bn_usd += mongolia
                episode.coercer_cost_bn_usd += coercer
                episode.last_cost_bn_usd, episode.last_coercer_cost_bn_usd = mongolia, coercer
                self.pressure_cost_bn_usd += mongolia
                self.coercer_cost_bn_usd += coercer

    def _trade_inputs(self) -> tuple:
        """Everything the demand pull and the offers depend on besides prices, market
        growth and capacity: the state that moves each quarter, and the settings' version
        (every change to settings goes through a method below that bumps it)."""
        return (
            self.level.tobytes(),
            self.meetings_suspended.tobytes(),
            self.import_fee.tobytes(),
            self.surcharge.tobytes(),
            self.energy_markup.tobytes(),
            self.border_cut.tobytes(),
            self.transit_fee.tobytes(),
            self.market.tobytes(),
            self.fuel_price_level,
            self._settings_version,
        )

    def _allocate_trade(self) -> None:
        """Demand pull, fuel sourcing, import shares, offers; redone only when inputs change."""
        self._trade_key = self._trade_inputs()
        self.relation = relation = self._relation()
        self.pull, self.revenue_factor = self._pull(self.import_fee, self.surcharge, relation)
        self._move_volumes()
        imports = self.settings.trade.imports
        self.fuel_need = imports.fuel_bn_usd / 4.0 * (1.0 - imports.refinery_substitution)
        self.fuel_imports = self._fuel(self.energy_markup, relation)
        self.fuel_share = economy.shares(self.fuel_imports)
        goods_share = economy.shares(self.goods_supply * relation)
        # Fuel is valued at the year's oil price (the history's observed path; 1 elsewhere).
        fuel_value = self.fuel_imports * self.fuel_price_level
        self.imports_by_partner = fuel_value + imports.goods_bn_usd / 4.0 * goods_share
        self.import_share = economy.shares(self.imports_by_partner)
        # FDI offers per unit of attention: appetite, relationship, ladder (bn USD/quarter).
        self.offer_base = (
            self.fdi_appetite
            / 4.0
            * self.investment_attention
            * relation
            * (1.0 + self.settings.diplomacy.level_investment_bonus * self.level)
        )

    def _move_volumes(self) -> None:
        """Export volumes from the demand pull, this year's markets and the capacities."""
        self._volumes_key = self._volumes_version
        self.flows, self.rent = self._flows(self.pull, self.border_cut)  # bn USD/year, 2018 prices
        flows = self.flows
        self.volume_by_commodity = flows.sum(axis=0)
        self.kept_by_commodity = (flows * self.revenue_factor).sum(axis=0)  # net of fees
        self.exports_mt = self.volume_by_commodity * self.bulk  # Mt/year by commodity

    def _fuel(self, markup: np.ndarray, relation: np.ndarray) -> np.ndarray:
        """Fuel bought from each supplier this quarter (bn USD at normal prices). The same
        mark-ups and relationships recur (an episode's counterfactual is the state before
        it): answers are kept until the settings change."""
        key = (markup.tobytes(), relation.tobytes(), self.fuel_need, self._settings_version)
        found = self._fuel_answers.get(key)
        if found is None:
            found = self._fuel_answers[key] = economy.fuel_allocation(
                self.fuel_supply * relation,
                markup,
                self.settings.trade.imports.fuel_price_elasticity,
                self.fuel_capacity / 4.0,
                self.fuel_need,
            )
            if len(self._fuel_answers) > 64:  # a long run's distinct states: keep it small
                self._fuel_answers.pop(next(iter(self._fuel_answers)))
        return found

    def _counterfactual(
        self, episode: Episode, active: bool
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """In the world with this episode lifted (``active``) or added, what its costs are
        measured from: export volumes to the coercer and the volume kept net of fees, by
        commodity (bn USD/year at reference prices), and the fuel bill (this quarter)."""
        sign = -1.0 if active else 1.0
        relation = self.relation
        suspended = episode.meetings_suspended and not (
            active or self.meetings_suspended[episode.neighbour]
        )
        if episode.meetings_suspended:
            factor = np.where(np.arange(self.n_partners) == episode.neighbour, 0.8, 1.0)
            relation = (
                relation / factor if active else (relation * factor if suspended else relation)
            )
        pull, revenue = self._pull(
            self.import_fee + sign * episode.import_fee,
            self.surcharge + sign * episode.surcharge,
            relation,
        )
        flows, rent = self._flows(pull, self.border_cut + sign * episode.border_cut)
        markup = self.energy_markup + sign * episode.energy_markup
        fuel = self._fuel(markup, relation)
        shortage = self.settings.trade.imports.shortage_cost
        bill = float(fuel @ (1.0 + markup)) + shortage * (self.fuel_need - economy.total(fuel))
        return flows[episode.neighbour] * rent, (flows * revenue).sum(axis=0) * rent, bill

    def episode_costs(self, episode: Episode, active: bool) -> tuple[float, float]:
        """What this episode alone costs Mongolia (revenue lost, fuel overpaid or short)
        and the coercer (imports from Mongolia it forgoes, times its need for them, plus
        its standing) this quarter, bn USD. ``active``: the episode is already in force
        (compare with it lifted); otherwise compare with it added."""
        key = (active, self._trade_key, self._volumes_key)
        if episode.counterfactual_key != key:  # the other world changes only with these
            episode.counterfactual_key = key
            episode.counterfactual = self._counterfactual(episode, active)
        to_coercer, kept, fuel_bill = episode.counterfactual  # volumes times their rent
        at_price = self.price / 4.0
        per_quarter = self.quarter_value
        other_revenue = float(kept @ at_price)
        shortage = self.settings.trade.imports.shortage_cost
        now_bill = float(self.fuel_imports @ (1.0 + self.energy_markup)) + shortage * (
            self.fuel_need - economy.total(self.fuel_imports)
        )
        k = episode.neighbour
        coercer_imports = float(to_coercer @ at_price)
        current = float(self.flows[k] @ per_quarter)
        if active:  # lifted: the counterfactual is the world without it
            lost = other_revenue - self.export_revenue_bn_usd
            energy = now_bill - fuel_bill
            forgone = coercer_imports - current
        else:  # added: the counterfactual is the world with it
            lost = self.export_revenue_bn_usd - other_revenue
            energy = fuel_bill - now_bill
            forgone = current - coercer_imports
        neighbour = self.neighbours[[n.index for n in self.neighbours].index(k)]
        coercer = neighbour.import_need * max(forgone, 0.0) + neighbour.standing_cost_bn_usd
        return max(lost, 0.0) + max(energy, 0.0), coercer

    def _invest(self) -> None:
        inv = self.settings.investment
        sigma = inv.offer_noise
        noise = self.rng.lognormal(-(sigma**2) / 2.0, sigma, self.n_partners)  # mean 1
        # Investors grow with their economies: offers scale with the partner's market growth.
        offers = self.offer_base * self.market_scale * self.attention * noise
        stock = self.fdi_stock * (1.0 - inv.depreciation_per_year / 4.0)
        cap = self.settings.investment.cap
        held = stock if cap.basis == "stock" else np.zeros_like(stock)
        accepted, divested = economy.screen_investment(
            held, offers, cap.level, cap.enforcement, cap.leak
        )
        rejected = offers - accepted
        # Part of what was turned away is offered again by origins not at the cap.
        turned_away = economy.total(rejected)
        redirected = 0.0
        if turned_away > 1e-12:
            open_to = self.fdi_appetite * (rejected <= 1e-12)
            redirect = turned_away * inv.redirect_share * economy.shares(open_to)
            extra = economy.screen_redirected(
                held + accepted - divested, redirect, cap.level, cap.enforcement, cap.leak
            )
            accepted = accepted + extra
            redirected = economy.total(extra)
        self.fdi_inflow = accepted
        sold = economy.total(divested) if cap.enforcement == "strict" else 0.0
        self.fdi_stock = stock - divested + accepted if sold > 0.0 else stock + accepted
        # Mining investment builds capacity where mines already are (Oyu Tolgoi, Tavan
        # Tolgoi came as dated projects); it opens at the next new year. Turned-away offers
        # build nothing: the cap's cost in lost projects. Forced sales go at a discount.
        inflow = economy.total(accepted)
        self.capacity_pipeline += (
            inflow * inv.mining_fdi_share * inv.capacity_per_bn_usd * self.mining_mix
        )
        self.fdi_divested_bn_usd = sold
        self.fire_sale_loss_bn_usd = sold * cap.fire_sale_discount
        if sold > 0.0:
            self._log_forced_sale(divested, cap.level)
        self.fdi_rejected_bn_usd = turned_away - redirected
        self.fdi_redirected_bn_usd = redirected
        self.fdi_stock_bn_usd = total = economy.total(self.fdi_stock)
        self.fdi_share = self.fdi_stock / total if total > 0 else np.zeros_like(stock)
        self.fdi_inflow_share = accepted / inflow if inflow > 0 else np.zeros_like(accepted)

    def _log_forced_sale(self, divested: np.ndarray, level: float) -> None:
        """One event-log line for a strict cap's forced sale: who sold how much, and the
        fire-sale loss (text only: the numbers are the ones ``_invest`` recorded)."""
        sellers = ", ".join(
            f"{self.partner_names[i]} {value:.2f} bn USD"
            for i, value in enumerate(divested.tolist())
            if value >= 0.005
        )
        self.log(
            f"forced sale under the strict {level:.0%} cap: holdings above it sold "
            f"({sellers or f'{self.fdi_divested_bn_usd:.3f} bn USD in all'}), "
            f"a fire-sale loss of {self.fire_sale_loss_bn_usd:.2f} bn USD"
        )

    def _measure_dependence(self) -> None:
        """Exposure to each neighbour, pooled by alignment into effective leverage."""
        w = self.settings.pressure.exposure
        transit = (self.transits @ self.export_share).tolist()
        exposure = [
            w.exports * self.export_share.item(k)
            + w.transit * transit[j]
            + w.energy * self.fuel_share.item(k)
            + w.fdi * self.fdi_share.item(k)
            + w.debt * self.debt_of_neighbour[j]
            for j, k in enumerate((self.CHINA, self.RUSSIA))
        ]
        china, russia = exposure
        pooled = (
            min(china + self.alignment * russia, 1.0),
            min(russia + self.alignment * china, 1.0),
        )
        self.exposure[self.CHINA], self.exposure[self.RUSSIA] = exposure
        self.effective_leverage[self.CHINA], self.effective_leverage[self.RUSSIA] = pooled
        # Political and security alignment with the West only (P3): economic ties with
        # partners that want trade and investment do not count.
        self.western_alignment = float((self.level * self.political_tie) @ self.third_weight)
        self.autonomy_loss *= 1.0 - self.settings.pressure.autonomy_recovery_per_year / 4.0
        self.autonomy = min(max(1.0 - max(pooled) - self.autonomy_loss, 0.0), 1.0)

    def _align_neighbours(self) -> None:
        """Sino-Russian alignment follows its own trend, and closes ranks faster while
        Mongolia's political alignment with the West is above the neighbours' tolerance
        (P3, both halves)."""
        settings = self.settings.alignment
        above = self.western_alignment - self.settings.pressure.western_alignment_tolerance
        change = settings.trend_per_year + settings.response_to_west * max(above, 0.0)
        self.alignment = min(max(self.alignment + change / 4.0, 0.0), 1.0)

    # --- pressure: what the neighbours' episodes add up to -------------------------------

    def neighbour(self, partner_id: str) -> Neighbour:
        return self.neighbours[[n.partner_id for n in self.neighbours].index(partner_id)]

    def aggregate_pressure(self) -> None:
        """Current pressure arrays are the sum over active episodes (called by a neighbour
        when it starts or ends one)."""
        self.import_fee[:] = 0.0
        self.surcharge[:] = 0.0
        self.energy_markup[:] = 0.0
        self.border_cut[:] = 0.0
        self.meetings_suspended[:] = False
        self.active_pressure = self.active_episodes
        for neighbour in self.neighbours:
            ep = neighbour.episode
            if ep is not None:
                self.import_fee += ep.import_fee
                self.surcharge += ep.surcharge
                self.energy_markup += ep.energy_markup
                self.border_cut += ep.border_cut
                self.meetings_suspended[ep.neighbour] |= ep.meetings_suspended

    def record_episode_end(self, neighbour: Neighbour, episode: Episode, conceded: bool) -> None:
        """Count a finished episode; a concession costs Mongolia autonomy (P1); either
        outcome moves Mongolia's reputation."""
        self.mongolia.record(conceded)
        if conceded:
            self.concessions += 1
            self.autonomy_loss += self.settings.pressure.concession_autonomy_cost
            self.log(
                f"Mongolia concedes to {neighbour.name} after {episode.quarters} quarter(s) "
                f"(cost to Mongolia {episode.cost_bn_usd:.2f} bn USD, to "
                f"{neighbour.name} {episode.coercer_cost_bn_usd:.2f})"
            )
        else:
            self.log(
                f"{neighbour.name} lifts its pressure after {episode.quarters} quarter(s); "
                f"Mongolia held out (cost to Mongolia {episode.cost_bn_usd:.2f} bn USD, to "
                f"{neighbour.name} {episode.coercer_cost_bn_usd:.2f})"
            )
        self.episodes_ended.append(episode)

    # --- the narrow interface scheduled events act through (sim.model.timeline) --------

    def _settings_changed(self) -> None:
        """Anything the trade allocation or investment offers read has changed."""
        self._settings_version += 1

    def _volumes_changed(self) -> None:
        """Capacity, borders or market growth changed: export volumes are redone."""
        self._volumes_version += 1
        self.mining_mix = economy.shares(self.capacity * self.is_mining)

    def scale_demand(self, partner: int, commodity: int, factor: float) -> None:
        self.market[partner, commodity] *= factor

    def set_market_growth(self, partner: int, growth_per_year: float) -> None:
        self.market_growth[partner] = 1.0 + growth_per_year

    def add_capacity(self, commodity: int, capacity_bn_usd: float) -> None:
        self.capacity[commodity] = max(self.capacity[commodity] + capacity_bn_usd, 0.0)
        self._volumes_changed()

    def change_crossing(self, neighbour: int, factor: float, add_mt_per_year: float) -> None:
        """A border opens wider or closes; capacity never falls below zero."""
        capacity = self.crossing_capacity[neighbour]
        widened = (capacity * factor if factor > 0 else 0.0) + add_mt_per_year  # inf * 0 is nan
        self.set_crossing(neighbour, max(widened, 0.0))

    def set_crossing(self, neighbour: int, capacity_mt_per_year: float) -> None:
        self.crossing_capacity[neighbour] = capacity_mt_per_year
        self._volumes_changed()

    def open_route(
        self,
        via: int,
        partners: list[int],
        freight_usd_per_t: float,
        transport_cost: float | None,
        add_mt_per_year: float,
    ) -> None:
        """Exports to ``partners`` now cross neighbour ``via`` at a new freight cost."""
        for j in partners:
            self.route[j] = via
            self.freight_per_t[j] = freight_usd_per_t
            if transport_cost is not None:
                self.transport[j] = transport_cost
        self._set_crossings()
        self.crossing_capacity[via] += add_mt_per_year
        self._settings_changed()

    def add_transit_fees(self, fees: dict[int, float]) -> None:
        """Add (or, negative, remove) transit fees by neighbour index; kept within [0, 1]."""
        for i, fee in fees.items():
            self.transit_fee[i] = min(max(self.transit_fee[i] + fee, 0.0), 1.0)

    def shock_prices(self, commodities: list[int], factor: float) -> None:
        """Multiply export prices; the shock fades with each price's persistence."""
        self.log_price[commodities] += math.log(factor)

    def change_cap(self, changes: dict[str, Any]) -> None:
        cap = self.settings.investment.cap
        self.settings.investment.cap = cap.model_copy(update=changes)

    def raise_partnership(self, index: int, level: int, reason: str) -> None:
        """A scheduled step up the ladder, whatever diplomacy did (it may pass max_level)."""
        self.max_level[index] = max(int(self.max_level[index]), level)
        self.set_level(index, level, reason=reason)

    def add_debt_weight(self, index: int, weight: float) -> None:
        self.debt_weight[index] += weight
        self._debt_changed()

    def set_debt_weight(self, index: int, weight: float) -> None:
        self.debt_weight[index] = weight
        self._debt_changed()

    def _debt_changed(self) -> None:
        """Each neighbour's share of Mongolia's external debt (redone when debt changes)."""
        total = max(economy.total(self.debt_weight), 1e-12)
        self.debt_of_neighbour = (self.debt_weight[self.neighbour_index] / total).tolist()

    def change_alignment(self, level: float | None, trend_per_year: float | None) -> None:
        if level is not None:
            self.alignment = level
        if trend_per_year is not None:
            self.settings.alignment.trend_per_year = trend_per_year

    def set_attention(self, index: int, attention: float) -> None:
        self.attention[index] = attention

    def change_diplomacy(self, changes: dict[str, Any]) -> None:
        diplomacy = self.settings.diplomacy
        self.settings.diplomacy = diplomacy.model_copy(update=changes)
        self.mongolia.strategy = self.settings.diplomacy.strategy
        self._derive_diplomacy()

    def change_response(self, response: str) -> None:  # "bargain", "concede" or "resist"
        self.settings.pressure.response = response  # type: ignore[assignment]
        self.mongolia.response = response

    def bring_refinery_on_line(self, substitution: float) -> None:
        """F7: domestic refining replaces a share of fuel imports. Fuel imports shrink, and
        so does the energy term of each neighbour's exposure: a supplier's share of imports
        matters in proportion to how much fuel is imported."""
        imports = self.settings.trade.imports
        before = imports.refinery_substitution
        share = max(before, substitution)
        imports.refinery_substitution = share
        weights = self.settings.pressure.exposure
        weights.energy = weights.energy * (1.0 - share) / max(1.0 - before, 1e-9)
        self._settings_changed()

    # --- partnership ladder ------------------------------------------------------------

    def _derive_diplomacy(self) -> None:
        """Per-partner constants of the diplomacy settings (again whenever they change)."""
        cfg = self.settings.diplomacy
        # Attention moves only for third neighbours; others keep 1 (they never look away).
        engaged = cfg.third_neighbour_engagement * self.is_third
        self.tie_retention = np.vstack(
            [
                np.where(self.is_third, 1 - cfg.attention_decay_per_year / 4, 1),
                np.where(self.is_third, 1 - cfg.political_decay_per_year / 4, 1),
            ]
        )
        # Economic attention per unit of effort, in proportion to what the partner wants
        # from the tie; political and security ties in proportion to the rest.
        self.tie_gain = np.vstack(
            [
                cfg.attention_response * engaged * self.economic_priority,
                cfg.political_response * engaged * (1.0 - self.economic_priority),
            ]
        )
        self.half_engagement_weight = 0.5 * self.is_third * cfg.third_neighbour_engagement
        self.investment_attention = np.where(self.is_third, cfg.third_neighbour_engagement, 1.0)
        # Engagement needed for the next rung; infinite at a partner's highest rung.
        self.upgrade_needed = np.where(
            self.level < self.max_level, cfg.upgrade_threshold * (self.level + 1.0), np.inf
        )
        self._settings_changed()  # offers depend on these settings

    def set_level(self, index: int, level: int, reason: str) -> None:
        """Move a partner on the ladder (by diplomacy or by a scheduled event)."""
        self.level[index] = level
        self.engagement[index] = 0.0
        self.upgrade_needed[index] = (
            self.settings.diplomacy.upgrade_threshold * (level + 1.0)
            if level < self.max_level[index]
            else np.inf
        )
        self.log(
            f"{self.partner_names[index]}: partnership now {LEVELS[level].replace('_', ' ')}"
            f" ({reason})"
        )

    def level_name(self, index: int) -> str:
        return LEVELS[int(self.level[index])]

    # --- bookkeeping -------------------------------------------------------------------

    @property
    def year(self) -> int:
        return self.start_year + max(self.steps - 1, 0) // 4

    @property
    def quarter(self) -> int:
        return max(self.steps - 1, 0) % 4 + 1

    @property
    def annual_revenue(self) -> float:
        return 4.0 * self.export_revenue_bn_usd

    def _track_revenue(self) -> None:
        """Trend export revenue (bn USD a year; a year's exponential smoothing): what
        autonomy is priced against, so a slump or a closure does not make conceding cheap."""
        self.revenue_trend += 0.25 * (self.annual_revenue - self.revenue_trend)

    @property
    def active_episodes(self) -> int:
        return sum(n.episode is not None for n in self.neighbours)

    def episode_records(self) -> list[dict[str, Any]]:
        """Every pressure episode so far (ended, then any still under way), one row each:
        what it was over, how it ended, and what it cost each side (bn USD)."""
        active = [n.episode for n in self.neighbours if n.episode is not None]
        return [
            {
                "neighbour": self.partner_ids[ep.neighbour],
                "red_line": ep.red_line,
                "started": ep.started,
                "quarters": ep.quarters,
                "outcome": ep.outcome,
                "tools": "; ".join(ep.tools),
                "backed_by": "" if ep.backed_by is None else self.partner_ids[ep.backed_by],
                "stake_bn_usd": ep.stake_bn_usd,
                "cost_to_mongolia_bn_usd": ep.cost_bn_usd,
                "cost_to_coercer_bn_usd": ep.coercer_cost_bn_usd,
            }
            for ep in [*self.episodes_ended, *active]
        ]

    def log(self, message: str) -> None:
        self.event_log.append(f"{self.year} Q{self.quarter}: {message}")

    @property
    def cap_level(self) -> float:
        """The cap in force (events may change it); 1 when enforcement is 'none'."""
        return (
            1.0
            if self.settings.investment.cap.enforcement == "none"
            else self.settings.investment.cap.level
        )

    @property
    def crossing_load(self) -> np.ndarray:
        """Tonnes crossing into China and into Russia (Mt/year), from this year's flows."""
        return self.crosses @ (self.flows @ self.bulk)

    @property
    def reputation(self) -> float:
        return self.mongolia.reputation

    @property
    def cap_on_stock(self) -> bool:
        return self.settings.investment.cap.basis == "stock"


def _live_settings(config: Scenario) -> Scenario:
    """The settings events may change, copied for this model alone (runs that share a
    scenario object never see each other's events); partners, commodities and events,
    which nothing changes, are shared. Cheaper than a deep copy of the whole scenario."""
    settings = config.model_copy()
    settings.investment = config.investment.model_copy(deep=True)
    settings.trade = config.trade.model_copy()
    settings.trade.imports = config.trade.imports.model_copy()
    settings.pressure = config.pressure.model_copy(deep=True)
    settings.alignment = config.alignment.model_copy()
    settings.diplomacy = config.diplomacy.model_copy()
    return settings


def _with_overrides(
    config: Scenario,
    investment_cap,
    cap_basis,
    cap_enforcement,
    cap_leak,
    alignment,
    third_neighbour_engagement,
    concession_price,
    response,
    strategy,
) -> Scenario:
    """Apply keyword overrides through the schema, so they are validated too."""
    changes = {
        ("investment", "cap", "level"): investment_cap,
        ("investment", "cap", "basis"): cap_basis,
        ("investment", "cap", "enforcement"): cap_enforcement,
        ("investment", "cap", "leak"): cap_leak,
        ("alignment", "level"): alignment,
        ("diplomacy", "third_neighbour_engagement"): third_neighbour_engagement,
        ("pressure", "concession_price"): concession_price,
        ("pressure", "response"): response,
        ("diplomacy", "strategy"): strategy,
    }
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return config
    data = config.model_dump()
    for keys, value in changes.items():
        node = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return validate(data, "<BalanceModel keyword arguments>")


def _reporters(metrics: Iterable[str] | None) -> dict[str, str]:
    """Raw state by attribute name (Mesa copies each); sim.metrics declares which and
    derives the rest. A subset records less (a sweep keeps only its outputs); unknown names
    are errors."""
    recorded = raw_metrics()
    if metrics is None:
        return {name: name for name in recorded}
    wanted = list(metrics)
    unknown = sorted(set(wanted) - set(recorded))
    if unknown or not wanted:
        raise ValueError(f"metrics: unknown {unknown} or none; expected some of {recorded}")
    return {name: name for name in recorded if name in wanted}
