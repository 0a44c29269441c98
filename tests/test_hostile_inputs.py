"""Hostile inputs (issue 16): nothing is lost, and every failure is one clear line.

Where the route matters (redirections, closed descriptors, full or read-only disks) the
command runs as a real process.  Read-only folders and a small full disk are tmpfs mounts in
a private mount namespace (``unshare``); those tests are skipped where that is not allowed.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.main import get_command
from typer.testing import CliRunner, Result

import ea_mt.cli.main  # noqa: F401  (attaches every command to the app)
from ea_mt.cli.app import app
from ea_mt.data import prepare as prepare_module
from ea_mt.data.cleaning import CleaningSettings
from ea_mt.data.prepare import PrepareRequest, prepare
from ea_mt.data.spm import SpmSettings
from ea_mt.decoding.options import DecodeOptions
from ea_mt.demo import DemoSettings
from ea_mt.errors import UserError
from ea_mt.fileio import atomic_output, write_atomic
from ea_mt.training.options import TrainOptions
from ea_mt.training.train import plan_training

if TYPE_CHECKING:
    from model_fixture import TrainedModel

pytest_plugins = ["model_fixture"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "tatoeba-en-de"
EA_MT = Path(sys.executable).parent / "ea-mt"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "COLUMNS": "200"}
TIMEOUT = 300


def shell(command: str, cwd: Path, stdin: Path | None = None) -> subprocess.CompletedProcess:
    """Run a shell command line (``ea-mt`` is the installed script) in ``cwd``."""
    line = command.replace("ea-mt ", f"{shlex.quote(str(EA_MT))} ")
    with open(stdin, "rb") if stdin is not None else open(os.devnull, "rb") as source:
        return subprocess.run(line, shell=True, cwd=cwd, stdin=source, capture_output=True,
                              text=True, env=ENV, timeout=TIMEOUT, check=False)


def one_error(proc: subprocess.CompletedProcess | Result) -> str:
    """The only ``ea-mt: error:`` line of a failed run; no traceback, no box."""
    code = proc.returncode if isinstance(proc, subprocess.CompletedProcess) else proc.exit_code
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ea-mt: error:")]
    assert code != 0 and len(errors) == 1, (code, proc.stderr)
    assert "Traceback" not in proc.stderr and "╭" not in proc.stderr, proc.stderr
    return errors[0]


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def leftovers(folder: Path) -> list[str]:
    """Temporary files an atomic write left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def lines(tmp_path: Path) -> Path:
    path = tmp_path / "lines.txt"
    path.write_text("A dog runs.\nTwo cats sleep.\n", encoding="utf-8")
    return path


# --- a private mount namespace: read-only folders, a small full disk --------------------


def namespace(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                          text=True, env=ENV, timeout=TIMEOUT, check=False)


@pytest.fixture
def mount(tmp_path: Path):
    """``mount(options, then)``: run the shell line ``then`` with a fresh tmpfs (mounted with
    ``options``) on ``tmp_path/mnt``, in a private mount namespace."""
    point = tmp_path / "mnt"
    point.mkdir()
    probe = namespace(f"mount -t tmpfs -o ro tmpfs {point}")
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.strip()}")

    def run(options: str, then: str) -> subprocess.CompletedProcess:
        then = then.replace("ea-mt ", f"{shlex.quote(str(EA_MT))} ")
        return namespace(f"mount -t tmpfs -o {options} tmpfs {point} && {then}")

    run.point = point  # type: ignore[attr-defined]
    return run


# --- atomic writing -----------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("the translation failed")
    assert target.read_text() == "old\n" and leftovers(tmp_path) == []


