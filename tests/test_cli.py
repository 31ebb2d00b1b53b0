"""run.py end to end in a temporary folder: files exist, parse, and reproduce the run."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT

from sim.cli import output
from sim.model.run import simulate
from sim.schema.scenario import load_scenario


def run_py(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, cwd=cwd
    )


def test_run_writes_a_complete_results_folder(tmp_path):
    result = run_py(
        "run",
        "scenarios/baseline.toml",
        "--seed",
        "3",
        "--steps",
        "24",
        "--set",
        "investment.cap.enforcement=strict",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert "China's share of exports (mean)" in result.stdout
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("baseline-")
    folder = folders[0]
    names = {p.name for p in folder.iterdir()}
    assert {
        "scenario.toml",
        "steps.csv",
        "summary.json",
        "events.txt",
        "export_shares.png",
        "fdi_shares.png",
        "pressure.png",
        "autonomy.png",
    } <= names
    assert not [n for n in names if n.endswith(".part")]
    steps = pd.read_csv(folder / "steps.csv")
    assert len(steps) == 25 and "export_share.china" in steps.columns
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["metrics"]["largest_fdi_share_max"] <= 1 / 3 + 1e-9
    for png in ("export_shares.png", "fdi_shares.png"):
        assert (folder / png).read_bytes()[:4] == b"\x89PNG"
    # The resolved scenario reruns to the same numbers on its own.
    again = load_scenario(folder / "scenario.toml")
    assert again.investment.cap.enforcement == "strict"
    _, frame = simulate(again, seed=3, steps=24)
    pd.testing.assert_series_equal(
        frame["export_revenue_bn_usd"],
        steps["export_revenue_bn_usd"],
        check_exact=False,
        rtol=1e-12,
    )


def test_results_folders_are_never_reused(tmp_path):
    a = output.new_results_dir("x", tmp_path)
    b = output.new_results_dir("x", tmp_path)
    assert a != b and a.exists() and b.exists()


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path):
    target = output.write_text(tmp_path / "f.txt", "old")

    def broken(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        output.write_atomic(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_help_explains_every_command():
    result = run_py("--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: run.py ")
    for command in ("run", "calibrate", "list", "compare", "sweep", "analyze", "dashboard"):
        # the command's own line in the list, not the word inside "run.py"
        assert re.search(rf"^    {command}\b", result.stdout, re.MULTILINE), command
    for command in ("run", "calibrate"):
        sub = run_py(command, "--help")
        assert sub.returncode == 0 and "--set KEY=VALUE" in sub.stdout


def test_results_go_under_the_current_folder_and_names_work_anywhere(tmp_path):
    result = run_py("run", "whatif/strict_cap", "--steps", "4", "--no-plots", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "results").iterdir()
    assert folder.name.startswith("strict_cap-") and (folder / "summary.json").is_file()
    # the README's spelling works from any folder too
    again = run_py("run", "scenarios/baseline.toml", "--steps", "4", "--no-plots", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert len(list((tmp_path / "results").glob("baseline-*"))) == 1


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = run_py("run", "baseline", "--steps", "2", "--no-plots", "--out", str(blocker / "x"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "cannot create a results folder" in lines[-1]
    assert "Traceback" not in result.stderr


def test_missing_scenario_file_is_a_clear_error(tmp_path):
    result = run_py("run", str(tmp_path / "nope.toml"))
    assert result.returncode == 2 and "file not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_calibrate_passes_on_the_baseline_and_fails_when_broken():
    ok = run_py("calibrate", "--seeds", "4")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "F1 " in ok.stdout and "6 of 6 targets pass" in ok.stdout
    broken = run_py("calibrate", "--seeds", "2", "--set", "partners.china.demand.coal=0.2")
    assert broken.returncode == 1 and "FAIL" in broken.stdout
