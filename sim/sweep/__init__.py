"""Parameter sweeps: sweep files, samplers, chunked runs on processes or Dask, Parquet
results that resume after a crash, and sensitivity analysis (SALib).

The pieces, in the order a sweep uses them: ``spec`` (read and check the sweep file),
``sampling`` (the design: one row per point), ``runner`` (chunks of runs on a backend),
``storage`` (manifest, Parquet chunks, resume) and ``analysis`` (indices and plots).

Nothing heavy is imported here, so that ``sim.sweep.threads`` can set the environment
before numpy and pyarrow load; the names below are imported on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "SweepSpec": "sim.sweep.spec",
    "load_sweep": "sim.sweep.spec",
    "load_runs": "sim.sweep.storage",
    "load_series": "sim.sweep.storage",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim.sweep' has no attribute {name!r}")
