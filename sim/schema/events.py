"""Scheduled events: what the documents date, as validated tables.

A scenario's ``[[events]]`` are validated here (one pydantic model per ``kind``,
a discriminated union). This module only describes events; what each kind does to
a running model is in ``sim.model.timeline``, which applies them at their quarter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from sim.schema.base import ScenarioError, Strict, close_match
from sim.schema.fields import Fraction, Level

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

    @field_validator("at")
    @classmethod
    def _a_quarter(cls, value: str | None) -> str | None:
        """A bad quarter is an error of the key ``at`` (file, event, key, found, expected)."""
        if value is not None and not QUARTER.match(value):
            raise ValueError('a quarter like "2016Q3": the year, Q, then 1 to 4')
        return value

    @model_validator(mode="after")
    def _one_date(self):
        if (self.year is None) == (self.at is None):
            raise ValueError('exactly one date: year = 2016 or at = "2016Q3"')
        return self

    @property
    def year_quarter(self) -> tuple[int, int]:
        if self.at is not None:
            match = QUARTER.match(self.at)
            assert match is not None  # checked by _one_date
            return int(match.group(1)), int(match.group(2))
        assert self.year is not None  # exactly one of year and at is set
        return self.year, 1

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


class PartnershipUpgrade(EventBase):
    """A partner moves to a new rung of the ladder (source C), whatever diplomacy did."""

    kind: Literal["partnership"]
    partner: str = Field(description="partner id, e.g. 'japan'")
    level: Level = Field(description="the new partnership level")


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


class RedLineCrossing(EventBase):
    """Mongolia crosses a neighbour's red line (P1: the 2016 Dalai Lama visit, Tibet)."""

    kind: Literal["red_line"]
    neighbour: Literal["china", "russia"] = Field(description="the neighbour whose line it is")
    red_line: str = Field(description="one of that neighbour's red_lines, e.g. 'tibet'")


class DemandShock(EventBase):
    """A partner's demand for one commodity is multiplied (F10: China's coal after 2017)."""

    kind: Literal["demand_shock"]
    partner: str = Field(description="partner id")
    commodity: str = Field(description="commodity id, e.g. 'coal'")
    factor: Factor = Field(description="multiplier on that demand (2 doubles it)")
    quarters: Quarters | None = Field(
        None, description="quarters until it reverts (omit: permanent)"
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


class TradeDeal(EventBase):
    """A trade deal for one commodity (F12: duty-free cashmere to the US, which failed)."""

    kind: Literal["trade_deal"]
    partner: str = Field(description="partner id")
    commodity: str = Field(description="commodity id, e.g. 'cashmere'")
    demand_factor: Factor = Field(
        description="multiplier on the partner's demand for it once duty-free"
    )
    passed: bool = Field(True, description="false: the deal fails and nothing changes (F12)")


class DebtCall(EventBase):
    """A creditor demands repayment (F9: Russia after 1991): its weight in the debt rises."""

    kind: Literal["debt_call"]
    partner: str = Field(description="the creditor's partner id")
    debt_share: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="weight added to the creditor in Mongolia's external debt"
    )


class DebtSettlement(EventBase):
    """The debt is settled (F9: 2004): the creditor's weight falls to what remains."""

    kind: Literal["debt_settlement"]
    partner: str = Field(description="the creditor's partner id")
    remaining_share: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        description="the creditor's weight in the external debt after settlement"
    )


class AlignmentChange(EventBase):
    """Russia and China move closer or apart (P2): alignment level and/or its trend."""

    kind: Literal["alignment"]
    level: Fraction | None = Field(None, description="new Sino-Russian alignment (0..1)")
    trend_per_year: Annotated[float, Field(ge=-0.2, le=0.2)] | None = Field(
        None, description="new yearly change of the alignment"
    )


class AttentionChange(EventBase):
    """A third neighbour pays more (or less) attention: a visit, an action plan (P5)."""

    kind: Literal["attention"]
    partner: str = Field(description="partner id")
    attention: Fraction = Field(description="its new attention to Mongolia (0..1)")


class DiplomacyChange(EventBase):
    """A new policy concept (1994, 2011): strategy and third-neighbour engagement change."""

    kind: Literal["diplomacy"]
    strategy: Literal["balance", "third_neighbour", "lean_china", "lean_russia"] | None = None
    third_neighbour_engagement: Annotated[float, Field(ge=0.0, le=5.0)] | None = None
    effort_per_year: Annotated[float, Field(ge=0.0, le=100.0)] | None = None


class ResponseChange(EventBase):
    """Mongolia's policy when pressed changes for a while (a what-if: hold out in 2016)."""

    kind: Literal["response"]
    response: Literal["bargain", "concede", "resist"] = Field(
        description="the policy from this quarter on (P1)"
    )
    quarters: Quarters | None = Field(
        None, description="quarters until the previous policy returns (omit: permanent)"
    )


class MineProject(EventBase):
    """A large mine comes on line (Oyu Tolgoi 2013, Tavan Tolgoi): export capacity grows."""

    kind: Literal["mine_project"]
    commodity: str = Field(description="commodity id, e.g. 'copper'")
    capacity_bn_usd: Annotated[float, Field(ge=-100.0, le=100.0)] = Field(
        description="capacity added (bn USD/year at reference prices; negative: a closure)"
    )


