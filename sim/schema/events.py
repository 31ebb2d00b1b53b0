"""Scheduled events: what the documents date, applied to the model at their quarter.

A scenario's ``[[events]]`` are validated here (one pydantic model per ``kind``,
a discriminated union) and turned into a :class:`Timeline` that the model
calls first thing in each step. Every kind changes the model's state (levels,
the cap, demand, transit fees, debt weights, alignment...), never just a label,
and logs what it did so the run's ``events.txt`` shows the history.

Events never mutate the scenario object: runs in one process share it, so a
changed setting is a copy held by the model.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, model_validator

from sim.schema import scenario as _scenario
from sim.schema.scenario import LEVELS, Fraction, Level, ScenarioError, Strict

if TYPE_CHECKING:
    from sim.model.model import BalanceModel

QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
Factor = Annotated[float, Field(gt=0.0, le=20.0)]
Quarters = Annotated[int, Field(ge=1, le=400)]


class EventBase(Strict):
    """Date and source shared by every kind: ``year = 2016`` (Q1) or ``at = "2016Q3"``."""

    year: Annotated[int, Field(ge=1900, le=2200)] | None = Field(
        None, description="calendar year the event happens (first quarter)"
    )
    at: str | None = Field(None, description="quarter the event happens, e.g. '2016Q3'")
    source: str = Field("", description="id of the documented figure or event (F1.., P1.., C)")

    @model_validator(mode="after")
    def _one_date(self):
        if (self.year is None) == (self.at is None):
            raise ValueError('exactly one date: year = 2016 or at = "2016Q3"')
        if self.at is not None and not QUARTER.match(self.at):
            raise ValueError(f'at = {self.at!r}: a quarter like "2016Q3"')
        return self

    @property
    def year_quarter(self) -> tuple[int, int]:
        if self.at is not None:
            match = QUARTER.match(self.at)
            return int(match.group(1)), int(match.group(2))
        return int(self.year), 1

    @property
    def date(self) -> str:
        year, quarter = self.year_quarter
        return f"{year}Q{quarter}"

    def step(self, start_year: int) -> int:
        """The model step (1 = first quarter of start_year) at which it applies."""
        year, quarter = self.year_quarter
        return (year - start_year) * 4 + quarter

    def tag(self) -> str:
        return f" [{self.source}]" if self.source else ""

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:  # pragma: no cover
        raise NotImplementedError


class PartnershipUpgrade(EventBase):
    """A partner moves to a new rung of the ladder (source C), whatever diplomacy did."""

    kind: Literal["partnership"]
    partner: str = Field(description="partner id, e.g. 'japan'")
    level: Level = Field(description="the new partnership level")

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i = model.partner_ids.index(self.partner)
        rung = LEVELS.index(self.level)
        model.max_level[i] = max(int(model.max_level[i]), rung)
        model.set_level(i, rung, reason=f"scheduled{self.tag()}")


class InvestmentCapChange(EventBase):
    """A new investment cap (F3: the 2010 concept's one third), or a change to how it binds."""

    kind: Literal["investment_cap"]
    level: Annotated[float, Field(gt=0.0, le=1.0)] | None = Field(
        None, description="largest share one origin may hold"
    )
    basis: Literal["stock", "inflow"] | None = Field(None, description="stock or inflow")
    enforcement: Literal["strict", "leaky", "none"] | None = Field(
        None, description="strict, leaky or none"
    )
    leak: Fraction | None = Field(None, description="fraction of the excess let through")

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        changes = self.model_dump(
            include={"level", "basis", "enforcement", "leak"}, exclude_none=True
        )
        model.cap = model.cap.model_copy(update=changes)
        shown = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in changes.items()
        )
        model.log(f"investment cap now: {shown}{self.tag()}")


class RedLineCrossing(EventBase):
    """Mongolia crosses a neighbour's red line (P1: the 2016 Dalai Lama visit, Tibet)."""

    kind: Literal["red_line"]
    neighbour: Literal["china", "russia"] = Field(description="the neighbour whose line it is")
    red_line: str = Field(description="one of that neighbour's red_lines, e.g. 'tibet'")

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        neighbour = model.partners[model.partner_ids.index(self.neighbour)]
        neighbour.forced_crossing = self.red_line  # pressed this quarter, whatever its leverage
        model.log(
            f"Mongolia crosses {neighbour.name}'s red line: "
            f"{self.red_line.replace('_', ' ')}{self.tag()}"
        )