def test_atomic_write_keeps_a_symlink_and_the_permissions(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    write_atomic(link, b"new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert real.stat().st_mode & 0o777 == 0o640 and leftovers(tmp_path) == []


def test_a_full_disk_keeps_the_old_file(mount, tmp_path: Path) -> None:
    script = tmp_path / "fill.py"
    script.write_text(
        "import sys\nfrom pathlib import Path\nfrom ea_mt.errors import UserError\n"
        "from ea_mt.fileio import write_atomic\n"
        f"target = Path({str(mount.point / 'result.txt')!r})\n"
        "write_atomic(target, b'old\\n')\n"
        "try:\n    write_atomic(target, b'x' * 1_000_000)\n"
        "except UserError as error:\n    print(error)\n"
        "print(target.read_bytes() == b'old\\n', sorted(p.name for p in target.parent.iterdir()))\n"
    )
    done = mount("size=64k", f"{shlex.quote(sys.executable)} {script}")
    assert done.returncode == 0, done.stderr
    message, state = done.stdout.splitlines()
    assert "result.txt" in message and "No space left on device" in message
    assert state == "True ['result.txt']"


# --- the output is never the input ---------------------------------------------------------


ROUTES = {  # route: (the call, the shell's redirections)
    "path": ("check_distinct(LINES, LINES)", ""),
    "symlink": ("check_distinct(LINES, ALIAS)", ""),
    "hard link": ("check_distinct(ALIAS, LINES)", ""),
    "stdin redirected from the output": ("check_distinct(None, LINES)", "< LINES"),
    "stdout appended to the input": ("check_distinct(LINES, None)", ">> LINES"),
    "stdin and stdout one file": ("check_distinct(None, None)", "< LINES >> LINES"),
}


@pytest.mark.parametrize("route", ROUTES)
def test_an_output_that_is_the_input_is_refused(route: str, tmp_path: Path,
                                                lines: Path) -> None:
    """check_distinct in a real process, the input file reaching it by each route."""
    before = lines.read_bytes()
    alias = tmp_path / "alias.txt"
    if route == "symlink":
        alias.symlink_to(lines)
    elif route == "hard link":
        os.link(lines, alias)
    call, redirect = ROUTES[route]
    call = call.replace("LINES", repr(str(lines))).replace("ALIAS", repr(str(alias)))
    code = f"from ea_mt.textio import check_distinct; {call}; print('accepted')"
    done = shell(f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} "
                 f"{redirect.replace('LINES', str(lines))}", tmp_path)
    assert "UserError" in done.stderr and "input" in done.stderr, done.stderr
    assert lines.read_bytes() == before


def test_distinct_files_are_accepted(tmp_path: Path, lines: Path) -> None:
    code = ("from ea_mt.textio import check_distinct; "
            f"check_distinct({str(lines)!r}, {str(tmp_path / 'out.txt')!r}); "
            "check_distinct(None, None); print('accepted')")
    done = shell(f"{shlex.quote(sys.executable)} -c {shlex.quote(code)} < {lines}", tmp_path)
    assert done.returncode == 0 and done.stdout == "accepted\n", done.stderr


def test_score_refuses_to_read_the_file_stdout_goes_to(tmp_path: Path, lines: Path) -> None:
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("A dog runs.\nTwo cats sleep.\n")
    done = shell(f"ea-mt score --ref {lines} --hyp {hyp} >> {hyp}", tmp_path)
    assert "stdout is redirected to the input" in one_error(done)
    assert hyp.read_text() == "A dog runs.\nTwo cats sleep.\n"


# --- full disks and closed descriptors: one line -----------------------------------------


@pytest.mark.parametrize("json_flag", ["", "--json"])
def test_score_to_a_full_disk_is_one_line(json_flag: str, tmp_path: Path, lines: Path) -> None:
    done = shell(f"ea-mt score --ref {lines} --hyp {lines} {json_flag} > /dev/full", tmp_path)
    line = one_error(done)
    assert "<stdout>" in line and "No space left on device" in line


def test_score_with_stdin_closed_is_one_line(tmp_path: Path, lines: Path) -> None:
    done = shell(f"ea-mt score --ref {lines} <&-", tmp_path)
    assert "<stdin>" in one_error(done) and "closed" in done.stderr


# --- prepare and inspect check their folders before working ------------------------------


def small_request(tmp_path: Path, workdir: Path, **more) -> PrepareRequest:
    return PrepareRequest(workdir=workdir, src="en", tgt="de", train=SAMPLE / "valid",
                          valid=SAMPLE / "test", spm=SpmSettings(vocab_size=200), **more)


@pytest.fixture
def no_sentencepiece(monkeypatch: pytest.MonkeyPatch) -> None:
    def trained(*args: object) -> None:
        raise AssertionError("SentencePiece trained before the work directory was checked")

    monkeypatch.setattr(prepare_module.spm, "train_spm", trained)


@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_prepare_into_a_file_fails_before_sentencepiece(where: str, tmp_path: Path,
                                                        no_sentencepiece: None) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    with pytest.raises(UserError, match="is not a directory"):
        prepare(small_request(tmp_path, tmp_path / where))


def test_prepare_in_a_read_only_folder_is_one_line(mount) -> None:
    done = mount("ro", f"cd {mount.point} && ea-mt prepare -q --src en --tgt de "
                       f"--train {SAMPLE / 'valid'} --valid {SAMPLE / 'test'} --vocab-size 200")
    line = one_error(done)
    assert "--workdir ea-mt-work" in line and "read-only" in line


def test_inspect_into_a_read_only_folder_is_one_line(mount, tmp_path: Path) -> None:
    done = mount("ro", f"ea-mt inspect 'A dog.' -w {tmp_path / 'none'} -o {mount.point}/maps")
    assert "--out" in one_error(done) and "read-only" in done.stderr


def test_vocab_size_below_the_special_pieces_says_the_minimum(tmp_path: Path) -> None:
    result = invoke("prepare", "-q", "--src", "en", "--tgt", "de", "--train", SAMPLE / "valid",
                    "--valid", SAMPLE / "test", "--vocab-size", "1", "-w", tmp_path / "w")
    line = one_error(result)
    assert "--vocab-size 1 is too small" in line and "needs at least" in line
    assert "INTERNAL" not in result.stderr and not (tmp_path / "w").exists()


# --- non-finite numbers --------------------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("field", ["lenpen", "max_len_a"])
def test_decode_options_reject_non_finite_numbers(field: str, value: float) -> None:
    flag = "--" + field.replace("_", "-")
    with pytest.raises(UserError, match=f"{flag} must be a finite number"):
        DecodeOptions(**{field: value}).check()


@pytest.mark.parametrize("value", [math.inf, math.nan])
@pytest.mark.parametrize("field", ["lr", "dropout", "ea_alpha", "ea_beta"])
def test_training_options_reject_non_finite_numbers(field: str, value: float,
                                                    tmp_path: Path) -> None:
    (tmp_path / "prepare.json").write_text(json.dumps({"format": "ea-mt-prepare"}))
    flag = "--" + field.replace("_", "-")
    with pytest.raises(UserError, match=f"{flag} must be a finite number"):
        plan_training(tmp_path, TrainOptions(arch="ea_transformer_tiny", **{field: value}))


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_cleaning_and_demo_settings_reject_non_finite_numbers(value: float) -> None:
    with pytest.raises(UserError, match="--max-ratio must be a finite number"):
        CleaningSettings(max_ratio=value).check()
    with pytest.raises(UserError, match="--minutes must be a finite number"):
        DemoSettings(minutes=value)


def test_train_lr_inf_on_the_command_line_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "prepare.json").write_text(json.dumps({"format": "ea-mt-prepare"}))
    result = invoke("train", "-w", tmp_path, "--lr", "inf")
    assert "--lr must be a finite number, not inf" in one_error(result)


