"""Experiments: replications, sweeps, samplers, storage and analysis on one executor."""
