"""Stage 1, data: raw parallel text checked and cleaned, SentencePiece, fairseq's data-bin."""
