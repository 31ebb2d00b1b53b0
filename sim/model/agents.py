"""The agents: Mongolia the balancer, its two neighbours, and the other partners.

Agents hold decisions; the numbers they decide over live in arrays owned by
the model (``model.fdi_stock[i]`` and so on), so a partner agent is a view on
row ``i`` of those arrays plus the behaviour that is its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.model import economy

if TYPE_CHECKING:
    from sim.model.model import BalanceModel

# Share of Mongolia's diplomatic effort by strategy: (to China, to Russia, to third neighbours).
STRATEGY_SPLIT = {
    "balance": (0.25, 0.25, 0.5),
    "third_neighbour": (0.1, 0.1, 0.8),
    "lean_china": (0.5, 0.2, 0.3),
    "lean_russia": (0.2, 0.5, 0.3),
}


@dataclass
class Episode:
    """One pressure episode: who presses, over which red line, with what, and what it
    has cost each side so far (bn USD)."""

    neighbour: int
    red_line: str
    tools: list[str]
    import_fee: np.ndarray  # extra fee on exports to each partner (fraction of price)
    surcharge: np.ndarray  # extra transit fee charged by each neighbour
    energy_markup: np.ndarray  # price rise on fuel bought from each partner
    border_cut: np.ndarray  # share of each neighbour's border capacity closed
    stake_bn_usd: float = 0.0  # what a concession is worth to the coercer (private)
    belief: float = 0.5  # the coercer's expectation that Mongolia gives in
    started: str = ""  # year and quarter
    step: int = 0  # the model step it began
    backed_by: int | None = None
    quarters: int = 0
    cost_bn_usd: float = 0.0  # Mongolia's: revenue lost, fuel overpaid
    coercer_cost_bn_usd: float = 0.0  # the coercer's: imports forgone, standing
    last_cost_bn_usd: float = 0.0
    last_coercer_cost_bn_usd: float = 0.0
    meetings_suspended: bool = False
    outcome: str = "active"
    # The world without (or with) it, cached until trade's inputs change (model-owned).
    counterfactual_key: tuple | None = None
    counterfactual: Any = None


class Partner(mesa.Agent):
    """A trading and investing partner: a row of the model's partner arrays."""

    def __init__(
        self, model: BalanceModel, index: int, partner_id: str, name: str, group: str
    ) -> None:
        super().__init__(model)
        self.index = index
        self.partner_id = partner_id
        self.name = name
        self.group = group

    @property
    def export_share(self) -> float:
        return float(self.model.export_share[self.index])

    @property
    def fdi_share(self) -> float:
        return float(self.model.fdi_share[self.index])

    @property
    def level(self) -> str:
        return self.model.level_name(self.index)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


class ThirdNeighbour(Partner):
    """A distant partner whose attention fades without concrete steps (P5).

    Its attention and engagement move with Mongolia's diplomacy in
    ``Mongolia.conduct_diplomacy`` (vectorised over all third neighbours).
    """

    @property
    def attention(self) -> float:
        return float(self.model.attention[self.index])


