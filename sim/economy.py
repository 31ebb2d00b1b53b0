"""The arithmetic over partners: trade allocation and investment screening.

Pure numpy functions on arrays the model owns, so the model's step stays
readable and these stay fast and testable on their own. Equations are in
docs/ODD.md (section "Submodels").
"""

from __future__ import annotations

import numpy as np

MIN_NETBACK = 0.05  # a route never pays less than 5% of the price back


def netback(transport: np.ndarray, route: np.ndarray, transit_fee: np.ndarray,
            surcharge: np.ndarray, import_fee: np.ndarray) -> np.ndarray:
    """Share of the border price Mongolia keeps on a sale to each partner.

    ``route[j]`` is the index of the neighbour exports to j cross, or -1 when
    j borders Mongolia. ``transit_fee`` and ``surcharge`` are indexed by partner
    (zero for partners that are not neighbours).
    """
    crossing = np.where(route >= 0, transit_fee[route] + surcharge[route], 0.0)
    return np.maximum(1.0 - transport - crossing - import_fee, MIN_NETBACK)


def export_allocation(demand: np.ndarray, relation: np.ndarray, back: np.ndarray,
                      relation_elasticity: float, cost_elasticity: float) -> np.ndarray:
    """Partner shares of each commodity (partners x commodities, columns sum to 1).

    A CES/gravity share: demand times relationship**beta times netback**sigma.
    """
    pull = relation ** relation_elasticity * back ** cost_elasticity
    weight = demand * pull[:, None]
    return weight / weight.sum(axis=0)


def screen_investment(stock: np.ndarray, offers: np.ndarray, cap: float, basis: str,
                      enforcement: str, leak: float) -> tuple[np.ndarray, np.ndarray]:
    """Accepted inflows and forced divestment under the investment cap (F3).

    Strict: after the quarter no origin's share of the cap's basis (the stock,
    or this quarter's inflows) exceeds ``cap``; an origin already above it on a
    stock basis sells down the excess (returned as ``divested``). Leaky: the
    strict amount plus ``leak`` times the rest of the offer; nothing is sold.
    """
    zero = np.zeros_like(offers)
    if enforcement == "none" or cap >= 1.0:
        return offers.copy(), zero
    held = stock if basis == "stock" else zero
    position = _cap_positions(held + offers, cap)
    accepted = np.clip(position - held, 0.0, offers)
    divested = np.maximum(held - position, 0.0)
    if enforcement == "leaky":
        return accepted + leak * (offers - accepted), zero
    return accepted, divested


def _cap_positions(wanted: np.ndarray, cap: float) -> np.ndarray:
    """Largest holdings <= ``wanted`` with every share of the total <= ``cap``.

    Capped origins end exactly at ``cap`` times the total; the total is what
    the uncapped origins hold divided by (1 - cap * number capped).
    """
    capped = np.zeros(wanted.shape, dtype=bool)
    for _ in range(wanted.size + 1):
        free = wanted[~capped].sum()
        room = 1.0 - cap * capped.sum()
        if room <= 0.0:
            # So many capped origins that cap * count >= 1: holding all of them
            # (and the rest) at the smallest capped amount keeps every share <= cap.
            level = wanted[capped].min()
            return np.minimum(wanted, level)
        total = free / room
        over = (~capped) & (wanted > cap * total)
        if not over.any():
            return np.where(capped, cap * total, wanted)
        capped |= over
    raise AssertionError("unreachable: each pass caps at least one more origin")


def herfindahl(shares: np.ndarray) -> float:
    """Sum of squared shares: 1 for one partner, 1/n for n equal ones."""
    return float(shares @ shares)


def shares(values: np.ndarray) -> np.ndarray:
    total = values.sum()
    return values / total if total > 0 else np.zeros_like(values)
