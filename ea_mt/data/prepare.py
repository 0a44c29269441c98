"""``prepare``: raw parallel text -> SentencePiece model, clean pairs, fairseq data-bin.

Every user error (missing or non-UTF-8 file, unequal sides, empty corpus, a
vocabulary size the data cannot fill) is raised before anything is written.  The
manifest ``prepare.json`` is written last, atomically, so an interrupted run never
looks finished; it is removed first whenever a run starts to replace the results.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ea_mt
from ea_mt.data import spm
from ea_mt.data.cleaning import REASONS, CleaningSettings, TextFilter, length_reason, normalize
from ea_mt.data.corpus import TextFile, read_lines, scan_parallel
from ea_mt.errors import UserError
from ea_mt.fileio import check_writable_dir, write_atomic, write_json_atomic
from ea_mt.reporting import Reporter, SilentReporter
from ea_mt.workdir import PREPARE_FORMAT, WorkDir

LANG_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
COMPARED_KEYS = ("src", "tgt", "spm", "cleaning", "splits", "inputs")
WORKERS = max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class PrepareRequest:
    """What to prepare: languages, corpus prefixes and settings."""

    workdir: Path
    src: str
    tgt: str
    train: Path
    valid: Path
    tests: tuple[Path, ...] = ()
    spm: spm.SpmSettings = field(default_factory=spm.SpmSettings)
    cleaning: CleaningSettings = field(default_factory=CleaningSettings)
    force: bool = False

    def splits(self) -> dict[str, Path]:
        """fairseq split name -> raw prefix: train, valid, test, test1, test2, ..."""
        names = {"train": self.train, "valid": self.valid}
        for i, prefix in enumerate(self.tests):
            names["test" if i == 0 else f"test{i}"] = prefix
        return {name: Path(os.path.abspath(prefix)) for name, prefix in names.items()}


@dataclass(frozen=True)
class PrepareResult:
    """The manifest, and whether an existing preparation was reused as is."""

    manifest: dict[str, Any]
    up_to_date: bool


def prepare(request: PrepareRequest, reporter: Reporter | None = None) -> PrepareResult:
    """Run (or reuse) the preparation described by ``request``."""
    reporter = reporter or SilentReporter()
    _check_settings(request)
    workdir = WorkDir(request.workdir)
    splits = request.splits()
    with reporter.step("Checking input files"):
        files = {name: scan_parallel(*_sides(prefix, request)) for name, prefix in splits.items()}
    for name, (src_file, _) in files.items():
        if src_file.lines == 0:
            raise UserError(f"the {name} corpus {splits[name]}.{{{request.src},{request.tgt}}} "
                            "is empty")
    wanted = _identity(request, splits, files)
    previous = _previous_manifest(workdir)
    if previous is not None:
        differences = [key for key in COMPARED_KEYS if previous.get(key) != wanted[key]]
        if not differences and not request.force and _outputs_present(workdir, request):
            return PrepareResult(manifest=previous, up_to_date=True)
        if differences and not request.force:
            raise UserError(
                f"{workdir.root} already holds data prepared from other inputs or settings "
                f"(differs in: {', '.join(differences)}); pass --force to replace it, "
                "or choose another --workdir"
            )

    check_writable_dir(workdir.root, "--workdir")
    reasons = _text_filter(files, request, reporter)
    kept = reasons.count(0)
    if kept == 0:
        raise UserError(f"no training pairs are left after cleaning: {_dropped_summary(reasons)}")
    with reporter.step(f"Training SentencePiece ({request.spm.type}, "
                       f"{request.spm.vocab_size} pieces)"):
        model = spm.train_spm(_kept_sentences(files["train"], reasons), request.spm, WORKERS)

    # Nothing is written before this point.
    try:
        manifest = _write(request, workdir, files, reasons, model, wanted, reporter)
    except OSError as error:  # a full disk, say; the manifest is not written
        raise UserError(f"cannot write into {workdir.root}: {error.strerror or error}") from None
    return PrepareResult(manifest=manifest, up_to_date=False)


def _write(request: PrepareRequest, workdir: WorkDir,
           files: dict[str, tuple[TextFile, TextFile]], reasons: bytearray, model: bytes,
           wanted: dict[str, Any], reporter: Reporter) -> dict[str, Any]:
    """Write the SentencePiece model, the encoded and binarised splits, then the manifest."""
    splits = request.splits()
    workdir.manifest.unlink(missing_ok=True)
    workdir.root.mkdir(parents=True, exist_ok=True)
    sp = spm.processor(model)
    write_atomic(workdir.spm_model, model)
    write_atomic(workdir.spm_vocab, spm.vocab_text(sp).encode("utf-8"))
    tmp = workdir.root / ".prepare-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    _encode_train(sp, files["train"], reasons, request, tmp, reporter)
    if reasons.count(0) == 0:
        raise UserError(f"no training pairs are left after cleaning: {_dropped_summary(reasons)}")
    for name in splits:
        if name != "train":
            _encode_eval(sp, files[name], tmp / name, request, reporter)
    dictionary = spm.fairseq_dict_text(sp)
    (tmp / "dict.txt").write_text(dictionary, encoding="utf-8")
    with reporter.step("Binarising with fairseq-preprocess"):
        _binarise(request, list(splits), tmp, workdir.data_bin)
    shutil.rmtree(tmp)

    manifest = {
        "format": PREPARE_FORMAT,
        "version": 1,
        **wanted,
        "counts": _counts(files, reasons),
        "dictionary_size": len(dictionary.splitlines()),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "ea_mt_version": ea_mt.__version__,
    }
    write_json_atomic(workdir.manifest, manifest)
    return manifest


def _check_settings(request: PrepareRequest) -> None:
    for option, code in (("--src", request.src), ("--tgt", request.tgt)):
        if not LANG_CODE.fullmatch(code):
            raise UserError(f"{option} {code!r} is not a language code (letters, digits, _)")
    if request.src == request.tgt:
        raise UserError(f"--src and --tgt are both {request.src!r}; they must differ")
    if request.spm.type not in spm.SPM_TYPES:
        raise UserError(f"--spm-type must be one of {', '.join(spm.SPM_TYPES)}")
    if request.spm.vocab_size < 1:
        raise UserError("--vocab-size must be positive")
    request.cleaning.check()
    if len(set(request.splits().values())) < len(request.splits()):
        raise UserError("the same prefix is given for two splits; train, valid and each "
                        "test set must be different files")


def _sides(prefix: Path, request: PrepareRequest) -> tuple[Path, Path]:
    return Path(f"{prefix}.{request.src}"), Path(f"{prefix}.{request.tgt}")


def _identity(request: PrepareRequest, splits: dict[str, Path],
              files: dict[str, tuple[TextFile, TextFile]]) -> dict[str, Any]:
    """The manifest fields that decide whether an existing preparation can be reused."""
    return {
        "src": request.src,
        "tgt": request.tgt,
        "spm": {**asdict(request.spm), "model": "spm.model"},
        "cleaning": {
            **asdict(request.cleaning),
            "whitespace_normalized": True,
            "duplicates_removed": True,
            "valid_test_overlap_removed": True,
        },
        "splits": {name: str(prefix) for name, prefix in splits.items()},
        "inputs": {str(f.path): f.sha256 for pair in files.values() for f in pair},
    }


def _previous_manifest(workdir: WorkDir) -> dict[str, Any] | None:
    if not workdir.manifest.is_file():
        return None
    try:
        return workdir.load_manifest()
    except UserError:
        return None  # unreadable: treat as unfinished work and redo it


def _outputs_present(workdir: WorkDir, request: PrepareRequest) -> bool:
    return workdir.spm_model.is_file() and all(
        (workdir.data_bin / f"dict.{lang}.txt").is_file() for lang in (request.src, request.tgt)
    )


def _pairs(files: tuple[TextFile, TextFile]) -> Iterator[tuple[str, str]]:
    src, tgt = files
    for src_line, tgt_line in zip(read_lines(src.path), read_lines(tgt.path), strict=True):
        yield normalize(src_line), normalize(tgt_line)


def _text_filter(files: dict[str, tuple[TextFile, TextFile]], request: PrepareRequest,
                 reporter: Reporter) -> bytearray:
    """Per training pair: 0 to keep it, else 1 + the index of its reason in REASONS."""
    eval_src: set[str] = set()
    eval_tgt: set[str] = set()
    for name, pair in files.items():
        if name != "train":
            for src, tgt in _pairs(pair):
                eval_src.add(src)
                eval_tgt.add(tgt)
    text_filter = TextFilter(eval_src, eval_tgt)
    reasons = bytearray()
    pairs = reporter.track(_pairs(files["train"]), "Cleaning training pairs",
                           total=files["train"][0].lines)
    for src, tgt in pairs:
        reason = text_filter.reason(src, tgt)
        reasons.append(0 if reason is None else 1 + REASONS.index(reason))
    return reasons


def _kept_sentences(files: tuple[TextFile, TextFile], reasons: bytearray) -> Iterator[str]:
    for reason, (src, tgt) in zip(reasons, _pairs(files), strict=True):
        if not reason:
            yield src
            yield tgt


def _encode_train(sp, files: tuple[TextFile, TextFile], reasons: bytearray,
                  request: PrepareRequest, tmp: Path, reporter: Reporter) -> None:
    """Encode the kept pairs, drop those the length rules reject, write the rest."""
    before = bytes(reasons)  # the loop below updates reasons
    kept = (i for i, reason in enumerate(before) if not reason)
    pairs = (pair for reason, pair in zip(before, _pairs(files), strict=True) if not reason)
    with _open_out(tmp / f"train.{request.src}") as src_out, \
            _open_out(tmp / f"train.{request.tgt}") as tgt_out:
        encoded = reporter.track(zip(kept, spm.encode_pairs(sp, pairs), strict=True),
                                 "Encoding training pairs", total=before.count(0))
        for i, (src, tgt) in encoded:
            reason = length_reason(len(src), len(tgt), request.cleaning)
            if reason is not None:
                reasons[i] = 1 + REASONS.index(reason)
                continue
            src_out.write(" ".join(src) + "\n")
            tgt_out.write(" ".join(tgt) + "\n")


def _encode_eval(sp, files: tuple[TextFile, TextFile], out_prefix: Path,
                 request: PrepareRequest, reporter: Reporter) -> None:
    """Encode a valid/test split line for line, without cleaning."""
    for lang, text_file in zip((request.src, request.tgt), files, strict=True):
        lines = (normalize(line) for line in read_lines(text_file.path))
        pieces = reporter.track(spm.encode(sp, lines), f"Encoding {text_file.path.name}",
                                total=text_file.lines)
        with _open_out(Path(f"{out_prefix}.{lang}")) as out:
            for line in pieces:
                out.write(" ".join(line) + "\n")


def _open_out(path: Path):
    return path.open("w", encoding="utf-8", newline="\n")


def _binarise(request: PrepareRequest, split_names: list[str], tmp: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    tests = [str(tmp / name) for name in split_names if name.startswith("test")]
    command = [
        sys.executable, "-m", "fairseq_cli.preprocess",
        "--source-lang", request.src, "--target-lang", request.tgt,
        "--trainpref", str(tmp / "train"), "--validpref", str(tmp / "valid"),
        *(["--testpref", ",".join(tests)] if tests else []),
        "--destdir", str(dest), "--srcdict", str(tmp / "dict.txt"), "--joined-dictionary",
        "--workers", str(WORKERS),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise UserError(f"fairseq-preprocess failed: {lines[-1]} "
                        f"(full log: {dest / 'preprocess.log'})")


def _counts(files: dict[str, tuple[TextFile, TextFile]], reasons: bytearray) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "train": {
            "pairs": len(reasons),
            "kept": reasons.count(0),
            "dropped": {reason: reasons.count(1 + i) for i, reason in enumerate(REASONS)},
        }
    }
    for name, (src_file, _) in files.items():
        if name != "train":
            counts[name] = {"pairs": src_file.lines, "kept": src_file.lines}
    return counts


def _dropped_summary(reasons: bytearray) -> str:
    parts = [f"{reasons.count(1 + i)} {reason}" for i, reason in enumerate(REASONS)
             if reasons.count(1 + i)]
    return ", ".join(parts) + " of " + str(len(reasons))
