"""Make the bundled models in data/models/ from two trained Tatoeba En-De model directories.

    python data/make_models.py --ea RUNS/ea-s1 --vanilla RUNS/vanilla-s1 \\
        [--test ../shared/data/tatoeba-en-de/test] [--command 'how they were trained'] \\
        [--out data/models]

Each model is exported (``ea-mt export``: weights only) in fp16 and in fp32, both exports
translate the test set (beam 5, ea-mt's defaults) and are scored with sacreBLEU; fp16 ships
when it loses nothing measurable (BLEU and chrF within 0.1 of fp32), else fp32.  Each model
folder gets a README with what it was trained on, its scores and the CC BY 2.0 attribution
of its training data; data/models/README.md lists them.  A model over 10 MB is refused.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ea_mt.decoding.scoring import score_lines
from ea_mt.decoding.translation import Translator
from ea_mt.modeldir import resolve_model
from ea_mt.training.export import export_model
from ea_mt.workdir import DEFAULT_WORKDIR

HERE = Path(__file__).resolve().parent
NAMES = {"ea": "tatoeba-en-de-ea", "vanilla": "tatoeba-en-de-vanilla"}
KINDS = {"ea": "Evolving-Attention Transformer", "vanilla": "vanilla Transformer (its twin)"}
MAX_BYTES = 10_000_000
TOLERANCE = 0.1  # BLEU or chrF points fp16 may lose against fp32 and still count as lossless
ATTRIBUTION = (
    "Trained on the Tatoeba English-German sentence pairs (manythings.org/anki \"deu-eng\" "
    "export of 2018-04-07, 159,178 training pairs), released under the Tatoeba terms of use: "
    "**Creative Commons Attribution 2.0 (CC BY 2.0)**, "
    "https://creativecommons.org/licenses/by/2.0/. Attribution: www.manythings.org/anki and "
    "tatoeba.org. The model weights are a work derived from that data and are shared under "
    "the same license (CC BY 2.0), with the same attribution."
)


@dataclass(frozen=True)
class Scored:
    weights: str
    folder: Path
    bleu: float
    chrf: float
    size: int


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python data/make_models.py")
    parser.add_argument("--ea", type=Path, required=True, help="the EA model directory")
    parser.add_argument("--vanilla", type=Path, required=True, help="its vanilla twin")
    parser.add_argument("--test", type=Path, default=HERE.parent.parent / "shared/data/"
                        "tatoeba-en-de/test", help="test set prefix (PREFIX.en, PREFIX.de)")
    parser.add_argument("--command", default=None, help="how the models were trained")
    parser.add_argument("--out", type=Path, default=HERE / "models")
    return parser.parse_args()


def score_export(source: Path, kind: str, weights: str, folder: Path, src: list[str],
                 ref: list[str]) -> Scored:
    """Export ``source`` with ``weights`` into ``folder`` and score it on the test set."""
    files = resolve_model(DEFAULT_WORKDIR, source)
    description = f"{KINDS[kind]}, trained on Tatoeba En-De (CC BY 2.0)"
    checkpoint = export_model(files, folder, weights, description)
    hyps = Translator.load(folder, device="cpu").translate(src)
    bleu, chrf = (s.score for s in score_lines(hyps, [ref], ["bleu", "chrf"]))
    return Scored(weights, folder, bleu, chrf, checkpoint.stat().st_size)


def choose(fp16: Scored, fp32: Scored) -> Scored:
    lossless = fp16.bleu >= fp32.bleu - TOLERANCE and fp16.chrf >= fp32.chrf - TOLERANCE
    chosen = fp16 if lossless else fp32
    if chosen.size > MAX_BYTES:
        raise SystemExit(f"{chosen.folder}: {chosen.size / 1e6:.1f} MB is over the 10 MB limit")
    return chosen


def model_readme(name: str, kind: str, arch: str, chosen: Scored, other: Scored,
                 command: str | None, lines: int) -> str:
    trained = f"\n\nTrained with:\n\n```sh\n{command}\n```" if command else ""
    return (
        f"# {name}\n\nThe {KINDS[kind]} that ships with ea-mt: `{arch}`, English to German, "
        f"weights in {chosen.weights} ({chosen.size / 1e6:.1f} MB).{trained}\n\n"
        f"## Quality\n\nTatoeba En-De public test set ({lines} pairs), beam 5, sacreBLEU "
        f"(13a BLEU, chrF):\n\n| weights | BLEU | chrF |\n|---|---|---|\n"
        f"| {chosen.weights} (shipped) | {chosen.bleu:.2f} | {chosen.chrf:.2f} |\n"
        f"| {other.weights} | {other.bleu:.2f} | {other.chrf:.2f} |\n\n"
        f"Short everyday sentences only: it is a small demonstration model, not a "
        f"general-purpose translator.\n\n## License and attribution\n\n{ATTRIBUTION}\n"
    )


def index_readme(rows: list[tuple[str, str, Scored]]) -> str:
    table = "\n".join(f"| `{name}` | {KINDS[kind]} | {s.weights} | {s.size / 1e6:.1f} MB | "
                      f"{s.bleu:.2f} | {s.chrf:.2f} |" for name, kind, s in rows)
    return (
        "# Bundled models\n\nTrained models that ship with ea-mt, usable by name without a work "
        "directory: `ea-mt translate --checkpoint NAME`, `ea-mt inspect ... --checkpoint "
        "NAME`, `ea-mt serve --model NAME`, `Translator.load(\"NAME\")`; `ea-mt models` lists "
        "them. Each folder is a model directory (`ea-mt export`); its README says how it was "
        "trained. Made by `python data/make_models.py` (see its docstring).\n\n"
        "| name | model | weights | size | test BLEU | test chrF |\n|---|---|---|---|---|---|\n"
        f"{table}\n\nScores: Tatoeba En-De public test set, beam 5, sacreBLEU.\n\n"
        f"## License and attribution\n\n{ATTRIBUTION}\n"
    )


def main() -> None:
    args = parse_args()
    src = args.test.with_suffix(".en").read_text(encoding="utf-8").splitlines()
    ref = args.test.with_suffix(".de").read_text(encoding="utf-8").splitlines()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, source in (("ea", args.ea), ("vanilla", args.vanilla)):
            name = NAMES[kind]
            scored = {w: score_export(source, kind, w, Path(tmp) / f"{name}-{w}", src, ref)
                      for w in ("fp16", "fp32")}
            chosen = choose(scored["fp16"], scored["fp32"])
            other = scored["fp32" if chosen.weights == "fp16" else "fp16"]
            arch = resolve_model(DEFAULT_WORKDIR, source).arch
            target = args.out / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(chosen.folder, target)
            (target / "README.md").write_text(
                model_readme(name, kind, arch, chosen, other, args.command, len(src)),
                encoding="utf-8")
            rows.append((name, kind, chosen))
            print(f"{name}: {chosen.weights}, {chosen.size / 1e6:.1f} MB, BLEU {chosen.bleu:.2f} "
                  f"(fp16 {scored['fp16'].bleu:.2f}, fp32 {scored['fp32'].bleu:.2f})")
    (args.out / "README.md").write_text(index_readme(rows), encoding="utf-8")


if __name__ == "__main__":
    main()
