"""The ``ea-mt`` command line (installed as ``ea_mt.cli``): parsing and output only."""
