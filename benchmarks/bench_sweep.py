"""Sweep throughput against mesa.batch_run, worker scaling, Dask overhead, peak memory.

    python benchmarks/bench_sweep.py                 # everything (a few minutes)
    python benchmarks/bench_sweep.py --long-runs 0   # skip the long memory sweep

1. The same workload (a grid of cap level x enforcement x alignment, replicated, 140
   quarters each) through ``mesa.batch_run(BalanceModel, ..., number_processes=2,
   data_collection_period=-1)`` and through our sweep with 2 workers: runs/s and ratio.
   batch_run varies BalanceModel's keyword arguments (the baseline is read by each
   model); the sweep varies the same scenario keys. Mesa 3.3 takes ``iterations=``,
   Mesa 3.5 ``rng=`` (one seed per replication).
2. The sweep with 1 and with 2 workers: speed-up.
3. The sweep on a Dask LocalCluster (2 worker processes), with and without the cluster's
   start-up, against the local backend.
4. A long sweep of very short runs in a subprocess (``run.py sweep``), sampled with
   psutil: peak RSS of the parent and of parent + workers, at two sweep sizes. Bounded
   memory means the peak does not grow with the number of runs.

Not part of the test suite. Every figure is measured when it runs; nothing is stored.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CAPS = [0.2, 0.3, 0.4, 0.5]
ENFORCEMENT = ["strict", "leaky", "none"]
ALIGNMENT = [0.1, 0.4, 0.7, 1.0]


def grid_sweep(
    folder: Path, replications: int, steps: int | None = None, name: str = "bench"
) -> Path:
    """The benchmark grid as a sweep file (optionally with shorter runs)."""
    overrides = f'overrides = ["steps={steps}"]\n' if steps else ""
    path = folder / f"{name}.toml"
    path.write_text(
        f"""name = "{name}"
