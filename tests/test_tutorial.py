"""Every command in docs/tutorial.md runs as written, so the tutorial never goes stale.

The bash blocks run in order in a scratch folder holding a copy of the scenarios
(exercise 2 writes the student's own file to my_scenarios/ there), with `python`
meaning this interpreter; results folders go to the scratch folder's results/ (the
test adds `--out` to run and compare).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)
PRELUDE = """set -euo pipefail
python() {
  case "${2:-}" in
    run|compare) "$PY" "$@" --out "$PWD/results" ;;
    *) "$PY" "$@" ;;
  esac
}
"""


def blocks() -> list[str]:
    return BLOCK.findall(TUTORIAL.read_text(encoding="utf-8"))


def test_tutorial_has_three_exercises_with_commands():
    text = TUTORIAL.read_text(encoding="utf-8")
    assert [h for h in re.findall(r"^## Exercise (\d)", text, re.MULTILINE)] == ["1", "2", "3"]
    commands = "\n".join(blocks())
    for needed in (
        "run.py run scenarios/baseline.toml",
        "extends",
        "run.py compare",
        "history_1990_2024.toml",
        "--replications",
    ):
        assert needed in commands


def shipped_files(folder) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_tutorial_keeps_students_files_out_of_the_shipped_scenarios():
    """Issue 18: the tutorial had students write scenarios/my_strict_cap.toml, which the
    picker test then found, and a wheel built from that checkout shipped."""
    text = TUTORIAL.read_text(encoding="utf-8")
    commands = "\n".join(blocks())
    written = re.findall(r"(?:>|mkdir -p|cp \S+)\s+(\S+)", commands)
    assert written, "the tutorial should have students write their own scenario"
    assert all(not target.startswith("scenarios/") for target in written), written
    assert "my_scenarios/" in text and "my_scenarios/" in (ROOT / ".gitignore").read_text()


@pytest.mark.slow
def test_every_tutorial_command_runs(tmp_path):
    shutil.copytree(ROOT / "scenarios", tmp_path / "scenarios")
    before = shipped_files(tmp_path / "scenarios")
    shutil.copy(ROOT / "run.py", tmp_path / "run.py")
    env = {**os.environ, "PY": sys.executable, "MPLBACKEND": "Agg"}
    for n, block in enumerate(blocks()):
        done = subprocess.run(
            ["bash", "-c", PRELUDE + block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"block {n} failed:\n{block}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        if "compare" in block:
            assert "different?" in done.stdout and "B - A [90% CI]" in done.stdout
        if "grep" in block:
            assert "concedes to China" in done.stdout and "tibet" in done.stdout
    assert shipped_files(tmp_path / "scenarios") == before  # students' files live elsewhere
    folders = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert any(name.startswith("compare-baseline-vs-my_strict_cap") for name in folders)
    assert any(name.startswith("history_1990_2024") for name in folders)
