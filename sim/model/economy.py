"""The arithmetic over partners: trade allocation and investment screening.

Pure numpy functions on arrays the model owns, so the model's step stays
readable and these stay fast and testable on their own. Equations are in
docs/ODD.md (section "Submodels").
"""

from __future__ import annotations

import math

import numpy as np

MIN_NETBACK = 0.05  # a route never pays less than 5% of the price back


def netback(
    transport: np.ndarray,
    route: np.ndarray,
    transit_fee: np.ndarray,
    surcharge: np.ndarray,
    import_fee: np.ndarray,
) -> np.ndarray:
    """Share of the border price Mongolia keeps on a sale to each partner.

    ``route[j]`` is the index of the neighbour exports to j cross, or -1 when
    j borders Mongolia. ``transit_fee`` and ``surcharge`` are indexed by partner
    (zero for partners that are not neighbours).
    """
    crossing = np.where(route >= 0, transit_fee[route] + surcharge[route], 0.0)
    return np.maximum(1.0 - transport - crossing - import_fee, MIN_NETBACK)


def export_allocation(
    demand: np.ndarray,
    relation: np.ndarray,
    back: np.ndarray,
    relation_elasticity: float,
    cost_elasticity: float,
) -> np.ndarray:
    """Partner shares of each commodity (partners x commodities, columns sum to 1).

    A CES/gravity share: demand times relationship**beta times netback**sigma.
    """
    pull = relation**relation_elasticity * back**cost_elasticity
    weight = demand * pull[:, None]
    return weight / weight.sum(axis=0)


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
