"""The `ea-mt translate` command (not written yet)."""
