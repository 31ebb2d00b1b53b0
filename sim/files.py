"""Atomic, durable file writes: the one writer of every results file (below every layer).

A file is written under a temporary name in its own folder, flushed to disk (the file,
then after the rename its folder), and only then counts as written: a crash or a power
cut leaves either the whole file or none of it, never a 0-byte or truncated one. The
file gets the mode a plain ``open`` would give (``0666`` less the umask), not the
``0600`` of :func:`tempfile.mkstemp`, so colleagues on shared storage can read results.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def current_umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or a folder's) content and metadata to the disk."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if Path(path).is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        with contextlib.suppress(OSError):  # some file systems cannot fsync a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)``, fsync, rename onto ``path`` and fsync its folder."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, 0o666 & ~current_umask())
        fsync_path(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    fsync_path(path.parent)
    return path


def write_text(path: str | Path, text: str) -> Path:
    return write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))
