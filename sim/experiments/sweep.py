"""Running a sweep: chunks of runs on the executor (local processes or a Dask cluster).

A task is a chunk of runs worth about a second of work (``chunk_size``), run by
``run_chunk`` on a worker. Each run's seed is ``run_seed(master, run_id)``, so the
results do not depend on the backend, the number of workers or the chunking. The
executor keeps a bounded window of chunks in flight; the parent writes each finished
chunk to Parquet at once, so memory does not grow with the size of the sweep.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from sim.experiments import sampling, storage
from sim.experiments.executor import Backend, ProgressBar, WorkersDied, execute
from sim.experiments.seeds import run_seed
from sim.experiments.spec import SweepSpec

TARGET_CHUNK_SECONDS = 1.0
CHUNKS_PER_WORKER = 4  # enough chunks that no worker waits long at the end


@dataclass(frozen=True)
class RunContext:
    """What every worker needs once: the base scenario and what to keep."""

    base: dict
    keys: tuple[str, ...]
    dtypes: tuple[str, ...]
    summary: tuple[str, ...]
    series: tuple[str, ...]
    series_every: int
    scenario_path: str


@dataclass
class Chunk:
    """Runs sent together: ids, points, replications, seeds and the points' values."""

    run_ids: np.ndarray
    point_ids: np.ndarray
    replications: np.ndarray
    seeds: np.ndarray
    values: list[tuple]

    @property
    def name(self) -> str:
        return storage.chunk_name(self.run_ids)


@dataclass
class SweepOutcome:
    folder: Path
    total: int
    done_before: int
    ran: int
    failed: int
    seconds: float
    resumed: bool
    damaged: list[str] = field(default_factory=list)  # unreadable chunk files, run again


class SweepInterrupted(Exception):
    """Ctrl-C during a sweep: finished chunks are on disk; the message says how to resume."""

    def __init__(self, folder: Path, done: int, total: int) -> None:
        self.folder, self.done, self.total = folder, done, total
        super().__init__(f"interrupted: {done} of {total} runs are saved in {folder}")


def context_for(spec: SweepSpec) -> RunContext:
    return RunContext(
        base=spec.base.model_dump(mode="json"),
        keys=tuple(spec.keys),
        dtypes=tuple(p.dtype for p in spec.params),
        summary=tuple(spec.summary),
        series=tuple(spec.series),
        series_every=spec.file.outputs.series_every,
        scenario_path=str(spec.path),
    )


def runs_schema(context: RunContext) -> pa.Schema:
    """One schema for every chunk, so that all files read as one table."""
    fields = [
        pa.field("run_id", pa.int64()),
        pa.field("point_id", pa.int64()),
        pa.field("replication", pa.int64()),
        pa.field("seed", pa.int64()),
    ]
    fields += [
        pa.field(k, getattr(pa, "bool_" if t == "bool" else t)())
        for k, t in zip(context.keys, context.dtypes, strict=True)
    ]
    fields += [pa.field(m, pa.float64()) for m in context.summary]
    fields += [pa.field("seconds", pa.float64()), pa.field("error", pa.string())]
    return pa.schema(fields)


class NonFiniteOutput(ArithmeticError):
    """A summary output of a run is NaN or infinite: the run counts as failed."""


def check_finite(summary: dict[str, float]) -> None:
    """A run whose summary holds NaN or inf fails here, naming the outputs, instead of
    entering the table as a number that would poison every mean computed from it."""
    bad = [f"{k}={v}" for k, v in summary.items() if not math.isfinite(v)]
    if bad:
        raise NonFiniteOutput(f"not a finite number: {', '.join(bad)}")


def describe_error(exc: BaseException) -> str:
    """One readable line: ``OverflowError: Numerical result out of range``, never the
    ``(34, 'Numerical result out of range')`` of an errno-style exception."""
    if len(exc.args) == 2 and isinstance(exc.args[0], int) and isinstance(exc.args[1], str):
        text = exc.args[1]
    else:
        text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {' '.join(text.split())}"


