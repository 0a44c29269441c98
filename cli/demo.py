"""The `ea-mt demo` command (not written yet)."""
