"""The sentences decoded, their references, and the batches all systems share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import fail, log


@dataclass(frozen=True)
class Corpus:
    """The non-blank source lines (the first ``--limit``) and their references, if any."""

    sources: list[str]
    references: list[str] | None
    reference_path: Path | None


def default_reference(source: Path, tgt: str) -> Path:
    """The source path with the target language as suffix: test2016.en -> test2016.de."""
    return source.with_suffix(f".{tgt}")


def read_corpus(source: Path, reference: Path | None, tgt: str, limit: int | None) -> Corpus:
    """The source lines that are not blank, each with the reference line of the same
    number.  An explicit ``reference`` must exist and have as many lines as the source; a
    missing default one only means no BLEU (said on stderr)."""
    lines = source.read_text(encoding="utf-8").splitlines()
    keep = [i for i, line in enumerate(lines) if line.strip()][:limit]
    if not keep:
        fail(f"--source {source}: no non-blank lines")
    path = reference or default_reference(source, tgt)
    if not path.is_file():
        if reference is not None:
            fail(f"--reference {reference}: no such file")
        log(f"no reference {path}: BLEU is not computed (pass --reference FILE)")
        return Corpus([lines[i] for i in keep], None, None)
    references = path.read_text(encoding="utf-8").splitlines()
    if len(references) != len(lines):
        fail(f"--reference {path} has {len(references)} lines, --source {source} {len(lines)}")
    return Corpus([lines[i] for i in keep], [references[i] for i in keep], path)


def batch_indices(lengths: list[int], batch: int) -> list[list[int]]:
    """Sentence indices, longest first (ties in corpus order), in groups of ``batch``: the
    batches every system decodes, as ``ea-mt translate`` sorts them."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[start : start + batch] for start in range(0, len(order), batch)]
