"""Parameter sweeps: sweep files, samplers, chunked runs on processes or Dask, Parquet
results that resume after a crash, and sensitivity analysis (SALib).

The pieces, in the order a sweep uses them: ``spec`` (read and check the sweep file),
``sampling`` (the design: one row per point), ``runner`` (chunks of runs on a backend),
``storage`` (manifest, Parquet chunks, resume) and ``analysis`` (indices and plots).
"""

from __future__ import annotations

from sim.sweep.spec import SweepSpec, load_sweep
from sim.sweep.storage import load_runs, load_series

__all__ = ["SweepSpec", "load_runs", "load_series", "load_sweep"]
