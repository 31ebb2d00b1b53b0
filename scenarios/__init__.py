"""The shipped scenarios, installed as the package data ``sim.scenarios`` (see sim/catalog.py)."""