# --- usage errors and -h --------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["translate", "--beam", "abc"],
    ["translate", "--bem", "3"],
    ["score"],
    ["no-such-command"],
    ["--no-such-option"],
])
def test_usage_errors_are_one_line(argv: list[str]) -> None:
    result = invoke(*argv)
    assert result.exit_code == 2
    line = one_error(result)
    assert result.stderr == line + "\n" and "--help'" in line


def test_minus_h_is_help_for_the_app_and_every_command() -> None:
    names = sorted(get_command(app).commands)  # type: ignore[attr-defined]
    assert "translate" in names
    for argv in ([], *([name] for name in names)):
        short, long = invoke(*argv, "-h"), invoke(*argv, "--help")
        assert short.exit_code == 0 and short.stdout == long.stdout and "Usage" in short.stdout


# --- loading weights non-strictly ----------------------------------------------------------


def test_load_state_dict_strict_false_stays_non_strict() -> None:
    from model_helpers import build_model

    model = build_model("ea_transformer_tiny")
    state = {k: v for k, v in model.state_dict().items() if ".ea_conv." not in k}
    dropped = "encoder.layers.0.fc1.weight"
    del state[dropped]
    result = model.load_state_dict(state, strict=False)
    assert dropped in result.missing_keys
    with pytest.raises(RuntimeError, match=dropped):
        model.load_state_dict(state)  # the vanilla-to-EA path relaxes only the ea_conv keys


