"""Results folders: never overwritten, every file written atomically.

A file is written under a temporary name in the same folder and renamed into
place, so an interrupted run leaves either the whole file or none of it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from sim.files import write_atomic  # the one atomic, durable writer (fsync, umask)
from sim.schema.base import OutputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Relative: results go under the folder the command runs in, wherever sim is installed.
RESULTS_DIR = Path("results")


def new_results_dir(name: str, out: str | Path | None = None) -> Path:
    """A fresh folder ``<out>/<name>-<timestamp>``; never reuses an existing one."""
    base = Path(out) if out is not None else RESULTS_DIR
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        base.mkdir(parents=True, exist_ok=True)
        for n in range(1000):
            folder = base / (f"{name}-{stamp}" if n == 0 else f"{name}-{stamp}-{n}")
            try:
                folder.mkdir()
                return folder
            except FileExistsError:
                continue
    except OSError as exc:
        raise OutputError(
            f"{base}: cannot create a results folder there ({exc.strerror or exc})"
        ) from None
    raise OutputError(f"{base}: no new results folder name left for {name}-{stamp}")


def check_writable(out: str | Path | None = None) -> Path:
    """Make the parent folder of a results folder and write (then delete) a probe file in
    it, BEFORE a run: a folder that cannot be made or written is a one-line error now,
    not a traceback after minutes of work whose outputs are then lost."""
    base = Path(out) if out is not None else RESULTS_DIR
    if base.exists() and not base.is_dir():
        raise OutputError(f"{base}: is a file, not a folder; --out names the parent folder")
    try:
        base.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=base, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(
            f"{base}: cannot create a results folder there ({exc.strerror or exc})"
        ) from None
    return base


@contextlib.contextmanager
def partial_output(folder: Path) -> Iterator[None]:
    """Turn a write failure after the run (disk full, folder removed) into one line that
    says where the files already written are."""
    try:
        yield
    except OSError as exc:
        what = Path(exc.filename).name if exc.filename else "a file"
        if what.startswith(".") and what.endswith(".part"):  # write_atomic's temporary name
            what = what[1:].removesuffix(".part").rsplit(".", 1)[0]
        kept = (
            sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
            if (folder.is_dir())
            else []
        )
        where = (
            f"the files written before it are in {folder}: {', '.join(kept)}"
            if kept
            else "no file was written"
        )
        raise OutputError(
            f"{folder}: writing {what} failed ({exc.strerror or exc}); {where}"
        ) from None


def write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def write_json(path: str | Path, data: object) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    return write_atomic(path, lambda p: frame.to_csv(p, index=False))


def write_figure(path: str | Path, figure: Figure) -> Path:
    """Save a matplotlib figure atomically (format from the final name's suffix)."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return write_atomic(path, lambda p: figure.savefig(p, format=fmt, dpi=110, bbox_inches="tight"))
