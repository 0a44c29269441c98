"""Benchmarks of ea-mt: speed and memory (``python -m benchmarks.speed``), see README.md."""
