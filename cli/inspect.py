"""The `ea-mt inspect` command (not written yet)."""