class Neighbour(Partner):
    """Russia or China: controls transit, guards red lines, presses when it pays.

    Coercion is a bargain (Fearon 1995; Axelrod 1997; Drezner 1999): when a red line
    is crossed the neighbour presses only if its stake times its expectation that
    Mongolia gives in beats what pressing costs it over its horizon (imports from
    Mongolia it forgoes, its standing). Each quarter Mongolia holds out, that
    expectation falls, and the neighbour stops once the same comparison turns.
    """

    def __init__(
        self,
        model: BalanceModel,
        index: int,
        partner_id: str,
        name: str,
        group: str,
        red_lines: dict,
        tools: dict,
        import_need: float,
        standing_cost_bn_usd: float,
    ) -> None:
        super().__init__(model, index, partner_id, name, group)
        self.red_lines = red_lines
        self.tools = tools
        self.import_need = import_need
        self.standing_cost_bn_usd = standing_cost_bn_usd
        self.episode: Episode | None = None
        self.forced_crossing: str | None = None  # set by a scheduled event
        self.quiet_until: dict[str, int] = {}  # red line -> step its hazard stays low to

    @property
    def leverage(self) -> float:
        return float(self.model.effective_leverage[self.index])

    def press(self) -> None:
        """Keep up or drop an episode; otherwise see whether a red line was crossed and
        whether pressing over it pays."""
        episode = self.episode
        if episode is not None:
            if self.forced_crossing is not None:  # already pressing: nothing new to start
                self.model.log(
                    f"{self.name} is already pressing over "
                    f"{episode.red_line.replace('_', ' ')}: Mongolia's crossing of "
                    f"{self.forced_crossing.replace('_', ' ')} adds no second episode"
                )
                self.forced_crossing = None
            episode.quarters += 1
            episode.belief *= 1.0 - self.model.settings.pressure.belief_update
            if not self._pays(episode, episode.last_coercer_cost_bn_usd):
                self.end_episode(conceded=False)
            return
        crossed = self.forced_crossing or self._red_line_crossed()
        self.forced_crossing = None
        if crossed:
            self.consider(crossed)

    def _pays(self, episode: Episode, cost_per_quarter: float) -> bool:
        horizon = self.model.settings.pressure.horizon_quarters
        return episode.belief * episode.stake_bn_usd > cost_per_quarter * horizon

    def cross_red_line(self, red_line: str) -> None:
        """Mongolia crosses a red line by a scheduled act: considered this quarter (never
        held for later; the first of two crossings in one quarter is the one weighed)."""
        if self.forced_crossing is None:
            self.forced_crossing = red_line

    def consider(self, red_line: str) -> None:
        """Draw this episode's stake (known only to the neighbour), cost the tools, and
        press if it pays; otherwise let the crossing pass."""
        model = self.model
        settings = model.settings.pressure
        sigma = settings.resolve_noise
        stake = self.red_lines[red_line].stake_bn_usd * model.rng.lognormal(
            -(sigma**2) / 2.0, sigma
        )
        episode = self._plan(red_line, stake)
        _, cost = model.episode_costs(episode, active=False)
        episode.last_coercer_cost_bn_usd = cost
        if self._pays(episode, cost):
            self.start_episode(episode)
        else:
            model.log(
                f"{self.name} lets Mongolia's crossing of {red_line.replace('_', ' ')} pass: "
                f"pressing would cost it {cost:.3f} bn USD a quarter"
            )

    def _plan(self, red_line: str, stake: float) -> Episode:
        """The tools it would use, scaled by its effective leverage; the other neighbour
        may back it with transit costs, the more likely the closer they are aligned (P2)."""
        model = self.model
        n, i = model.n_partners, self.index
        tools = self.tools
        scale = min(1.0, 2.0 * self.leverage)
        episode = Episode(
            neighbour=i,
            red_line=red_line,
            tools=[],
            import_fee=np.zeros(n),
            surcharge=np.zeros(n),
            energy_markup=np.zeros(n),
            border_cut=np.zeros(n),
            stake_bn_usd=stake,
            belief=model.mongolia.reputation,
            started=f"{model.year}Q{model.quarter}",
            step=model.steps,
        )
        if tools["import_fee"] > 0:
            episode.import_fee[i] = tools["import_fee"] * scale
            episode.tools.append("import fees")
        if tools["transit_cost"] > 0:
            episode.surcharge[i] = tools["transit_cost"] * scale
            episode.tools.append("extra transit costs")
        if tools["energy_supply"] > 0:
            episode.energy_markup[i] = tools["energy_supply"] * scale
            episode.tools.append("energy supply squeeze")
        if tools["border_restriction"] > 0:
            episode.border_cut[i] = tools["border_restriction"] * scale
            episode.tools.append("fewer border crossings")
        if tools["suspend_meetings"]:
            episode.meetings_suspended = True
            episode.tools.append("suspended high-level meetings")
        if tools["debt_call"] > 0:
            call = tools["debt_call"] * scale * economy.shares(model.debt_weight)[i]
            episode.cost_bn_usd += call * model.annual_revenue
            episode.tools.append("a debt call")
        other = model.other_neighbour[i]
        if model.rng.random() < model.alignment and tools["transit_cost"] > 0:
            episode.backed_by = other
            episode.surcharge[other] = model.alignment * tools["transit_cost"] * scale
        return episode

    def start_episode(self, episode: Episode) -> None:
        model = self.model
        self.episode = episode
        model.aggregate_pressure()
        other = episode.backed_by
        backed = f", backed by {model.partner_names[other]}" if other is not None else ""
        model.log(
            f"{self.name} presses over {episode.red_line.replace('_', ' ')}: "
            f"{', '.join(episode.tools) or 'no tools'}{backed}"
        )

    def end_episode(self, conceded: bool) -> None:
        """Lift the pressure: Mongolia conceded, or pressing no longer paid. A concession
        has content: that red line's hazard stays low for a while (P1: the 2016 promise)."""
        episode = self.episode
        assert episode is not None
        episode.outcome = "conceded" if conceded else "resisted"
        self.episode = None
        if conceded:
            years = self.model.settings.pressure.concession_years
            self.quiet_until[episode.red_line] = self.model.steps + round(4 * years)
        self.model.aggregate_pressure()
        self.model.record_episode_end(self, episode, conceded)

    def _red_line_crossed(self) -> str | None:
        """One draw a quarter against the summed hazards of all red lines; political
        alignment with the West above the tolerance adds to the alignment-triggered ones."""
        model = self.model
        settings = model.settings.pressure
        above = model.western_alignment > settings.western_alignment_tolerance
        draw = model.rng.random()
        for name, line in self.red_lines.items():
            hazard = line.hazard_per_year
            if line.alignment_trigger and above:
                hazard += settings.alignment_hazard_per_year
            if self.quiet_until.get(name, -1) > model.steps:
                hazard *= settings.concession_hazard_factor
            draw -= hazard / 4.0
            if draw < 0.0:
                return name
        return None


