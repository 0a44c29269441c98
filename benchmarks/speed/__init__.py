"""Speed and memory of EA vs vanilla fairseq Transformers of equal size (issue #4).

Both models of a comparison live in one process and run alternately (EA, vanilla,
vanilla, EA, …), so that load on a shared machine hits both alike; every ratio is the
median of per-step ratios, and a ratio > 1 means EA is faster (or, for memory, larger).

    python -m benchmarks.speed [--quick] [--out DIR] [--threads N] [--decode-input FILE]
    python -m benchmarks.speed --profile iwslt 64 [--out DIR]
    python -m benchmarks.speed --device cuda --dtype bf16

Writes results.json, results.md and PNG plots to --out (default
benchmarks/results/speed-<date>/); see benchmarks/README.md.
"""
