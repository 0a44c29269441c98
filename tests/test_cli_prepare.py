"""`ea-mt prepare` on a small slice of the bundled Tatoeba sample, and its user errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fairseq.data import indexed_dataset
from typer.testing import CliRunner

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.cli.app import app
from ea_mt.data import prepare as prepare_module
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "tatoeba-en-de"
SIZES = {"train": 1200, "valid": 100, "test": 100}
VOCAB = "600"


def head(path: Path, lines: int) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [next(f).rstrip("\n") for _ in range(lines)]


def write(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """The first lines of each split of the bundled sample, plus constructed bad pairs."""
    folder = tmp_path / "raw"
    folder.mkdir()
    for split, size in SIZES.items():
        for lang in ("en", "de"):
            write(folder / f"{split}.{lang}", head(SAMPLE / f"{split}.{lang}", size))
    en, de = head(folder / "train.en", SIZES["train"]), head(folder / "train.de", SIZES["train"])
    valid_en, test_de = head(folder / "valid.en", 1)[0], head(folder / "test.de", 1)[0]
    extra = [
        (en[0], de[0]),  # duplicate
        ("  " + en[1] + " ", de[1]),  # duplicate once whitespace is normalised
        ("", "Hallo."),  # empty
        ("Hello.", "   "),  # empty after normalisation
        (valid_en, "Etwas ganz anderes."),  # source side in valid
        ("Something else entirely.", test_de),  # target side in test
        ("Yes " * 300, "Ja " * 300),  # too long
        ("Tom.", "Tom " + "sagte, dass er morgen nicht kommen kann " * 3),  # length ratio
    ]
    write(folder / "train.en", en + [s for s, _ in extra])
    write(folder / "train.de", de + [t for _, t in extra])
    return folder


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def prepare_args(raw: Path, workdir: Path, *more: str) -> list[str | Path]:
    return ["prepare", "--src", "en", "--tgt", "de", "--train", raw / "train",
            "--valid", raw / "valid", "--test", raw / "test", "--workdir", workdir,
            "--vocab-size", VOCAB, *more]


def test_prepare_cleans_binarises_and_writes_the_manifest(raw: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    result = invoke(*prepare_args(raw, workdir))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # summary and progress go to stderr
    assert "repeats an earlier pair" in result.stderr

    manifest = json.loads((workdir / "prepare.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "ea-mt-prepare" and manifest["version"] == 1
    assert (manifest["src"], manifest["tgt"]) == ("en", "de")
    assert manifest["spm"]["vocab_size"] == int(VOCAB) and manifest["spm"]["model"] == "spm.model"
    train = manifest["counts"]["train"]
    assert train["pairs"] == SIZES["train"] + 8
    assert train["dropped"] == {"empty": 2, "duplicate": 2, "in_valid_or_test": 2,
                                "too_long": 1, "length_ratio": train["dropped"]["length_ratio"]}
    assert train["dropped"]["length_ratio"] >= 1
    assert train["kept"] == train["pairs"] - sum(train["dropped"].values())
    assert manifest["counts"]["valid"] == {"pairs": 100, "kept": 100}
    assert set(manifest["inputs"]) == {str(raw / f"{s}.{lang}") for s in SIZES for lang in
                                       ("en", "de")}

    data_bin = workdir / "data-bin"
    for split, size in (("train", train["kept"]), ("valid", 100), ("test", 100)):
        for lang in ("en", "de"):
            dataset = indexed_dataset.make_dataset(str(data_bin / f"{split}.en-de.{lang}"), "mmap")
            assert len(dataset) == size
    dict_en = (data_bin / "dict.en.txt").read_text(encoding="utf-8")
    assert dict_en == (data_bin / "dict.de.txt").read_text(encoding="utf-8")  # joined
    assert len(dict_en.splitlines()) == manifest["dictionary_size"] == int(VOCAB) - 3
    assert (workdir / "spm.model").is_file() and (workdir / "spm.vocab").is_file()
    assert not (workdir / ".prepare-tmp").exists()


def test_rerun_is_up_to_date_and_other_inputs_need_force(raw: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    assert invoke(*prepare_args(raw, workdir, "--quiet")).exit_code == 0
    written = (workdir / "prepare.json").stat().st_mtime_ns

    again = invoke(*prepare_args(raw, workdir))
    assert again.exit_code == 0 and "up to date" in again.stderr
    assert (workdir / "prepare.json").stat().st_mtime_ns == written

    other = invoke(*prepare_args(raw, workdir, "--max-ratio", "2"))
    assert other.exit_code == 2
    assert "differs in: cleaning" in other.stderr and "--force" in other.stderr

    forced = invoke(*prepare_args(raw, workdir, "--max-ratio", "2", "--force", "-q"))
    assert forced.exit_code == 0, forced.output
    manifest = json.loads((workdir / "prepare.json").read_text(encoding="utf-8"))
    assert manifest["cleaning"]["max_ratio"] == 2.0


def test_interrupted_prepare_is_not_taken_for_finished(raw: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "work"
    request = PrepareRequest(workdir=workdir, src="en", tgt="de", train=raw / "train",
                             valid=raw / "valid", spm=SpmSettings(vocab_size=int(VOCAB)))
    prepare(request)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "_binarise", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(PrepareRequest(**{**request.__dict__, "force": True}))
    assert not (workdir / "prepare.json").exists()
    monkeypatch.undo()
    assert prepare(request).up_to_date is False
    assert (workdir / "prepare.json").is_file()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: (raw / "train.de").unlink(), "train.de: no such file"),
        (lambda raw: write(raw / "valid.de", ["Hallo."]), "valid.en has 100 lines but"),
        (lambda raw: [write(raw / f"train.{x}", []) for x in ("en", "de")], "corpus"),
        (lambda raw: (raw / "test.en").write_bytes(b"fine\nbad \xff byte\n" + b"x\n" * 98),
         "test.en:2: invalid UTF-8 (byte 0xff at column 5)"),
    ],
    ids=["missing-file", "line-counts", "empty-corpus", "invalid-utf8"],
)
def test_input_errors_are_one_line_and_write_nothing(raw: Path, tmp_path: Path, change,
                                                     message: str) -> None:
    change(raw)
    workdir = tmp_path / "work"
    result = invoke(*prepare_args(raw, workdir, "-q"))
    assert result.exit_code == 2
    assert result.stderr.startswith("ea-mt: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not workdir.exists()


def test_empty_corpus_message(raw: Path, tmp_path: Path) -> None:
    for lang in ("en", "de"):
        write(raw / f"train.{lang}", [])
    result = invoke(*prepare_args(raw, tmp_path / "work", "-q"))
    assert "the train corpus" in result.stderr and "is empty" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tgt", "en"], "--src and --tgt are both 'en'"),
        (["--src", "fr"], "train.fr: no such file (found train.de, train.en: check --src/--tgt)"),
        (["--vocab-size", "100000"], "--vocab-size 100000 is too large for this training data"),
        (["--vocab-size", "20"], "--vocab-size 20 is too small"),
        (["--spm-type", "word"], "--spm-type must be one of unigram, bpe"),
        (["--max-ratio", "0.5"], "--max-ratio must be at least 1"),
    ],
)
def test_setting_errors_are_one_line_and_write_nothing(raw: Path, tmp_path: Path,
                                                       args: list[str], message: str) -> None:
    workdir = tmp_path / "work"
    result = invoke(*prepare_args(raw, workdir, "-q"), *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not workdir.exists()


def test_help_shows_examples() -> None:
    result = invoke("prepare", "--help")
    assert result.exit_code == 0
    assert "Examples" in result.stdout and "ea-mt prepare --src en --tgt de" in result.stdout


def test_root_help_lists_the_commands_in_pipeline_order() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    commands = result.stdout.split("Commands")[1]
    listed = re.findall(r"^│ ([a-z]+) ", commands, flags=re.MULTILINE)
    assert listed == ["demo", "prepare", "train", "average", "export", "models", "translate",
                      "score", "evaluate", "inspect", "serve"]
