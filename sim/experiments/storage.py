"""A sweep's results folder: manifest, design, one Parquet file per finished chunk.

Layout::

    .sweep.lock            flock held by the sweep writing here (one writer at a time)
    manifest.json          what was run: sweep file and hash, base scenario, sampler,
                           package versions, git commit (checked on resume)
    sweep.toml             the sweep file as it was
    base_scenario.toml     the resolved base scenario (overrides applied)
    design.parquet         one row per point: point_id, parameter values, unit coordinates
    runs/runs-AAAAAAAA-BBBBBBBB.parquet    one row per run of a finished chunk
    series/series-AAAAAAAA-BBBBBBBB.parquet  per-step series of the same runs (if asked)

Every file is written under a temporary name and renamed (``write_atomic``).
A chunk's series file is written before its runs file, so a runs file present means the
chunk is complete; resume deletes orphan series files and leftover temporaries, then
runs exactly the run ids that no runs file holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiments.spec import SweepSpec
from sim.files import write_atomic, write_text
from sim.schema.base import ResultsFolderError, UserError

MANIFEST = "manifest.json"
FORMAT = 1
PACKAGES = (
    "third-neighbour-sim",
    "mesa",
    "numpy",
    "pandas",
    "pyarrow",
    "SALib",
    "scipy",
    "dask",
    "distributed",
    "pydantic",
)
# The source checkout sim runs from, if any; an installed wheel has none (no commit then).
REPO = Path(__file__).resolve().parents[2]


LOCK = ".sweep.lock"


class FolderLocked(UserError):
    """Another process is writing to this sweep folder."""


class FolderLock:
    """An exclusive ``flock`` on ``<folder>/.sweep.lock`` for as long as a sweep writes
    there: a second writer would duplicate runs. The kernel drops the lock when the
    holder dies (even by kill -9), so a stale lock file never blocks a resume."""

    def __init__(self, folder: Path) -> None:
        import fcntl

        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOCK
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            raise FolderLocked(
                f"{folder}: another sweep (process {holder}) is writing to this folder; "
                "wait for it to finish, or stop it and run this command again to resume"
            ) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = -1

    def __enter__(self) -> FolderLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def fingerprint(spec: SweepSpec) -> dict:
    """What must match for a folder to be resumed: the sweep file and the resolved base."""
    base = json.dumps(spec.base.model_dump(mode="json"), sort_keys=True)
    return {
        "sweep_sha256": spec.sha256,
        "overrides": list(spec.overrides),
        "base_sha256": hashlib.sha256(base.encode()).hexdigest(),
    }


def package_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> dict[str, str | bool | None]:
    """The commit of the code that ran, and whether the tree had local changes."""
    if not (REPO / ".git").exists() or not (REPO / "pyproject.toml").is_file():
        return {"commit": None, "sim_modified": None}  # installed: not a checkout of ours
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "sim"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return {"commit": head, "sim_modified": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "sim_modified": None}


def manifest_for(spec: SweepSpec, n_points: int, chunk_hint: int | None) -> dict:
    return {
        "format": FORMAT,
        "name": spec.name,
        "description": spec.file.description,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sweep_file": str(spec.path.resolve()),
        "fingerprint": fingerprint(spec),
        "base_scenario_file": str(spec.base_path.resolve()),
        "base_scenario": spec.base.model_dump(mode="json"),
        "sampler": spec.file.sampler.model_dump(mode="json"),
        "parameters": {
            p.key: {
                k: v
                for k, v in spec.file.parameters[p.key].model_dump(mode="json").items()
                if v is not None
            }
            | {"column_type": p.dtype}
            for p in spec.params
        },
        "seed": spec.file.seed,
        "replications": spec.file.replications,
        "n_points": n_points,
        "n_runs": n_points * spec.file.replications,
        "run_id": "point_id * replications + replication; seed = run_seed(seed, run_id)",
        "outputs": {
            "summary": spec.summary,
            "series": spec.series,
            "series_every": spec.file.outputs.series_every,
        },
        "chunk_runs": chunk_hint,
        "python": platform.python_version(),
        "packages": package_versions(),
        "git": git_commit(),
    }


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ResultsFolderError(
            path, "", f"unreadable manifest ({exc})", "the manifest.json a sweep wrote"
        ) from None


def prepare_folder(
    folder: Path, spec: SweepSpec, frame: pd.DataFrame, chunk_hint: int | None
) -> tuple[bool, list[str]]:
    """Create a new results folder, or check that an existing one is this sweep's.

    Returns whether this is a resume, and the damaged chunk files set aside (their runs
    run again). A folder started by a different sweep file (or the
    same file with another base scenario) is an error, never a silent mix.
    """
    manifest = read_manifest(folder)
    if manifest is not None:
        theirs, ours = manifest.get("fingerprint", {}), fingerprint(spec)
        for key in ("sweep_sha256", "base_sha256", "overrides"):
            if theirs.get(key) != ours[key]:
                what = {
                    "sweep_sha256": "the sweep file's content",
                    "base_sha256": "the resolved base scenario",
                    "overrides": "the --set overrides",
                }[key]
                raise ResultsFolderError(
                    folder / MANIFEST,
                    f"fingerprint.{key}",
                    f"{what} differs from the sweep that started this folder "
                    f"({manifest.get('sweep_file')})",
                    "the same sweep file and overrides to resume, or a new "
                    "--out folder for a different sweep",
                )
        check_design(folder, frame)
        damaged = clean_partial(folder)
        _record_resume(folder, manifest)
        return True, damaged
    if folder.exists():
        known = {"sweep.toml", "base_scenario.toml", "design.parquet", "runs", "series", LOCK}
        foreign = sorted(
            p.name for p in folder.iterdir() if p.name not in known and not p.name.startswith(".")
        )
        if foreign:  # e.g. --out results/ instead of --out results/my-sweep/
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise ResultsFolderError(
                folder,
                "--out",
                f"a folder holding other files ({shown}) and no manifest.json",
                "a new or empty folder, or a sweep results folder to resume",
            )
        if any((folder / "runs").glob("*.parquet")):
            raise ResultsFolderError(
                folder,
                MANIFEST,
                "run files but no manifest",
                "a sweep results folder with its manifest.json, or a new folder",
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs").mkdir(exist_ok=True)
    if spec.series:
        (folder / "series").mkdir(exist_ok=True)
    write_text(folder / "sweep.toml", spec.text)
    write_text(folder / "base_scenario.toml", spec.base.to_toml())
    write_table(folder / "design.parquet", pa.Table.from_pandas(frame, preserve_index=False))
    write_json(folder / MANIFEST, manifest_for(spec, len(frame), chunk_hint))
    return False, []


def check_design(folder: Path, frame: pd.DataFrame) -> None:
    """The design regenerated on resume must be the one the folder was started with (a
    library upgrade in between could change the sampler's points: never mix two designs)."""
    path = folder / "design.parquet"
    expected = "the design the sweep started with: resume with the same library " + (
        "versions (see manifest.json), or start a new --out folder"
    )
    try:
        saved = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsFolderError(path, "", f"unreadable design ({exc})", expected) from None
    if list(saved.columns) != list(frame.columns) or len(saved) != len(frame):
        raise ResultsFolderError(
            path,
            "",
            f"{len(saved)} points with columns {list(saved.columns)}, but the sweep now gives "
            f"{len(frame)} points with columns {list(frame.columns)}",
            expected,
        )
    for column in frame.columns:
        a, b = saved[column].to_numpy(), frame[column].to_numpy()
        same = a == b if a.dtype.kind not in "fc" else (a == b) | (np.isnan(a) & np.isnan(b))
        if not np.all(same):
            point = int(np.flatnonzero(~np.asarray(same, dtype=bool))[0])
            raise ResultsFolderError(
                path,
                column,
                f"point {point} is {_plain(a[point])!r} in the saved design but "
                f"{_plain(b[point])!r} now",
                expected,
            )


def _record_resume(folder: Path, manifest: dict) -> None:
    """Note each resume in the manifest, and warn when the code changed in between: the
    folder would then hold runs of two versions of the model."""
    import warnings

    now = git_commit()
    started = manifest.get("git", {})
    if now.get("commit") != started.get("commit") or now.get("sim_modified"):
        warnings.warn(
            f"resuming {folder} with code at commit {now.get('commit')} "
            f"(local changes in sim/: {now.get('sim_modified')}); the sweep started at "
            f"{started.get('commit')} (local changes: {started.get('sim_modified')}). "
            "If the model changed, the runs before and after differ.",
            stacklevel=2,
        )
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": now,
        "packages": package_versions(),
        "runs_before": int(len(done_run_ids(folder))),
    }
    manifest["resumes"] = [*manifest.get("resumes", []), entry]
    write_json(folder / MANIFEST, manifest)


