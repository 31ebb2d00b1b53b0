"""Where every parameter's value comes from: ``scenarios/provenance.toml``, checked against
the scenario schema and the baseline, and joined into rows.

A user deciding how far to trust a result needs to know, for each number the baseline
resolves to, whether a document gives it (*sourced*), it was tuned until documented
targets held (*fitted*) or it is a model choice (*assumed*, with a plausible range and
why). ``run.py describe`` prints the rows, writes ``docs/parameters.md`` and the
assumptions sweep from them; the tests keep all three in step with the file.

Text formatting lives here as pure functions returning strings; printing and writing
happen in ``sim.cli``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import annotated_types as at
import tomli_w
from pydantic import BaseModel, Field, ValidationError
from pydantic.fields import FieldInfo

from sim.schema.base import ScenarioError, Strict, expected_text, found_text, read_toml
from sim.schema.scenario import Scenario, describe_schema, typing_name

PROVENANCE_FILE = "provenance.toml"  # beside baseline.toml in the shipped scenarios
# The commands that generate the two files (named in their headers; the tests rerun them).
MARKDOWN_COMMAND = "python run.py describe --markdown --out docs/parameters.md"
SWEEP_COMMAND = "python run.py describe --sweep --out scenarios/sweeps/assumptions.toml"
Kind = Literal["sourced", "fitted", "assumed", "observed input"]
Value = bool | int | float | str


class Entry(Strict):
    """One parameter, or a wildcard over several: where its value comes from."""

    provenance: Kind = Field(
        description="sourced, fitted, assumed, or observed input (a path the history runs "
        "on, from data/inputs; never a target)"
    )
    source: str | None = Field(None, description="sourced: document ids or a citation")
    fitted_to: str | None = Field(None, description="fitted: the targets it was tuned to")
    by: str | None = Field(None, description="fitted: how (command, or by hand)")
    range: list[float] | None = Field(
        None, description="assumed (or fitted, optional): plausible [low, high]"
    )
    values: list[Value] | None = Field(
        None, description="assumed: plausible choices, for words and true/false"
    )
    reason: str | None = Field(None, description="assumed: why that range")
    cites_held_out: str | None = Field(
        None,
        description="the held-out observations (data/observed/targets.toml) its value or "
        "reason cites, and what was done about it (re-sourced, rows dropped, or kept: why)",
    )


class NotParameter(Strict):
    """A resolved key that is no parameter of the model, and why."""

    reason: str
    groups: list[Literal["neighbour", "third", "other"]] | None = None


class ProvenanceFile(Strict):
    not_parameters: dict[str, NotParameter] = Field(default_factory=dict)
    parameters: dict[str, Entry]


@dataclass(frozen=True)
class FieldSpec:
    """What the schema says about a key: type, bounds, description."""

    type: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    description: str = ""
    choices: tuple = ()

    @property
    def range_text(self) -> str:
        if self.choices:
            return " | ".join(_word(c) for c in self.choices)
        if self.type == "bool":
            return "true | false"
        if self.low is None and self.high is None:
            return ""
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{_num(self.low)}, {_num(self.high)}{right}"

    def contains(self, x: float) -> bool:
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            return False
        if self.high is not None and (x > self.high or (self.high_open and x == self.high)):
            return False
        return True


@dataclass(frozen=True)
class Row:
    """One parameter of a scenario: its value, the schema's facts and its provenance."""

    key: str
    value: Any
    spec: FieldSpec
    pattern: str
    entry: Entry

    @property
    def unit(self) -> str:
        return unit_of(self.key, self.spec.description)

    @property
    def meaning(self) -> str:
        return meaning_of(self.spec.description)

    @property
    def varied(self) -> bool:
        """In the assumptions sweep: every assumed entry and every fitted one with a range."""
        return self.entry.range is not None or self.entry.values is not None


# --- reading and checking ---------------------------------------------------------------


def read_provenance(path: str | Path) -> ProvenanceFile:
    """The validated file; every entry carries what its kind needs."""
    path = Path(path)
    data = read_toml(path, "provenance file")
    try:
        prov = ProvenanceFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ScenarioError(path, key, found_text(err), expected_text(err)) from None
    for pattern, entry in prov.parameters.items():
        _check_entry(path, pattern, entry)
    return prov