class CrossingChange(EventBase):
    """The border into a neighbour opens wider (a new railway) or closes (Covid 2020-22)."""

    kind: Literal["crossing"]
    neighbour: Literal["china", "russia"] = Field(description="the neighbour's border")
    factor: Annotated[float, Field(ge=0.0, le=20.0)] | None = Field(
        None, description="multiplier on its capacity (0 closes it)"
    )
    add_mt_per_year: Annotated[float, Field(ge=-1e4, le=1e4)] | None = Field(
        None, description="capacity added (Mt/year), after the factor"
    )
    quarters: Quarters | None = Field(
        None, description="quarters until the change reverts (omit: permanent)"
    )

    @model_validator(mode="after")
    def _some_change(self):
        if self.factor is None and self.add_mt_per_year is None:
            raise ValueError("a factor, an add_mt_per_year, or both")
        return self


class NewRoute(EventBase):
    """A new route to partners' markets (rail to a port through a neighbour): the
    partners' exports cross that neighbour, at a new freight cost, with new capacity."""

    kind: Literal["new_route"]
    via: Literal["china", "russia"] = Field(description="the neighbour the route crosses")
    partners: list[str] = Field(min_length=1, description="partners whose exports take it")
    freight_usd_per_t: Annotated[float, Field(ge=0.0, le=1000.0)] = Field(
        description="freight per tonne to those markets by the new route (USD/t)"
    )
    transport_cost: Fraction | None = Field(
        None, description="new freight and handling on light goods (omit: unchanged)"
    )
    add_mt_per_year: Annotated[float, Field(ge=0.0, le=1e4)] = Field(
        0.0, description="capacity the route adds to that border (Mt/year)"
    )


class DemandGrowth(EventBase):
    """A partner's import markets start growing at a new rate (China's boom, its slowdown)."""

    kind: Literal["demand_growth"]
    partner: str = Field(description="partner id")
    growth_per_year: Annotated[float, Field(ge=-0.5, le=0.5)] = Field(
        description="yearly growth of its import markets from now on (1/year)"
    )


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
    ResponseChange,
    MineProject,
    CrossingChange,
    NewRoute,
    DemandGrowth,
)
KIND_NAMES = {get_args(cls.model_fields["kind"].annotation)[0]: cls for cls in EVENT_KINDS}
# The same kinds written out, so that a type checker sees the union (a test keeps both equal).
Event = Annotated[
    PartnershipUpgrade
    | InvestmentCapChange
    | RedLineCrossing
    | DemandShock
    | TransitShock
    | CreditLine
    | TradeDeal
    | DebtCall
    | DebtSettlement
    | AlignmentChange
    | AttentionChange
    | DiplomacyChange
    | ResponseChange
    | MineProject
    | CrossingChange
    | NewRoute
    | DemandGrowth,
    Field(discriminator="kind"),
]


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
                    f"unknown partner {pid!r}{close_match(pid, partners)}",
                    f"one of: {', '.join(partners)}",
                )
        listed = [getattr(event, "commodity", None), *getattr(event, "commodities", [])]
        for good in filter(None, listed):
            if good not in goods:
                raise ScenarioError(
                    path,
                    f"{where}.commodity",
                    f"unknown commodity {good!r}{close_match(good, goods)}",
                    f"one of: {', '.join(goods)}",
                )
        if isinstance(event, RedLineCrossing):
            lines = partners[event.neighbour].red_lines
            if event.red_line not in lines:
                raise ScenarioError(
                    path,
                    f"{where}.red_line",
                    f"found {event.red_line!r}{close_match(event.red_line, lines)}",
                    f"one of {event.neighbour}'s red lines: {', '.join(lines)}",
                )
        if isinstance(event, AttentionChange) and partners[event.partner].group != "third":
            raise ScenarioError(
                path,
                f"{where}.partner",
                f"found {event.partner!r} (group {partners[event.partner].group!r})",
                "a third neighbour: only their attention moves (P5)",
            )
        if isinstance(event, NewRoute):
            for n_p, pid in enumerate(event.partners):
                if pid not in partners or partners[pid].group == "neighbour":
                    raise ScenarioError(
                        path,
                        f"{where}.partners.{n_p}",
                        f"found {pid!r}{close_match(pid, partners)}",
                        "a partner that is not a neighbour (neighbours are reached directly)",
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


def explain_error(
    err: Mapping[str, Any],
    loc: tuple[str, ...],
    source: str,
    more: str,
    errors: Sequence[Mapping[str, Any]] = (),
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
            f"unknown kind {tag!r}{close_match(str(tag), KIND_NAMES)}"
            if tag is not None
            else "no kind"
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
            f"unknown key {rest[-1]!r} for kind {loc[2]!r}{close_match(rest[-1], known)}",
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
    if isinstance(found, dict) and not rest:  # a rule about the whole event: its date
        dates = [f"{k} = {found[k]!r}" for k in ("year", "at") if k in found]
        shown = f"found {' and '.join(dates)}" if dates else "found no date"
    expected = err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")
    return ScenarioError(source, key, shown, f"{expected}{about}{more}")


__all__ = [
    "EVENT_KINDS",
    "Event",
    "KIND_NAMES",
    "check_events",
    "explain_error",
    *[cls.__name__ for cls in EVENT_KINDS],
]
