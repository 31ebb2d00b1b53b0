"""Scenario files: the schema every parameter lives in, and the loader.

A scenario is a TOML file validated by the pydantic models below. Loading
resolves ``extends`` (deep merge, parent first), applies ``--set`` overrides and
validates the result; any problem becomes one :class:`ScenarioError` that names
the file, the key path, what was found and what was expected.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import tomli_w
from pydantic import BaseModel, Field, ValidationError

from sim.schema.base import (
    ScenarioError,
    Strict,
    close_match,
    explain,
    read_toml,
    set_path,
    unwrap,
)
from sim.schema.events import Event, InvestmentCapChange, check_events, explain_error
from sim.schema.fields import LEVELS, BnUsd, Elasticity, Fraction, Level, SafeName, Weight
from sim.schema.inputs import DemandIndex, PriceIndex

__all__ = [
    "LEVELS",
    "Scenario",
    "ScenarioError",
    "Strict",
    "load_scenario",
    "parse_override",
    "validate",
]


# --- investment -------------------------------------------------------------------------


class Cap(Strict):
    level: float = Field(
        1 / 3, gt=0.0, le=1.0, description="largest share one origin may hold (fraction; F3: 1/3)"
    )
    basis: Literal["stock", "inflow"] = Field(
        "stock", description="what the cap is measured on: the FDI stock or each quarter's inflows"
    )
    enforcement: Literal["strict", "leaky", "none"] = Field(
        "leaky", description="strict: never exceeded; leaky: part of the excess slips through"
    )
    leak: Fraction = Field(
        0.6, description="fraction of the excess over the cap let through (leaky enforcement)"
    )
    fire_sale_discount: Fraction = Field(
        0.3,
        description="discount below book value at which a strict cap's forced sales go "
        "(fraction of the stock sold)",
    )


class Investment(Strict):
    cap: Cap = Cap()
    redirect_share: Fraction = Field(
        0.3, description="fraction of rejected FDI offered again by partners under the cap"
    )
    depreciation_per_year: Fraction = Field(
        0.06, description="share of the FDI stock written off each year (1/year)"
    )
    offer_noise: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        0.25, description="log-normal spread of quarterly FDI offers (sd of log)"
    )
    mining_fdi_share: Fraction = Field(
        0.7, description="share of FDI inflows that builds mining capacity"
    )
    capacity_per_bn_usd: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        0.3,
        description="mining export capacity built per bn USD invested "
        "(bn USD/year of output at reference prices)",
    )
    capacity_depletion_per_year: Fraction = Field(
        0.03, description="share of mining capacity lost each year to depletion (1/year)"
    )


# --- trade ------------------------------------------------------------------------------


class Commodity(Strict):
    capacity_bn_usd: BnUsd = Field(
        description="what the mines (or herds) can export a year at reference prices (bn USD/yr)"
    )
    mining: bool = Field(description="whether the commodity counts as mining (F4)")
    mt_per_bn_usd: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.0, description="bulk: million tonnes per bn USD at reference prices (t per 1000 USD)"
    )
    demand_scale: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.1,
        description="Mongolian sales per unit of a partner's import market at zero trade "
        "cost (the Armington preference weight of the gravity equation)",
    )
    price_volatility: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.05, description="quarterly sd of the log price shock"
    )
    price_persistence: Fraction = Field(0.9, description="AR(1) persistence of the log price")
    price_index: PriceIndex | None = Field(
        None,
        description="observed price path the price shocks move around (data/inputs/"
        "<name>_price_usd.csv, real, 2018 = 1); none: around the 2018 price",
    )


class Imports(Strict):
    fuel_bn_usd: BnUsd = Field(1.2, description="fuel and electricity imports (bn USD/year)")
    goods_bn_usd: BnUsd = Field(4.5, description="other imports (bn USD/year)")
    refinery_substitution: Fraction = Field(
        0.0, description="share of fuel imports replaced by domestic refining (F7)"
    )
    fuel_price_elasticity: Elasticity = Field(
        4.0, description="elasticity of a supplier's share of fuel imports to its price"
    )
    fuel_price_index: PriceIndex | None = Field(
        None,
        description="observed price path that values fuel imports (data/inputs/"
        "<name>_price_usd.csv, real, 2018 = 1); none: the 2018 price",
    )
    shortage_cost: Annotated[float, Field(ge=1.0, le=10.0)] = Field(
        2.0,
        description="what a unit of fuel no supplier can deliver costs the economy, in units "
        "of its price",
    )


class Crossing(Strict):
    capacity_mt_per_year: Annotated[float, Field(ge=0.0, le=1e4)] = Field(
        description="tonnes the border crossings and rail into this neighbour carry (Mt/year)"
    )


class Trade(Strict):
    cost_elasticity: Elasticity = Field(
        2.75, description="elasticity of a partner's share to its netback price (Limao-Venables)"
    )
    relation_elasticity: Elasticity = Field(
        1.0, description="elasticity of a partner's share to the relationship"
    )
    transit_fee: dict[str, Fraction] = Field(
        default_factory=dict,
        description="fee each neighbour charges on exports crossing it (fraction of price)",
    )
    commodities: dict[str, Commodity] = Field(description="Mongolia's export commodities")
    imports: Imports = Imports()
    rent_ceiling: Annotated[float, Field(ge=1.0, le=10.0)] = Field(
        3.0,
        description="highest price a commodity in short supply clears at, relative to the "
        "reference price",
    )
    crossings: dict[str, Crossing] = Field(
        default_factory=dict,
        description="border capacity into each neighbour; every export to or through it "
        "crosses there (F8)",
    )


# --- pressure and response --------------------------------------------------------------


class ExposureWeights(Strict):
    exports: Fraction = Field(0.3, description="weight of the neighbour's export share")
    transit: Fraction = Field(0.2, description="weight of the share of exports crossing it")
    energy: Fraction = Field(0.2, description="weight of its share of fuel and power imports")
    fdi: Fraction = Field(0.2, description="weight of its share of the FDI stock")
    debt: Fraction = Field(0.1, description="weight of its share of external debt")


class Pressure(Strict):
    response: Literal["bargain", "concede", "resist"] = Field(
        "bargain",
        description="Mongolia's policy when pressed: weigh holding out against conceding, "
        "or always concede, or never (P1)",
    )
    concession_price: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.05,
        description="what conceding costs Mongolia in autonomy, as a fraction of its trend "
        "annual export revenue",
    )
    reputation_weight: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        1.0,
        description="extra price of conceding per unit of Mongolia's record of holding out "
        "(a reputation it would throw away)",
    )
    decision_noise: Annotated[float, Field(gt=0.0, le=10.0)] = Field(
        0.5,
        description="spread of Mongolia's concede-or-hold choice (logit scale, relative to "
        "the price of conceding)",
    )
    resolve_noise: Annotated[float, Field(ge=0.0, le=3.0)] = Field(
        0.5, description="sd of the log of the coercer's private stake in an episode"
    )
    belief_update: Fraction = Field(
        0.25,
        description="share of the coercer's expectation that Mongolia will give in lost "
        "each quarter it holds out",
    )
    horizon_quarters: Annotated[float, Field(ge=1.0, le=40.0)] = Field(
        4.0, description="quarters of its own cost a coercer weighs against its stake"
    )
    concession_hazard_factor: Fraction = Field(
        0.2, description="the hazard of a red line conceded over, as a share of its usual one"
    )
    concession_years: Annotated[float, Field(ge=0.0, le=50.0)] = Field(
        5.0, description="years a concession keeps that red line's hazard low (P1: the promise)"
    )
    third_party_support: Fraction = Field(
        0.5,
        description="share of the cost of holding out that political backing from the third "
        "neighbours offsets at full western alignment",
    )
    concession_autonomy_cost: Fraction = Field(
        0.08, description="autonomy lost by a concession (index points)"
    )
    autonomy_recovery_per_year: Fraction = Field(
        0.25, description="share of lost autonomy recovered each year"
    )
    western_alignment_tolerance: Fraction = Field(
        0.45, description="western alignment above which neighbours see a red line crossed (P3)"
    )
    alignment_hazard_per_year: Fraction = Field(
        0.5,
        description="yearly chance a neighbour reacts while western alignment is "
        "above its tolerance",
    )
    exposure: ExposureWeights = ExposureWeights()


class Alignment(Strict):
    level: Fraction = Field(0.4, description="Sino-Russian alignment, 0 rivals to 1 allied (P2)")
    trend_per_year: Annotated[float, Field(ge=-0.2, le=0.2)] = Field(
        0.0, description="yearly change of the alignment (1/year)"
    )
    response_to_west: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.1,
        description="extra yearly alignment per unit of Mongolia's western political "
        "alignment above the neighbours' tolerance (P3)",
    )


# --- diplomacy --------------------------------------------------------------------------


class Diplomacy(Strict):
    strategy: Literal["balance", "third_neighbour", "lean_china", "lean_russia"] = Field(
        "balance", description="how Mongolia splits its diplomatic effort"
    )
    effort_per_year: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        4.0, description="diplomatic effort (units/year)"
    )
    upgrade_threshold: Annotated[float, Field(ge=0.0, le=1e9)] = Field(
        6.0, description="engagement needed per rung to move up the ladder (effort units)"
    )
    third_neighbour_engagement: Annotated[float, Field(ge=0.0, le=5.0)] = Field(
        1.0, description="multiplier on third neighbours' attention and investment (P5)"
    )
    attention_decay_per_year: Fraction = Field(
        0.15, description="share of a third neighbour's attention lost each year (P5)"
    )
    attention_response: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.5,
        description="economic attention gained per unit of effort received, times the "
        "partner's economic priority",
    )
    political_response: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.5,
        description="political and security tie gained per unit of effort received, times "
        "the partner's political priority",
    )
    political_decay_per_year: Fraction = Field(
        0.15, description="share of a political tie lost each year without effort"
    )
    level_trade_bonus: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.08, description="relationship gain per rung of the ladder (trade)"
    )
    level_investment_bonus: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        0.12, description="investment appetite gain per rung of the ladder"
    )


# --- partners ---------------------------------------------------------------------------


class RedLine(Strict):
    hazard_per_year: Fraction = Field(
        0.0, description="yearly chance that Mongolia or events cross it"
    )
    stake_bn_usd: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        0.5, description="what Mongolia's concession over it is worth to the neighbour (bn USD)"
    )
    alignment_trigger: bool = Field(
        False, description="crossed when western alignment exceeds the tolerance (P3)"
    )


class Tools(Strict):
    import_fee: Fraction = Field(0.0, description="fee on the neighbour's imports from Mongolia")
    transit_cost: Fraction = Field(0.0, description="extra transit fee on exports crossing it")
    suspend_meetings: bool = Field(False, description="suspend high-level meetings")
    border_restriction: Fraction = Field(
        0.0,
        description="share of its border's capacity closed to Mongolia's exports while it "
        "presses (S62: a single crossing imposed)",
    )
    energy_supply: Fraction = Field(0.0, description="price rise on the fuel and power it sells")
    debt_call: Fraction = Field(
        0.0, description="one-off repayment demanded (fraction of annual export revenue)"
    )


class Partner(Strict):
    name: str = Field(description="display name")
    group: Literal["neighbour", "third", "other"] = Field(
        "third", description="neighbour (Russia, China), third neighbour, or rest of world"
    )
    route: str = Field(
        "direct",
        description="'direct', or the neighbour whose territory exports to this partner cross",
    )
    transport_cost: Fraction = Field(
        0.1, description="freight and handling on light goods (fraction of price)"
    )
    freight_usd_per_t: Annotated[float, Field(ge=0.0, le=1000.0)] = Field(
        0.0, description="freight per tonne to this market; bulk goods pay it by weight (USD/t)"
    )
    demand: dict[str, BnUsd] = Field(
        default_factory=dict,
        description="import market by commodity, in the start year (bn USD/year at "
        "reference prices)",
    )
    demand_growth_per_year: Annotated[float, Field(ge=-0.5, le=0.5)] = Field(
        0.0, description="yearly growth of this partner's import markets (1/year)"
    )
    demand_index: DemandIndex | None = Field(
        None,
        description="observed series its import markets grow with instead, year by year "
        "(data/inputs, real); none: demand_growth_per_year",
    )
    fuel_supply: Weight = Field(0.0, description="weight as a source of fuel and power")
    fuel_capacity_bn_usd: BnUsd | None = Field(
        None, description="most fuel it can deliver a year (bn USD/year; omit: no limit)"
    )
    goods_supply: Weight = Field(0.0, description="weight as a source of other imports")
    fdi_appetite_bn_usd: BnUsd = Field(0.0, description="FDI offered (bn USD/year)")
    fdi_stock_bn_usd: BnUsd = Field(0.0, description="initial FDI stock (bn USD)")
    debt_share: Weight = Field(0.0, description="weight in Mongolia's external debt")
    relation: Annotated[float, Field(gt=0.0, le=2.0)] = Field(
        1.0, description="base relationship (1 = neutral)"
    )
    level: Level = Field("initial", description="partnership level (source C)")
    max_level: Level = Field("strategic", description="highest level diplomacy alone can reach")
    attention: Fraction = Field(1.0, description="attention paid to Mongolia (third only, P5)")
    economic_priority: Fraction = Field(
        0.5,
        description="what the partner wants from the tie: 1 economy only, 0 politics and "
        "security only (source C, Table 1)",
    )
    red_lines: dict[str, RedLine] = Field(default_factory=dict, description="neighbours only")
    tools: Tools = Tools()
    import_need: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        1.0,
        description="what a bn USD of imports from Mongolia it forgoes costs it (neighbours; "
        "1 = its value)",
    )
    standing_cost_bn_usd: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.02, description="cost to its standing of each quarter it presses (bn USD/quarter)"
    )


# --- the whole file ---------------------------------------------------------------------


class Scenario(Strict):
    name: SafeName = Field(
        "scenario",
        description="short name, used for the results folder",
    )
    description: str = Field("", description="one line: the question this scenario asks")
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = Field(42, description="master random seed")
    start_year: Annotated[int, Field(ge=1900, le=2100)] = Field(
        2010, description="calendar year of step 0"
    )
    steps: Annotated[int, Field(ge=1, le=2000)] = Field(140, description="quarters to simulate")
    calibration_year: Annotated[int, Field(ge=1900, le=2200)] = Field(
        2018, description="year the calibration targets refer to"
    )
    investment: Investment = Investment()
    trade: Trade
    pressure: Pressure = Pressure()
    alignment: Alignment = Alignment()
    diplomacy: Diplomacy = Diplomacy()
    partners: dict[str, Partner] = Field(description="every trading and investing partner")
    events: list[Event] = Field(
        default_factory=list,
        description="scheduled events, [[events]] tables (sim/events.py); "
        "a file's events come after those it extends",
    )

    def to_toml(self) -> str:
        """The fully resolved scenario, runnable on its own."""
        return tomli_w.dumps(self.model_dump(mode="json", exclude_none=True))


# --- loading ----------------------------------------------------------------------------


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, inherit, override and validate a scenario file."""
    path = Path(path)
    data, origin = _read_chain(path, ())
    for text in overrides:
        key, value = parse_override(text)
        set_path(data, key, value)
        origin[tuple(key.split("."))] = f"--set {text}"
    return validate(data, path, origin)


