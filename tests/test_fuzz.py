"""Fuzzing the whole scenario schema (issue 11).

Every generated scenario either fails validation with one clear line naming the file
and the key, or runs with finite outputs and the model's invariants. Values are drawn
for any leaf of the baseline (every table, partner and commodity), in range and out
of it, of the right type and of the wrong one.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.metrics import model_frame
from sim.model.model import BalanceModel
from sim.schema.base import ScenarioError
from sim.schema.scenario import validate

FILE = "fuzz.toml"
SHARES = ("export_share", "import_share", "fuel_share", "fdi_share")


def leaves(data, prefix=()) -> list[tuple[tuple[str, ...], object]]:
    """Every leaf key path of the resolved scenario (events and display text left out)."""
    found = []
    for key, value in data.items():
        path = (*prefix, key)
        if isinstance(value, dict):
            found += leaves(value, path)
        elif key not in ("events", "name", "description"):
            found.append((path, value))
    return found


@pytest.fixture(scope="module")
def base(baseline):
    return baseline.model_dump(mode="json")


def value_for(example):
    """A value near the kind of the original: sensible, extreme, or of the wrong type."""
    floats = st.one_of(
        st.floats(-0.5, 2.5),
        st.floats(0.0, 1.0),
        st.sampled_from([0.0, 1.0, 1e-12, 1e3, 1e200, -1.0, math.inf, -math.inf, math.nan]),
    )
    wrong = st.sampled_from(["0.5", "yes", True, None, [1.0], {"x": 1}])
    if isinstance(example, bool):
        return st.one_of(st.booleans(), wrong)
    if isinstance(example, int):
        return st.one_of(st.integers(-10, 3000), st.sampled_from([2**40, -1]), wrong)
    if isinstance(example, float):
        return st.one_of(floats, floats, floats, wrong)
    if isinstance(example, str):
        return st.one_of(
            st.just(example), st.sampled_from(["strict", "none", "direct", "china", "bogus"]), wrong
        )
    return wrong


@st.composite
def scenarios(draw, base):
    data = copy.deepcopy(base)
    paths = leaves(base)
    for index in draw(st.lists(st.integers(0, len(paths) - 1), min_size=1, max_size=5)):
        path, example = paths[index]
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = draw(value_for(example))
    return data


@settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@pytest.mark.slow
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_every_scenario_fails_clearly_or_runs_finite(base, data, seed):
    scenario = data.draw(scenarios(base))
    try:
        config = validate(scenario, FILE)
    except ScenarioError as err:
        message = str(err)
        assert "\n" not in message and message.startswith(FILE), message
        assert err.expected, message
        return
    model = BalanceModel(config, rng=seed)
    for _ in range(12):
        model.step()
    frame = model_frame(model)
    numbers = frame.to_numpy(dtype=float)
    assert np.isfinite(numbers).all(), frame.columns[~np.isfinite(numbers).all(axis=0)].tolist()
    for metric in SHARES:
        columns = [c for c in frame.columns if c.startswith(metric + ".")]
        totals = frame[columns].sum(axis=1).to_numpy()
        assert np.all((np.abs(totals - 1.0) < 1e-9) | (totals == 0.0)), metric
    assert (model.fdi_stock >= 0).all()
    assert frame["autonomy"].between(0, 1).all()
    cap = config.investment.cap
    if cap.enforcement == "strict" and cap.basis == "stock" and not config.events:
        assert frame["largest_fdi_share"].iloc[1:].max() <= cap.level + 1e-9
