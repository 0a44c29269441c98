"""EA-Transformer fairseq model and architectures (work in progress)."""