def _check_entry(path: Path, pattern: str, entry: Entry) -> None:
    key = f'parameters."{pattern}"'
    needs = {
        "sourced": ("source",),
        "fitted": ("fitted_to", "by"),
        "assumed": ("reason",),
        "observed input": ("source",),
    }
    for name in needs[entry.provenance]:
        if not getattr(entry, name):
            raise ScenarioError(
                path, f"{key}.{name}", "missing", f"a {name} for a(n) {entry.provenance} parameter"
            )
    if entry.provenance == "assumed" and entry.range is None and entry.values is None:
        raise ScenarioError(
            path,
            key,
            "an assumed parameter without a range",
            "range = [low, high] (or values = [...] for words and true/false) and a reason",
        )
    if entry.range is not None and (len(entry.range) != 2 or entry.range[0] >= entry.range[1]):
        raise ScenarioError(
            path, f"{key}.range", f"found {entry.range}", "[low, high] with low < high"
        )
    if entry.range is not None and entry.values is not None:
        raise ScenarioError(path, key, "both range and values", "one of them")


def leaves(data: dict, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf key path of a dumped scenario (an empty table has none; lists are leaves)."""
    out: list[tuple[str, Any]] = []
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            out.extend(leaves(value, key + "."))
        else:
            out.append((key, value))
    return out


def matches(pattern: str, key: str) -> bool:
    """``*`` stands for exactly one part of the key path."""
    want, have = pattern.split("."), key.split(".")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


def _group_of(key: str, scenario: Scenario) -> str | None:
    parts = key.split(".")
    if parts[0] == "partners" and len(parts) > 1 and parts[1] in scenario.partners:
        return scenario.partners[parts[1]].group
    return None


def not_parameter(prov: ProvenanceFile, key: str, scenario: Scenario) -> str | None:
    """The pattern that declares ``key`` no parameter, or None."""
    group = _group_of(key, scenario)
    for pattern, rule in prov.not_parameters.items():
        if matches(pattern, key) and (rule.groups is None or group in rule.groups):
            return pattern
    return None


def entry_for(prov: ProvenanceFile, key: str, file: str | Path) -> tuple[str, Entry]:
    """The most specific entry for ``key``: an exact key, else the fewest wildcards."""
    found = [p for p in prov.parameters if matches(p, key)]
    if not found:
        raise ScenarioError(
            file,
            key,
            "a parameter with no provenance",
            f'an entry [parameters."{key}"] (or a wildcard such as '
            f'"{_wildcard(key)}") saying sourced, fitted or assumed',
        )
    fewest = min(p.count("*") for p in found)
    best = [p for p in found if p.count("*") == fewest]
    if len(best) > 1:
        raise ScenarioError(
            file, key, f"two equally specific entries: {', '.join(best)}", "one of them"
        )
    return best[0], prov.parameters[best[0]]


def _wildcard(key: str) -> str:
    parts = key.split(".")
    if parts[0] == "partners" and len(parts) > 2:
        parts[1] = "*"
    return ".".join(parts)


def parameter_rows(prov: ProvenanceFile, scenario: Scenario, file: str | Path) -> list[Row]:
    """Every parameter of ``scenario`` joined with its provenance and schema facts.

    Raises ScenarioError (the provenance file and the key) for a parameter without
    provenance, a range outside the schema's bounds or without the scenario's value,
    and an entry that matches nothing (a stale entry misleads as much as a missing one).
    """
    rows: list[Row] = []
    used: set[str] = set()
    for key, value in leaves(scenario.model_dump()):
        skip = not_parameter(prov, key, scenario)
        if skip is not None:
            used.add(skip)
            continue
        pattern, entry = entry_for(prov, key, file)
        used.add(pattern)
        spec = field_spec(key)
        _check_value(file, key, value, spec, entry)
        rows.append(Row(key, value, spec, pattern, entry))
    stale = [p for p in (*prov.not_parameters, *prov.parameters) if p not in used]
    if stale:
        raise ScenarioError(
            file,
            stale[0],
            "an entry that matches no key of the scenario",
            "key paths of the resolved baseline (see `run.py describe`)",
        )
    return rows


def _check_value(file: str | Path, key: str, value: Any, spec: FieldSpec, entry: Entry) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if entry.range is not None:
        if not number:
            raise ScenarioError(
                file, key, f"a range for {value!r}", "values = [...] for words and true/false"
            )
        low, high = entry.range
        if not (spec.contains(low) and spec.contains(high)):
            raise ScenarioError(
                file,
                key,
                f"range [{_num(low)}, {_num(high)}]",
                f"a range inside the schema's bounds {spec.range_text}",
            )
        if not low <= value <= high:
            raise ScenarioError(
                file,
                key,
                f"range [{_num(low)}, {_num(high)}] without the value {_num(value)}",
                "a range that contains the scenario's value",
            )
    if entry.values is not None:
        if number:
            raise ScenarioError(file, key, "values for a number", "range = [low, high]")
        if value not in entry.values or any(type(v) is not type(value) for v in entry.values):
            raise ScenarioError(
                file,
                key,
                f"values {entry.values} for {value!r}",
                "choices of the same type that include the scenario's value",
            )
        bad = [v for v in entry.values if spec.choices and v not in spec.choices]
        if bad:
            raise ScenarioError(file, key, f"values {bad}", f"one of: {spec.range_text}")


# --- the schema's facts ------------------------------------------------------------------


def field_spec(key: str) -> FieldSpec:
    """Type, bounds and description at a key path (``<name>`` or any word for a table key)."""
    node: Any = Scenario
    metadata: list = []
    description = ""
    for part in key.split("."):
        if isinstance(node, type) and issubclass(node, BaseModel):
            info = node.model_fields.get(part)
            if info is None:
                raise KeyError(key)
            metadata, description = list(info.metadata), info.description or description
            node = info.annotation
        elif get_origin(node) is dict:
            metadata, node = [], get_args(node)[1]
        else:
            raise KeyError(key)
        while get_origin(node) is Annotated:
            args = get_args(node)
            for extra in args[1:]:
                metadata.extend(extra.metadata if isinstance(extra, FieldInfo) else [extra])
            node = args[0]
    spec = FieldSpec(type=typing_name(node), description=description)
    if get_origin(node) is Literal:
        return FieldSpec(type="word", description=description, choices=get_args(node))
    bounds: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, at.Ge):
            bounds.update(low=item.ge, low_open=False)
        elif isinstance(item, at.Gt):
            bounds.update(low=item.gt, low_open=True)
        elif isinstance(item, at.Le):
            bounds.update(high=item.le, high_open=False)
        elif isinstance(item, at.Lt):
            bounds.update(high=item.lt, high_open=True)
    return FieldSpec(**{**spec.__dict__, **bounds})


_UNIT_WORDS = re.compile(r"USD|year|fraction|index points|units|sd of log|quarter")


def unit_of(key: str, description: str) -> str:
    """The unit a description gives in parentheses, else the one the key's name implies."""
    for inside in re.findall(r"\(([^()]*)\)", description):
        if _UNIT_WORDS.search(inside):
            return inside.split(";")[0].strip()
    name = key.rsplit(".", 1)[-1]
    for suffix, unit in (("_quarters", "quarters"), ("_per_year", "1/year"), ("_year", "year")):
        if name.endswith(suffix):
            return unit
    if key.endswith("supply_bn_usd") or ".demand." in key:
        return "bn USD/year"
    return ""


def meaning_of(description: str) -> str:
    """The description without its unit in parentheses."""
    text = description
    for inside in re.findall(r"\(([^()]*)\)", description):
        if _UNIT_WORDS.search(inside) and ";" not in inside:
            text = text.replace(f" ({inside})", "")
    return text


def _num(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _word(x: Any) -> str:
    return _num(x) if isinstance(x, bool | int | float) else str(x)


# --- text for describe, docs/parameters.md and the sweep --------------------------------


def schema_text(scenario: Scenario, name: str) -> str:
    """The schema for a user at a terminal: every key with type, range, unit and meaning,
    then the scenario's partners and commodities."""
    rows = []
    for path, _type, _desc in describe_schema():
        spec = field_spec(path)
        if spec.type == "list":
            continue  # events: described in docs/ODD.md, "Events (scheduled)"
        if spec.type == "dict":  # a table of numbers: fees by neighbour, demand by commodity
            path = f"{path}.<name>"
            spec = field_spec(path)
        rows.append(
            (
                path,
                spec.type,
                spec.range_text,
                unit_of(path, spec.description),
                meaning_of(spec.description),
            )
        )
    widths = [min(max(len(r[i]) for r in rows), 24) for i in range(3)]
    widths[0] = max(len(r[0]) for r in rows)
    head = ("key", "type", "range")
    lines = [
        "Scenario keys (<name>: a partner, commodity, fee or red line id)",
        "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  unit: meaning",
    ]
    for path, kind, rng, unit, meaning in rows:
        about = f"{unit}: {meaning}" if unit else meaning
        lines.append(f"{path:<{widths[0]}}  {kind:<{widths[1]}}  {rng:<{widths[2]}}  {about}")
    lines += ["", f"Partners of {name} (partners.<id>):"]
    for pid, partner in scenario.partners.items():
        lines.append(f"  {pid:<16} {partner.name:<16} {partner.group}")
    lines += ["", f"Commodities of {name} (trade.commodities.<id>):"]
    for cid, good in scenario.trade.commodities.items():
        lines.append(f"  {cid:<16} {'mining' if good.mining else 'not mining'}")
    return "\n".join(lines)


def provenance_text(entry: Entry) -> str:
    """One cell: the document and figure, the targets and command, or range and reason."""
    extent = ""
    if entry.range is not None:
        extent = f"range [{_num(entry.range[0])}, {_num(entry.range[1])}]"
    elif entry.values is not None:
        extent = "one of " + ", ".join(_word(v) for v in entry.values)
    if entry.provenance == "sourced":
        return f"**sourced**: {entry.source}"
    if entry.provenance == "observed input":
        return f"**observed input**: {entry.source}"
    if entry.provenance == "fitted":
        tail = f"; open over {extent}" if extent else ""
        return f"**fitted** to {entry.fitted_to}; by: {entry.by}{tail}"
    return f"**assumed**, {extent}: {entry.reason}"


def _section(key: str) -> str:
    parts = key.split(".")
    if parts[0] in ("partners",) or parts[:2] == ["trade", "commodities"]:
        return ".".join(parts[: 2 if parts[0] == "partners" else 3])
    return parts[0] if len(parts) > 1 else "run frame"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(rows: list[Row], prov: ProvenanceFile, name: str, command: str) -> str:
    """docs/parameters.md: one table per section, the provenance of every parameter."""
    counts = {k: sum(r.entry.provenance == k for r in rows) for k in get_args(Kind)}
    varied = sum(r.varied for r in rows)
    lines = [
        f"<!-- generated by `{command}`; do not edit: edit scenarios/provenance.toml "
        "or the scenario and run the command again -->",
        f"# Parameters of the {name} scenario",
        "",
        f"Every parameter the {name} scenario resolves to ({len(rows)}), with its value, "
        "unit, meaning and provenance: **sourced** (the document and figure; ids F1.., "
        "P1.., S1.. and seeds A, B, C are in [sources.md](sources.md)), **fitted** (to "
        "which targets, and how: by `run.py calibrate --fit`, which searches the "
        "parameters of scenarios/fit.toml, or by hand; `run.py calibrate` checks the "
        "targets) or **assumed** (no document "
        "gives it: a plausible range and why). "
        f"Here: {counts['sourced']} sourced, {counts['fitted']} fitted, "
        f"{counts['assumed']} assumed, {counts['observed input']} observed inputs (paths the "
        "history runs on, from data/inputs: inputs, never targets). The "
        f"{varied} assumed parameters and fitted ones with "
        "a range are varied together by the Morris sweep "
        "`scenarios/sweeps/assumptions.toml`; what the conclusions owe to them is in "
        "[assumptions.md](assumptions.md).",
        "",
        "The provenance is recorded in `scenarios/provenance.toml`; keys with `*` there "
        "cover every partner, commodity or red line unless a more specific key overrides "
        "them. Types and bounds: `python run.py describe`.",
    ]
    cited = [(k, e) for k, e in prov.parameters.items() if e.cites_held_out]
    if cited:
        lines += [
            "",
            "## Parameters that cite held-out observations",
            "",
            "The validation split (`data/observed/targets.toml`) holds out every observation "
            "from 2013 on and the episodes the history does not schedule. These entries' "
            "values or reasons cite such an observation; each says what was done about it: "
            "re-sourced from calibration data, the held-out rows it decides dropped from the "
            "split, or kept, and why (a weaker test).",
            "",
            "| key | provenance | held-out observation cited, and what was done |",
            "|---|---|---|",
        ]
        lines += [
            f"| `{key}` | {entry.provenance} | {_cell(entry.cites_held_out)} |"
            for key, entry in cited
        ]
    lines += [
        "",
        "## Not parameters",
        "",
        "| key | why |",
        "|---|---|",
    ]
    for pattern, rule in prov.not_parameters.items():
        only = f" (partners of group {', '.join(rule.groups)})" if rule.groups else ""
        lines.append(f"| `{pattern}`{only} | {_cell(rule.reason)} |")
    section = None
    for row in rows:
        here = _section(row.key)
        if here != section:
            section = here
            lines += [
                "",
                f"## {here}",
                "",
                "| key | value | unit | meaning | provenance |",
                "|---|---|---|---|---|",
            ]
        lines.append(
            f"| `{row.key}` | {_cell(_word(row.value))} | {_cell(row.unit)} | "
            f"{_cell(row.meaning)} | {_cell(provenance_text(row.entry))} |"
        )
    return "\n".join(lines) + "\n"


# The assumptions sweep: D parameters, (D + 1) points per trajectory; 12 trajectories and
# two replications are about 5,000 runs of a few tens of ms, a few minutes on 2 cores.
SWEEP_TRAJECTORIES = 12
SWEEP_REPLICATIONS = 2
SWEEP_OUTPUTS = (
    "china_export_share_mean",
    "third_neighbour_export_share_mean",
    "export_revenue_bn_usd_total",
    "china_fdi_share_final",
    "third_neighbour_fdi_share_final",
    "pressure_quarters",
    "concessions",
    "autonomy_mean",
)


def assumptions_sweep(rows: list[Row], command: str) -> str:
    """scenarios/sweeps/assumptions.toml: Morris screening of every assumed parameter (and
    every fitted one with a range) over its provenance range."""
    parameters: dict[str, dict] = {}
    for row in rows:
        if row.entry.range is not None:
            low, high = row.entry.range
            table: dict[str, Any] = {"min": float(low), "max": float(high)}
            if row.spec.type == "int":
                table["integer"] = True
            parameters[row.key] = table
        elif row.entry.values is not None:
            parameters[row.key] = {"values": list(row.entry.values)}
    body = {
        "name": "assumptions",
        "description": "Morris screening of every assumed (and hand-fitted) parameter of the "
        "baseline over its range in scenarios/provenance.toml",
        "base": "../baseline.toml",
        "seed": 12,
        "replications": SWEEP_REPLICATIONS,
        "sampler": {"method": "morris", "samples": SWEEP_TRAJECTORIES, "levels": 4},
        "outputs": {"summary": list(SWEEP_OUTPUTS)},
        "parameters": parameters,
    }
    d = len(parameters)
    runs = SWEEP_TRAJECTORIES * (d + 1) * SWEEP_REPLICATIONS
    header = (
        f"# Generated by `{command}` from scenarios/provenance.toml; do not edit by hand.\n"
        f"# Morris screening of the {d} assumed (and hand-fitted) parameters of the baseline,\n"
        "# each over its provenance range (words and true/false over their listed choices).\n"
        f"# Size: {SWEEP_TRAJECTORIES} trajectories x (D + 1) = {SWEEP_TRAJECTORIES * (d + 1)} "
        f"points, {SWEEP_REPLICATIONS} replications: {runs} runs (a few minutes on 2 cores).\n"
        "# Results: docs/assumptions.md.\n\n"
    )
    return header + tomli_w.dumps(body)
