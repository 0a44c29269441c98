"""Commands that load no model start without torch and fairseq, yet ``import ea_mt`` still
registers the EA architectures and allow-lists the checkpoint types once those are imported.

Each check runs in a fresh interpreter: what a process has imported is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.main import get_command

import ea_mt
from ea_mt.cli.main import app

HEAVY = ("torch", "fairseq")
# Runs the ea-mt application in-process with ARGV (JSON), then prints, as the last line
# on stderr, its exit code and which heavy modules the process imported.
RUN_CLI = f"""
import json, sys
sys.argv = ["ea-mt", *json.loads(sys.argv[1])]
from ea_mt.cli.main import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
heavy = [name for name in {HEAVY!r} if name in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.stderr)
"""


def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` in a fresh interpreter; it must succeed."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_cli(*args: str) -> tuple[str, list[str]]:
    """stdout of ``ea-mt ARGS`` run in a fresh interpreter, and the heavy modules it loaded."""
    proc = python(RUN_CLI, json.dumps(args))
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    assert result["code"] in (0, None), proc.stderr[-3000:]
    return proc.stdout, result["heavy"]


def command_names() -> list[str]:
    group = get_command(app)
    return group.list_commands(typer.Context(group))


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], *([name, "--help"] for name in command_names())],
    ids=lambda args: " ".join(args),
)
def test_help_and_version_load_neither_torch_nor_fairseq(args: list[str]) -> None:
    out, heavy = run_cli(*args)
    assert out.strip()
    assert heavy == []


def test_score_loads_neither_torch_nor_fairseq(tmp_path: Path) -> None:
    ref, hyp = tmp_path / "ref.de", tmp_path / "hyp.de"
    ref.write_text("Ein Hund läuft.\nZwei Katzen schlafen.\n", encoding="utf-8")
    hyp.write_text("Ein Hund rennt.\nZwei Katzen schlafen.\n", encoding="utf-8")
    out, heavy = run_cli("score", "--ref", str(ref), "--hyp", str(hyp), "--json")
    assert json.loads(out)["scores"][0]["metric"] == "BLEU"
    assert heavy == []


def test_import_ea_mt_loads_neither_torch_nor_fairseq() -> None:
    proc = python(f"import sys, ea_mt; print([m for m in {HEAVY!r} if m in sys.modules])")
    assert proc.stdout.strip() == "[]"


def test_the_console_script_prints_the_version() -> None:
    script = Path(sys.executable).parent / "ea-mt"
    proc = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ea-mt {ea_mt.__version__}"


# Prints the ea_* architectures fairseq knows after IMPORTS, then those it knows once the
# registering module has surely run: the same list twice if ea_mt registered them itself.
REGISTRY = """
import logging, sys
{imports}
from fairseq.models import ARCH_MODEL_REGISTRY
before = sorted(a for a in ARCH_MODEL_REGISTRY if a.startswith("ea_"))
import ea_mt.models.ea_transformer
after = sorted(a for a in ARCH_MODEL_REGISTRY if a.startswith("ea_"))
print(before)
print(after)
print(logging.getLogger().handlers)
print([type(f).__name__ for f in sys.meta_path if type(f).__module__.startswith("ea_mt")])
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import ea_mt",
        "import ea_mt; import torch",
        "import torch; import ea_mt",
        "import fairseq; import ea_mt",  # fairseq's --user-dir: fairseq first
        # fairseq first imported by a module of the model, half-run at that moment
        "from ea_mt.models.attention import EvolvingMultiheadAttention",
        "from ea_mt.models.layers import EATransformerEncoderLayer",
        "from ea_mt.models import EAConfig, AttentionChain",
        "from ea_mt.checkpoint_safety import load_checkpoint",  # torch first imported there
    ],
)
def test_import_ea_mt_registers_every_architecture(imports: str) -> None:
    lines = python(REGISTRY.format(imports=imports)).stdout.splitlines()
    before, after, handlers, finders = lines[:4]
    assert "ea_transformer" in before and "ea_transformer_tiny" in before
    assert before == after
    assert finders == "[]"  # the import hooks are gone once their work is done
    if not imports.startswith("import fairseq"):
        assert handlers == "[]"  # fairseq's imports left the application's logging alone


@pytest.mark.parametrize(
    "imports",
    [
        "import ea_mt; import torch",
        "import torch; import ea_mt",
        "from ea_mt.checkpoint_safety import load_checkpoint",
        "from ea_mt.models.evolving import convolve_map",
    ],
)
def test_import_ea_mt_allow_lists_the_checkpoint_types(imports: str) -> None:
    code = (f"{imports}\nimport argparse, torch.serialization\n"
            "print(argparse.Namespace in torch.serialization.get_safe_globals())")
    assert python(code).stdout.strip() == "True"


def test_the_model_settings_import_without_torch() -> None:
    code = ("import sys, ea_mt.models.config, ea_mt.decoding.options, ea_mt.devices\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert python(code).stdout.strip() == "[]"