def readable(path: Path) -> bool:
    """Whether a Parquet file can be read (a crash or a full disk can leave a 0-byte or
    truncated file that an older writer, without fsync, had already renamed into place)."""
    try:
        pq.read_metadata(path)
    except (OSError, pa.ArrowException):
        return False
    return True


def clean_partial(folder: Path) -> list[str]:
    """Remove what a kill can leave: temporaries and series files of unfinished chunks.

    An unreadable runs file is renamed to ``*.damaged`` (kept for a look, no longer read):
    its runs are not done and run again. Returns the names of those files.
    """
    for sub in ("runs", "series"):
        for tmp in (folder / sub).glob(".*.part"):
            tmp.unlink(missing_ok=True)
    damaged = []
    for path in sorted((folder / "runs").glob("runs-*.parquet")):
        if not readable(path):
            path.replace(path.with_name(path.name + ".damaged"))
            damaged.append(path.name)
    finished = {p.name.removeprefix("runs-") for p in (folder / "runs").glob("runs-*.parquet")}
    for series in (folder / "series").glob("series-*.parquet"):
        if series.name.removeprefix("series-") not in finished:
            series.unlink(missing_ok=True)
    return damaged


def write_table(path: Path, table: pa.Table) -> Path:
    return write_atomic(path, lambda p: pq.write_table(table, p))


