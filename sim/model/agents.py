"""The agents: Mongolia the balancer, its two neighbours, and the other partners.

Agents hold decisions; the numbers they decide over live in arrays owned by
the model (``model.fdi_stock[i]`` and so on), so a partner agent is a view on
row ``i`` of those arrays plus the behaviour that is its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
    """One pressure episode: who presses, over which red line, with what."""

    neighbour: int
    red_line: str
    tools: list[str]
    import_fee: np.ndarray  # extra fee on exports to each partner (fraction of price)
    surcharge: np.ndarray  # extra transit fee charged by each neighbour
    energy_markup: np.ndarray  # price rise on fuel bought from each partner
    backed_by: int | None = None
    quarters: int = 0
    cost_bn_usd: float = 0.0
    meetings_suspended: bool = False
    outcome: str = "active"


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
    """Russia or China: controls transit, guards red lines, applies pressure."""

    def __init__(
        self,
        model: BalanceModel,
        index: int,
        partner_id: str,
        name: str,
        group: str,
        red_lines: dict,
        tools: dict,
        pressure_threshold: float,
        patience_quarters: int,
    ) -> None:
        super().__init__(model, index, partner_id, name, group)
        self.red_lines = red_lines
        self.tools = tools
        self.pressure_threshold = pressure_threshold
        self.patience_quarters = patience_quarters
        self.episode: Episode | None = None
        self.forced_crossing: str | None = None  # set by a scheduled event

    @property
    def leverage(self) -> float:
        return float(self.model.effective_leverage[self.index])

    def press(self) -> None:
        """Keep up or drop an episode; otherwise check red lines and decide to press."""
        if self.episode is not None:
            self.episode.quarters += 1
            if self.episode.quarters >= self.patience_quarters:
                self.end_episode(conceded=False)
            return
        crossed = self.forced_crossing or self._red_line_crossed()
        forced = self.forced_crossing is not None
        self.forced_crossing = None
        if crossed and (forced or self.leverage >= self.pressure_threshold):
            self.start_episode(crossed)

    def cross_red_line(self, red_line: str) -> None:
        """Mongolia crosses a red line by a scheduled act: pressed next, whatever leverage."""
        self.forced_crossing = red_line

    def start_episode(self, red_line: str) -> None:
        """Apply the tools, scaled by leverage; the other neighbour may back it (P2)."""
        model = self.model
        n, i = model.n_partners, self.index
        tools = self.tools
        scale = min(1.0, 2.0 * max(self.leverage, self.pressure_threshold))
        episode = Episode(
            neighbour=i,
            red_line=red_line,
            tools=[],
            import_fee=np.zeros(n),
            surcharge=np.zeros(n),
            energy_markup=np.zeros(n),
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
        self.episode = episode
        model.aggregate_pressure()
        backed = (
            f", backed by {model.partner_names[other]}" if episode.backed_by is not None else ""
        )
        model.log(
            f"{self.name} presses over {red_line.replace('_', ' ')}: "
            f"{', '.join(episode.tools) or 'no tools'}{backed}"
        )

    def end_episode(self, conceded: bool) -> None:
        """Lift the pressure: Mongolia conceded, or it held out past this neighbour's patience."""
        episode = self.episode
        assert episode is not None
        episode.outcome = "conceded" if conceded else "resisted"
        self.episode = None
        self.model.aggregate_pressure()
        self.model.record_episode_end(self, episode, conceded)

    def _red_line_crossed(self) -> str | None:
        """One draw a quarter against the summed hazards of all red lines."""
        model = self.model
        above = model.western_alignment > model.settings.pressure.western_alignment_tolerance
        draw = model.rng.random()
        for name, line in self.red_lines.items():
            hazard = line.hazard_per_year
            if line.alignment_trigger and above:
                hazard += model.settings.pressure.alignment_hazard_per_year
            draw -= hazard / 4.0
            if draw < 0.0:
                return name
        return None


class Mongolia(mesa.Agent):
    """The balancer: screens investment, answers pressure, spends diplomatic effort."""

    def __init__(
        self, model: BalanceModel, response: str, concession_threshold: float, strategy: str
    ) -> None:
        super().__init__(model)
        self.response = response
        self.concession_threshold = concession_threshold
        self.strategy = strategy
        self._split_for: tuple | None = None
        self._split = np.zeros(0)

    def respond_to_pressure(self) -> None:
        """Concede when an episode has cost more than the policy tolerates (P1)."""
        model = self.model
        for neighbour in model.neighbours:
            episode = neighbour.episode
            if episode is None or episode.quarters == 0:
                continue
            tolerated = self.concession_threshold * model.annual_revenue
            if self.response == "concede" or (
                self.response == "threshold" and episode.cost_bn_usd >= tolerated
            ):
                neighbour.end_episode(conceded=True)

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
        """Spend effort; third neighbours' attention moves (P5); levels climb the ladder."""
        model = self.model
        effort = self.effort_split()
        if model.active_pressure:
            effort = np.where(model.meetings_suspended, 0.0, effort)
        attention = model.attention
        attention *= model.attention_retention
        attention += model.attention_gain * effort
        np.minimum(attention, 1.0, out=attention)
        model.engagement += effort * (attention * model.engagement_weight + model.is_neighbour)
        ready = model.engagement >= model.upgrade_needed
        if ready.any():
            for index in np.flatnonzero(ready):
                model.set_level(index, model.level[index] + 1, reason="diplomacy")
