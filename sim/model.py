"""BalanceModel: Mongolia between Russia, China and its third neighbours.

One step is one quarter. The step order is in ``BalanceModel.step``; the
arithmetic over partners is in ``sim.economy``; decisions are in
``sim.agents``. docs/ODD.md describes every mechanism.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim import economy
from sim.agents import Episode, Mongolia, Neighbour, Partner, ThirdNeighbour
from sim.scenario import BASELINE, LEVELS, Scenario, load_scenario, validate

VECTOR_METRICS = ("export_share", "import_share", "fuel_share", "fdi_share", "fdi_inflow_share",
                  "level", "attention")


class BalanceModel(mesa.Model):
    """Trade, investment and pressure around a landlocked small state.

    Keyword arguments override the scenario (the calibrated baseline when
    ``config`` is None), so ``mesa.batch_run`` can vary them directly.
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
        concession_threshold: float | None = None,
        response: str | None = None,
        strategy: str | None = None,
        rng: int | np.random.Generator | None = None,
    ) -> None:
        config = config if config is not None else load_scenario(BASELINE)
        config = _with_overrides(config, investment_cap, cap_basis, cap_enforcement, cap_leak,
                                 alignment, third_neighbour_engagement, concession_threshold,
                                 response, strategy)
        super().__init__(rng=config.seed if rng is None else rng)
        self.config = config
        self.start_year = config.start_year
        self.max_steps = config.steps
        self.cap = config.investment.cap
        self.pressure_cfg = config.pressure
        self.diplomacy_cfg = config.diplomacy
        self.alignment = config.alignment.level
        self.event_log: list[str] = []
        self._setup_partners(config)
        self._reset_flows()
        self._setup_trade(config)
        self.mongolia = Mongolia(self, config.pressure.response,
                                 config.pressure.concession_threshold,
                                 config.diplomacy.strategy)
        self._clear_trade()
        self._measure_dependence()
        self.datacollector = mesa.DataCollector(model_reporters=_reporters())
        self.datacollector.collect(self)

    @classmethod
    def from_scenario(cls, path: str, overrides: list[str] | tuple[str, ...] = (),
                      **kwargs) -> BalanceModel:
        """Build from a scenario file; raises ScenarioError on bad input."""
        return cls(load_scenario(path, overrides), **kwargs)

    # --- the step: one quarter ---------------------------------------------------------

    def step(self) -> None:
        self.alignment = float(np.clip(
            self.alignment + self.config.alignment.trend_per_year / 4.0, 0.0, 1.0))
        self._move_prices()                 # commodity prices: AR(1) shocks
        self._clear_trade()                 # exports by CES shares, imports, revenue, costs
        self._invest()                      # offers, screening under the cap, depreciation
        self._measure_dependence()          # exposure, leverage, autonomy
        for neighbour in self.neighbours:   # red lines; start, keep or drop pressure
            neighbour.press()
        self.mongolia.respond_to_pressure()  # concede or resist
        self.mongolia.conduct_diplomacy()    # effort, attention, partnership ladder
        self.datacollector.collect(self)
        if self.steps >= self.max_steps:
            self.running = False

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
        self.route = np.array([-1 if p.route == "direct" else index[p.route]
                               for p in specs.values()])
        self.transport = np.array([p.transport_cost for p in specs.values()])
        self.fuel_supply = np.array([p.fuel_supply for p in specs.values()])
        self.goods_supply = np.array([p.goods_supply for p in specs.values()])
        self.fdi_appetite = np.array([p.fdi_appetite_bn_usd for p in specs.values()])
        self.fdi_stock = np.array([p.fdi_stock_bn_usd for p in specs.values()])
        self.debt_weight = np.array([p.debt_share for p in specs.values()])
        self.base_relation = np.array([p.relation for p in specs.values()])
        self.level = np.array([LEVELS.index(p.level) for p in specs.values()])
        self.max_level = np.array([LEVELS.index(p.max_level) for p in specs.values()])
        self.attention = np.array([p.attention if p.group == "third" else 1.0
                                   for p in specs.values()])
        self.engagement = np.zeros(n)
        self.transit_fee = np.zeros(n)
        for pid, fee in config.trade.transit_fee.items():
            self.transit_fee[index[pid]] = fee
        self.partners: list[Partner] = []
        self.neighbours: list[Neighbour] = []
        for i, (pid, spec) in enumerate(specs.items()):
            if spec.group == "neighbour":
                agent = Neighbour(self, i, pid, spec.name, spec.group, spec.red_lines,
                                  spec.tools.model_dump(), spec.pressure_threshold,
                                  spec.patience_quarters)
                self.neighbours.append(agent)
            elif spec.group == "third":
                agent = ThirdNeighbour(self, i, pid, spec.name, spec.group)
            else:
                agent = Partner(self, i, pid, spec.name, spec.group)
            self.partners.append(agent)
        self.initial_fdi_total = self.fdi_stock.sum()

    def _setup_trade(self, config: Scenario) -> None:
        goods = config.trade.commodities
        self.commodity_names = list(goods)
        self.supply_base = np.array([c.supply_bn_usd for c in goods.values()])
        self.is_mining = np.array([c.mining for c in goods.values()])
        self.price_volatility = np.array([c.price_volatility for c in goods.values()])
        self.price_persistence = np.array([c.price_persistence for c in goods.values()])
        self.log_price = np.zeros(len(goods))
        self.demand = np.array([[p.demand.get(c, 0.0) for c in goods]
                                for p in config.partners.values()])
        self.trade_cfg = config.trade
        # Revenue is measured against trade costs at the start (no pressure).
        zero = np.zeros(self.n_partners)
        back = economy.netback(self.transport, self.route, self.transit_fee, zero, zero)
        alloc = economy.export_allocation(self.demand, self._relation(), back,
                                          config.trade.relation_elasticity,
                                          config.trade.cost_elasticity)
        self.reference_netback = back @ alloc

    def _reset_flows(self) -> None:
        n = self.n_partners
        self.import_fee = np.zeros(n)
        self.surcharge = np.zeros(n)
        self.energy_markup = np.zeros(n)
        self.meetings_suspended = np.zeros(n, dtype=bool)
        self.fdi_inflow = np.zeros(n)
        self.fdi_rejected = self.fdi_redirected = self.fdi_divested = 0.0
        self.pressure_cost = 0.0
        self.concessions = 0
        self.autonomy_loss = 0.0
        self.episodes_ended: list[Episode] = []
        self.fdi_share = economy.shares(self.fdi_stock)
        self.fdi_inflow_share = np.zeros(n)

    # --- submodels ---------------------------------------------------------------------

    def _relation(self) -> np.ndarray:
        bonus = 1.0 + self.diplomacy_cfg.level_trade_bonus * self.level
        return self.base_relation * bonus * np.where(self.meetings_suspended, 0.8, 1.0)

    def _move_prices(self) -> None:
        shock = self.rng.standard_normal(self.log_price.size) * self.price_volatility
        self.log_price = self.price_persistence * self.log_price + shock

    def _exports(self, import_fee: np.ndarray, surcharge: np.ndarray,
                 relation: np.ndarray) -> tuple[np.ndarray, float]:
        """Export value by partner and commodity, and revenue (bn USD this quarter)."""
        back = economy.netback(self.transport, self.route, self.transit_fee, surcharge,
                               import_fee)
        alloc = economy.export_allocation(self.demand, relation, back,
                                          self.trade_cfg.relation_elasticity,
                                          self.trade_cfg.cost_elasticity)
        value = self.commodity_value[None, :] * alloc
        revenue = self.commodity_value @ ((back @ alloc) / self.reference_netback)
        return value, float(revenue)

    def _clear_trade(self) -> None:
        growth = (self.fdi_stock.sum() / self.initial_fdi_total) ** \
            self.config.investment.mining_supply_elasticity
        supply = self.supply_base * np.where(self.is_mining, growth, 1.0)
        self.commodity_value = supply * np.exp(self.log_price) / 4.0
        relation = self._relation()
        self.export_value, self.export_revenue = self._exports(
            self.import_fee, self.surcharge, relation)
        self.exports_by_partner = self.export_value.sum(axis=1)
        self.export_share = economy.shares(self.exports_by_partner)
        imports = self.trade_cfg.imports
        fuel = imports.fuel_bn_usd / 4.0 * (1.0 - imports.refinery_substitution)
        self.fuel_share = economy.shares(self.fuel_supply * relation)
        goods_share = economy.shares(self.goods_supply * relation)
        self.imports_by_partner = fuel * self.fuel_share + imports.goods_bn_usd / 4.0 * goods_share
        self.import_share = economy.shares(self.imports_by_partner)
        self.energy_cost = fuel * float(self.fuel_share @ self.energy_markup)
        self.pressure_cost = 0.0
        for neighbour in self.neighbours:
            if neighbour.episode is not None:
                cost = self._episode_cost(neighbour.episode, fuel, relation)
                neighbour.episode.cost_bn_usd += cost
                self.pressure_cost += cost

    def _episode_cost(self, episode: Episode, fuel: float, relation: np.ndarray) -> float:
        """Revenue lost and fuel overpaid because of this episode alone, this quarter."""
        if episode.meetings_suspended:
            relation = relation / np.where(np.arange(self.n_partners) == episode.neighbour,
                                           0.8, 1.0)
        _, without = self._exports(self.import_fee - episode.import_fee,
                                   self.surcharge - episode.surcharge, relation)
        energy = fuel * float(self.fuel_share @ episode.energy_markup)
        return max(without - self.export_revenue, 0.0) + energy

    def _invest(self) -> None:
        inv = self.config.investment
        cfg = self.diplomacy_cfg
        attention = np.where(self.is_third, self.attention * cfg.third_neighbour_engagement, 1.0)
        sigma = inv.offer_noise
        noise = np.exp(sigma * self.rng.standard_normal(self.n_partners) - sigma**2 / 2.0)
        offers = (self.fdi_appetite / 4.0 * attention * self._relation()
                  * (1.0 + cfg.level_investment_bonus * self.level) * noise)
        stock = self.fdi_stock * (1.0 - inv.depreciation_per_year / 4.0)
        cap = self.cap
        held = stock if cap.basis == "stock" else np.zeros_like(stock)
        accepted, divested = economy.screen_investment(
            held, offers, cap.level, "stock", cap.enforcement, cap.leak)
        rejected = offers - accepted
        # Part of what was turned away is offered again by origins not at the cap.
        open_to = self.fdi_appetite * (rejected <= 1e-12)
        redirect = inv.redirect_share * rejected.sum() * economy.shares(open_to)
        held = (stock if cap.basis == "stock" else np.zeros_like(stock)) + accepted - divested
        extra, _ = economy.screen_investment(held, redirect, cap.level, "stock",
                                             cap.enforcement, cap.leak)
        self.fdi_inflow = accepted + extra
        self.fdi_stock = stock - divested + self.fdi_inflow
        self.fdi_rejected = float(rejected.sum() - extra.sum())
        self.fdi_redirected = float(extra.sum())
        self.fdi_divested = float(divested.sum())
        self.fdi_share = economy.shares(self.fdi_stock)
        self.fdi_inflow_share = economy.shares(self.fdi_inflow)

    def _measure_dependence(self) -> None:
        """Exposure to each neighbour, pooled by alignment into effective leverage."""
        w = self.pressure_cfg.exposure
        both = [self.CHINA, self.RUSSIA]
        transit = np.array([self.export_share[self.route == k].sum() for k in both])
        debt = economy.shares(self.debt_weight)[both]
        exposure = (w.exports * self.export_share[both] + w.transit * transit
                    + w.energy * self.fuel_share[both] + w.fdi * self.fdi_share[both]
                    + w.debt * debt)
        pooled = np.minimum(exposure + self.alignment * exposure[::-1], 1.0)
        self.exposure = np.zeros(self.n_partners)
        self.exposure[both] = exposure
        self.effective_leverage = np.zeros(self.n_partners)
        self.effective_leverage[both] = pooled
        third_level = self.level[self.is_third] / (len(LEVELS) - 1)
        self.western_alignment = float((third_level * self.attention[self.is_third]).mean()) \
            if self.is_third.any() else 0.0
        self.autonomy_loss *= 1.0 - self.pressure_cfg.autonomy_recovery_per_year / 4.0
        self.autonomy = float(np.clip(1.0 - pooled.max() - self.autonomy_loss, 0.0, 1.0))

    # --- pressure episodes -------------------------------------------------------------

    def start_episode(self, neighbour: Neighbour, red_line: str) -> None:
        """The neighbour applies its tools, scaled by its leverage; the other may back it."""
        n, i = self.n_partners, neighbour.index
        tools = neighbour.tools
        scale = min(1.0, 2.0 * max(neighbour.leverage, neighbour.pressure_threshold))
        episode = Episode(neighbour=i, red_line=red_line, start_step=self.steps, tools=[],
                          import_fee=np.zeros(n), surcharge=np.zeros(n),
                          energy_markup=np.zeros(n))
        if tools["import_fee"] > 0:
            episode.import_fee[i] = tools["import_fee"] * scale
            episode.tools.append("import fees")
        if tools["transit_cost"] > 0:
            episode.surcharge[i] = tools["transit_cost"] * scale
            episode.tools.append("extra transit costs")
        if tools["energy_supply"] > 0:
            episode.energy_markup[i] = tools["energy_supply"] * scale
            episode.tools.append("energy supply squeeze")
        if tools["suspend_meetings"]:
            episode.meetings_suspended = True
            episode.tools.append("suspended high-level meetings")
        if tools["debt_call"] > 0:
            call = tools["debt_call"] * scale * economy.shares(self.debt_weight)[i]
            episode.cost_bn_usd += call * self.annual_revenue
            episode.tools.append("a debt call")
        other = self.other_neighbour[i]
        if self.rng.random() < self.alignment and tools["transit_cost"] > 0:
            episode.backed_by = other
            episode.surcharge[other] = self.alignment * tools["transit_cost"] * scale
        neighbour.episode = episode
        self._apply_pressure()
        backed = f", backed by {self.partner_names[other]}" if episode.backed_by is not None \
            else ""
        self.log(f"{neighbour.name} presses over {red_line.replace('_', ' ')}: "
                 f"{', '.join(episode.tools) or 'no tools'}{backed}")

    def end_episode(self, neighbour: Neighbour, conceded: bool) -> None:
        episode = neighbour.episode
        episode.outcome = "conceded" if conceded else "resisted"
        neighbour.episode = None
        self._apply_pressure()
        if conceded:
            self.concessions += 1
            self.autonomy_loss += self.pressure_cfg.concession_autonomy_cost
            self.log(f"Mongolia concedes to {neighbour.name} "
                     f"(episode cost {episode.cost_bn_usd:.2f} bn USD)")
        else:
            self.log(f"{neighbour.name} lifts its pressure; Mongolia held out "
                     f"({episode.cost_bn_usd:.2f} bn USD)")
        self.episodes_ended.append(episode)

    def _apply_pressure(self) -> None:
        """Current pressure arrays are the sum over active episodes."""
        self.import_fee[:] = 0.0
        self.surcharge[:] = 0.0
        self.energy_markup[:] = 0.0
        self.meetings_suspended[:] = False
        for neighbour in self.neighbours:
            ep = neighbour.episode
            if ep is not None:
                self.import_fee += ep.import_fee
                self.surcharge += ep.surcharge
                self.energy_markup += ep.energy_markup
                self.meetings_suspended[ep.neighbour] |= ep.meetings_suspended

    # --- partnership ladder ------------------------------------------------------------

    def set_level(self, index: int, level: int, reason: str) -> None:
        self.level[index] = level
        self.engagement[index] = 0.0
        self.log(f"{self.partner_names[index]}: partnership now {LEVELS[level].replace('_', ' ')}"
                 f" ({reason})")

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
        return 4.0 * self.export_revenue

    @property
    def active_episodes(self) -> int:
        return sum(n.episode is not None for n in self.neighbours)

    def log(self, message: str) -> None:
        self.event_log.append(f"{self.year} Q{self.quarter}: {message}")

    def cap_basis_share(self) -> np.ndarray:
        """Each origin's share of what the cap is measured on."""
        return self.fdi_share if self.cap.basis == "stock" else self.fdi_inflow_share


