"""sim.evaluate, the entry point for outside tools, and the worked EMA example in
docs/api.md (its model function runs as written, without EMA installed)."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest

import sim
from sim.catalog import BASELINE
from sim.model.run import run_summary
from sim.schema.base import ScenarioError
from sim.schema.scenario import load_scenario
from tests.conftest import ROOT

API_DOC = ROOT / "docs" / "api.md"
STEPS = 24  # enough quarters for the cap to bind; keeps the file fast


def doc_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", API_DOC.read_text(encoding="utf-8"), re.M | re.S)


def test_evaluate_returns_the_summary_of_one_run():
    outcomes = sim.evaluate("baseline", seed=3, steps=STEPS)
    config = load_scenario(BASELINE).model_copy(update={"steps": STEPS})
    assert outcomes == run_summary(config, 3)  # overrides path or not: the same run
    assert all(isinstance(v, float) and math.isfinite(v) for v in outcomes.values())
    assert sim.evaluate(BASELINE, {}, seed=3, steps=STEPS) == outcomes


def test_overrides_are_typed_and_accept_numpy_scalars():
    typed = sim.evaluate("baseline", {"trade.transit_fee.china": 0.12}, seed=5, steps=STEPS)
    numpy = sim.evaluate(
        "baseline",
        {"trade.transit_fee.china": np.float64(0.12)},
        seed=np.int64(5),
        steps=np.int64(STEPS),
    )
    assert typed == numpy
    assert typed != sim.evaluate("baseline", seed=5, steps=STEPS)


def test_overrides_are_validated_like_the_file():
    with pytest.raises(ScenarioError, match="did you mean 'transit_fee'"):
        sim.evaluate("baseline", {"trade.transit_fe.china": 0.1})
    with pytest.raises(ScenarioError, match="investment.cap.enforcement"):
        sim.evaluate("baseline", {"investment.cap.enforcement": "sometimes"})
    with pytest.raises(ScenarioError, match="shipped scenario"):
        sim.evaluate("basline")


def test_whatif_by_shipped_name():
    strict = sim.evaluate("whatif/strict_cap", seed=1, steps=STEPS)
    assert strict["largest_fdi_share_max"] <= 1 / 3 + 1e-9


def test_ema_example_core_runs_without_ema():
    first, second = doc_blocks()[1:3]
    assert "ema_workbench" not in first and "perform_experiments" in second
    lines = [x for x in (first + second).splitlines() if x.strip()]
    assert len(lines) < 20, "the worked example should stay under 20 lines"
    namespace: dict = {}
    exec(compile(first, str(API_DOC), "exec"), namespace)
    mongolia = namespace["mongolia"]
    leaky = mongolia(cap_level=np.float64(0.3), alignment=np.float64(0.5), seed=np.int64(2))
    strict = mongolia(cap_level=0.3, alignment=0.5, enforcement="strict", seed=2)
    assert set(leaky) == set(namespace["OUTCOMES"])
    assert all(math.isfinite(v) for v in (*leaky.values(), *strict.values()))
    assert strict["largest_fdi_share_final"] <= 0.3 + 1e-9
    assert strict["largest_fdi_share_final"] != leaky["largest_fdi_share_final"]


def test_importing_sim_loads_nothing_heavy():
    code = "import sys, sim; print(sorted({'mesa', 'pandas', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_readme_balance_model_example_runs():
    (block,) = re.findall(
        r"^```python\n(.*?)^```", (ROOT / "README.md").read_text(encoding="utf-8"), re.M | re.S
    )
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert len(namespace["frame"]) == 41 and len(namespace["rows"]) >= 3
