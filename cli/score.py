"""The `ea-mt score` command (not written yet)."""