class DemandShock(EventBase):
    """A partner's demand for one commodity is multiplied (F10: China's coal after 2017)."""

    kind: Literal["demand_shock"]
    partner: str = Field(description="partner id")
    commodity: str = Field(description="commodity id, e.g. 'coal'")
    factor: Factor = Field(description="multiplier on that demand (2 doubles it)")
    quarters: Quarters | None = Field(
        None, description="quarters until it reverts (omit: permanent)"
    )

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i, c = model.partner_ids.index(self.partner), model.commodity_names.index(self.commodity)
        scale_demand(model, i, c, self.factor)
        model.log(
            f"{model.partner_names[i]}'s demand for {self.commodity} x{self.factor:g}{self.tag()}"
        )
        if self.quarters is not None:
            timeline.later(
                self.quarters,
                lambda m: (
                    scale_demand(m, i, c, 1.0 / self.factor),
                    m.log(f"{m.partner_names[i]}'s demand for {self.commodity} back to normal"),
                ),
            )


class TransitShock(EventBase):
    """A war or border shock (F11, 2022): transit fees rise and export prices fall."""

    kind: Literal["transit_shock"]
    transit_fee: dict[str, Annotated[float, Field(ge=-0.5, le=0.5)]] = Field(
        default_factory=dict, description="added transit fee by neighbour (fraction of price)"
    )
    price_factor: Annotated[float, Field(gt=0.0, le=5.0)] = Field(
        1.0, description="multiplier on export prices; fades with the price persistence"
    )
    commodities: list[str] = Field(
        default_factory=list, description="commodities the price factor hits (empty: all)"
    )
    quarters: Quarters | None = Field(
        None, description="quarters until the fees revert (omit: permanent)"
    )

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        fees = {model.partner_ids.index(k): v for k, v in self.transit_fee.items()}
        add_transit_fees(model, fees, +1.0)
        hit = [model.commodity_names.index(c) for c in self.commodities] or list(
            range(len(model.commodity_names))
        )
        model.log_price[hit] += math.log(self.price_factor)
        parts = [f"transit fee via {model.partner_names[i]} {v:+.2f}" for i, v in fees.items()]
        if self.price_factor != 1.0:
            parts.append(f"export prices x{self.price_factor:g}")
        model.log(f"transit shock: {', '.join(parts) or 'no change'}{self.tag()}")
        if self.quarters is not None and fees:
            timeline.later(
                self.quarters,
                lambda m: (add_transit_fees(m, fees, -1.0), m.log("transit fees back to normal")),
            )


class CreditLine(EventBase):
    """A partner lends (F7: India's 1.2 bn USD line, 2019); a refinery may come on line later."""

    kind: Literal["credit_line"]
    partner: str = Field(description="the lender's partner id")
    debt_share: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="weight added to the lender in Mongolia's external debt"
    )
    refinery_year: Annotated[int, Field(ge=1900, le=2200)] | None = Field(
        None, description="year the financed refinery comes on line (omit: none)"
    )
    refinery_substitution: Fraction = Field(
        0.0, description="share of fuel imports the refinery replaces (F7: 0.75)"
    )

    @model_validator(mode="after")
    def _refinery(self):
        if self.refinery_substitution > 0 and self.refinery_year is None:
            raise ValueError("refinery_substitution needs refinery_year")
        if self.refinery_year is not None and self.refinery_year < self.year_quarter[0]:
            raise ValueError("refinery_year before the credit line itself")
        return self

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i = model.partner_ids.index(self.partner)
        model.debt_weight[i] += self.debt_share
        model.log(
            f"credit line from {model.partner_names[i]}: debt weight "
            f"+{self.debt_share:g}{self.tag()}"
        )
        if self.refinery_year is not None:
            delay = (self.refinery_year - self.year_quarter[0]) * 4 - (self.year_quarter[1] - 1)

            def on_line(m: BalanceModel) -> None:
                refinery_on_line(m, self.refinery_substitution, m.partner_names[i])

            if delay <= 0:  # on line the year the credit comes
                on_line(model)
            else:
                timeline.later(delay, on_line)


