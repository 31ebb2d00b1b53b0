"""The model: BalanceModel and its step, the agents, the economy's arithmetic."""

from sim.model.model import BalanceModel

__all__ = ["BalanceModel"]
