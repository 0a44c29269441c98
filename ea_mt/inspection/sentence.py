"""One sentence through one or more models: its pieces, each model's maps per chain and
layer (see :mod:`ea_mt.inspection.capture` for the axes), and the report that sums them up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ea_mt.decoding.alignment import EOS
from ea_mt.errors import UserError
from ea_mt.inspection.capture import CHAINS, Maps, attention_modules, teacher_forced_maps
from ea_mt.inspection.statistics import layer_statistics
from ea_mt.workdir import sha256_file

if TYPE_CHECKING:
    from ea_mt.decoding.translation import Translator

__all__ = ["CHAINS", "Inspection", "ModelMaps", "Tokens", "inspect_sentence", "report"]

REPORT_FORMAT = "ea-mt-inspect"


@dataclass(frozen=True)
class Tokens:
    """The pieces along each axis (see the module docstring)."""

    source: list[str]
    target_input: list[str]
    target_output: list[str]

    def axes(self, chain: str) -> tuple[list[str], list[str]]:
        """(query labels, key labels) of ``chain``'s maps."""
        if chain == "encoder_self":
            return self.source, self.source
        if chain == "decoder_self":
            return self.target_input, self.target_input
        return self.target_output, self.source


@dataclass(frozen=True)
class ModelMaps:
    """One model's maps of the inspected sentence, per chain and layer, (H, Tq, Tk)."""

    label: str
    checkpoint: Path
    arch: str
    chains: dict[str, list[Maps]]


@dataclass(frozen=True)
class Inspection:
    """A sentence pair, its pieces and each model's maps."""

    source: str
    target: str
    target_origin: str  # "reference" or "beam search (beam N)"
    tokens: Tokens
    models: list[ModelMaps]


def inspect_sentence(
    translators: Sequence[Translator], source: str, target: str | None = None
) -> Inspection:
    """Run ``source`` through every model, teacher-forced on ``target`` or on the first model's
    beam-search translation; all models must share the SentencePiece model and dictionaries."""
    first = translators[0]
    for other in translators[1:]:
        check_shared_vocabulary(first, other)
    if not source.strip():
        raise UserError("the source sentence is empty")
    source_pieces = first.sp.encode(source, out_type=str)
    _check_length("source sentence", len(source_pieces), first.max_source_pieces)
    source_ids = [first.src_dict.index(p) for p in source_pieces] + [first.src_dict.eos()]
    eos = first.tgt_dict.eos()
    if target is None:
        target_ids = beam_search_target(first, source_ids)
        target_pieces = [first.tgt_dict[i] for i in target_ids[:-1]]
        target = first.sp.decode_pieces(target_pieces)
        origin = f"beam search (beam {first.options.beam})"
    else:
        target_pieces = first.sp.encode(target, out_type=str)
        target_ids = [first.tgt_dict.index(p) for p in target_pieces] + [eos]
        origin = "reference"
    _check_length("target", len(target_pieces), first.model.max_decoder_positions() - 1)
    tokens = Tokens(
        source=source_pieces + [EOS],
        target_input=[EOS, *target_pieces],
        target_output=target_pieces + [EOS],
    )
    labels = model_labels([t.files.checkpoint for t in translators])
    models = [
        ModelMaps(
            label=label,
            checkpoint=t.files.checkpoint,
            arch=t.files.arch,
            chains=teacher_forced_maps(t.model, source_ids, target_ids, eos),
        )
        for t, label in zip(translators, labels, strict=True)
    ]
    return Inspection(source, target, origin, tokens, models)


def _check_length(what: str, pieces: int, limit: int) -> None:
    if pieces > limit:
        raise UserError(f"the {what} has {pieces} pieces; the model takes at most {limit}")


def beam_search_target(translator: Translator, source_ids: Sequence[int]) -> list[int]:
    """The token ids, ``</s>`` last, of the translator's best beam-search hypothesis."""
    device = translator.device
    sample = {
        "id": torch.tensor([0]),
        "net_input": {
            "src_tokens": torch.tensor([list(source_ids)], device=device),
            "src_lengths": torch.tensor([len(source_ids)], device=device),
        },
    }
    with torch.inference_mode():
        hypos = translator.task.inference_step(translator.generator, [translator.model], sample)
    return hypos[0][0]["tokens"].tolist()


def check_shared_vocabulary(first: Translator, other: Translator) -> None:
    """A UserError unless both models use the same SentencePiece model and dictionaries."""
    for what in ("spm_model", "src_dict", "tgt_dict"):
        mine, theirs = getattr(first.files, what), getattr(other.files, what)
        if sha256_file(mine) != sha256_file(theirs):
            raise UserError(
                f"--compare {other.files.checkpoint}: its {theirs.name} differs from {mine}; "
                "both models must share the SentencePiece model and dictionaries"
            )


def model_labels(checkpoints: Sequence[Path]) -> list[str]:
    """Short distinct names for figures: the file names, with as many folders as it takes."""
    for depth in range(1, max(len(p.parts) for p in checkpoints) + 1):
        labels = ["/".join(p.parts[-depth:]) for p in checkpoints]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {p.name}" for i, p in enumerate(checkpoints)]


def report(inspection: Inspection) -> dict[str, Any]:
    """The JSON report: sentence, pieces, and per model, chain and layer the statistics."""
    return {
        "format": REPORT_FORMAT,
        "version": 1,
        "source": inspection.source,
        "target": inspection.target,
        "target_origin": inspection.target_origin,
        "tokens": {
            "source": inspection.tokens.source,
            "target_input": inspection.tokens.target_input,
            "target_output": inspection.tokens.target_output,
        },
        "units": {"entropy": "nats", "jsd_from_previous": "nats",
                  "conv_share": "‖β·ReLU(Conv(M))‖_F / ‖A‖_F"},
        "models": [
            {
                "label": model.label,
                "checkpoint": str(model.checkpoint),
                "arch": model.arch,
                "chains": {
                    chain: layer_statistics(chain, layers) for chain, layers in model.chains.items()
                },
            }
            for model in inspection.models
        ],
    }


def pick(stat: dict[str, Any] | None, head: int | None) -> float | None:
    """One statistic of :func:`layer_statistics`: head ``head``'s value, or the mean over heads."""
    if stat is None:
        return None
    return stat["mean"] if head is None else stat["heads"][head]


def head_counts(model: Any) -> set[int]:
    """The numbers of heads of a model's attention modules."""
    return {m.num_heads for layers in attention_modules(model).values() for m in layers}


def check_heads(translators: Sequence[Translator], head: int | None, all_heads: bool) -> None:
    """A UserError for a ``--head``/``--all-heads`` choice the models cannot show."""
    counts = sorted(set().union(*(head_counts(t.model) for t in translators)))
    if head is not None and all_heads:
        raise UserError("--head and --all-heads exclude each other")
    if head is not None and not 0 <= head < counts[0]:
        raise UserError(f"--head {head}: the model has heads 0 to {counts[0] - 1}")
    if all_heads and len(counts) > 1:
        raise UserError("--all-heads needs the same number of heads in every attention module")
