"""Make the bundled Tatoeba En-De sample in data/tatoeba-en-de/ from the full corpus.

The source files are sorted by English length, so pairs are drawn at random with a
fixed seed and written in the drawn order (any prefix of the sample is itself random).

    python data/make_sample.py [--src ../shared/data/tatoeba-en-de] [--out data/tatoeba-en-de]
"""

import argparse
import random
from pathlib import Path

SIZES = {"train": 20_000, "valid": 500, "test": 500}
SEED = 20210718  # ICML 2021, the EA-Transformer paper's conference


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 text file, without their newlines."""
    return path.read_text(encoding="utf-8").split("\n")[:-1]


def sample_split(src: Path, out: Path, split: str, size: int, rng: random.Random) -> None:
    """Write `size` aligned pairs drawn at random from `src/split.{en,de}` to `out`."""
    en, de = read_lines(src / f"{split}.en"), read_lines(src / f"{split}.de")
    if len(en) != len(de):
        raise SystemExit(f"{src}/{split}: {len(en)} English vs {len(de)} German lines")
    picked = rng.sample(range(len(en)), size)
    for lang, lines in (("en", en), ("de", de)):
        text = "".join(lines[i] + "\n" for i in picked)
        (out / f"{split}.{lang}").write_text(text, encoding="utf-8")


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=root.parent / "shared/data/tatoeba-en-de")
    parser.add_argument("--out", type=Path, default=root / "data/tatoeba-en-de")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    for split, size in SIZES.items():
        sample_split(args.src, args.out, split, size, rng)
        print(f"{split}: {size} pairs")


if __name__ == "__main__":
    main()