# --- translate, with a trained model -------------------------------------------------------


def translate_line(model: TrainedModel, more: str) -> str:
    return f"ea-mt translate -q --threads 1 -w {model.workdir} {more}"


@pytest.mark.slow
def test_translate_output_redirected_from_stdin_is_refused(trained_model: TrainedModel,
                                                           tmp_path: Path, lines: Path) -> None:
    before = lines.read_bytes()
    done = shell(translate_line(trained_model, f"-o {lines}"), tmp_path, stdin=lines)
    assert "is both input and output (input: <stdin>)" in one_error(done)
    assert lines.read_bytes() == before


@pytest.mark.slow
def test_translate_stdin_and_stdout_one_file_is_refused(trained_model: TrainedModel,
                                                        tmp_path: Path, lines: Path) -> None:
    done = shell(translate_line(trained_model, f"< {lines} > {lines}"), tmp_path)
    assert "stdout is redirected to the input" in one_error(done)
    assert "translated 0 lines" not in done.stderr


@pytest.mark.slow
def test_translate_keeps_the_old_output_when_it_fails(trained_model: TrainedModel,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"A dog.\n" * 5 + b"\xff\n")  # past the first buffer of 2 lines
    previous = tmp_path / "prev.txt"
    previous.write_text("the old translations\n")
    done = shell(translate_line(trained_model, f"--buffer-size 2 -i {bad} -o {previous}"),
                 tmp_path)
    assert "bad.txt:6: invalid UTF-8" in one_error(done)
    assert previous.read_text() == "the old translations\n" and leftovers(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("target", ["> /dev/full", "-o /dev/full"])
def test_translate_to_a_full_disk_is_one_line(target: str, trained_model: TrainedModel,
                                              tmp_path: Path, lines: Path) -> None:
    done = shell(translate_line(trained_model, f"-i {lines} {target}"), tmp_path)
    line = one_error(done)
    name = "<stdout>" if target.startswith(">") else "/dev/full"
    assert f"cannot write {name}: No space left on device" in line


@pytest.mark.slow
def test_translate_with_stdin_closed_is_one_line(trained_model: TrainedModel,
                                                 tmp_path: Path) -> None:
    done = shell(translate_line(trained_model, "<&-"), tmp_path)
    assert "cannot read <stdin>: it is closed" in one_error(done)


@pytest.mark.slow
@pytest.mark.parametrize("option", [("--max-len-a", "inf"), ("--max-len-a", "nan"),
                                    ("--lenpen", "nan")])
def test_translate_non_finite_options_are_one_line(option: tuple[str, str],
                                                   trained_model: TrainedModel) -> None:
    result = invoke("translate", "-q", "-w", trained_model.workdir, *option)
    assert f"{option[0]} must be a finite number, not {option[1]}" in one_error(result)
