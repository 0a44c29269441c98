"""Options that several commands share, each declared once here.

A command gives the default with the parameter, taken from the library, never written
out: ``beam: BeamOption = DecodeOptions.beam``, ``device: DeviceOption = DEFAULT_DEVICE``
(typer shows it in ``--help``).  Only light modules are imported, so that ``--help``
loads neither torch nor fairseq.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ea_mt.decoding.options import DECODERS
from ea_mt.devices import DEVICES, PRECISIONS

WorkdirOption = Annotated[
    Path,
    typer.Option(
        "--workdir", "-w", help="Work directory (prepared data, checkpoints).", show_default=True
    ),
]
CheckpointOption = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint",
        help="Checkpoint file, model directory or bundled model's name ('ea-mt models') "
        "(default: checkpoint_best.pt, else checkpoint_last.pt, in WORKDIR/checkpoints).",
    ),
]

# Beam search and batching: the fields of ea_mt.decoding.options.DecodeOptions.
BeamOption = Annotated[int, typer.Option("--beam", help="Beam size.")]
LenpenOption = Annotated[
    float, typer.Option("--lenpen", help="Length penalty (>1 favours longer output).")
]
MaxLenAOption = Annotated[
    float,
    typer.Option(
        "--max-len-a",
        help="Output length limit a*source_length+b (source_length: the longest in the batch).",
    ),
]
MaxLenBOption = Annotated[int, typer.Option("--max-len-b", help="See --max-len-a.")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", help="Sentences per batch.")]
MaxTokensOption = Annotated[
    int | None,
    typer.Option("--max-tokens", help="Also cap a batch at this many (padded) source pieces."),
]

# Reading input: the fields of ea_mt.decoding.options.InputOptions.
DecoderOption = Annotated[
    str,
    typer.Option(
        "--decoder",
        help=f"Beam search: {' or '.join(DECODERS)} (fast: ea-mt's own, the same hypotheses "
        "and scores as fairseq's SequenceGenerator, sooner).",
    ),
]
BufferSizeOption = Annotated[
    int, typer.Option("--buffer-size", help="Lines read, sorted and translated at a time.")
]
ErrorsOption = Annotated[
    str,
    typer.Option(
        "--errors", help="Invalid UTF-8 input: strict (stop with the line number) or replace."
    ),
]

# Where torch computes: ea_mt.devices.
DeviceOption = Annotated[
    str, typer.Option("--device", help=f"One of {', '.join(DEVICES)} (auto: CUDA if present).")
]
PrecisionOption = Annotated[
    str,
    typer.Option(
        "--precision",
        help=f"One of {', '.join(PRECISIONS)}: fp16 needs CUDA; int8 (int8 weights in the "
        "Linear layers, the rest fp32) runs on the CPU only.",
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        "--threads",
        help="CPU threads for torch (default: torch's own). On a busy machine --threads 1 "
        "can be several times faster.",
    ),
]


def given_here(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` was given on the command line (or by environment), not
    left at its default.  By name: typer ships its own copy of click's enum."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"
