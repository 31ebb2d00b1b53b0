"""The arithmetic over partners: trade allocation and investment screening.

Pure numpy functions on arrays the model owns, so the model's step stays
readable and these stay fast and testable on their own. Equations are in
docs/ODD.md (section "Submodels").
"""

from __future__ import annotations

import math

import numpy as np

MIN_NETBACK = 0.05  # a route never pays less than 5% of the price back


def trade_costs(transport: np.ndarray, freight_per_t: np.ndarray, bulk: np.ndarray) -> np.ndarray:
    """Freight and handling on each commodity to each partner, as a fraction of its price
    (partners x commodities): the iceberg trade cost of Limao and Venables (2001). Light
    goods pay ``transport``; bulk goods also pay freight by weight, ``freight_per_t``
    (USD/t) times ``bulk`` (t per 1000 USD)."""
    return transport[:, None] + np.outer(freight_per_t, bulk) / 1000.0


def netback(
    costs: np.ndarray,
    routed: np.ndarray,
    crossing_of: np.ndarray,
    transit_fee: np.ndarray,
    surcharge: np.ndarray,
    import_fee: np.ndarray,
) -> np.ndarray:
    """Share of the price Mongolia keeps on a sale of each commodity to each partner
    (partners x commodities): the price less ``costs`` (``trade_costs``), less the transit
    fee and any surcharge of the neighbour an export crosses to reach a partner beyond it
    (``routed[j]``: exports to j pass through neighbour ``crossing_of[j]``), less the
    partner's own import fee. Never below ``MIN_NETBACK``."""
    crossing = np.where(routed, transit_fee[crossing_of] + surcharge[crossing_of], 0.0)
    return np.maximum(1.0 - costs - (crossing + import_fee)[:, None], MIN_NETBACK)


def export_pull(
    market: np.ndarray,
    demand_scale: np.ndarray,
    relation: np.ndarray,
    back: np.ndarray,
    relation_elasticity: float,
    cost_elasticity: float,
) -> np.ndarray:
    """What each partner would buy of each commodity if nothing limited supply (bn USD/year
    at reference prices, per unit of market size): a gravity equation (Anderson and van
    Wincoop 2003) in which the market's size, the relationship and the netback price
    (trade costs) decide, and Mongolia's share of a market at zero cost scales it."""
    pull = relation**relation_elasticity
    return market * demand_scale * back**cost_elasticity * pull[:, None]


def export_flows(
    wanted: np.ndarray,
    capacity: np.ndarray,
    bulk: np.ndarray,
    crosses: np.ndarray,
    border_capacity: list[float],
    densest_first: list[int],
) -> np.ndarray:
    """Export volumes (partners x commodities, bn USD/year at reference prices) when
    demand meets two limits: what the mines can produce (each commodity's ``capacity``,
    shared out in proportion to demand), then what each border can carry
    (``border_capacity``, Mt/year; ``crosses[k, j]`` is 1 when exports to j cross
    border k). At a full border the goods worth most per tonne cross first
    (``densest_first``: commodities by ascending bulk): the bulkiest take what is left.
    Two borders and a handful of goods: plain Python beats numpy calls there.
    """
    flows = wanted * np.minimum(capacity / np.maximum(wanted.sum(axis=0), 1e-12), 1.0)
    tonnes = (crosses @ (flows * bulk)).tolist()  # per border, per commodity (Mt/year)
    if all(math.fsum(row) <= room for row, room in zip(tonnes, border_capacity, strict=True)):
        return flows
    passed = []
    for row, room in zip(tonnes, border_capacity, strict=True):
        rates = [1.0] * len(row)
        for c in densest_first:
            if row[c] > room:
                rates[c] = room / row[c]
                room = 0.0
            else:
                room -= row[c]
        passed.append(rates)
    # Partners behind no border keep their flows; the others take their border's rates.
    behind_none = 1.0 - crosses.sum(axis=0)
    return flows * (crosses.T @ np.array(passed) + behind_none[:, None])


def scarcity_rent(
    wanted: np.ndarray, capacity: np.ndarray, cost_elasticity: float, ceiling: float
) -> np.ndarray:
    """The price Mongolia's goods clear at, relative to the reference price, by commodity.

    Demand for a differentiated (Armington) good falls with its price at the same
    elasticity as with any other trade cost: wanted ~ price ** -cost_elasticity. When
    partners want more than the mines can supply, they bid the price up until they want
    what there is: (wanted / capacity) ** (1 / cost_elasticity). So a demand shock, a deal,
    or a buyer's fee moves what a full mine earns, not only who buys it. At most
    ``ceiling`` times the reference price; 1 when supply is not short.
    """
    short = wanted.sum(axis=0) / np.maximum(capacity, 1e-12)
    return np.minimum(np.maximum(short, 1.0) ** (1.0 / max(cost_elasticity, 1e-9)), ceiling)


