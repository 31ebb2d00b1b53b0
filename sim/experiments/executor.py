"""One executor for replications and sweeps: chunks of runs on local processes or Dask.

A replication set is a sweep of one point, so both hand this module the same three
things: a task function ``task(shared, chunk) -> result`` (top level, so it pickles), the
data every chunk needs (``shared``: sent to each worker once) and the chunks themselves,
built once the executor knows how many runs it can run at once. Each finished chunk's
result goes to ``on_result(chunk, result)`` in the parent, which writes or keeps it.

- A chunk is about a second of work, never one run: a Dask task costs about a
  millisecond and a run a few, so one task per run would spend the sweep on scheduling.
- Only a bounded window of chunks is in flight (``WINDOW_PER_WORKER`` per worker), so
  memory does not grow with the number of runs and Ctrl-C is answered within a chunk.
- Results never depend on the worker count: callers derive each run's seed from its
  index (``sim.experiments.seeds.run_seed``), never from who ran it.
- One worker on the local backend runs in this process: nothing to start, nothing to
  pickle, and a debugger or a monkeypatch sees the run.

How local workers start (``start_context``): by fork when this process has one thread
(fast; Python 3.12 warns when a multi-threaded process forks, and a fork can copy a
held lock), else by a fork server that imports the task's modules once, with its own
numeric libraries on one thread each, and forks workers from there. This module never
changes ``os.environ`` of the calling process: a program entry point (``run.py``, a
benchmark) that wants the fast path asks for one thread per library itself, before
numpy is imported, with :func:`ask_one_thread_per_library`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import gc
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal

from tqdm import tqdm

from sim.schema.base import UserError

Backend = Literal["local", "dask"]
WINDOW_PER_WORKER = 2  # chunks in flight per worker: bounds memory and Ctrl-C latency
MAX_WORKER_DEATHS = 3  # a pool that breaks this often is given up (memory, most often)

# Thread settings read by OpenBLAS, OpenMP, MKL and pyarrow's allocator when they load.
ONE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}
# Imported first by the fork server: sets ONE_THREAD_ENV in the server's own environment.
SERVER_SETUP = "sim.experiments.worker_setup"


def ask_one_thread_per_library(environ: MutableMapping[str, str] | None = None) -> None:
    """For program entry points only: one thread per numeric library (user settings win).

    Takes effect only before numpy and pyarrow are first imported; the process then stays
    single-threaded and the executor forks its workers. Library code never calls this.
    """
    environ = os.environ if environ is None else environ
    for name, value in ONE_THREAD_ENV.items():
        environ.setdefault(name, value)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def native_threads() -> int:
    """Threads of this process, native ones included (numpy and pyarrow start their own):
    what Python 3.12 counts before it warns that a fork may deadlock."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def start_context(preload: Sequence[str]) -> multiprocessing.context.BaseContext:
    """fork while this process has a single thread (safe, fast, works from any __main__);
    else a fork server that first imports SERVER_SETUP and then ``preload``; spawn where
    neither exists."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and native_threads() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([SERVER_SETUP, *preload])
        return context
    return multiprocessing.get_context("spawn")


class ProgressBar(tqdm):
    """tqdm without its monitor thread, so the process can still fork its workers."""

    monitor_interval = 0


# --- workers ---------------------------------------------------------------------------

_SHARED: Any = None
_PR_SET_PDEATHSIG = 1


def _init_worker(shared: Any, started: Any = None) -> None:
    """Once per local worker: ignore Ctrl-C (the parent decides), die with the parent,
    keep the shared data, say it has started (``started``: a semaphore the parent waits
    on), and keep long-lived objects out of garbage collections."""
    global _SHARED
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held back while it started (_StartUp)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent()
    _SHARED = shared
    if started is not None:
        started.release()
    # Objects alive now (modules, the shared data) live as long as the worker: keep them
    # out of every garbage collection (a few per cent of a run's time).
    gc.collect()
    gc.freeze()


def _die_with_parent() -> None:
    """After a kill -9 of the parent, forked workers would run on and hold its stdout."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


def _call(task: Callable[[Any, Any], Any], chunk: Any) -> Any:
    return task(_SHARED, chunk)


