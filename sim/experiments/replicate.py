"""Replications: one scenario over N seeds, in parallel, summarised as means and bands.

Replication ``i`` always runs with ``run_seed(master, i)`` (numpy SeedSequence),
so its result does not depend on how many processes ran the batch or in which
order chunks finished. The band is the central 90% of the replications: it
shows how much of a difference is noise.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.experiments.executor import Backend, ProgressBar, available_cores, execute
from sim.experiments.seeds import run_seed
from sim.metrics import summarize
from sim.model.run import simulate
from sim.schema.scenario import Scenario

BAND = 0.9  # central share of replications the band covers
MIN_CHUNK_STEPS = 5000  # quarters simulated per task: about a second of work
LOW_Q, HIGH_Q = (1 - BAND) / 2, 1 - (1 - BAND) / 2


@dataclass
class Replication:
    """One finished run: its index, seed, summary metrics, per-step frame and event log."""

    index: int
    seed: int
    summary: dict[str, float]
    frame: pd.DataFrame
    events: list[str]
    process: int = 0  # id of the process that ran it (the result never depends on it)
    episodes: list[dict] = field(default_factory=list)  # pressure episodes, one row each


@dataclass
class Replications:
    """All runs of one scenario, in replication order."""

    config: Scenario
    runs: list[Replication] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    @property
    def frames(self) -> list[pd.DataFrame]:
        return [run.frame for run in self.runs]

    def summaries(self) -> pd.DataFrame:
        """One row per replication: index, seed and every summary metric."""
        rows = [{"replication": r.index, "seed": r.seed, **r.summary} for r in self.runs]
        return pd.DataFrame(rows)

    def summary_bands(self) -> dict[str, dict[str, float]]:
        """Mean and the central 90% band of each summary metric."""
        table = self.summaries().drop(columns=["replication", "seed"])
        return {name: band_of(table[name].to_numpy()) for name in table.columns}

    def step_bands(self) -> pd.DataFrame:
        """Per step: mean, 5% and 95% of every numeric column, over replications."""
        first = self.frames[0]
        ids = ["step", "year", "quarter"]
        values = [c for c in first.columns if c not in ids]
        stack = np.stack([f[values].to_numpy(dtype=float) for f in self.frames])
        parts = {c: first[c].to_numpy() for c in ids}
        mean = stack.mean(axis=0)
        low, high = np.quantile(stack, [LOW_Q, HIGH_Q], axis=0)
        for j, col in enumerate(values):
            parts[f"{col}.mean"] = mean[:, j]
            parts[f"{col}.p05"] = low[:, j]
            parts[f"{col}.p95"] = high[:, j]
        return pd.DataFrame(parts)


def band_of(values: np.ndarray) -> dict[str, float]:
    low, high = np.quantile(values, [LOW_Q, HIGH_Q])
    return {"mean": float(np.mean(values)), "p05": float(low), "p95": float(high)}


def run_replications(config: Scenario, chunk: list[tuple[int, int]]) -> list[Replication]:
    """Executor task: the runs of one chunk of (index, seed) pairs, with frames and logs."""
    done = []
    for index, seed in chunk:
        model, frame = simulate(config, seed)
        done.append(
            Replication(
                index,
                seed,
                summarize(frame),
                frame,
                list(model.event_log),
                os.getpid(),
                model.episode_records(),
            )
        )
    return done


def plan_chunks(
    count: int, steps: int, master: int, slots: int, min_chunk_steps: int = MIN_CHUNK_STEPS
) -> list[list[tuple[int, int]]]:
    """Up to four chunks per slot for an even load, but each chunk at least
    ``min_chunk_steps`` quarters (about a second): a run takes tens of milliseconds, less
    than starting a worker, so a small batch is one chunk and runs in this process."""
    chunk_count = min(slots * 4, count, max(1, count * steps // min_chunk_steps))
    size = math.ceil(count / chunk_count)
    return [
        [(i, run_seed(master, i)) for i in range(start, min(start + size, count))]
        for start in range(0, count, size)
    ]


def replicate(
    config: Scenario,
    count: int,
    master: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    label: str | None = None,
    min_chunk_steps: int = MIN_CHUNK_STEPS,
    backend: Backend = "local",
    scheduler: str | None = None,
) -> Replications:
    """Run ``count`` replications of ``config`` on the sweep executor (a sweep of one
    point): in this process for a small batch, else on local processes or Dask."""
    master = config.seed if master is None else master
    workers = max(1, min(workers or available_cores(), count))
    if backend == "local":
        # Chunks do not depend on the slots here; fewer chunks than workers, fewer workers.
        planned = plan_chunks(count, config.steps, master, workers, min_chunk_steps)
        workers = min(workers, len(planned))

    def chunks_for(slots: int) -> list[list[tuple[int, int]]]:
        return plan_chunks(count, config.steps, master, slots, min_chunk_steps)

    bar = ProgressBar(
        total=count,
        desc=label or f"{config.name} x{count}",
        unit="run",
        leave=False,
        disable=not progress,
    )
    runs: list[Replication] = []

    def keep(chunk: list[tuple[int, int]], finished: list[Replication]) -> None:
        runs.extend(finished)
        bar.update(len(finished))

    try:
        execute(
            run_replications,
            config,
            chunks_for,
            keep,
            workers=workers,
            backend=backend,
            scheduler=scheduler,
            preload=["sim.experiments.replicate"],
        )
    finally:
        bar.close()
    runs.sort(key=lambda run: run.index)
    return Replications(config, runs)