def _with_overrides(config: Scenario, investment_cap, cap_basis, cap_enforcement, cap_leak,
                    alignment, third_neighbour_engagement, concession_threshold, response,
                    strategy) -> Scenario:
    """Apply keyword overrides through the schema, so they are validated too."""
    changes = {
        ("investment", "cap", "level"): investment_cap,
        ("investment", "cap", "basis"): cap_basis,
        ("investment", "cap", "enforcement"): cap_enforcement,
        ("investment", "cap", "leak"): cap_leak,
        ("alignment", "level"): alignment,
        ("diplomacy", "third_neighbour_engagement"): third_neighbour_engagement,
        ("pressure", "concession_threshold"): concession_threshold,
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


def _reporters() -> dict:
    """Model reporters: scalars by name, per-partner vectors as arrays."""
    scalars = {
        "year": lambda m: m.year,
        "quarter": lambda m: m.quarter if m.steps else 0,
        "export_revenue_bn_usd": lambda m: m.export_revenue,
        "export_hhi": lambda m: economy.herfindahl(m.export_share),
        "import_hhi": lambda m: economy.herfindahl(m.import_share),
        "fdi_hhi": lambda m: economy.herfindahl(m.fdi_share),
        "largest_fdi_share": lambda m: float(m.fdi_share.max()),
        "cap_breaches": lambda m: int((m.cap_basis_share() > m.cap.level + 1e-9).sum()),
        "fdi_stock_bn_usd": lambda m: float(m.fdi_stock.sum()),
        "fdi_rejected_bn_usd": lambda m: m.fdi_rejected,
        "fdi_redirected_bn_usd": lambda m: m.fdi_redirected,
        "fdi_divested_bn_usd": lambda m: m.fdi_divested,
        "third_neighbour_export_share": lambda m: float(m.export_share[m.is_third].sum()),
        "third_neighbour_fdi_share": lambda m: float(m.fdi_share[m.is_third].sum()),
        "mining_export_share": lambda m: float(
            m.export_value[:, m.is_mining].sum() / m.export_value.sum()),
        "active_pressure": lambda m: m.active_episodes,
        "pressure_cost_bn_usd": lambda m: m.pressure_cost,
        "concessions": lambda m: m.concessions,
        "autonomy": lambda m: m.autonomy,
        "alignment": lambda m: m.alignment,
        "western_alignment": lambda m: m.western_alignment,
        "leverage_china": lambda m: float(m.effective_leverage[m.CHINA]),
        "leverage_russia": lambda m: float(m.effective_leverage[m.RUSSIA]),
        "commodity_to_china": lambda m: m.export_value[m.CHINA].copy(),
        "china_commodity_share": lambda m: m.export_value[m.CHINA]
        / m.export_value.sum(axis=0),
    }
    vectors = {name: (lambda attr: lambda m: getattr(m, attr).astype(float))(name)
               for name in VECTOR_METRICS}
    return {**scalars, **vectors}
