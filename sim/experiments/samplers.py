"""The sampler registry: the one place that names samplers and says what each one does.

Each entry declares how its settings (the ``[sampler]`` table) are checked, where it
samples (``levels``: the full factorial of each parameter's levels; ``unit``: points in
the unit cube, mapped to each parameter's range, levels or distribution afterwards), how
many points it gives, how its results are analysed (one indices table) and which figures
it makes. Adding a sampler is one new entry in ``SAMPLERS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.experiments import indices
from sim.experiments.indices import CONF_LEVEL, Bars, SweepData, salib_problem
from sim.schema.sweep import Sampler

# A problem with the [sampler] table: (key, found, expected).
Problem = tuple[str, str, str]


@dataclass(frozen=True)
class SamplerKind:
    """One sampler: its checks, its design, its size, its analysis and its figures."""

    name: str
    help: str
    space: Literal["levels", "unit"]
    check: Callable[[Sampler], Problem | None]
    # (settings, parameter names, seed) -> points in the unit cube (rows); unit samplers only
    unit_sample: Callable[[Sampler, list[str], int], np.ndarray] | None
    # (settings, number of parameters, number of levels of each) -> points
    count: Callable[[Sampler, int, list[int]], int]
    analyse: Callable[[SweepData], pd.DataFrame]
    index_file: str  # the CSV file of the indices table
    rank_by: str  # column of the indices table that ranks parameters
    rank_label: str
    figures: Callable[[SweepData, pd.DataFrame], list[tuple[str, Figure]]]
    every_point: bool = False  # the analysis needs a finished design
    # points per trajectory (given the number of parameters) of a design made of
    # independent trajectories: those holding a failed point may be left out
    trajectory_points: Callable[[int], int] | None = None

    @property
    def levelled(self) -> bool:
        return self.space == "levels"


# --- checks ----------------------------------------------------------------------------


def _no_samples(settings: Sampler) -> Problem | None:
    if settings.samples is not None:
        return (
            "sampler.samples",
            f"found {settings.samples}",
            "no samples for a grid (its size is the product of the parameters' levels)",
        )
    return None


def _needs_samples(settings: Sampler) -> Problem | None:
    if settings.samples is None:
        return (
            "sampler.samples",
            "missing",
            f"a number of samples for the {settings.method} sampler",
        )
    return None


def _power_of_two(settings: Sampler) -> Problem | None:
    n = settings.samples
    if n is not None and n & (n - 1):
        lower = 1 << (n.bit_length() - 1)
        return (
            "sampler.samples",
            f"found {n}",
            f"a power of 2 for Sobol sequences, e.g. {lower} or {lower * 2}",
        )
    return _needs_samples(settings)


def _trajectories(settings: Sampler) -> Problem | None:
    if settings.samples is not None and settings.samples < 2:
        return ("sampler.samples", f"found {settings.samples}", "at least 2 Morris trajectories")
    return _needs_samples(settings)


# --- designs ---------------------------------------------------------------------------


def _random(settings: Sampler, keys: list[str], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((settings.samples or 0, len(keys)))


def _lhs(settings: Sampler, keys: list[str], seed: int) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=len(keys), seed=np.random.default_rng(seed)).random(
        settings.samples or 0
    )


def _halton(settings: Sampler, keys: list[str], seed: int) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.Halton(d=len(keys), scramble=True, seed=np.random.default_rng(seed)).random(
        settings.samples or 0
    )


def _saltelli(settings: Sampler, keys: list[str], seed: int) -> np.ndarray:
    from SALib.sample import sobol

    return sobol.sample(
        salib_problem(keys), settings.samples, calc_second_order=settings.second_order, seed=seed
    )


def _morris(settings: Sampler, keys: list[str], seed: int) -> np.ndarray:
    from SALib.sample import morris

    return morris.sample(
        salib_problem(keys), settings.samples, num_levels=settings.levels, seed=seed
    )


def _samples(settings: Sampler, d: int, levels: list[int]) -> int:
    return settings.samples or 0


SOBOL_BARS = Bars(
    prefix="sobol",
    first=("S1", "S1_conf", "first order S1"),
    second=("ST", "ST_conf", "total ST"),
    ylabel=f"Sobol index ({int(CONF_LEVEL * 100)}% CI)",
)
MORRIS_BARS = Bars(
    prefix="morris",
    first=("mu_star", "mu_star_conf", "mu* (mean |elementary effect|)"),
    second=("sigma", None, "sigma (interactions, non-linearity)"),
    ylabel="effect per unit of the parameter's range",
)


def _main_effects_sampler(**design: Any) -> SamplerKind:
    """A sampler analysed by main effects with a noise floor (grid, random, lhs, halton):
    only how it samples differs."""
    return SamplerKind(
        **design,
        analyse=indices.main_effects,
        index_file="main_effects.csv",
        rank_by="main_effect",
        rank_label="main effect",
        figures=indices.effect_figures,
    )


SAMPLERS: dict[str, SamplerKind] = {
    kind.name: kind
    for kind in (
        _main_effects_sampler(
            name="grid",
            help="full factorial of each parameter's levels",
            space="levels",
            check=_no_samples,
            unit_sample=None,
            count=lambda s, d, levels: math.prod(levels),
        ),
        _main_effects_sampler(
            name="random",
            help="independent uniform draws in the unit cube",
            space="unit",
            check=_needs_samples,
            unit_sample=_random,
            count=_samples,
        ),
        _main_effects_sampler(
            name="lhs",
            help="Latin hypercube: each parameter's range cut in N strata, each used once",
            space="unit",
            check=_needs_samples,
            unit_sample=_lhs,
            count=_samples,
        ),
        _main_effects_sampler(
            name="halton",
            help="scrambled Halton sequence: low-discrepancy points that fill the cube evenly",
            space="unit",
            check=_needs_samples,
            unit_sample=_halton,
            count=_samples,
        ),
        SamplerKind(
            name="sobol",
            help="Saltelli design for Sobol indices (SALib)",
            space="unit",
            check=_power_of_two,
            unit_sample=_saltelli,
            count=lambda s, d, levels: (s.samples or 0) * (2 * d + 2 if s.second_order else d + 2),
            analyse=indices.sobol_indices,
            index_file="sobol_indices.csv",
            rank_by="ST",
            rank_label="S_T",
            figures=partial(indices.index_figures, SOBOL_BARS),
            every_point=True,
        ),
        SamplerKind(
            name="morris",
            help="elementary effects along Morris trajectories (SALib)",
            space="unit",
            check=_trajectories,
            unit_sample=_morris,
            count=lambda s, d, levels: (s.samples or 0) * (d + 1),
            analyse=indices.morris_indices,
            index_file="morris_indices.csv",
            rank_by="mu_star",
            rank_label="mu*",
            figures=partial(indices.index_figures, MORRIS_BARS),
            every_point=True,
            trajectory_points=lambda d: d + 1,
        ),
    )
}


def sampler(name: str) -> SamplerKind:
    """The registry entry of a sampler (KeyError for an unknown name)."""
    return SAMPLERS[name]