def run_chunk(context: RunContext, chunk: Chunk) -> tuple[pa.Table, pa.Table | None]:
    """Run every run of a chunk; a failing run is recorded with its error, not fatal."""
    from sim.metrics import metrics_needed, run_columns, summarize, summary_columns
    from sim.model.run import run_model
    from sim.schema.scenario import validate

    # Record only what the outputs are computed from (about a tenth faster per run).
    metrics = metrics_needed([*summary_columns(context.summary), *context.series])

    columns: dict[str, list] = {name: [] for name in runs_schema(context).names}
    series_parts: list[dict[str, np.ndarray]] = []
    config, config_values = None, None
    for run_id, point, rep, seed, values in zip(
        chunk.run_ids.tolist(),
        chunk.point_ids.tolist(),
        chunk.replications.tolist(),
        chunk.seeds.tolist(),
        chunk.values,
        strict=True,
    ):
        start = time.perf_counter()
        error = None
        try:
            if config is None or values != config_values:
                data = sampling.apply_point(context.base, list(context.keys), values)
                config, config_values = validate(data, context.scenario_path), values
            columns_of_run = run_columns(run_model(config, seed, metrics=metrics))
            summary = summarize(columns_of_run, context.summary)
            check_finite(summary)
            if context.series:
                kept = columns_of_run["step"] % context.series_every == 0
                part = {
                    "run_id": np.full(int(kept.sum()), run_id, dtype=np.int64),
                    "step": columns_of_run["step"][kept].astype(np.int64),
                }
                part.update(
                    {
                        name: np.asarray(columns_of_run[name], dtype=float)[kept]
                        for name in context.series
                    }
                )
                series_parts.append(part)
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the sweep
            summary, error = {}, describe_error(exc)
            config, config_values = None, None
        for name, value in (
            ("run_id", run_id),
            ("point_id", point),
            ("replication", rep),
            ("seed", seed),
        ):
            columns[name].append(value)
        for key, value in zip(context.keys, values, strict=True):
            columns[key].append(value)
        for metric in context.summary:
            columns[metric].append(summary.get(metric, math.nan))
        columns["seconds"].append(time.perf_counter() - start)
        columns["error"].append(error)
    runs = pa.table(columns, schema=runs_schema(context))
    series = None
    if context.series:
        names = ["run_id", "step", *context.series]
        series = pa.table(
            {
                n: np.concatenate([p[n] for p in series_parts]) if series_parts else np.empty(0)
                for n in names
            }
        )
    return runs, series


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """A plain ``kill`` stops a sweep like Ctrl-C: finished chunks kept, resume command
    printed, exit status non-zero (only the main thread can set a signal handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# --- the sweep ------------------------------------------------------------------------


def estimate_run_seconds(spec: SweepSpec) -> float:
    """Time one run of the base scenario: the basis of the chunk size."""
    from sim.model.run import run_summary

    start = time.perf_counter()
    run_summary(spec.base, run_seed(spec.file.seed, 0))
    return max(time.perf_counter() - start, 1e-4)


def chunk_size(spec: SweepSpec, missing: int, workers: int, override: int | None) -> int:
    """About a second of work per chunk, but enough chunks to keep every worker busy."""
    if override:
        return override
    if spec.file.chunk_runs:
        return spec.file.chunk_runs
    size = math.ceil(TARGET_CHUNK_SECONDS / estimate_run_seconds(spec))
    balanced = math.ceil(missing / max(1, workers * CHUNKS_PER_WORKER))
    return max(1, min(size, balanced))


def make_chunks(
    spec: SweepSpec, values: list[tuple], missing: np.ndarray, size: int
) -> Iterator[Chunk]:
    """Chunks of consecutive missing run ids (lazily, so a huge sweep is never all built)."""
    reps, master = spec.file.replications, spec.file.seed
    for start in range(0, len(missing), size):
        ids = missing[start : start + size]
        points = ids // reps
        yield Chunk(
            run_ids=ids,
            point_ids=points,
            replications=ids % reps,
            seeds=np.array([run_seed(master, int(i)) for i in ids], dtype=np.int64),
            values=[values[int(p)] for p in points],
        )


def run_sweep(
    spec: SweepSpec,
    folder: Path | Callable[[str], Path] | None = None,
    *,
    workers: int | None = None,
    backend: Backend = "local",
    scheduler: str | None = None,
    chunk_runs: int | None = None,
    progress: bool = True,
    dask_processes: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Sample, check every point, then run what the folder is missing.

    Nothing is created before every sampled point has passed the scenario check.
    ``folder``: a path, or a function making a new folder from the sweep's name (e.g.
    ``sim.cli.output.new_results_dir``); an existing sweep folder is resumed.
    ``on_chunk(done, total)`` is called after each chunk is written.
    """
    frame = sampling.design(spec)
    sampling.validate_points(spec, frame)
    if folder is None:
        raise ValueError("run_sweep needs a folder, or a function that makes one from a name")
    if callable(folder):  # made only now that every point has passed the check
        folder = folder(spec.name)
    lock = storage.FolderLock(folder)  # held until the sweep returns: one writer per folder
    try:
        with _sigterm_as_interrupt():
            return _run_locked(
                spec,
                frame,
                folder,
                workers,
                backend,
                scheduler,
                chunk_runs,
                progress,
                dask_processes,
                on_chunk,
            )
    finally:
        lock.release()


