"""The `ea-mt evaluate` command (not written yet)."""
