"""Stage 3, decoding: translation with beam search, word alignment, evaluation and scoring."""
