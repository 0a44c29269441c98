"""Stage 4, inspection: attention maps of a sentence captured layer by layer, their
statistics and figures."""
