"""The package as others get it: the wheel holds the scenarios and runs from an empty folder,
`run` needs no optional extra, and library modules leave global state alone."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# scipy is in the sweep extra for our own use, but Mesa itself requires it: not hidden.
OPTIONAL = ("SALib", "pyarrow", "dask", "distributed", "solara", "ipyvuetify")


def python(code: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def test_every_package_under_sim_is_listed_for_the_wheel():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "sim").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert listed == found | {"sim.scenarios", "sim.observed", "sim.inputs"}
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == {
        "sim.scenarios": "scenarios",
        "sim.observed": "data/observed",
        "sim.inputs": "data/inputs",
    }


@pytest.mark.slow
def test_run_needs_no_optional_extra_and_sweep_says_how_to_get_it(tmp_path):
    """Optional packages hidden: `run` works, `sweep` and `dashboard` exit 2 in one line."""
    hide = f"""
import sys
from importlib.abc import MetaPathFinder

class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {OPTIONAL!r}:
            raise ModuleNotFoundError(name)
        return None

sys.meta_path.insert(0, Hide())
import importlib.util
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in {OPTIONAL!r} else 1
from sim.cli.main import main
"""
    # One process for the four commands (a process costs seconds of imports); each
    # command's exit status and stderr lines are reported after a marker line.
    commands = [["run", "baseline", "--steps", "4"], ["sweep", "sweeps/cap_grid"]]
    commands += [["analyze", "x"], ["dashboard"]]
    each = f"""
import contextlib, io
for command in {commands!r}:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(command)
    print("@@", command[0], code, len(err.getvalue().strip().splitlines()), repr(err.getvalue()))
"""
    done = python(hide + each, tmp_path)
    assert done.returncode == 0, done.stderr
    report = {
        line.split()[1]: line.split(maxsplit=4)[2:]
        for line in done.stdout.splitlines()
        if line.startswith("@@ ")
    }
    assert report["run"][0] == "0", report["run"]
    assert (tmp_path / "results").is_dir() and list((tmp_path / "results").iterdir())
    for command in ("sweep", "analyze", "dashboard"):
        code, lines, stderr = report[command]
        assert code == "2" and lines == "1", (command, stderr)
        assert "pip install -e '.[" in stderr, (command, stderr)


@pytest.mark.slow
def test_plots_leave_the_matplotlib_backend_alone(tmp_path):
    code = (
        "import matplotlib; before = matplotlib.get_backend(); import sys\n"
        "import sim.cli.plots, sim.cli.report, sim.experiments.replicate, sim.api\n"
        "assert matplotlib.get_backend() == before, (before, matplotlib.get_backend())\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "MPLBACKEND": "svg"},
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_python_dash_m_sim_runs_from_any_folder(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "sim", "list"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("scenarios/baseline.toml ")
    assert "scenarios/whatif/strict_cap.toml" in done.stdout and "cap_grid" not in done.stdout


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_from_an_empty_folder(tmp_path):
    """pip wheel, a new venv (no system site packages), then `python -m sim run baseline`
    from an empty folder: the scenarios are package data, results go to that folder."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("third_neighbour_sim-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    py = env_dir / "bin" / "python"
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=900,
        env=clean_env,  # a PYTHONPATH into this checkout would make pip skip the install
    )
    assert install.returncode == 0, install.stdout + install.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    done = subprocess.run(
        [str(py), "-m", "sim", "run", "baseline", "--steps", "8"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=clean_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (folder,) = (empty / "results").iterdir()
    assert folder.name.startswith("baseline-") and (folder / "steps.csv").is_file()
    # The installed copy, not this checkout; the console script and the API work too.
    where = subprocess.run(
        [str(py), "-c", "import sim, sim.catalog as c; print(sim.__file__, c.BASELINE)"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=clean_env,
    )
    assert str(env_dir) in where.stdout and str(ROOT) not in where.stdout, where.stdout
    listed = subprocess.run(
        [str(env_dir / "bin" / "third-neighbour"), "list"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=clean_env,
    )
    assert listed.returncode == 0 and "whatif/strict_cap" in listed.stdout, listed.stderr
    model = subprocess.run(
        [str(py), "-c", "from sim.model import BalanceModel; BalanceModel().step()"],
        capture_output=True,
        text=True,
        cwd=empty,
        env=clean_env,
    )
    assert model.returncode == 0, model.stderr
    # The observed data ship too: validate and describe run from the empty folder.
    for command in (["validate", "--replications", "4"], ["describe"]):
        done = subprocess.run(
            [str(py), "-m", "sim", *command],
            capture_output=True,
            text=True,
            cwd=empty,
            env=clean_env,
            timeout=600,
        )
        # validate exits 1 when a calibration target misses: that is the model's state
        # (tests/test_validate.py), not packaging. It ran from the wheel when it compared
        # every target with the shipped observed data and printed the count.
        allowed = {0}
        if command[0] == "validate" and "calibration: " in done.stdout:
            allowed.add(1)  # it ran to the end; a calibration target missed
        assert done.returncode in allowed, command + [done.stdout[-2000:], done.stderr]
        assert "Traceback" not in done.stderr, done.stderr
