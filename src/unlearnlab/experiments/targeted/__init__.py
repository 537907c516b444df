"""targeted."""
