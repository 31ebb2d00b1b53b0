"""The timeline: scheduled events applied to a running model at their quarter.

Events are validated tables (``sim.schema.events``); what each kind does is here, one
function per kind, and every function acts through the model's narrow interface
(``model.scale_demand``, ``model.change_cap``, ...) rather than reaching into its
arrays. Every kind changes state, never just a label, and logs what it did so the
run's ``events.txt`` shows the history.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.schema import events as ev
from sim.schema.fields import LEVELS

if TYPE_CHECKING:
    from sim.model.model import BalanceModel

Action = Callable[["BalanceModel"], Any]


class Timeline:
    """Events in date order (file order within a quarter), plus their scheduled follow-ups."""

    def __init__(self, events: list[Any], start_year: int) -> None:
        self.events = sorted(events, key=lambda e: e.step(start_year))
        self._steps = [e.step(start_year) for e in self.events]
        self._next = 0
        self._later: list[tuple[int, int, Action]] = []
        self._count = 0
        self._now = 0

    def later(self, quarters: int, action: Action) -> None:
        """Run ``action(model)`` ``quarters`` steps from now (at least the next step)."""
        self._count += 1
        heapq.heappush(self._later, (self._now + max(quarters, 1), self._count, action))

    def apply(self, model: BalanceModel) -> None:
        """Apply everything due at the model's current step (called first in ``step``)."""
        self._now = step = model.steps
        while self._later and self._later[0][0] <= step:
            heapq.heappop(self._later)[2](model)
        while self._next < len(self.events) and self._steps[self._next] <= step:
            event = self.events[self._next]
            self._next += 1
            APPLY[type(event)](event, model, self)

    @property
    def pending(self) -> int:
        return len(self.events) - self._next + len(self._later)


# --- what each kind does ------------------------------------------------------------------


def _partnership(event: ev.PartnershipUpgrade, model: BalanceModel, timeline: Timeline) -> None:
    model.raise_partnership(
        model.partner_ids.index(event.partner),
        LEVELS.index(event.level),
        reason=f"scheduled{event.tag()}",
    )


def _investment_cap(event: ev.InvestmentCapChange, model: BalanceModel, timeline: Timeline) -> None:
    changes = event.model_dump(include={"level", "basis", "enforcement", "leak"}, exclude_none=True)
    model.change_cap(changes)
    shown = ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in changes.items()
    )
    model.log(f"investment cap now: {shown}{event.tag()}")


def _red_line(event: ev.RedLineCrossing, model: BalanceModel, timeline: Timeline) -> None:
    neighbour = model.neighbour(event.neighbour)
    neighbour.cross_red_line(event.red_line)  # pressed this quarter, whatever its leverage
    model.log(
        f"Mongolia crosses {neighbour.name}'s red line: "
        f"{event.red_line.replace('_', ' ')}{event.tag()}"
    )


