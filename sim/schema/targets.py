"""The validation targets file (``data/observed/targets.toml``) and the observed CSVs it
names, checked before any run: a wrong file is one line naming the file, the target and
the key, never a miss in the table nor a traceback.

Each ``[[target]]`` names a series (a CSV beside the targets file), the years (or dates)
it checks, its role (calibration or held out), a tolerance and the rule; the rules
themselves live in ``sim.experiments.validation``. ``data/observed/README.md`` describes
both files for their authors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NoReturn

import pandas as pd
from pydantic import Field, ValidationError

from sim.schema.base import ScenarioError, Strict, close_match, explain, read_toml

YEAR_HEADER = ["series", "year", "value", "unit", "low", "high", "source", "note"]
DATE_HEADER = ["series", "date", "value", "unit", "low", "high", "source", "note"]
DATED_RULES = ("pressure", "concession", "end")
DEFAULT_SCENARIO = "history_1990_2024"
_PARTNER = re.compile(r"(?:^|;\s*)partner=([a-z_]+)")
_DATE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$")

Role = Literal["calibration", "held_out"]
Expect = Literal["about", "above", "largest", "pressure", "concession", "end"]


class Target(Strict):
    """One check of the model against observed rows of one series."""

    id: str = Field(description="short name shown in the table (F1, H-coal-volume-from-2013, ...)")
    series: str = Field(description="observed series: data/observed/<series>.csv")
    years: list[int] | None = Field(None, description="years checked (year series)")
    dates: list[str] | None = Field(None, description="dates checked (dated series)")
    role: Role
    tolerance: float = Field(ge=0.0, description="in the series' unit; quarters for dates")
    why: str
    expect: Expect = "about"
    value: float | None = Field(None, description="threshold for expect = 'above'")
    partner: str | None = Field(None, description="whose share or action is expected")
    compare: Literal["level", "index"] = "level"
    base_year: int | None = Field(None, description="with compare = 'index'")
    scenario: str = Field(
        DEFAULT_SCENARIO, description="scenario run for this target (file or shipped name)"
    )
    required: bool = Field(
        True,
        description="a calibration target validate's exit status rests on (the documented "
        "figures); false: calibration data the fit pulls towards, whose misses are reported",
    )

    @property
    def points(self) -> list[int] | list[str]:
        return self.years if self.years is not None else (self.dates or [])


class TargetFile(Strict):
    target: list[Target]


class Observed(dict[str, pd.DataFrame]):
    """Observed rows by series; dated series get a ``year`` column from their date."""


def date_quarter(text: str) -> tuple[int, int]:
    """(year, quarter) of ``YYYY-MM`` or ``YYYY-MM-DD``."""
    match = _DATE.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(text)
    return int(match.group(1)), (int(match.group(2)) - 1) // 3 + 1


def read_series(path: Path) -> pd.DataFrame:
    """One observed CSV: its header checked, numbers numeric, ``partner`` from the note."""
    try:
        frame = pd.read_csv(path, dtype={"date": str, "note": str, "source": str})
    except FileNotFoundError:
        raise ScenarioError(path, "", "file not found", "an observed series CSV") from None
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ScenarioError(path, "", f"not a readable CSV ({exc})", "CSV text") from None
    header = list(frame.columns)
    if header not in (YEAR_HEADER, DATE_HEADER):
        raise ScenarioError(
            path, "header", f"found {','.join(header)}", f"{','.join(YEAR_HEADER)} (or date)"
        )
    for column in ("value", "low", "high"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = numbers.isna() & frame[column].notna()
        if column == "value":
            bad |= frame[column].isna()
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise ScenarioError(
                path, f"row {row + 2}.{column}", f"found {frame[column].iloc[row]!r}", "a number"
            )
        frame[column] = numbers.astype(float)
    if "date" in frame:
        try:
            frame["year"] = [date_quarter(d)[0] for d in frame["date"]]
        except (ValueError, TypeError) as exc:
            raise ScenarioError(path, "date", f"found {exc}", "YYYY-MM or YYYY-MM-DD") from None
    elif frame["year"].dtype.kind != "i":
        raise ScenarioError(path, "year", "a value that is not a whole year", "integer years")
    unsourced = frame["source"].isna() | (frame["source"].astype(str).str.strip() == "")
    if unsourced.any():
        row = int(unsourced.to_numpy().argmax())
        raise ScenarioError(
            path, f"row {row + 2}.source", "an empty source", "a title and an address for every row"
        )
    frame["partner"] = [
        m.group(1) if (m := _PARTNER.search(str(note))) else None for note in frame["note"]
    ]
    return frame


def load_targets(
    path: str | Path, run_years: Callable[[str], range]
) -> tuple[list[Target], Observed]:
    """The targets and the observed series they name (CSVs beside the targets file).

    ``run_years(scenario)`` gives the calendar years a target's scenario runs; a year
    outside them, a series with no CSV, a year or date with no observed row, or a rule
    without what it needs is a ScenarioError naming the file, target and key.
    """
    path = Path(path)
    data = read_toml(path, "targets file")
    try:
        targets = TargetFile.model_validate(data).target
    except ValidationError as exc:
        raise _explain(exc, path, data) from None
    folder = path.parent
    observed = Observed()
    seen: set[str] = set()
    for i, target in enumerate(targets):

        def fail(key: str, found: str, expected: str, i: int = i, t: Target = target) -> NoReturn:
            raise ScenarioError(path, f"target.{i} (id {t.id!r}).{key}", found, expected)

        if target.id in seen:
            fail("id", f"found {target.id!r} twice", "a different id for each target")
        seen.add(target.id)
        csv = folder / f"{target.series}.csv"
        if not csv.is_file():
            names = sorted(p.stem for p in folder.glob("*.csv"))
            fail(
                "series",
                f"no file {csv}{close_match(target.series, names)}",
                "one of: " + ", ".join(names),
            )
        if target.series not in observed:
            observed[target.series] = read_series(csv)
        rows = observed[target.series]
        dated = "date" in rows
        key, other = ("dates", "years") if dated else ("years", "dates")
        column = "date" if dated else "year"
        kind = "dated" if dated else "yearly"
        if getattr(target, other) is not None:
            fail(
                other, f"{other} for a {kind} series", f"{key} ({target.series}.csv has {column}s)"
            )
        if not getattr(target, key):
            fail(key, "missing or empty", f"a list of {key} ({target.series} is a {kind} series)")
        if (target.expect in DATED_RULES) != dated:
            fail(
                "expect",
                f"found {target.expect!r}",
                "pressure, concession or end for a dated series, else about, above or largest",
            )
        if target.expect in ("largest", *DATED_RULES) and target.partner is None:
            fail("partner", "missing", f"a partner for expect = {target.expect!r}")
        if (target.compare == "index") != (target.base_year is not None):
            fail(
                "base_year",
                "given without compare = 'index'" if target.base_year else "missing",
                "base_year together with compare = 'index'",
            )
        try:
            years = run_years(target.scenario)
        except ScenarioError as exc:
            fail("scenario", f"found {target.scenario!r} ({exc})", "a scenario that loads")
        present = set(rows[column])
        wanted = list(target.points) + ([target.base_year] if target.base_year else [])
        for point in wanted:
            if point not in present:
                fail(
                    key if point in target.points else "base_year",
                    f"found {point!r}, with no row in {csv.name}",
                    f"a {column} of the observed rows: " + ", ".join(map(str, sorted(present))),
                )
            year = date_quarter(str(point))[0] if dated else int(str(point))
            if year not in years:
                fail(
                    key if point in target.points else "base_year",
                    f"found {point!r}, outside the run ({years[0]}-{years[-1]})",
                    f"a year the {target.scenario} scenario runs",
                )
    return targets, observed


def _explain(exc: ValidationError, path: Path, data: dict) -> ScenarioError:
    """Pydantic's first complaint as one line naming the target by index and id."""
    items = data.get("target")

    def key_of(loc: tuple[str, ...]) -> str:
        parts = list(loc)
        if len(parts) >= 2 and parts[0] == "target" and parts[1].isdigit():
            i = int(parts[1])
            item = items[i] if isinstance(items, list) and i < len(items) else None
            ident = item.get("id") if isinstance(item, dict) else None
            parts[1] = f"{i} (id {ident!r})" if ident else parts[1]
        return ".".join(parts)

    return explain(exc, path, TargetFile, key_of=key_of)
