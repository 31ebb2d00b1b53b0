"""What every file schema shares: the strict base model, the errors a user sees, reading
TOML, explaining a validation error, and reading or writing a value at a dotted key path.

Nothing here knows about scenarios, sweeps or the model, so every other module can
import it without a cycle.
"""

from __future__ import annotations

import difflib
import tomllib
import types
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError


class UserError(Exception):
    """A problem the user can fix, shown as one line (no traceback), exit status 2."""


class ScenarioError(UserError):
    """A problem in a file the user wrote: file, key path, what was found, what was expected.

    Used for scenario, sweep and target files alike (all are validated the same way).
    """

    def __init__(self, file: str | Path, key: str, found: str, expected: str) -> None:
        self.file, self.key, self.found, self.expected = str(file), key, found, expected
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {found}; expected {expected}")


class OutputError(UserError):
    """A results folder or file that cannot be created, written or read back."""


class ResultsFolderError(OutputError):
    """A results folder that is not what a command expects (a sweep folder to resume, its
    manifest and design): the folder or file, the key, what was found, what was expected."""

    def __init__(self, file: str | Path, key: str, found: str, expected: str) -> None:
        self.file, self.key, self.found, self.expected = str(file), key, found, expected
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {found}; expected {expected}")


class Strict(BaseModel):
    """Base for every table of every file: unknown keys are errors, never ignored; no
    value is coerced to another type; every number is finite."""

    # strict: no coercion ("0.5" is not 0.5, true is not 1.0, "yes" is not true);
    # allow_inf_nan=False: inf and nan are errors in every float field.
    model_config = ConfigDict(
        extra="forbid", validate_default=True, strict=True, allow_inf_nan=False
    )


def read_toml(path: str | Path, what: str = "scenario file") -> dict:
    """The parsed file, or a ScenarioError saying why it cannot be read."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(path, "", "file not found", f"an existing {what}") from None
    except IsADirectoryError:
        raise ScenarioError(path, "", "a folder", f"a {what}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            path, "", f"bytes that are not UTF-8 text (at byte {exc.start})", "a UTF-8 text file"
        ) from None
    except OSError as exc:
        raise ScenarioError(
            path, "", f"cannot read it ({exc.strerror})", "a readable file"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(path, "", f"invalid TOML: {exc}", "valid TOML") from None


def close_match(word: str, options: Iterable[str]) -> str:
    """'; did you mean X?' for a near miss, else ''."""
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def get_path(data: dict, key: str) -> Any:
    """The value at a dotted key path (KeyError naming the first missing part)."""
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(part)
        node = node[part]
    return node


def set_path(data: dict, key: str, value: Any) -> None:
    """Set the value at a dotted key path, creating tables on the way."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = value


def expected_text(err: Mapping[str, Any]) -> str:
    """Pydantic's message as the 'expected' half of a ScenarioError."""
    return err["msg"].removeprefix("Input should be ").removeprefix("Value error, ")


def found_text(err: Mapping[str, Any]) -> str:
    found = err.get("input")
    if err["type"] == "missing":
        return "missing"
    return "found a table" if isinstance(found, dict) else f"found {found!r}"


# --- explaining a validation error -------------------------------------------------------


def unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional so a walk through a schema sees the container or model."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else annotation
    return annotation


def walk(root: type[BaseModel], loc: tuple[str, ...]) -> tuple[Any, Any]:
    """Follow a key path through a schema: (the annotation there, its FieldInfo or None)."""
    node: Any = root
    info = None
    for part in loc:
        node = unwrap(node)
        if isinstance(node, type) and issubclass(node, BaseModel):
            info = node.model_fields.get(part)
            if info is None:
                return None, None
            node = info.annotation
        elif get_origin(node) in (dict, list):
            node = get_args(node)[-1]
        else:
            return None, None
    return unwrap(node), info


def known_keys(root: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    """The keys a table at ``loc`` may hold (for 'unknown key ...; one of: ...')."""
    node, _ = walk(root, loc)
    if isinstance(node, type) and issubclass(node, BaseModel):
        return list(node.model_fields)
    return []


def explain(
    exc: ValidationError,
    path: str | Path,
    root: type[BaseModel],
    *,
    source_of: Callable[[tuple[str, ...]], str] | None = None,
    key_of: Callable[[tuple[str, ...]], str] | None = None,
) -> ScenarioError:
    """Pydantic's first complaint about a file as one ScenarioError: the file (or, with
    ``source_of``, the file in an ``extends`` chain that set the key), the key path (as
    ``key_of`` names it), what was found and what was expected, with the field's
    description and how many more problems there are. Every file schema uses this."""
    errors = exc.errors(include_url=False)
    err = errors[0]
    loc = tuple(str(part) for part in err["loc"])
    if err["type"] == "missing":  # a misspelt key is also a required key missing:
        for other in errors:  # the unknown one, with its suggestion, is the useful message
            there = tuple(str(part) for part in other["loc"])
            if other["type"] == "extra_forbidden" and there[:-1] == loc[:-1]:
                err, loc = other, there
                break
    key = key_of(loc) if key_of else ".".join(loc)
    source = source_of(loc) if source_of else str(path)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    if err["type"] == "extra_forbidden":
        known = known_keys(root, loc[:-1])
        listed = ", ".join(known) if known else "nothing here"
        return ScenarioError(
            source,
            key,
            f"unknown key '{loc[-1]}'{close_match(loc[-1], known)}",
            f"one of: {listed}{more}",
        )
    if err["type"] == "missing":
        return ScenarioError(source, key, "missing", f"a value for this required key{more}")
    _, info = walk(root, loc)
    about = f" ({info.description})" if info is not None and info.description else ""
    found = err.get("input")
    shown = "a table" if isinstance(found, dict) else f"{found!r} ({type(found).__name__})"
    return ScenarioError(source, key, f"found {shown}", f"{expected_text(err)}{about}{more}")