def _demand_shock(event: ev.DemandShock, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    c = model.commodity_names.index(event.commodity)
    model.scale_demand(i, c, event.factor)
    model.log(
        f"{model.partner_names[i]}'s demand for {event.commodity} x{event.factor:g}{event.tag()}"
    )
    if event.quarters is not None:

        def revert(m: BalanceModel) -> None:
            m.scale_demand(i, c, 1.0 / event.factor)
            m.log(f"{m.partner_names[i]}'s demand for {event.commodity} back to normal")

        timeline.later(event.quarters, revert)


def _transit_shock(event: ev.TransitShock, model: BalanceModel, timeline: Timeline) -> None:
    fees = {model.partner_ids.index(k): v for k, v in event.transit_fee.items()}
    model.add_transit_fees(fees)
    hit = [model.commodity_names.index(c) for c in event.commodities] or list(
        range(len(model.commodity_names))
    )
    model.shock_prices(hit, event.price_factor)
    parts = [f"transit fee via {model.partner_names[i]} {v:+.2f}" for i, v in fees.items()]
    if event.price_factor != 1.0:
        parts.append(f"export prices x{event.price_factor:g}")
    model.log(f"transit shock: {', '.join(parts) or 'no change'}{event.tag()}")
    if event.quarters is not None and fees:

        def revert(m: BalanceModel) -> None:
            m.add_transit_fees({i: -v for i, v in fees.items()})
            m.log("transit fees back to normal")

        timeline.later(event.quarters, revert)


def _credit_line(event: ev.CreditLine, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    model.add_debt_weight(i, event.debt_share)
    model.log(
        f"credit line from {model.partner_names[i]}: debt weight +{event.debt_share:g}{event.tag()}"
    )
    if event.refinery_year is None:
        return
    year, quarter = event.year_quarter
    delay = (event.refinery_year - year) * 4 - (quarter - 1)
    lender = model.partner_names[i]

    def on_line(m: BalanceModel) -> None:
        m.bring_refinery_on_line(event.refinery_substitution)
        m.log(
            f"the refinery financed by {lender} comes on line: "
            f"{m.settings.trade.imports.refinery_substitution:.0%} of fuel imports replaced"
        )

    if delay <= 0:  # on line the year the credit comes
        on_line(model)
    else:
        timeline.later(delay, on_line)


def _trade_deal(event: ev.TradeDeal, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    c = model.commodity_names.index(event.commodity)
    name = model.partner_names[i]
    if not event.passed:
        model.log(f"trade deal on {event.commodity} with {name} fails{event.tag()}")
        return
    model.scale_demand(i, c, event.demand_factor)
    model.log(
        f"trade deal on {event.commodity} with {name}: demand x{event.demand_factor:g}{event.tag()}"
    )


def _debt_call(event: ev.DebtCall, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    model.add_debt_weight(i, event.debt_share)
    model.log(
        f"{model.partner_names[i]} calls in its debt: weight +{event.debt_share:g}{event.tag()}"
    )


def _debt_settlement(event: ev.DebtSettlement, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    model.set_debt_weight(i, event.remaining_share)
    model.log(
        f"debt to {model.partner_names[i]} settled: weight now "
        f"{event.remaining_share:g}{event.tag()}"
    )


def _alignment(event: ev.AlignmentChange, model: BalanceModel, timeline: Timeline) -> None:
    model.change_alignment(event.level, event.trend_per_year)
    model.log(
        f"Sino-Russian alignment now {model.alignment:.2f}, trend "
        f"{model.settings.alignment.trend_per_year:+.3f}/year{event.tag()}"
    )


def _attention(event: ev.AttentionChange, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    model.set_attention(i, event.attention)
    model.log(f"{model.partner_names[i]}'s attention now {event.attention:.2f}{event.tag()}")


def _diplomacy(event: ev.DiplomacyChange, model: BalanceModel, timeline: Timeline) -> None:
    changes = event.model_dump(
        include={"strategy", "third_neighbour_engagement", "effort_per_year"}, exclude_none=True
    )
    model.change_diplomacy(changes)
    shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changes.items())
    model.log(f"diplomacy: {shown}{event.tag()}")


def _response(event: ev.ResponseChange, model: BalanceModel, timeline: Timeline) -> None:
    before = model.settings.pressure.response
    model.change_response(event.response)
    model.log(f"Mongolia's response to pressure now: {event.response}{event.tag()}")
    if event.quarters is not None:

        def revert(m: BalanceModel) -> None:
            m.change_response(before)
            m.log(f"Mongolia's response to pressure back to: {before}")

        timeline.later(event.quarters, revert)


def _mine_project(event: ev.MineProject, model: BalanceModel, timeline: Timeline) -> None:
    c = model.commodity_names.index(event.commodity)
    model.add_capacity(c, event.capacity_bn_usd)
    model.log(
        f"{event.commodity} capacity {event.capacity_bn_usd:+.2f} bn USD/year "
        f"(a mine project){event.tag()}"
    )


def _crossing(event: ev.CrossingChange, model: BalanceModel, timeline: Timeline) -> None:
    k = model.partner_ids.index(event.neighbour)
    before = float(model.crossing_capacity[k])
    factor = 1.0 if event.factor is None else event.factor
    model.change_crossing(k, factor, event.add_mt_per_year or 0.0)
    after = float(model.crossing_capacity[k])
    name = model.partner_names[k]
    model.log(f"border with {name}: capacity {before:.3g} -> {after:.3g} Mt/year{event.tag()}")
    if event.quarters is not None:

        def revert(m: BalanceModel) -> None:
            # Give back what this event took (or take back what it gave), keeping any
            # other change made to the border meanwhile (a railway opened during a closure).
            m.change_crossing(k, 1.0, before - after)
            m.log(f"border with {name} back to {float(m.crossing_capacity[k]):.3g} Mt/year")

        timeline.later(event.quarters, revert)


def _new_route(event: ev.NewRoute, model: BalanceModel, timeline: Timeline) -> None:
    via = model.partner_ids.index(event.via)
    partners = [model.partner_ids.index(p) for p in event.partners]
    model.open_route(
        via, partners, event.freight_usd_per_t, event.transport_cost, event.add_mt_per_year
    )
    names = ", ".join(model.partner_names[j] for j in partners)
    model.log(
        f"new route through {model.partner_names[via]} to {names}: freight "
        f"{event.freight_usd_per_t:g} USD/t, +{event.add_mt_per_year:g} Mt/year{event.tag()}"
    )


def _demand_growth(event: ev.DemandGrowth, model: BalanceModel, timeline: Timeline) -> None:
    i = model.partner_ids.index(event.partner)
    model.set_market_growth(i, event.growth_per_year)
    model.log(
        f"{model.partner_names[i]}'s import markets now grow "
        f"{event.growth_per_year:+.1%} a year{event.tag()}"
    )


# One entry per kind of event: a new kind is a schema class plus one function here.
APPLY: dict[type, Callable[[Any, BalanceModel, Timeline], None]] = {
    ev.PartnershipUpgrade: _partnership,
    ev.InvestmentCapChange: _investment_cap,
    ev.RedLineCrossing: _red_line,
    ev.DemandShock: _demand_shock,
    ev.TransitShock: _transit_shock,
    ev.CreditLine: _credit_line,
    ev.TradeDeal: _trade_deal,
    ev.DebtCall: _debt_call,
    ev.DebtSettlement: _debt_settlement,
    ev.AlignmentChange: _alignment,
    ev.AttentionChange: _attention,
    ev.DiplomacyChange: _diplomacy,
    ev.ResponseChange: _response,
    ev.MineProject: _mine_project,
    ev.CrossingChange: _crossing,
    ev.NewRoute: _new_route,
    ev.DemandGrowth: _demand_growth,
}
