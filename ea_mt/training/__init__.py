"""Stage 2, training: presets, the fairseq-train run and its safety, checkpoint averaging."""