# --- the executor ----------------------------------------------------------------------


def execute(
    task: Callable[[Any, Any], Any],
    shared: Any,
    chunks_for: Callable[[int], Iterable[Any]],
    on_result: Callable[[Any, Any], None],
    *,
    workers: int | None = None,
    backend: Backend = "local",
    scheduler: str | None = None,
    dask_processes: bool = True,
    preload: Sequence[str] = (),
) -> None:
    """Run ``task(shared, chunk)`` for every chunk of ``chunks_for(slots)``, where ``slots``
    is how many chunks can run at once; ``on_result(chunk, result)`` in this process as
    each one finishes (in any order).

    ``preload``: modules a fork server imports once (the task's module and what it needs).
    On KeyboardInterrupt, chunks already running on local workers are finished and passed
    to ``on_result``, the rest dropped; then the interrupt propagates.
    """
    if backend == "dask":
        _on_dask(task, shared, chunks_for, on_result, workers, scheduler, dask_processes)
    elif backend != "local":
        raise ValueError(f"unknown backend {backend!r}")
    elif (workers or available_cores()) == 1:
        for chunk in chunks_for(1):
            on_result(chunk, task(shared, chunk))
    else:
        _on_processes(task, shared, chunks_for, on_result, workers or available_cores(), preload)


class WorkersDied(UserError):
    """Local worker processes kept dying (the system's out-of-memory killer, most often)."""

    def __init__(self, deaths: int, saved: str = "finished chunks are kept") -> None:
        self.deaths = deaths
        super().__init__(
            f"a local worker process died {deaths} times (killed by the system, often for "
            f"lack of memory); gave up: {saved}; try fewer --workers"
        )


def _on_processes(
    task: Callable,
    shared: Any,
    chunks_for: Callable[[int], Iterable[Any]],
    on_result: Callable[[Any, Any], None],
    workers: int,
    preload: Sequence[str],
) -> None:
    """A pool of ``workers`` processes; a worker that dies (the OOM killer) breaks the
    pool: a new pool reruns the chunks that were in flight, up to ``MAX_WORKER_DEATHS``."""
    window = workers * WINDOW_PER_WORKER
    context = start_context(preload)

    started = context.Semaphore(0)

    def new_pool() -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(shared, started),
        )

    pool = new_pool()
    pending: dict[cf.Future, Any] = {}
    deaths = 0

    def start(chunks: Iterable[Any]) -> None:
        """Submit the first chunks of a new pool while its processes start, Ctrl-C held
        back until they all have (see ``_StartUp``)."""
        with _StartUp() as startup:
            for chunk in chunks:
                pending[pool.submit(_call, task, chunk)] = chunk
            startup.wait_for(started, len(getattr(pool, "_processes", None) or ()))

    def drain() -> None:
        """Wait for a chunk; on a broken pool, start a new one and resubmit what was lost."""
        nonlocal pool, deaths
        lost = _drain(pending, on_result)
        if not lost:
            return
        deaths += 1
        pool.shutdown(wait=False, cancel_futures=True)
        if deaths >= MAX_WORKER_DEATHS:
            raise WorkersDied(deaths)
        warnings.warn(
            f"a worker process died (the system may be short of memory); {len(lost)} "
            f"chunk(s) it held are rerun on a new pool ({deaths} of {MAX_WORKER_DEATHS - 1} "
            "deaths allowed)",
            stacklevel=2,
        )
        pool = new_pool()
        start(lost)

    try:
        chunks = iter(chunks_for(workers))
        start(itertools.islice(chunks, window))
        for chunk in chunks:
            while len(pending) >= window:
                drain()
            pending[pool.submit(_call, task, chunk)] = chunk
        while pending:
            drain()
    except KeyboardInterrupt:
        # Keep what is already running (a second or two of work), drop the rest.
        for future in pending:
            future.cancel()
        try:
            for future, chunk in list(pending.items()):
                if not future.cancelled():
                    with contextlib.suppress(BrokenProcessPool):
                        on_result(chunk, future.result())
        finally:
            # Nothing runs any more: wait for the pool's thread, so that it is not still
            # closing its pipes while the interpreter exits (a traceback at exit).
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _drain(pending: dict[cf.Future, Any], on_result: Callable[[Any, Any], None]) -> list[Any]:
    """Pass finished chunks to ``on_result``; return the chunks lost to a broken pool
    (all that were in flight: the pool cannot run any of them any more)."""
    finished, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
    broken = False
    for future in finished:
        if isinstance(future.exception(), BrokenProcessPool):
            broken = True
            continue
        on_result(pending.pop(future), future.result())
    if not broken:
        return []
    # Chunks that finished before the break still count; the others run again.
    lost = []
    for future, chunk in list(pending.items()):
        if future.done() and not future.cancelled() and future.exception() is None:
            on_result(chunk, future.result())
        else:
            lost.append(chunk)
    pending.clear()
    return lost


