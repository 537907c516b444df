"""concept."""