class TradeDeal(EventBase):
    """A trade deal for one commodity (F12: duty-free cashmere to the US, which failed)."""

    kind: Literal["trade_deal"]
    partner: str = Field(description="partner id")
    commodity: str = Field(description="commodity id, e.g. 'cashmere'")
    demand_factor: Factor = Field(
        description="multiplier on the partner's demand for it once duty-free"
    )
    passed: bool = Field(True, description="false: the deal fails and nothing changes (F12)")

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i, c = model.partner_ids.index(self.partner), model.commodity_names.index(self.commodity)
        name = model.partner_names[i]
        if not self.passed:
            model.log(f"trade deal on {self.commodity} with {name} fails{self.tag()}")
            return
        scale_demand(model, i, c, self.demand_factor)
        model.log(
            f"trade deal on {self.commodity} with {name}: demand "
            f"x{self.demand_factor:g}{self.tag()}"
        )


class DebtCall(EventBase):
    """A creditor demands repayment (F9: Russia after 1991): its weight in the debt rises."""

    kind: Literal["debt_call"]
    partner: str = Field(description="the creditor's partner id")
    debt_share: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="weight added to the creditor in Mongolia's external debt"
    )

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i = model.partner_ids.index(self.partner)
        model.debt_weight[i] += self.debt_share
        model.log(
            f"{model.partner_names[i]} calls in its debt: weight +{self.debt_share:g}{self.tag()}"
        )


class DebtSettlement(EventBase):
    """The debt is settled (F9: 2004): the creditor's weight falls to what remains."""

    kind: Literal["debt_settlement"]
    partner: str = Field(description="the creditor's partner id")
    remaining_share: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="the creditor's weight in the external debt after settlement"
    )

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i = model.partner_ids.index(self.partner)
        model.debt_weight[i] = self.remaining_share
        model.log(
            f"debt to {model.partner_names[i]} settled: weight now "
            f"{self.remaining_share:g}{self.tag()}"
        )


class AlignmentChange(EventBase):
    """Russia and China move closer or apart (P2): alignment level and/or its trend."""

    kind: Literal["alignment"]
    level: Fraction | None = Field(None, description="new Sino-Russian alignment (0..1)")
    trend_per_year: Annotated[float, Field(ge=-0.2, le=0.2)] | None = Field(
        None, description="new yearly change of the alignment"
    )

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        if self.level is not None:
            model.alignment = self.level
        if self.trend_per_year is not None:
            cfg = model.config.alignment.model_copy(update={"trend_per_year": self.trend_per_year})
            model.config = model.config.model_copy(update={"alignment": cfg})
        model.log(
            f"Sino-Russian alignment now {model.alignment:.2f}, trend "
            f"{model.config.alignment.trend_per_year:+.3f}/year{self.tag()}"
        )


class AttentionChange(EventBase):
    """A third neighbour pays more (or less) attention: a visit, an action plan (P5)."""

    kind: Literal["attention"]
    partner: str = Field(description="partner id")
    attention: Fraction = Field(description="its new attention to Mongolia (0..1)")

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        i = model.partner_ids.index(self.partner)
        model.attention[i] = self.attention
        model.log(f"{model.partner_names[i]}'s attention now {self.attention:.2f}{self.tag()}")


class DiplomacyChange(EventBase):
    """A new policy concept (1994, 2011): strategy and third-neighbour engagement change."""

    kind: Literal["diplomacy"]
    strategy: Literal["balance", "third_neighbour", "lean_china", "lean_russia"] | None = None
    third_neighbour_engagement: Annotated[float, Field(ge=0.0, le=5.0)] | None = None
    effort_per_year: Annotated[float, Field(ge=0.0)] | None = None

    def apply(self, model: BalanceModel, timeline: Timeline) -> None:
        changes = self.model_dump(
            include={"strategy", "third_neighbour_engagement", "effort_per_year"}, exclude_none=True
        )
        model.setup_diplomacy(model.diplomacy_cfg.model_copy(update=changes))
        model.mongolia.strategy = model.diplomacy_cfg.strategy
        shown = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in changes.items())
        model.log(f"diplomacy: {shown}{self.tag()}")


