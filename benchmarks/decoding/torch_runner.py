"""fairseq's SequenceGenerator and ea-mt's fast beam search, as ``ea-mt translate`` runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from fairseq.data.data_utils import collate_tokens

from ea_mt.decoding.translation import Translator
from ea_mt.errors import UserError


def load_translator(path: Path, precision: str) -> Translator | str:
    """The model at ``path`` on the CPU in ``precision``, or why it cannot be loaded so
    (e.g. a precision this ea-mt does not have)."""
    try:
        return Translator.load(checkpoint=path, device="cpu", precision=precision)
    except UserError as error:
        return str(error)


def fast_path_reason(translator: Translator) -> str | None:
    """Why the fast decoder cannot run this model, or None."""
    try:
        translator.with_options(decoder="fast")
    except UserError as error:
        return str(error)
    return None


class TorchRunner:
    """One of ea-mt's two decoders (``fairseq`` or ``fast``) on a loaded model: the batches
    collated as ``Translator`` collates them (left-padded, EOS appended), decoded through
    ``task.inference_step`` as ``ea-mt translate`` does."""

    def __init__(self, translator: Translator, decoder: str, beam: int) -> None:
        self.translator = translator.with_options(beam=beam, decoder=decoder)

    def prepare(self, pieces: list[list[str]]) -> dict[str, Any]:
        t = self.translator
        src = t.src_dict
        sources = [torch.tensor([src.index(p) for p in ps[: t.max_source_pieces]] + [src.eos()])
                   for ps in pieces]
        return {
            "id": torch.arange(len(sources)),
            "net_input": {
                "src_tokens": collate_tokens(sources, src.pad(), left_pad=True),
                "src_lengths": torch.tensor([len(s) for s in sources]),
            },
        }

    def run(self, sample: dict[str, Any]) -> list:
        t = self.translator
        with torch.inference_mode():
            return t.task.inference_step(t.generator, [t.model], sample)

    def pieces(self, output: list) -> list[list[str]]:
        tgt = self.translator.tgt_dict
        eos = tgt.eos()
        return [[tgt[i] for i in nbest[0]["tokens"].tolist() if i != eos] for nbest in output]
