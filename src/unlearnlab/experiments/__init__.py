"""Experiment drivers: the calls the notebooks make (train, unlearn, attack, store)."""