EVENT_KINDS: tuple[type[EventBase], ...] = (
    PartnershipUpgrade,
    InvestmentCapChange,
    RedLineCrossing,
    DemandShock,
    TransitShock,
    CreditLine,
    TradeDeal,
    DebtCall,
    DebtSettlement,
    AlignmentChange,
    AttentionChange,
    DiplomacyChange,
)
KIND_NAMES = {cls.model_fields["kind"].annotation.__args__[0]: cls for cls in EVENT_KINDS}
Event = Annotated[Union[tuple(EVENT_KINDS)], Field(discriminator="kind")]  # noqa: UP007


# --- helpers the events share -----------------------------------------------------------


def scale_demand(model: BalanceModel, partner: int, commodity: int, factor: float) -> None:
    """Demand is owned by the model; a copy keeps other runs' arrays untouched."""
    model.demand = model.demand.copy()
    model.demand[partner, commodity] *= factor


def add_transit_fees(model: BalanceModel, fees: dict[int, float], sign: float) -> None:
    model.transit_fee = model.transit_fee.copy()
    for i, fee in fees.items():
        model.transit_fee[i] = min(max(model.transit_fee[i] + sign * fee, 0.0), 1.0)


def refinery_on_line(model: BalanceModel, substitution: float, lender: str) -> None:
    """F7: domestic refining replaces a share of fuel imports (raises the effective value).

    Fuel imports shrink, and so does the energy term of each neighbour's exposure:
    a supplier's share of imports matters in proportion to how much fuel is imported.
    """
    imports = model.trade_cfg.imports
    before = imports.refinery_substitution
    share = max(before, substitution)
    model.trade_cfg = model.trade_cfg.model_copy(
        update={"imports": imports.model_copy(update={"refinery_substitution": share})}
    )
    weights = model.pressure_cfg.exposure
    energy = weights.energy * (1.0 - share) / max(1.0 - before, 1e-9)
    model.pressure_cfg = model.pressure_cfg.model_copy(
        update={"exposure": weights.model_copy(update={"energy": energy})}
    )
    model.log(
        f"the refinery financed by {lender} comes on line: {share:.0%} of fuel imports replaced"
    )


# --- the timeline -----------------------------------------------------------------------


class Timeline:
    """Events in date order (file order within a quarter), plus their scheduled follow-ups."""

    def __init__(self, events: list[EventBase], start_year: int) -> None:
        self.events = sorted(events, key=lambda e: e.step(start_year))
        self._steps = [e.step(start_year) for e in self.events]
        self._next = 0
        self._later: list[tuple[int, int, Callable[[Any], Any]]] = []
        self._count = 0
        self._now = 0

    def later(self, quarters: int, action: Callable[[Any], Any]) -> None:
        """Run ``action(model)`` ``quarters`` steps from now (0: next step)."""
        self._count += 1
        heapq.heappush(self._later, (self._now + max(quarters, 1), self._count, action))

    def apply(self, model: BalanceModel) -> None:
        """Apply everything due at the model's current step (call first in ``step``)."""
        self._now = step = model.steps
        while self._later and self._later[0][0] <= step:
            heapq.heappop(self._later)[2](model)
        while self._next < len(self.events) and self._steps[self._next] <= step:
            event = self.events[self._next]
            self._next += 1
            event.apply(model, self)

    @property
    def pending(self) -> int:
        return len(self.events) - self._next + len(self._later)


# --- validation beyond one event ---------------------------------------------------------


