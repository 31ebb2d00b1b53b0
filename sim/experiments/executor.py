"""Running on all cores: worker counts, how worker processes start, one thread each.

Shared by replications (sim.experiments.replicate) and sweeps (sim.experiments.sweep).
A worker is one core, so its numeric libraries get one thread each; a process with no native threads
can fork its workers safely and fast (Python 3.12 warns when a multi-threaded process
forks). The thread variables take effect only if set before numpy and pyarrow are first
imported, which is why this module imports nothing heavy. User settings win.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Sequence

from tqdm import tqdm

ONE_THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


def single_threaded_libraries() -> None:
    """Ask numeric libraries for one thread each (no effect once they are loaded)."""
    for name, value in ONE_THREAD_ENV.items():
        os.environ.setdefault(name, value)


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def native_threads() -> int:
    """Threads of this process, native ones included (numpy, pyarrow start their own):
    what Python 3.12 counts before it warns that fork may deadlock."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def process_context(preload: Sequence[str]) -> multiprocessing.context.BaseContext:
    """fork while this process has a single thread (fast, works from any __main__);
    otherwise a fork server that has imported ``preload`` once, started with numeric
    libraries on one thread so that it stays single-threaded and its forks are safe;
    spawn where neither exists."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and native_threads() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        single_threaded_libraries()
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(preload))
        return context
    return multiprocessing.get_context("spawn")


class ProgressBar(tqdm):
    """tqdm without its monitor thread, so the process can still fork its workers."""

    monitor_interval = 0
