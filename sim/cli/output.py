"""Results folders: never overwritten, every file written atomically.

A file is written under a temporary name in the same folder and renamed into
place, so an interrupted run leaves either the whole file or none of it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

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


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


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
