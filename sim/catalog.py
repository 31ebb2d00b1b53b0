"""The shipped scenarios: where they are installed, what a name means, and the shelf.

The ``scenarios/`` folder of the source tree ships as the package data ``sim.scenarios``
(pyproject.toml maps it), so the same names work from a checkout, an editable install and
a wheel: ``"baseline"``, ``"whatif/strict_cap"``, or a path to any scenario file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from sim.schema.base import ScenarioError, close_match, read_toml
from sim.schema.scenario import load_scenario


def _shipped_dir(package: str, checkout: str) -> Path:
    """The folder of shipped files (a real folder: ``extends`` and CSV readers need paths)."""
    try:
        folder = resources.files(package)
    except ModuleNotFoundError:  # a bare checkout that was never installed
        return Path(__file__).resolve().parent.parent / checkout
    return Path(str(folder))


SCENARIO_DIR = _shipped_dir("sim.scenarios", "scenarios")
# The observed series and targets of `run.py validate` (data/observed in the source tree).
OBSERVED_DIR = _shipped_dir("sim.observed", "data/observed")
TARGETS = OBSERVED_DIR / "targets.toml"
# Observed inputs: price paths, the deflator, China's imports (data/inputs in the source tree).
INPUTS_DIR = _shipped_dir("sim.inputs", "data/inputs")
BASELINE = SCENARIO_DIR / "baseline.toml"
SHELVES = ("", "whatif")  # where `list` looks; targets and sweep files are not scenarios


def is_scenario_data(data: dict) -> bool:
    """A scenario file, as opposed to calibration targets, a sweep file or provenance notes
    beside it: a scenario extends another or defines its partners (the baseline)."""
    return "extends" in data or "partners" in data


def shipped_scenarios() -> list[Path]:
    """Scenario files on the shelves, sorted within each shelf."""
    found = []
    for shelf in SHELVES:
        for path in sorted((SCENARIO_DIR / shelf).glob("*.toml")):
            try:
                data = read_toml(path)
            except ScenarioError:
                found.append(path)  # listed, so that its error shows
                continue
            if is_scenario_data(data):
                found.append(path)
    return found


def shipped_name(path: Path) -> str:
    """``whatif/strict_cap`` for a shipped file: the name ``resolve_scenario`` accepts."""
    return path.relative_to(SCENARIO_DIR).with_suffix("").as_posix()


def shipped_scenario(name: str) -> Path:
    """The file of a shipped scenario by name (``baseline``, ``whatif/strict_cap``)."""
    stem = name.removesuffix(".toml").removeprefix("scenarios/")
    path = SCENARIO_DIR / f"{stem}.toml"
    if stem and ".." not in Path(stem).parts and path.is_file():
        return path
    names = [shipped_name(p) for p in shipped_scenarios()]
    raise ScenarioError(
        name,
        "",
        "neither a scenario file nor a shipped scenario" + close_match(stem, names),
        "a path to a .toml file or one of: " + ", ".join(names),
    )


def resolve_scenario(name_or_path: str | Path) -> Path:
    """An existing file as given, else a shipped name (``scenarios/x.toml`` works from any
    folder); a missing ``*.toml`` stays a path, so loading it says "file not found"."""
    path = Path(name_or_path)
    if path.exists():
        return path
    text = str(name_or_path)
    try:
        return shipped_scenario(text)
    except ScenarioError:
        if text.endswith(".toml"):
            return path
        raise


def list_lines() -> list[str]:
    """One line per shipped scenario: ``scenarios/<file>`` (accepted from any folder, see
    ``resolve_scenario``) and the scenario's own description."""
    paths = shipped_scenarios()
    names = [f"scenarios/{p.relative_to(SCENARIO_DIR).as_posix()}" for p in paths]
    width = max((len(n) for n in names), default=0)
    lines = []
    for path, name in zip(paths, names, strict=True):
        try:
            text = load_scenario(path).description or "(no description)"
        except ScenarioError as exc:
            text = f"(does not load: {exc})"
        lines.append(f"{name:<{width}}  {text}")
    return lines
