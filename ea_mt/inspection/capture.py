"""Attention maps captured layer by layer from every attention module of a model.

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
from typing import Any

import torch
from fairseq.modules import MultiheadAttention
from torch import Tensor

from ea_mt.models.attention import EvolvingMultiheadAttention

CHAINS = ("encoder_self", "decoder_self", "cross")

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


def blocked_cells(chain: str, queries: int, keys: int) -> Tensor:
    """Cells no query attends to in a one-sentence batch: the future, in decoder self-attention."""
    if chain == "decoder_self":
        return torch.ones(queries, keys, dtype=torch.bool).triu(1)
    return torch.zeros(queries, keys, dtype=torch.bool)

