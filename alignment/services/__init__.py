"""Writes of the alignment app: plans, model versions, rounds and their steps, training runs."""