def check_events(config: Any, path: Any) -> None:
    """Cross-references: partners, commodities, red lines exist; dates inside the run."""
    partners, goods = config.partners, config.trade.commodities
    for n, event in enumerate(config.events):
        where = f"events.{n}"
        if event.step(config.start_year) < 1:
            raise ScenarioError(
                path,
                f"{where}.{'at' if event.at else 'year'}",
                f"found {event.date}",
                f"a date from {config.start_year}Q1 on (the run's start_year)",
            )
        for key in ("partner", "neighbour"):
            pid = getattr(event, key, None)
            if pid is not None and pid not in partners:
                raise ScenarioError(
                    path,
                    f"{where}.{key}",
                    f"unknown partner {pid!r}{_close(pid, partners)}",
                    f"one of: {', '.join(partners)}",
                )
        listed = [getattr(event, "commodity", None), *getattr(event, "commodities", [])]
        for good in filter(None, listed):
            if good not in goods:
                raise ScenarioError(
                    path,
                    f"{where}.commodity",
                    f"unknown commodity {good!r}{_close(good, goods)}",
                    f"one of: {', '.join(goods)}",
                )
        if isinstance(event, RedLineCrossing):
            lines = partners[event.neighbour].red_lines
            if event.red_line not in lines:
                raise ScenarioError(
                    path,
                    f"{where}.red_line",
                    f"found {event.red_line!r}{_close(event.red_line, lines)}",
                    f"one of {event.neighbour}'s red lines: {', '.join(lines)}",
                )
        if isinstance(event, TransitShock):
            for pid in event.transit_fee:
                if partners.get(pid) is None or partners[pid].group != "neighbour":
                    raise ScenarioError(
                        path,
                        f"{where}.transit_fee.{pid}",
                        f"found {pid!r}",
                        "a neighbour: china or russia",
                    )


def _close(word: str, options) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def explain_error(
    err: dict, loc: tuple[str, ...], source: str, more: str, errors: list[dict] = ()
) -> ScenarioError:
    """Pydantic's report on ``events.N...`` as file, event index, key, found, expected.

    A misspelt key shows up twice (the required key missing, the typo unknown);
    the unknown one, with its suggestion, is the useful message.
    """
    kinds = ", ".join(KIND_NAMES)
    if err["type"] == "missing":
        for other in errors:
            there = tuple(str(part) for part in other["loc"])
            if other["type"] == "extra_forbidden" and there[:3] == loc[:3]:
                err, loc = other, there
                break
    if len(loc) < 2:
        return ScenarioError(
            source,
            "events",
            "found " + type(err.get("input")).__name__,
            f"a list of [[events]] tables{more}",
        )
    where = f"events.{loc[1]}"
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        found = err.get("input", {})
        tag = found.get("kind") if isinstance(found, dict) else None
        shown = (
            f"unknown kind {tag!r}{_close(str(tag), KIND_NAMES)}" if tag is not None else "no kind"
        )
        return ScenarioError(source, f"{where}.kind", shown, f"one of: {kinds}{more}")
    if err["type"] == "model_type" or len(loc) < 3:
        return ScenarioError(
            source,
            where,
            "found " + type(err.get("input")).__name__,
            f"a table with a kind and a date{more}",
        )
    cls = KIND_NAMES.get(loc[2])
    rest = loc[3:]
    key = ".".join((where, *rest)) if rest else where
    if err["type"] == "extra_forbidden" and cls is not None:
        known = list(cls.model_fields)
        return ScenarioError(
            source,
            key,
            f"unknown key {rest[-1]!r} for kind {loc[2]!r}{_close(rest[-1], known)}",
            f"one of: {', '.join(known)}{more}",
        )
    if err["type"] == "missing":
        return ScenarioError(
            source, key, "missing", f"a value for this required key of kind {loc[2]!r}{more}"
        )
    info = cls.model_fields.get(rest[0]) if cls is not None and rest else None
    about = f" ({info.description})" if info is not None and info.description else ""
    found = err.get("input")
    shown = f"found {found!r}" if not isinstance(found, dict) else "found a table"
    expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return ScenarioError(source, key, shown, f"{expected}{about}{more}")


# The schema in sim.schema.scenario refers to ``Event``; hand it over and finish the model.
_scenario.Event = Event
_scenario.Scenario.model_rebuild(force=True)

__all__ = [
    "EVENT_KINDS",
    "Event",
    "KIND_NAMES",
    "Timeline",
    "check_events",
    "explain_error",
    *[cls.__name__ for cls in EVENT_KINDS],
]
