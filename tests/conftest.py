"""Shared fixtures: the baseline scenario, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.catalog import BASELINE
from sim.schema.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    return load_scenario(BASELINE)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
