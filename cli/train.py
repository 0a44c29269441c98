"""The `ea-mt train` command (not written yet)."""
