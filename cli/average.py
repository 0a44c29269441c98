"""The `ea-mt average` command (not written yet)."""
