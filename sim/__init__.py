"""Mongolia between Russia, China and its third neighbours: an agent-based model (Mesa).

``sim.evaluate(scenario, overrides, seed=...)`` runs one replication and returns its
summary outcomes (docs/api.md). Importing ``sim`` loads nothing heavy: the model, Mesa
and pandas load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.api import evaluate

__all__ = ["evaluate"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from sim.api import evaluate

        return evaluate
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
