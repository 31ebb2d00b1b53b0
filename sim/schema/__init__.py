"""Scenario and sweep files: schemas, reading, and the errors a user sees."""