def validate(
    data: dict, path: str | Path = "<scenario>", origin: dict[tuple, str] | None = None
) -> Scenario:
    """Validate a merged dict; errors name the file that set the offending key."""
    origin = origin or {}
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, path, origin, data) from None
    try:
        _check_references(scenario, path)
    except ScenarioError as exc:  # name the file that set the offending key
        source = _source_of(tuple(exc.key.split(".")), origin, str(path))
        key = _own_event_key(exc.key, source, origin)
        raise ScenarioError(source, key, exc.found, exc.expected) from None
    return scenario


def _own_event_key(key: str, source: str, origin: dict[tuple, str]) -> str:
    """``events.N...`` counts the events of every file in the ``extends`` chain; a student
    counts the events of the file the message names. The events of one file are one block
    of the merged list, so its own index is N less the index of the block's first."""
    parts = key.split(".")
    if len(parts) < 2 or parts[0] != "events" or not parts[1].isdigit():
        return key
    mine = [
        int(k[1])
        for k, src in origin.items()
        if len(k) == 2 and k[0] == "events" and k[1].isdigit() and src == source
    ]
    if not mine:
        return key
    return ".".join(["events", str(int(parts[1]) - min(mine)), *parts[2:]])


def parse_override(text: str) -> tuple[str, Any]:
    """``key.path=value``; the value is read as TOML, or as a bare string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ScenarioError(
            "--set", text, f"found {text!r}", "KEY.PATH=VALUE, e.g. trade.transit_fee.china=0.12"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def _read_chain(path: Path, chain: tuple[Path, ...]) -> tuple[dict, dict[tuple, str]]:
    """Read ``path`` and everything it extends; return merged data and key origins."""
    resolved = path.resolve()
    if resolved in chain:
        names = " -> ".join(str(p) for p in (*chain, resolved))
        raise ScenarioError(path, "extends", f"a cycle: {names}", "a chain without cycles")
    data = read_toml(path)
    parent = data.pop("extends", None)
    base: dict[str, Any]
    origin: dict[tuple, str]
    if parent is None:
        base, origin = {}, {}
    else:
        if not isinstance(parent, str):
            raise ScenarioError(
                path, "extends", f"found {parent!r}", "a path to another scenario file, as a string"
            )
        parent_path = path.parent / parent
        if not parent_path.exists():
            raise ScenarioError(
                path,
                "extends",
                f"{parent!r} does not exist (looked for {parent_path})",
                "a path relative to this file",
            )
        base, origin = _read_chain(parent_path, (*chain, resolved))
    _merge(base, data, origin, str(path), ())
    return base, origin


def _merge(base: dict, new: dict, origin: dict, source: str, prefix: tuple) -> None:
    """Deep-merge ``new`` into ``base``: tables merge, anything else replaces."""
    for key, value in new.items():
        here = (*prefix, key)
        if here == ("events",) and isinstance(value, list) and isinstance(base.get(key), list):
            for n in range(len(value)):  # events add to the parent's timeline
                origin[("events", str(len(base[key]) + n))] = source
            base[key] = base[key] + value
            continue
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, source, here)
        else:
            base[key] = value
            for known in [k for k in origin if k[: len(here)] == here]:
                del origin[known]
            origin[here] = source
            if isinstance(value, dict):
                _mark(value, origin, source, here)


def _mark(table: dict, origin: dict, source: str, prefix: tuple) -> None:
    for key, value in table.items():
        origin[(*prefix, key)] = source
        if isinstance(value, dict):
            _mark(value, origin, source, (*prefix, key))


def _source_of(loc: tuple, origin: dict[tuple, str], default: str) -> str:
    """The file (or --set) that wrote the key at ``loc`` or, failing that, its table."""
    below = {src for key, src in origin.items() if key[: len(loc)] == loc}
    if len(below) == 1:
        return below.pop()
    for n in range(len(loc), 0, -1):
        if loc[:n] in origin:
            return origin[loc[:n]]
    return default


def _misspelt_partner(
    errors: list, data: dict, origin: dict[tuple, str], path: str
) -> ScenarioError | None:
    """``[partners.japn]`` meant to change Japan is a new partner with no name: say that
    it is new and which partner it is close to, not "partners.japn.name: missing"."""
    err = errors[0]
    loc = tuple(str(part) for part in err["loc"])
    if err["type"] != "missing" or len(loc) != 3 or loc[0] != "partners":
        return None
    partners = data.get("partners", {})
    others = [pid for pid in partners if pid != loc[1]]
    hint = close_match(loc[1], others)
    if not hint:
        return None
    source = _source_of(loc[:2], origin, path)
    return ScenarioError(
        source,
        f"partners.{loc[1]}",
        f"unknown partner '{loc[1]}'{hint}",
        "the id of an existing partner (to change it), or a new partner's full table "
        f"(its '{loc[2]}' is missing); partners: {', '.join(others)}",
    )


def _explain(
    exc: ValidationError, path: str | Path, origin: dict[tuple, str], data: dict
) -> ScenarioError:
    """One clear message about the first problem, naming the file that set the key."""
    errors = exc.errors(include_url=False)
    loc = tuple(str(part) for part in errors[0]["loc"])
    if loc[:1] == ("events",):
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        source = _source_of(loc, origin, str(path))
        found = explain_error(errors[0], loc, source, more, errors)
        key = _own_event_key(found.key, found.file, origin)
        return ScenarioError(found.file, key, found.found, found.expected)
    new_partner = _misspelt_partner(errors, data, origin, str(path))
    if new_partner is not None:
        return new_partner
    return explain(
        exc, path, Scenario, source_of=lambda where: _source_of(where, origin, str(path))
    )


def describe_schema() -> list[tuple[str, str, str]]:
    """Every key path with its type and description, for docs and --help."""
    rows: list[tuple[str, str, str]] = []

    def visit(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            ann = unwrap(info.annotation)
            path = f"{prefix}{name}"
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                visit(ann, path + ".")
            elif (
                get_origin(ann) is dict
                and isinstance(unwrap(get_args(ann)[1]), type)
                and issubclass(unwrap(get_args(ann)[1]), BaseModel)
            ):
                visit(unwrap(get_args(ann)[1]), path + ".<name>.")
            else:
                rows.append((path, typing_name(ann), info.description or ""))

    visit(Scenario, "")
    return rows


def typing_name(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return " | ".join(repr(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))


def _check_references(scenario: Scenario, path: str | Path) -> None:
    """Cross-field rules pydantic cannot see: routes, commodities, neighbours."""
    partners = scenario.partners
    neighbours = [pid for pid, p in partners.items() if p.group == "neighbour"]
    if sorted(neighbours) != ["china", "russia"]:
        raise ScenarioError(
            path,
            "partners",
            f"neighbours {sorted(neighbours)}",
            "exactly two partners with group = 'neighbour': china and russia "
            "(F8: Mongolia lies between them)",
        )
    for fee_key in scenario.trade.transit_fee:
        if fee_key not in neighbours:
            raise ScenarioError(
                path,
                f"trade.transit_fee.{fee_key}",
                f"unknown neighbour '{fee_key}'",
                f"one of: {', '.join(neighbours)}",
            )
    for key in scenario.trade.crossings:
        if key not in neighbours:
            raise ScenarioError(
                path,
                f"trade.crossings.{key}",
                f"unknown neighbour '{key}'",
                f"one of: {', '.join(neighbours)}",
            )
    commodities = scenario.trade.commodities
    if not commodities:
        raise ScenarioError(path, "trade.commodities", "no commodities", "at least one")
    for pid, partner in partners.items():
        routes = ["direct", *neighbours]
        if partner.route not in routes:
            raise ScenarioError(
                path,
                f"partners.{pid}.route",
                f"found {partner.route!r}",
                f"one of: {', '.join(routes)}",
            )
        if partner.group == "neighbour" and partner.route != "direct":
            raise ScenarioError(
                path,
                f"partners.{pid}.route",
                f"found {partner.route!r}",
                "'direct' for a neighbour (it borders Mongolia)",
            )
        for good in partner.demand:
            if good not in commodities:
                hint = close_match(good, commodities)
                raise ScenarioError(
                    path,
                    f"partners.{pid}.demand.{good}",
                    f"unknown commodity '{good}'{hint}",
                    f"one of: {', '.join(commodities)}",
                )
        if LEVELS.index(partner.level) > LEVELS.index(partner.max_level):
            raise ScenarioError(
                path,
                f"partners.{pid}.level",
                f"found {partner.level!r}",
                f"at most max_level ({partner.max_level!r})",
            )
    if sum(p.fdi_stock_bn_usd for p in partners.values()) <= 0:
        raise ScenarioError(
            path,
            "partners.*.fdi_stock_bn_usd",
            "a total FDI stock of 0",
            "a positive total (shares of a zero stock are undefined)",
        )
    for good in commodities:
        if sum(p.demand.get(good, 0.0) for p in partners.values()) <= 0:
            raise ScenarioError(
                path,
                f"trade.commodities.{good}",
                "no partner demands it",
                "demand for every commodity from at least one partner",
            )
    check_events(scenario, path)
    _check_cap_feasible(scenario, path)


def _check_cap_feasible(scenario: Scenario, path: str | Path) -> None:
    """A strict cap below 1 / (number of investing origins) cannot hold for any stock:
    each origin would be sold down towards nothing in one quarter. Checked for the
    scenario's cap and for the cap after each scheduled change."""
    origins = sum(
        1 for p in scenario.partners.values() if p.fdi_appetite_bn_usd > 0 or p.fdi_stock_bn_usd > 0
    )
    cap = scenario.investment.cap
    states = [("investment.cap.level", cap.level, cap.enforcement)]
    level, enforcement = cap.level, cap.enforcement
    for n, event in enumerate(scenario.events):
        if isinstance(event, InvestmentCapChange):
            level = event.level if event.level is not None else level
            enforcement = event.enforcement if event.enforcement is not None else enforcement
            states.append((f"events.{n}.level", level, enforcement))
    for key, level, enforcement in states:
        if enforcement == "strict" and level * origins < 1.0 - 1e-9:
            raise ScenarioError(
                path,
                key,
                f"a strict cap of {level:g} with {origins} investing origins",
                f"a level of at least 1/{origins} = {1 / origins:.3f}: below it no stock obeys "
                "the cap and every origin would have to sell down its whole stock at once "
                "(or use enforcement 'leaky' or 'none')",
            )


__all__ = [
    "LEVELS",
    "Scenario",
    "ScenarioError",
    "describe_schema",
    "load_scenario",
    "parse_override",
    "validate",
]

import sim.schema.events  # noqa: E402,F401  registers the event kinds used by Scenario.events
