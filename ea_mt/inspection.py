"""Attention maps of one sentence, captured layer by layer, and statistics that sum them up.

Evolving-attention modules hand their maps to an ``observer`` (logits L, mixed M, evolved A,
the convolution branch β·ReLU(Conv(M)) and the softmax weights); fairseq's plain
``MultiheadAttention`` modules are asked for their per-head weights through hooks.  Both
are installed only inside :func:`capture_maps` and removed when it exits, so training and
normal decoding never pay for them.

Maps are (heads, queries, keys).  Queries and keys per chain:

* ``encoder_self``: source pieces + ``</s>`` on both axes;
* ``decoder_self``: the decoder's input, ``</s>`` + target pieces, on both axes (causal);
* ``cross``: queries are the target pieces + ``</s>`` that each step predicts (fairseq's
  alignment convention), keys the source pieces + ``</s>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from fairseq.modules import MultiheadAttention
from torch import Tensor

from ea_mt.errors import UserError
from ea_mt.models.attention import EvolvingMultiheadAttention
from ea_mt.workdir import sha256_file

if TYPE_CHECKING:  # translation may import this module for --print-alignment
    from ea_mt.translation import Translator

CHAINS = ("encoder_self", "decoder_self", "cross")
REPORT_FORMAT = "ea-mt-inspect"
EOS = "</s>"
SPECIALS = (EOS, "<pad>")

Maps = dict[str, Tensor]  # map name -> tensor; (B, H, Tq, Tk) as captured, (H, Tq, Tk) per sentence


def attention_modules(model: Any) -> dict[str, list[MultiheadAttention]]:
    """The attention modules of a fairseq encoder-decoder transformer, per chain, by layer."""
    decoder_layers = model.decoder.layers
    return {
        "encoder_self": [layer.self_attn for layer in model.encoder.layers],
        "decoder_self": [layer.self_attn for layer in decoder_layers],
        "cross": [layer.encoder_attn for layer in decoder_layers if layer.encoder_attn is not None],
    }


@contextmanager
def capture_maps(model: Any) -> Iterator[dict[str, list[Maps]]]:
    """Record every attention module's maps of the last forward pass, per chain and layer.

    Maps are float32 copies on the CPU, (B, H, Tq, Tk); evolving modules give all their
    maps, plain ones only ``weights``.  Observers and hooks are gone once this exits.
    """
    modules = attention_modules(model)
    captured: dict[str, list[Maps]] = {chain: [{} for _ in layers] for chain, layers in
                                       modules.items()}
    with ExitStack() as stack:
        for chain, layers in modules.items():
            for module, sink in zip(layers, captured[chain], strict=True):
                stack.enter_context(_watch(module, sink))
        yield captured


@contextmanager
def _watch(module: MultiheadAttention, sink: Maps) -> Iterator[None]:
    def keep(maps: Maps) -> None:
        sink.clear()
        sink.update({name: m.detach().float().cpu() for name, m in maps.items()})

    if isinstance(module, EvolvingMultiheadAttention):
        previous = module.observer
        module.observer = lambda _module, maps: keep(maps)
        try:
            yield
        finally:
            module.observer = previous
        return
    # fairseq's explicit path (PyTorch's fused one averages the heads) with per-head weights.
    skip_check = module.skip_embed_dim_check
    module.skip_embed_dim_check = True
    handles = [
        module.register_forward_pre_hook(_ask_head_weights, with_kwargs=True),
        module.register_forward_hook(lambda _module, _args, out: keep({"weights": out[1]
                                                                        .transpose(0, 1)})),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        module.skip_embed_dim_check = skip_check


def _ask_head_weights(_module: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    return args, {**kwargs, "need_weights": True, "need_head_weights": True}


def teacher_forced_maps(
    model: Any, source_ids: Sequence[int], target_ids: Sequence[int], eos: int
) -> dict[str, list[Maps]]:
    """The maps of one sentence pair, (H, Tq, Tk) each; ``target_ids`` ends with ``eos``."""
    device = next(model.parameters()).device
    src = torch.tensor([list(source_ids)], device=device)
    prev = torch.tensor([[eos, *target_ids[:-1]]], device=device)
    with capture_maps(model) as captured, torch.inference_mode():
        model(src, torch.tensor([len(source_ids)], device=device), prev)
    return {
        chain: [{name: m[0] for name, m in maps.items()} for maps in layers]
        for chain, layers in captured.items()
    }


# --- statistics ---------------------------------------------------------------------------


def blocked_cells(chain: str, queries: int, keys: int) -> Tensor:
    """Cells no query attends to in a one-sentence batch: the future, in decoder self-attention."""
    if chain == "decoder_self":
        return torch.ones(queries, keys, dtype=torch.bool).triu(1)
    return torch.zeros(queries, keys, dtype=torch.bool)


def entropy(weights: Tensor, blocked: Tensor) -> Tensor:
    """Per head: the entropy (nats) of each query row's softmax weights, averaged over rows."""
    return torch.special.entr(weights).masked_fill(blocked, 0.0).sum(-1).mean(-1)


