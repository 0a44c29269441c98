"""Translating raw text with a trained model: load once, translate in sorted batches.

``Translator`` turns lists of raw lines into hypotheses (SentencePiece in, fairseq's
SequenceGenerator on tensors collated as LanguagePairDataset does, SentencePiece out).
``translate_stream`` and ``translate_file`` read input a buffer at a time, so a file of
any size never sits in memory, and write exactly one output line per input line.
"""

from __future__ import annotations

import copy
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

import sentencepiece as spm
import torch

from ea_mt.bundled import bundled_model
from ea_mt.checkpoint_safety import load_checkpoint
from ea_mt.decoding.allocator import retain_freed_memory
from ea_mt.decoding.buffering import PAUSE_S, buffers, pauses_matter
from ea_mt.decoding.hypotheses import Hypothesis, LineResult
from ea_mt.decoding.options import DecodeOptions, InputOptions
from ea_mt.devices import DEFAULT_DEVICE, DEFAULT_PRECISION, torch_device, torch_dtype
from ea_mt.errors import UserError
from ea_mt.modeldir import MODEL_JSON, ModelFiles, resolve_model
from ea_mt.textio import check_distinct, input_name, iter_lines, open_input, open_output
from ea_mt.workdir import DEFAULT_WORKDIR

_LISTED_LINES = 10  # line numbers named in one warning

# Every character str.splitlines() breaks at, so no reader sees more lines than inputs.
_LINE_BREAKS = str.maketrans(dict.fromkeys("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029", " "))