def chunk_name(run_ids: np.ndarray) -> str:
    return f"{int(run_ids[0]):08d}-{int(run_ids[-1]):08d}.parquet"


def write_chunk(folder: Path, name: str, runs: pa.Table, series: pa.Table | None) -> None:
    """Series first, runs last: the runs file is the mark of a finished chunk."""
    if series is not None:
        write_table(folder / "series" / f"series-{name}", series)
    write_table(folder / "runs" / f"runs-{name}", runs)


def done_run_ids(folder: Path) -> np.ndarray:
    """Run ids already in finished chunks (only the run_id column is read; an unreadable
    file holds no finished run)."""
    parts = []
    for path in sorted((folder / "runs").glob("runs-*.parquet")):
        try:
            parts.append(pq.read_table(path, columns=["run_id"]).column(0).to_numpy())
        except (OSError, pa.ArrowException):
            continue
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _read_tables(files: list[Path]) -> tuple[list[pa.Table], list[str]]:
    """The readable files' tables and the names of the unreadable ones."""
    tables, unreadable = [], []
    for path in files:
        try:
            tables.append(pq.read_table(path))
        except (OSError, pa.ArrowException):
            unreadable.append(path.name)
    return tables, unreadable


def load_runs(folder: str | Path) -> pd.DataFrame:
    """The tidy runs table of a sweep: one row per run, sorted by run id.

    Unreadable chunk files are skipped; a run id found more than once (two writers on one
    folder, before the folder lock) is kept once. Both are never silent: the frame's
    ``attrs`` say which (``unreadable``: file names; ``duplicates``: rows dropped,
    ``duplicate_ids``: the first few ids), and the analysis prints them.
    """
    folder = Path(folder)
    files = sorted((folder / "runs").glob("runs-*.parquet"))
    tables, unreadable = _read_tables(files)
    if not tables:
        frame = pd.DataFrame()
        frame.attrs.update(unreadable=unreadable, duplicates=0, duplicate_ids=[])
        return frame
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    frame = frame.sort_values("run_id", kind="stable")
    repeated = frame["run_id"].duplicated(keep="first")
    ids = sorted(set(frame.loc[repeated, "run_id"].tolist()))
    frame = frame[~repeated].reset_index(drop=True)
    frame.attrs.update(unreadable=unreadable, duplicates=int(repeated.sum()), duplicate_ids=ids[:5])
    return frame


def load_series(folder: str | Path) -> pd.DataFrame:
    """The per-step series table (run_id, step, one column per kept series)."""
    folder = Path(folder)
    files = sorted((folder / "series").glob("series-*.parquet"))
    tables, _ = _read_tables(files)
    if not tables:
        return pd.DataFrame()
    frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    frame = frame.drop_duplicates(["run_id", "step"], keep="first")
    return frame.sort_values(["run_id", "step"], kind="stable").reset_index(drop=True)


def load_design(folder: str | Path) -> pd.DataFrame:
    return pq.read_table(Path(folder) / "design.parquet").to_pandas()


# --- atomic files (the shared writer is sim.files) ---------------------------------------


def write_json(path: str | Path, data: object) -> Path:
    return write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds (no 'np.float64(...)' in messages)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value
