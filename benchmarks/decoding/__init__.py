"""Decoding speed, memory and quality of ea-mt against fairseq and CTranslate2 (issue 14).

    python -m benchmarks.decoding --ea EA_MODEL --vanilla VANILLA_MODEL
        [--source FILE] [--reference FILE] [--limit N] [--beams 5,1] [--batches 64,1]
        [--threads 1,2] [--rounds R] [--ct2-cache DIR] [--out DIR]
    python -m benchmarks.decoding --report DIR   # rewrite DIR's results.md and ratios.png

Two trained models of equal size, an EA one and a vanilla one (model directories or
checkpoints), and up to eight systems on them:

- fairseq's SequenceGenerator on each model (``ea-mt translate --decoder fairseq``);
- ea-mt's fast beam search on each model, fp32 and int8 (``--decoder fast``);
- CTranslate2 on the vanilla model, converted once (``ctranslate2.converters.
  FairseqConverter``, cached under ``--ct2-cache``), fp32 and int8 (``compute_type``).

For every beam, batch size and thread count the systems take turns batch by batch on the
same sentences, sorted by length (a warm-up batch each first), round after round, so that
a change in the machine's load falls on all alike.  Per system: target tokens/s,
sentences/s, p50 latency per sentence, peak memory (each system alone in a child process),
BLEU against ``--reference`` and the share of lines identical to fairseq's on the same
model; every figure also as a ratio to CTranslate2 fp32 on the vanilla model, and issue
14's targets met or missed.  Writes results.json, results.md and ratios.png to --out
(default benchmarks/results/decoding-DATE/).  Measure on an idle machine.

A system that cannot run here (ctranslate2 not installed, a precision ea-mt lacks) is
reported as not available, with the reason.  ``make bench-decoding`` installs the
benchmark's own requirements (requirements/benchmarks.txt) first.
"""