class Translator:
    """A loaded model with its SentencePiece model, dictionaries and beam search."""

    def __init__(
        self,
        files: ModelFiles,
        options: DecodeOptions = DecodeOptions(),  # noqa: B008  (frozen: shared safely)
        device: str = DEFAULT_DEVICE,
        precision: str = DEFAULT_PRECISION,
    ) -> None:
        options.check()
        start = time.perf_counter()
        self.files = files
        self.options = options
        self.device = torch_device(device, precision)
        if self.device.type == "cpu":
            retain_freed_memory()  # each step's logits are reused, not paged in afresh
        self.precision = precision
        self.sp = _load_spm(files.spm_model)
        self.model, self.task = _load_model(files)
        self.model.to(device=self.device, dtype=torch_dtype(precision)).eval()
        if precision == "int8":
            from ea_mt.decoding.quantization import quantize_linear_layers

            quantize_linear_layers(self.model)
        self.src_dict = self.task.source_dictionary
        self.tgt_dict = self.task.target_dictionary
        self.generator = self._build_generator()
        self.max_source_pieces = _max_source_positions(self.task, self.model) - 1
        self.load_seconds = time.perf_counter() - start

    @classmethod
    def load(
        cls,
        model: Path | str = DEFAULT_WORKDIR,
        checkpoint: Path | str | None = None,
        src: str | None = None,
        tgt: str | None = None,
        device: str = DEFAULT_DEVICE,
        precision: str = DEFAULT_PRECISION,
        **options: Any,
    ) -> Translator:
        """Load a model once: ``model`` is a work directory (its ``checkpoints/``), a model
        directory, a checkpoint file or a bundled model's short name; ``checkpoint`` picks a
        file of a work directory; ``options`` are :class:`DecodeOptions` fields (beam, nbest,
        lenpen, ...)."""
        path = bundled_model(model) or Path(model)
        if checkpoint is None and (path.is_file() or (path / MODEL_JSON).is_file()):
            workdir, chosen = Path(DEFAULT_WORKDIR), path
        else:
            workdir, chosen = path, Path(checkpoint) if checkpoint is not None else None
        files = resolve_model(workdir, chosen, src, tgt)
        return cls(files, DecodeOptions(**options), device=device, precision=precision)

    def with_options(self, **changes: Any) -> Translator:
        """This model with other decoding options (beam, nbest, lenpen, ...); weights,
        vocabularies and SentencePiece model are shared, not loaded again."""
        options = replace(self.options, **changes)
        if options == self.options:
            return self
        options.check()
        variant = copy.copy(self)
        variant.options = options
        variant.generator = variant._build_generator()
        return variant

    def translate(self, lines: Sequence[str]) -> list[str]:
        """The best translation of each of ``lines`` (raw text); '' for a blank line."""
        return [result.text for result in self.translate_batch(lines)]

    def translate_batch(
        self,
        lines: Sequence[str],
        on_batch: Callable[[int], None] | None = None,
        alignment_layer: int | None = None,
    ) -> list[LineResult]:
        """The n-best hypotheses of each of ``lines``, with scores, target tokens and, with
        ``alignment_layer``, word alignments; blank lines get none and skip the model.

        ``on_batch`` is called with the number of lines each finished batch held.  With
        ``alignment_layer`` (see :func:`ea_mt.decoding.alignment.check_layer`) every hypothesis gets
        word alignments from that decoder layer's cross attention.
        """
        if alignment_layer is not None:
            from ea_mt.decoding.alignment import check_layer

            check_layer(self.model, alignment_layer)
        results = [LineResult([]) for _ in lines]
        todo = [i for i, line in enumerate(lines) if line.strip()]
        encoded = dict(zip(todo, self.encode_lines([lines[i] for i in todo]), strict=True))
        blank = len(lines) - len(todo)
        if blank and on_batch:
            on_batch(blank)
        for batch in self._batches(encoded):
            sources = [encoded[i] for i in batch]
            nbests, limit = self._generate([source.ids for source in sources])
            done = self.line_results(sources, nbests, [limit] * len(batch), alignment_layer)
            for i, result in zip(batch, done, strict=True):
                results[i] = result
            if on_batch:
                on_batch(len(batch))
        return results

    def encode_lines(self, lines: Sequence[str]) -> list[SourceLine]:
        """Each (non-blank) line as the model reads it: pieces cut to its limit, ids."""
        # one line at a time: a list would start a thread pool per call
        return [self._source_line(self.sp.encode(line, out_type=str)) for line in lines]

    def line_results(
        self,
        sources: Sequence[SourceLine],
        nbests: Sequence[list[dict[str, Any]]],
        limits: Sequence[int],
        alignment_layer: int | None = None,
    ) -> list[LineResult]:
        """The result of each source from its beam search hypotheses (fairseq's dicts, best
        first): the first --nbest, aligned with ``alignment_layer``; stopped at the maximum
        length when the best one reached that source's ``limits`` (its output limit)."""
        hypotheses = [[self._hypothesis(h) for h in nbest[: self.options.nbest]]
                      for nbest in nbests]
        if alignment_layer is not None:
            from ea_mt.decoding.alignment import align

            hypotheses = align(self.model, self.sp, self.tgt_dict, [s.ids for s in sources],
                               [s.pieces for s in sources], hypotheses, alignment_layer)
        return [
            LineResult(hyps, truncated=source.truncated,
                       hit_max_len=len(nbest[0]["tokens"]) - 1 >= limit)
            for source, hyps, nbest, limit in zip(sources, hypotheses, nbests, limits,
                                                  strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """The checkpoint and settings, for reports."""
        return {
            "checkpoint": str(self.files.checkpoint),
            "arch": self.files.arch,
            "src": self.files.src,
            "tgt": self.files.tgt,
            "device": str(self.device),
            "precision": self.precision,
            **self.options.__dict__,
        }

    def _source_line(self, pieces: list[str]) -> SourceLine:
        kept = pieces[: self.max_source_pieces]
        ids = [self.src_dict.index(piece) for piece in kept]
        ids.append(self.src_dict.eos())
        return SourceLine(kept, torch.tensor(ids, dtype=torch.long),
                          len(pieces) > self.max_source_pieces)

    def _batches(self, encoded: dict[int, SourceLine]) -> Iterator[list[int]]:
        """Line indices, longest first, grouped under --batch-size and --max-tokens."""
        order = sorted(encoded, key=lambda i: len(encoded[i].ids), reverse=True)
        batch: list[int] = []
        for i in order:
            width = len(encoded[batch[0]].ids) if batch else len(encoded[i].ids)
            too_many = len(batch) >= self.options.batch_size
            max_tokens = self.options.max_tokens
            too_wide = max_tokens is not None and (len(batch) + 1) * width > max_tokens
            if batch and (too_many or too_wide):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch

    def _generate(self, sources: list[torch.Tensor]) -> tuple[list[list[dict[str, Any]]], int]:
        """The beam search's n-best dicts of each source, and the batch's output limit."""
        from fairseq.data.data_utils import collate_tokens

        pad = self.src_dict.pad()
        tokens = collate_tokens(sources, pad, left_pad=True).to(self.device)
        lengths = torch.tensor([len(s) for s in sources], device=self.device)
        sample = {
            "id": torch.arange(len(sources)),
            "net_input": {"src_tokens": tokens, "src_lengths": lengths},
        }
        limit = min(
            int(self.options.max_len_a * int(lengths.max()) + self.options.max_len_b),
            self.generator.max_len - 1,
        )
        with torch.inference_mode():
            outputs = self.task.inference_step(self.generator, [self.model], sample)
        return outputs, limit

    def _hypothesis(self, hypo: dict[str, Any]) -> Hypothesis:
        eos = self.tgt_dict.eos()
        tokens = tuple(hypo["tokens"].tolist())
        pieces = [self.tgt_dict[i] for i in tokens if i != eos]
        text = self.sp.decode_pieces(pieces)
        text = text.translate(_LINE_BREAKS)  # one line per input line, by any convention
        return Hypothesis(text=text, score=float(hypo["score"]), tokens=tokens)

    def _build_generator(self):
        """The beam search of the options: ea-mt's fast one, or fairseq's SequenceGenerator."""
        from fairseq.dataclass.configs import GenerationConfig

        opts = self.options
        gen = GenerationConfig(
            beam=opts.beam,
            nbest=opts.nbest,
            lenpen=opts.lenpen,
            max_len_a=opts.max_len_a,
            max_len_b=opts.max_len_b,
        )
        self.model.prepare_for_inference_(_GenerationHolder(gen))
        if opts.decoder == "fairseq":
            return self.task.build_generator([self.model], gen)
        from ea_mt.decoding.beam_search import FastBeamSearch
        from ea_mt.decoding.incremental import unsupported_reason

        reason = unsupported_reason(self.model)
        if reason is not None:
            raise UserError(f"{self.files.checkpoint}: the fast decoder cannot run this model "
                            f"({reason}); use --decoder fairseq")
        return FastBeamSearch.for_options(self.model, self.tgt_dict, opts)


@dataclass(frozen=True)
class SourceLine:
    """A line as the model reads it: its pieces (cut to the model's limit), their ids with
    ``</s>`` last, and whether the line was cut."""

    pieces: list[str]
    ids: torch.Tensor
    truncated: bool


@dataclass
class _GenerationHolder:
    """What ``prepare_for_inference_`` reads: a config with a ``generation`` part."""

    generation: Any


@dataclass
class TranslationStats:
    """What a streamed translation did."""

    lines: int = 0
    seconds: float = 0.0
    truncated: list[int] = field(default_factory=list)
    hit_max_len: list[int] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)
    warned: dict[str, int] = field(default_factory=dict)  # kind -> lines its first warning named

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


def translate_stream(
    translator: Translator,
    lines: Iterable[str],
    sink: BinaryIO,
    *,
    buffer_size: int = InputOptions.buffer_size,
    nbest_tsv: bool = False,
    alignment_layer: int | None = None,
    warn: Callable[[str], None] | None = None,
    on_lines: Callable[[int], None] | None = None,
    wait: float | None = None,
) -> TranslationStats:
    """Translate ``lines`` a buffer at a time, writing one line per input line to ``sink``.

    With ``nbest_tsv`` each input line gives its n-best rows
    ``line_no<TAB>rank<TAB>score<TAB>hypothesis`` instead (a blank line: one row with
    rank 1, an empty score and an empty hypothesis).  With ``alignment_layer`` each
    translation is followed by `` ||| `` and its word alignment ("0-0 1-2 ...", see
    :mod:`ea_mt.decoding.alignment`), or in TSV by a fifth column.  ``warn`` receives warnings about
    truncated sources, hypotheses cut at the maximum length and empty translations: each
    kind when it first occurs, and once more at the end with every line, when it recurred.
    With ``wait`` a buffer is translated as soon as input pauses that long
    (:func:`ea_mt.decoding.buffering.buffers`).
    """
    InputOptions(buffer_size=buffer_size).check()
    warn = warn or _warn_stderr
    stats = TranslationStats()
    start = time.perf_counter()
    _warn_capped_beam(translator, warn)
    for buffer in buffers(lines, buffer_size, wait):
        first = stats.lines + 1
        results = translator.translate_batch(buffer, on_batch=on_lines,
                                             alignment_layer=alignment_layer)
        sink.write(_format(results, first, nbest_tsv, alignment_layer is not None).encode("utf-8"))
        sink.flush()
        stats.lines += len(buffer)
        _collect(stats, results, buffer, first, translator, warn)
    _summarise(stats, translator, warn)
    stats.seconds = time.perf_counter() - start
    return stats


def translate_file(
    input_path: Path | str | None,
    output_path: Path | str | None,
    *,
    translator: Translator | None = None,
    workdir: Path | str = DEFAULT_WORKDIR,
    checkpoint: Path | str | None = None,
    buffer_size: int = InputOptions.buffer_size,
    errors: str = InputOptions.errors,
    nbest_tsv: bool = False,
    alignment_layer: int | None = None,
    warn: Callable[[str], None] | None = None,
    on_lines: Callable[[int], None] | None = None,
    **options: Any,
) -> TranslationStats:
    """Translate a file (None or ``-``: stdin) into a file (None or ``-``: stdout).

    Uses ``translator`` if given, else loads the model of ``workdir``/``checkpoint``
    with ``options`` (DecodeOptions fields, ``device``, ``precision``).  An output file is
    replaced only once the whole translation succeeded, and never when it is the input.
    Input that may pause (a terminal, a pipe) is translated as it arrives.
    """
    check_distinct(input_path, output_path)
    translator = translator or Translator.load(workdir, checkpoint, **options)
    with open_input(input_path) as source, open_output(output_path) as sink:
        return translate_stream(
            translator,
            iter_lines(source, input_name(input_path), errors, ", or pass --errors replace"),
            sink,
            buffer_size=buffer_size,
            nbest_tsv=nbest_tsv,
            alignment_layer=alignment_layer,
            warn=warn,
            on_lines=on_lines,
            wait=PAUSE_S if pauses_matter(source) else None,
        )


def _format(results: list[LineResult], first: int, nbest_tsv: bool, aligned: bool) -> str:
    if not nbest_tsv:
        return "".join(
            f"{r.text} ||| {r.hypotheses[0].alignment}\n" if aligned and r.hypotheses
            else f"{r.text}\n"
            for r in results
        )
    extra = "\t" if aligned else ""
    rows = []
    for number, result in enumerate(results, start=first):
        if not result.hypotheses:
            rows.append(f"{number}\t1\t\t{extra}\n")
        for rank, hyp in enumerate(result.hypotheses, start=1):
            alignment = f"\t{hyp.alignment}" if aligned else ""
            text = hyp.text.replace(chr(9), " ")
            rows.append(f"{number}\t{rank}\t{hyp.score:.4f}\t{text}{alignment}\n")
    return "".join(rows)


def _collect(
    stats: TranslationStats,
    results: list[LineResult],
    lines: list[str],
    first: int,
    translator: Translator,
    warn: Callable[[str], None],
) -> None:
    """Record this buffer's problem lines in ``stats``; warn of a kind the first time."""
    found = {
        "truncated": [first + i for i, r in enumerate(results) if r.truncated],
        "hit_max_len": [first + i for i, r in enumerate(results) if r.hit_max_len],
        "empty": [
            first + i
            for i, (r, line) in enumerate(zip(results, lines, strict=True))
            if line.strip() and not r.text.strip()
        ],
    }
    for kind, numbers in found.items():
        seen = getattr(stats, kind)
        if numbers and not seen:
            warn(f"{_lines(numbers)}{_problem(kind, translator)}")
            stats.warned[kind] = len(numbers)
        seen += numbers


def _summarise(stats: TranslationStats, translator: Translator,
               warn: Callable[[str], None]) -> None:
    """At the end, each kind of problem that recurred after its first warning, in all."""
    for kind in ("truncated", "hit_max_len", "empty"):
        numbers = getattr(stats, kind)
        if len(numbers) > stats.warned.get(kind, len(numbers)):
            warn(f"in all {_lines(numbers)}{_problem(kind, translator)} "
                 f"({len(numbers)} lines)")


def _problem(kind: str, translator: Translator) -> str:
    if kind == "truncated":
        return (f" longer than the model's {translator.max_source_pieces} source pieces: "
                "truncated to fit")
    if kind == "hit_max_len":
        return ": translation stopped at the maximum length; raise --max-len-b"
    return ": the model produced an empty translation"


def _warn_capped_beam(translator: Translator, warn: Callable[[str], None]) -> None:
    """Say once that a beam wider than the target vocabulary allows is narrowed."""
    limit = len(translator.tgt_dict) - 1
    beam, nbest = translator.options.beam, translator.options.nbest
    if beam > limit:
        rows = f", so --nbest {nbest} gives at most {limit} rows a line" if nbest > limit else ""
        warn(f"--beam {beam} is more than the target vocabulary of {limit + 1} allows: the "
             f"search keeps {limit} hypotheses{rows}")


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:_LISTED_LINES]))
    more = len(numbers) - _LISTED_LINES
    label = "line" if len(numbers) == 1 else "lines"
    return f"{label} {shown}" + (f" and {more} more" if more > 0 else "")