def _on_dask(
    task: Callable,
    shared: Any,
    chunks_for: Callable[[int], Iterable[Any]],
    on_result: Callable[[Any, Any], None],
    workers: int | None,
    scheduler: str | None,
    processes: bool,
) -> None:
    """On a running scheduler (``scheduler``) or a LocalCluster of ``workers`` processes;
    chunks are sized by the cluster's thread count."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        # Loopback only (in-process workers talk over inproc:// and need no host); the
        # scheduler's HTTP server on a free loopback port; cluster chatter kept quiet.
        network = {"host": "127.0.0.1"} if processes else {}
        with _workers_ignore_ctrl_c():
            cluster = LocalCluster(
                n_workers=workers or available_cores(),
                threads_per_worker=1,
                processes=processes,
                dashboard_address="127.0.0.1:0",
                silence_logs=logging.CRITICAL,
                **network,
            )
        client = Client(cluster)
    futures = None
    try:
        slots = sum(client.nthreads().values()) or workers or available_cores()
        scattered = client.scatter(shared, broadcast=True)
        window = slots * WINDOW_PER_WORKER
        pending: dict = {}
        futures = as_completed()
        for chunk in chunks_for(slots):
            future = client.submit(task, scattered, chunk, pure=False)
            pending[future.key] = chunk
            futures.add(future)
            while len(pending) >= window:
                done = next(futures)
                on_result(pending.pop(done.key), done.result())
        for done in futures:
            on_result(pending.pop(done.key), done.result())
    except KeyboardInterrupt:
        if futures is not None:
            futures.clear()
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Start child processes with Ctrl-C ignored (an ignored signal stays ignored across
    exec), so that a terminal's Ctrl-C reaches only this process, which stops the run;
    otherwise every Dask worker would die printing its own traceback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _StartUp:
    """Ctrl-C held back while worker processes start, then passed on.

    A terminal's Ctrl-C reaches every process of the group. A worker that has not yet run
    its initializer (which ignores it), or a fork server still importing its preload (a
    second or two), would die of it with a 20-35 line KeyboardInterrupt traceback under
    the clean "interrupted" line. So while the pool starts: SIGINT is blocked in this
    thread, and processes started meanwhile inherit the block (across exec too) until they
    ignore it; a Ctrl-C that reaches another thread of this process is only recorded.
    Once every process has started (or after ``STARTUP_WAIT`` seconds), the block ends
    and a Ctrl-C pressed meanwhile is raised here: late, never lost.
    """

    STARTUP_WAIT = 30.0

    def __init__(self) -> None:
        self.pressed = False
        self.active = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "pthread_sigmask"
        )

    def __enter__(self) -> _StartUp:
        if self.active:
            self.handler = signal.signal(signal.SIGINT, self._record)
            self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        return self

    def _record(self, signum: int, frame: Any) -> None:
        self.pressed = True

    def wait_for(self, started: Any, count: int) -> None:
        """Wait until ``count`` processes have released ``started`` (or the time is up)."""
        deadline = time.monotonic() + self.STARTUP_WAIT
        for _ in range(count):
            if not started.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        # Unblocking runs the handler of a Ctrl-C held meanwhile (``_record``) at once.
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        signal.signal(signal.SIGINT, self.handler)
        if self.pressed and exc[0] is None:
            raise KeyboardInterrupt