def fuel_allocation(
    weight: np.ndarray,
    markup: np.ndarray,
    elasticity: float,
    capacity: np.ndarray,
    need: float,
) -> np.ndarray:
    """Fuel bought from each supplier (bn USD at normal prices, per period of ``need`` and
    ``capacity``: the model passes quarters): shares by the
    supplier's weight and its price (a mark-up lowers its share with ``elasticity``),
    then any supplier past what it can deliver is held at ``capacity`` and the rest is
    shared among the others (water-filling). When every supplier is full the buyer
    gets less than it needs."""
    pull = weight * (1.0 + markup) ** (-elasticity)
    amount = np.zeros_like(pull)
    free = pull > 0
    left = need
    for _ in range(pull.size):
        share = np.where(free, pull, 0.0)
        whole = share.sum()
        if whole <= 0 or left <= 0:
            break
        offer = left * share / whole
        full = free & (offer >= capacity - amount)
        if not full.any():
            return amount + offer
        left -= float((capacity[full] - amount[full]).sum())
        amount[full] = capacity[full]
        free &= ~full
    return amount


def screen_investment(
    stock: np.ndarray, offers: np.ndarray, cap: float, enforcement: str, leak: float
) -> tuple[np.ndarray, np.ndarray]:
    """Accepted inflows and forced divestment under the investment cap (F3).

    ``stock`` is what each origin already holds (zeros when the cap is measured on
    inflows alone). Strict: after the quarter no origin's share of stock plus inflow
    exceeds ``cap``; an origin already above it sells down the excess (returned as
    ``divested``). Leaky: the strict amount plus ``leak`` times the rest of the offer;
    nothing is sold.
    """
    if enforcement == "none" or cap >= 1.0:
        return offers.copy(), np.zeros_like(offers)
    held = stock
    position = cap_positions(held + offers, cap)
    if position is None:  # everyone fits under the cap
        return offers.copy(), np.zeros_like(offers)
    accepted = np.minimum(np.maximum(position - held, 0.0), offers)
    if enforcement == "leaky":
        return accepted + leak * (offers - accepted), np.zeros_like(offers)
    return accepted, np.maximum(held - position, 0.0)


def screen_redirected(
    stock: np.ndarray, offers: np.ndarray, cap: float, enforcement: str, leak: float
) -> np.ndarray:
    """What the cap lets in of offers redirected to origins below it: the accepted part of
    ``screen_investment``, the same numbers, with a shortcut. When no recipient holds more
    than ``cap`` times what all recipients together hold, the water-filling stops before
    any recipient (every holder ahead of the first recipient is cut, and the first
    recipient fits under ``cap`` times the recipients' total, which is at most ``cap``
    times the rest over the room): every offer is accepted whole."""
    recipients = offers > 0.0
    wanted = (stock + offers)[recipients]
    if wanted.size == 0 or wanted.max() <= cap * wanted.sum():
        return offers.copy()
    return screen_investment(stock, offers, cap, enforcement, leak)[0]


def cap_positions(wanted: np.ndarray, cap: float) -> np.ndarray | None:
    """Largest holdings <= ``wanted`` with every share of the total <= ``cap``
    (None when ``wanted`` already obeys the cap).

    Water-filling: the k largest holders are cut to ``cap`` times the total,
    where the total is what the others hold divided by (1 - k * cap); k is the
    smallest count for which the next holder already fits under the cap. Plain
    Python over a dozen partners beats a dozen numpy calls here.
    """
    values = wanted.tolist()
    total = math.fsum(values)
    if max(values) <= cap * total:
        return None
    order = sorted(range(len(values)), key=values.__getitem__, reverse=True)
    ranked = [values[i] for i in order]
    for k, value in enumerate(ranked):
        rest = math.fsum(ranked[k:])  # exact: no residue of subtractions
        room = 1.0 - cap * k
        if room <= 0.0:
            # Equal holdings at the k-th largest keep every share at 1/k <= cap.
            return np.minimum(wanted, ranked[k - 1])
        if value <= cap * rest / room:
            position = wanted.copy()
            position[order[:k]] = cap * rest / room
            return position
    room = 1.0 - cap * len(values)
    if room <= 0.0:
        return np.minimum(wanted, ranked[-1])
    return np.zeros_like(wanted)  # too few origins: only an empty stock obeys the cap


def shares(values: np.ndarray) -> np.ndarray:
    whole = total(values)
    return values / whole if whole > 0 else np.zeros_like(values)


def total(values: np.ndarray) -> float:
    """Exact sum of a short vector (a dozen partners): faster than ndarray.sum there."""
    return math.fsum(values.tolist())