def _warn_stderr(message: str) -> None:
    print(f"ea-mt: warning: {message}", file=sys.stderr, flush=True)


def _load_spm(path: Path) -> spm.SentencePieceProcessor:
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as error:
        raise UserError(f"cannot read SentencePiece model {path}: {error}") from None


def _load_model(files: ModelFiles):
    """The fairseq model and task of a checkpoint, its dictionaries from the model dir."""
    from fairseq import checkpoint_utils
    from fairseq.dataclass.utils import overwrite_args_by_name
    from fairseq.models import ARCH_MODEL_REGISTRY

    logging.getLogger("fairseq").setLevel(logging.WARNING)
    if files.arch not in ARCH_MODEL_REGISTRY:
        raise UserError(f"{files.checkpoint}: unknown architecture {files.arch!r} in model.json")
    state = load_checkpoint(files.checkpoint)
    # model.json names the pair: a model trained without -s/-t has none in its config
    overrides = {"data": str(files.model_dir), "source_lang": files.src, "target_lang": files.tgt}
    if state.get("args") is not None:  # checkpoints of fairseq < 0.10
        vars(state["args"]).update(overrides)
    if state.get("cfg") is not None:
        overwrite_args_by_name(state["cfg"], overrides)
    try:
        models, _, task = checkpoint_utils.load_model_ensemble_and_task(
            [str(files.checkpoint)], state=state
        )
    except (RuntimeError, FileNotFoundError) as error:
        raise UserError(
            f"checkpoint {files.checkpoint} does not fit its model directory: {_first_line(error)}"
        ) from None
    return models[0], task


def _max_source_positions(task: Any, model: Any) -> int:
    from fairseq.utils import resolve_max_positions

    limit = resolve_max_positions(task.max_positions(), model.max_positions())
    return int(limit[0] if isinstance(limit, tuple) else limit)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