def jensen_shannon(p: Tensor, q: Tensor, blocked: Tensor) -> Tensor:
    """Per head: the Jensen–Shannon divergence (nats) of p's and q's rows, averaged over rows."""
    return entropy((p + q) / 2, blocked) - (entropy(p, blocked) + entropy(q, blocked)) / 2


def convolution_share(branch: Tensor, evolved: Tensor, blocked: Tensor) -> Tensor:
    """Per head: ‖β·ReLU(Conv(M))‖_F / ‖A‖_F over the cells queries attend to."""
    def norm(m: Tensor) -> Tensor:
        return m.masked_fill(blocked, 0.0).flatten(1).norm(dim=1)

    return norm(branch) / norm(evolved)


def layer_statistics(chain: str, layers: Sequence[Maps]) -> list[dict[str, Any]]:
    """Entropy, JSD from the previous layer and convolution share, per head and mean, by layer."""
    rows = []
    for index, maps in enumerate(layers):
        weights = maps["weights"]
        blocked = blocked_cells(chain, *weights.shape[-2:])
        jsd = share = None
        if index > 0:
            jsd = jensen_shannon(weights, layers[index - 1]["weights"], blocked)
        if "convolution_branch" in maps:
            share = convolution_share(maps["convolution_branch"], maps["evolved"], blocked)
        rows.append({
            "layer": index,
            "maps": sorted(maps),
            "entropy": _per_head(entropy(weights, blocked)),
            "jsd_from_previous": _per_head(jsd),
            "conv_share": _per_head(share),
        })
    return rows


def _per_head(values: Tensor | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {"heads": values.tolist(), "mean": float(values.mean())}


# --- alignment ----------------------------------------------------------------------------


def hard_alignment(weights: Tensor, src_pieces: Sequence[str], tgt_pieces: Sequence[str]) -> str:
    """fairseq's hard alignment ("0-0 1-2 ..."): each target piece's most attended source piece.

    ``weights`` is (len(tgt_pieces), len(src_pieces)): one layer's cross-attention, rows the
    pieces each step predicts.  ``</s>`` and ``<pad>`` are skipped on both sides and the
    other pieces numbered from 0, as ``fairseq.utils.extract_hard_alignment`` does.
    """
    return " ".join(f"{s}-{t}" for s, t in alignment_pairs(weights, src_pieces, tgt_pieces))


def alignment_pairs(
    weights: Tensor, src_pieces: Sequence[str], tgt_pieces: Sequence[str]
) -> list[tuple[int, int]]:
    """The (source, target) piece numbers of :func:`hard_alignment`, in target order."""
    if tuple(weights.shape) != (len(tgt_pieces), len(src_pieces)):
        raise ValueError(
            f"weights are {tuple(weights.shape)}, pieces {len(tgt_pieces)}×{len(src_pieces)}"
        )
    src_index = _piece_numbers(src_pieces)
    tgt_index = _piece_numbers(tgt_pieces)
    valid_src = torch.tensor([i is not None for i in src_index])
    if not valid_src.any():
        return []
    scores = weights.float().masked_fill(~valid_src, float("-inf"))
    return [
        (src_index[int(scores[row].argmax())], tgt)
        for row, tgt in enumerate(tgt_index)
        if tgt is not None
    ]


def _piece_numbers(pieces: Sequence[str]) -> list[int | None]:
    numbers: list[int | None] = []
    count = 0
    for piece in pieces:
        numbers.append(None if piece in SPECIALS else count)
        count += piece not in SPECIALS
    return numbers


# --- one sentence through one or more models ------------------------------------------------


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


# --- report -------------------------------------------------------------------------------


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
