"""One thread per worker: the environment that keeps numeric libraries single-threaded.

A sweep runs one worker process per core, so a worker's BLAS or allocator threads only
compete with the other workers. A process that has no native threads can also fork its
workers safely (Python 3.12 warns when forking a multi-threaded process). The variables
take effect only if set before numpy and pyarrow are first imported, which is why this
module imports nothing heavy. User settings win (``setdefault``).
"""

from __future__ import annotations

import os

ONE_THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                  "JE_ARROW_MALLOC_CONF": "background_thread:false"}


def single_threaded_libraries() -> None:
    """Ask numeric libraries for one thread each (no effect once they are loaded)."""
    for name, value in ONE_THREAD_ENV.items():
        os.environ.setdefault(name, value)
