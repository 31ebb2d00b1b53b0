"""The calibrated baseline reproduces the documented figures (several seeds)."""

from __future__ import annotations

import pytest

from sim.catalog import SCENARIO_DIR
from sim.experiments.calibration import calibrate, load_targets
from sim.schema.scenario import ScenarioError


@pytest.fixture(scope="module")
def report(baseline):
    return {
        row["id"]: row
        for row in calibrate(baseline, load_targets(SCENARIO_DIR / "calibration.toml"), seeds=8)
    }


@pytest.mark.parametrize("target", ["F1", "F1-total", "F2", "F4", "F5", "F6"])
def test_target_passes(report, target):
    row = report[target]
    assert row["passed"], row


def test_china_export_share_in_2018_within_tolerance_on_every_seed(report):
    row = report["F1"]
    assert 0.87 <= row["min"] and row["max"] <= 0.93


def test_targets_name_their_sources():
    for target in load_targets(SCENARIO_DIR / "calibration.toml"):
        assert target.id[0] in "FP" and target.source[:2] in ("A:", "B:", "C:")


def test_bad_targets_file_is_a_clear_error(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text(
        '[[targets]]\nid = "F1"\ndescription = "x"\nsource = "A: x"\n'
        'metric = "export_share.china"\nkind = "about"\nvalue = 0.9\n'
    )
    with pytest.raises(ScenarioError, match="targets.0.tolerance"):
        load_targets(path)
