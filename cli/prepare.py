"""The `ea-mt prepare` command (not written yet)."""
