"""Synthetic data worlds (arithmetic + English grammar) and their storage."""
