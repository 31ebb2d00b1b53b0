"""The observed series and the validation targets, installed as the package data
``sim.observed`` (see sim/catalog.py and data/observed/README.md)."""