def _run_locked(
    spec: SweepSpec,
    frame: pd.DataFrame,
    folder: Path,
    workers: int | None,
    backend: Backend,
    scheduler: str | None,
    chunk_runs: int | None,
    progress: bool,
    dask_processes: bool,
    on_chunk: Callable[[int, int], None] | None,
) -> SweepOutcome:
    """The sweep itself, with the folder locked."""
    resumed, damaged = storage.prepare_folder(
        folder, spec, frame, chunk_runs or spec.file.chunk_runs
    )
    total = len(frame) * spec.file.replications
    done = storage.done_run_ids(folder)
    missing = np.setdiff1d(np.arange(total, dtype=np.int64), done)
    context = context_for(spec)
    values = sampling.point_values(spec, frame)

    def chunks_for(slots: int) -> Iterator[Chunk]:
        """Chunks sized once the backend knows how many runs it can run at once."""
        return make_chunks(spec, values, missing, chunk_size(spec, len(missing), slots, chunk_runs))

    outcome = SweepOutcome(
        folder=folder,
        total=total,
        done_before=total - len(missing),
        ran=0,
        failed=0,
        seconds=0.0,
        resumed=resumed,
        damaged=damaged,
    )
    start = time.perf_counter()
    bar = ProgressBar(
        total=total,
        initial=outcome.done_before,
        unit="run",
        desc=spec.name,
        disable=not progress,
        smoothing=0.05,
        dynamic_ncols=True,
    )

    def record(chunk: Chunk, result: tuple[pa.Table, pa.Table | None]) -> None:
        runs, series = result
        storage.write_chunk(folder, chunk.name, runs, series)
        outcome.ran += runs.num_rows
        outcome.failed += runs.num_rows - runs.column("error").null_count
        bar.update(runs.num_rows)
        if on_chunk is not None:
            on_chunk(outcome.done_before + outcome.ran, total)

    try:
        if len(missing):
            execute(
                run_chunk,
                context,
                chunks_for,
                record,
                workers=workers,
                backend=backend,
                scheduler=scheduler,
                dask_processes=dask_processes,
                preload=["sim.model.run", "sim.experiments.sweep"],
            )
    except KeyboardInterrupt:
        bar.close()
        raise SweepInterrupted(folder, outcome.done_before + outcome.ran, total) from None
    except WorkersDied as exc:
        bar.close()
        saved = outcome.done_before + outcome.ran
        raise WorkersDied(exc.deaths, f"{saved} of {total} runs saved in {folder}") from None
    finally:
        bar.close()
    outcome.seconds = time.perf_counter() - start
    return outcome