base = "{(REPO / "scenarios" / "baseline.toml").as_posix()}"
{overrides}seed = 2010
replications = {replications}
[sampler]
method = "grid"
[parameters."investment.cap.level"]
values = {CAPS}
[parameters."investment.cap.enforcement"]
values = {ENFORCEMENT!r}
[parameters."alignment.level"]
values = {ALIGNMENT}
""".replace("'", '"'),
        encoding="utf-8",
    )
    return path


def time_batch_run(replications: int, processes: int) -> tuple[float, int]:
    import mesa

    from sim.catalog import BASELINE
    from sim.experiments.seeds import run_seeds
    from sim.model.model import BalanceModel
    from sim.schema.scenario import load_scenario

    steps = load_scenario(BASELINE).steps
    parameters = {"investment_cap": CAPS, "cap_enforcement": ENFORCEMENT, "alignment": ALIGNMENT}
    kwargs = dict(
        parameters=parameters,
        number_processes=processes,
        data_collection_period=-1,
        max_steps=steps,
        display_progress=False,
    )
    if "rng" in inspect.signature(mesa.batch_run).parameters:
        kwargs["rng"] = run_seeds(2010, replications)
    else:
        kwargs["iterations"] = replications
    start = time.perf_counter()
    results = mesa.batch_run(BalanceModel, **kwargs)
    return time.perf_counter() - start, len(results)


def time_sweep(
    path: Path, out: Path, workers: int, backend: str = "local", scheduler: str | None = None
) -> tuple[float, int]:
    from sim.experiments.spec import load_sweep
    from sim.experiments.sweep import run_sweep

    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    outcome = run_sweep(
        load_sweep(path), out, workers=workers, backend=backend, scheduler=scheduler, progress=False
    )
    return time.perf_counter() - start, outcome.ran


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def in_child(
    kind: str, path: Path, out: Path, workers: int, replications: int
) -> tuple[float, int, float]:
    """One measurement in a fresh single-threaded interpreter, as ``run.py sweep`` runs:
    (seconds of the batch_run or sweep call, runs, CPU seconds of that call in the child
    and its workers, imports excluded)."""
    before = _cpu(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--path",
            str(path),
            "--out",
            str(out),
            "--workers",
            str(workers),
            "--replications",
            str(replications),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{kind} child failed:\n{done.stderr}")
    cpu = _cpu(resource.RUSAGE_CHILDREN) - before
    seconds, runs, startup_cpu = done.stdout.split()[-3:]
    return float(seconds), int(runs), cpu - float(startup_cpu)


def child(kind: str, path: Path, out: Path, workers: int, replications: int) -> None:
    """The body of ``in_child``: import everything first, then time only the call.
    Both get the environment ``run.py sweep`` sets (one thread per numeric library)."""
    from sim.experiments.executor import ask_one_thread_per_library

    ask_one_thread_per_library()
    import mesa  # noqa: F401

    import sim.experiments.sweep  # noqa: F401
    from sim.model.model import BalanceModel  # noqa: F401

    startup = _cpu(resource.RUSAGE_SELF)
    if kind == "batch":
        seconds, runs = time_batch_run(replications, workers)
    else:
        seconds, runs = time_sweep(path, out, workers)
    print(f"{seconds} {runs} {startup}")


def best_of(repeat: int, measure) -> tuple[float, int, list[float], float]:
    """Fastest of ``repeat`` timings (the machine may be shared: the minimum is the
    least disturbed), all of them for the record, and the least CPU time per run
    (a measure of work done that other load on the machine does not inflate)."""
    times, count, cpu = [], 0, []
    for _ in range(repeat):
        seconds, count, cpu_s = measure()
        cpu.append(cpu_s / max(count, 1))
        times.append(seconds)
    return min(times), count, times, min(cpu)


def best_time(repeat: int, measure) -> tuple[float, list[float]]:
    times = [measure()[0] for _ in range(repeat)]
    return min(times), times


def _all(times: list[float]) -> str:
    return "(runs: " + ", ".join(f"{t:.2f}" for t in times) + " s)"


def peak_rss(command: list[str]) -> tuple[float, float, float]:
    """Run a command and sample its memory: (seconds, peak RSS of the parent in MB, peak
    PSS of parent + workers in MB). PSS, not RSS, for the sum: forked workers share the
    parent's pages, which RSS would count once per process."""
    import psutil

    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
    watched = psutil.Process(proc.pid)
    parent_peak = total_peak = 0
    while proc.poll() is None:
        try:
            parent = watched.memory_info().rss
            total = sum(
                p.memory_full_info().pss for p in [watched, *watched.children(recursive=True)]
            )
        except psutil.Error:
            break
        parent_peak, total_peak = max(parent_peak, parent), max(total_peak, total)
        time.sleep(0.25)
    proc.wait()
    if proc.returncode:
        raise SystemExit(f"{command} failed ({proc.returncode})")
    return time.perf_counter() - start, parent_peak / 2**20, total_peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--replications",
        type=int,
        default=6,
        help="replications per grid point (48 points; default 6: 288 runs)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timings per measurement in 1-3; the fastest is reported",
    )
    parser.add_argument(
        "--long-runs",
        type=int,
        default=100_000,
        help="runs of the long memory sweep (0 to skip; default 100000)",
    )
    parser.add_argument(
        "--long-steps",
        type=int,
        default=1,
        help="quarters per run of the long sweep (default 1: short runs)",
    )
    parser.add_argument(
        "--memory-only", action="store_true", help="only the long memory sweep (4.)"
    )
    parser.add_argument("--child", choices=("batch", "sweep"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.out, args.workers, args.replications)
        return
    from importlib.metadata import version

    import mesa

    print(
        f"python {sys.version.split()[0]}, mesa {mesa.__version__}, dask "
        f"{version('distributed')}, {os.cpu_count()} cpus, load average "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    runs = 48 * args.replications
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = grid_sweep(tmp, args.replications)

        r = args.repeat
        if not args.memory_only:
            throughput(args, tmp, path, runs, r)
        if args.long_runs:
            memory(args, tmp)


def throughput(args: argparse.Namespace, tmp: Path, path: Path, runs: int, r: int) -> None:
    """Sections 1-3: batch_run against the sweep, worker scaling, Dask against local."""
    print(f"\n1. the same {runs} baseline runs (140 quarters), 2 processes, best of {r}")
    batch_s, batch_n, batch_t, batch_cpu = best_of(
        r, lambda: in_child("batch", path, tmp / "b", 2, args.replications)
    )
    sweep_s, sweep_n, sweep_t, sweep_cpu = best_of(
        r, lambda: in_child("sweep", path, tmp / "two", 2, args.replications)
    )
    assert batch_n == sweep_n == runs, (batch_n, sweep_n)
    print(
        f"   mesa.batch_run : {batch_s:6.2f} s  {runs / batch_s:7.1f} runs/s  "
        f"{1000 * batch_cpu:6.1f} ms CPU/run  {_all(batch_t)}"
    )
    print(
        f"   run.py sweep   : {sweep_s:6.2f} s  {runs / sweep_s:7.1f} runs/s  "
        f"{1000 * sweep_cpu:6.1f} ms CPU/run  {_all(sweep_t)}"
    )
    print(
        f"   ratio          : {batch_s / sweep_s:6.2f}x the throughput of batch_run "
        f"(wall); {batch_cpu / sweep_cpu:.2f}x its work per run (CPU)"
    )

    print(f"\n2. worker scaling (local backend), best of {r}")
    one_s, _, one_t, one_cpu = best_of(
        r, lambda: in_child("sweep", path, tmp / "one", 1, args.replications)
    )
    two_s = sweep_s
    print(f"   1 worker : {one_s:6.2f} s  {runs / one_s:7.1f} runs/s  {_all(one_t)}")
    print(f"   2 workers: {two_s:6.2f} s  {runs / two_s:7.1f} runs/s  (from 1.)")
    print(
        f"   speed-up : {one_s / two_s:6.2f}x  (CPU per run: 1 worker "
        f"{1000 * one_cpu:.1f} ms, 2 workers {1000 * sweep_cpu:.1f} ms)"
    )

    print(f"\n3. Dask (LocalCluster, 2 worker processes, loopback) against local, best of {r}")
    dask_s, dask_t = best_time(r, lambda: time_sweep(path, tmp / "dask", 2, backend="dask"))
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.CRITICAL,
    ) as cluster:
        local_s, local_t = best_time(r, lambda: time_sweep(path, tmp / "local", 2))
        warm_s, warm_t = best_time(
            r,
            lambda: time_sweep(
                path, tmp / "warm", 2, backend="dask", scheduler=cluster.scheduler_address
            ),
        )
    print(f"   local            : {local_s:6.2f} s  {_all(local_t)}")
    print(
        f"   dask, own cluster: {dask_s:6.2f} s  ({dask_s - local_s:+.2f} s, "
        f"cluster start-up included)  {_all(dask_t)}"
    )
    print(
        f"   dask, running    : {warm_s:6.2f} s  ({warm_s - local_s:+.2f} s, "
        f"{100 * (warm_s - local_s) / local_s:+.1f}%)  {_all(warm_t)}"
    )


def memory(args: argparse.Namespace, tmp: Path) -> None:
    """Section 4: peak RSS of long sweeps of short runs, at two sizes."""
    print(
        f"\n4. peak memory of long sweeps ({args.long_steps}-quarter runs, "
        "2 workers, run.py sweep in a subprocess)"
    )
    for n in sorted({max(args.long_runs // 10, 48), args.long_runs}):
        reps = max(1, n // 48)
        long_path = grid_sweep(tmp, reps, steps=args.long_steps, name=f"long{reps}")
        out = tmp / f"long{reps}-out"
        seconds, parent, total = peak_rss(
            [
                sys.executable,
                str(REPO / "run.py"),
                "sweep",
                str(long_path),
                "--out",
                str(out),
                "--workers",
                "2",
                "--no-progress",
            ]
        )
        print(
            f"   {48 * reps:7d} runs: {seconds:6.1f} s, {48 * reps / seconds:6.0f} "
            f"runs/s, peak RSS parent {parent:6.1f} MB, peak PSS parent + workers "
            f"{total:6.1f} MB"
        )
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