class Mongolia(mesa.Agent):
    """The balancer: screens investment, answers pressure, spends diplomatic effort."""

    def __init__(self, model: BalanceModel, response: str, strategy: str) -> None:
        super().__init__(model)
        self.response = response
        self.strategy = strategy
        # The neighbours' shared expectation that Mongolia gives in when pressed: its
        # reputation, moved by each outcome. In Axelrod's (1997) tribute model the weak pay
        # when paying is cheaper than fighting and demands follow them; this reputation
        # rule is the model's own reading of that, not Axelrod's mechanism.
        self.reputation = 0.5
        self._split_for: tuple | None = None
        self._split = np.zeros(0)

    def respond_to_pressure(self) -> None:
        """Hold out or concede, episode by episode, from the quarter after pressure began and
        before the neighbour weighs going on (so a one-quarter episode is Mongolia's choice)."""
        model = self.model
        for neighbour in model.neighbours:
            episode = neighbour.episode
            # Mongolia answers from the quarter after the pressure began (it has felt it).
            if episode is None or episode.step == model.steps or self.response == "resist":
                continue
            if self.response == "concede" or model.rng.random() < self.concede_probability(
                neighbour, episode
            ):
                episode.quarters += 1  # the quarter of pressure it paid before giving in
                neighbour.end_episode(conceded=True)

    def concede_probability(self, neighbour: Neighbour, episode: Episode) -> float:
        """Chance of conceding this quarter: a logit on the expected cost of holding out
        against the price of conceding (Fearon 1995: the stake is private, so Mongolia
        expects the coercer's mean resolve).

        Holding out costs this quarter's loss times the quarters Mongolia expects the
        pressure to last, less what backing from the West and an independent other
        neighbour offsets. Conceding costs autonomy, the more the better Mongolia's
        record of holding out (a reputation it would throw away).
        """
        model = self.model
        settings = model.settings.pressure
        mean_stake = neighbour.red_lines[episode.red_line].stake_bn_usd
        per_quarter = max(episode.last_coercer_cost_bn_usd, 1e-9) * settings.horizon_quarters
        keep_on = episode.belief * mean_stake / per_quarter  # > 1: it would go on
        fade = -math.log(1.0 - settings.belief_update) if settings.belief_update < 1 else 1e9
        # Quarters of pressure Mongolia expects, weighed over the same horizon as the
        # coercer's (a longer expected siege counts no more than the horizon; a coercer
        # whose expectation never fades presses for the whole horizon).
        go_on = max(math.log(max(keep_on, 1e-12)), 0.0)
        expected_quarters = (
            min(1.0 + go_on / fade, settings.horizon_quarters)
            if fade > 0.0
            else settings.horizon_quarters
        )
        backing = settings.third_party_support * (
            0.5 * model.western_alignment + 0.5 * (1.0 - model.alignment)
        )
        hold = episode.last_cost_bn_usd * expected_quarters * (1.0 - backing)
        price = (
            model.revenue_trend
            * settings.concession_price
            * (1.0 + settings.reputation_weight * (1.0 - self.reputation))
        )
        if price <= 0:
            return 1.0
        z = (hold - price) / (settings.decision_noise * price)
        return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))

    def record(self, conceded: bool) -> None:
        """Conceding moves the reputation halfway to 1; holding out, halfway to 0."""
        self.reputation = (self.reputation + 1.0) / 2.0 if conceded else self.reputation / 2.0

    def effort_split(self) -> np.ndarray:
        """Diplomatic effort per partner this quarter, by strategy (effort units)."""
        model = self.model
        key = (self.strategy, model.settings.diplomacy.effort_per_year)
        if self._split_for != key:
            china, russia, third = STRATEGY_SPLIT[self.strategy]
            split = np.zeros(model.n_partners)
            split[model.CHINA], split[model.RUSSIA] = china, russia
            split[model.is_third] = third / max(model.is_third.sum(), 1)
            self._split = split * model.settings.diplomacy.effort_per_year / 4.0
            self._split_for = key
        return self._split

    def conduct_diplomacy(self) -> None:
        """Spend effort. What it buys with a third neighbour depends on what that partner
        wants (source C, Table 1): economic attention (trade, investment, aid) in
        proportion to its economic priority, political and security ties in proportion
        to the rest. Both fade without effort (P5); together they climb the ladder."""
        model = self.model
        effort = self.effort_split()
        if model.active_pressure:
            effort = np.where(model.meetings_suspended, 0.0, effort)
        ties = model.ties  # rows: economic attention, political and security ties
        ties *= model.tie_retention
        ties += model.tie_gain * effort
        np.minimum(ties, 1.0, out=ties)
        # Both kinds of tie, averaged, carry a third neighbour up the ladder.
        model.engagement += effort * (
            (ties[0] + ties[1]) * model.half_engagement_weight + model.neighbour_weight
        )
        ready = model.engagement >= model.upgrade_needed
        if ready.any():
            for index in np.flatnonzero(ready):
                model.set_level(index, model.level[index] + 1, reason="diplomacy")
