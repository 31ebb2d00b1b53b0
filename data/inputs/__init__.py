"""Observed inputs of the history (commodity prices, the US deflator, China's imports),
installed as the package data ``sim.inputs`` (see sim/schema/inputs.py and
data/inputs/README.md). Inputs, never targets."""
