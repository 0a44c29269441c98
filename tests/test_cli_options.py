"""Each decoding and device option is declared once (ea_mt.cli.options) and takes its default
from the library (DecodeOptions, InputOptions, ea_mt.devices), in --help too."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
import typing
from typing import Any

from typer.main import get_command

from ea_mt.cli import evaluate as evaluate_cli
from ea_mt.cli import options as shared
from ea_mt.cli import train as train_cli
from ea_mt.cli import translate as translate_cli
from ea_mt.cli.main import app
from ea_mt.decoding.options import DecodeOptions, InputOptions
from ea_mt.demo import DemoSettings
from ea_mt.devices import DEFAULT_DEVICE, DEFAULT_PRECISION
from ea_mt.training.options import TrainOptions

DECODING = ("translate", "evaluate")


def params(command: str) -> dict[str, Any]:
    """The click parameters of an ea-mt command, by name."""
    group: Any = get_command(app)
    return {param.name: param for param in group.commands[command].params if param.name}


def library_defaults() -> dict[str, object]:
    """Every decoding option's default, as the library defines it."""
    fields = [*dataclasses.fields(DecodeOptions), *dataclasses.fields(InputOptions)]
    return {f.name: f.default for f in fields} | {
        "device": DEFAULT_DEVICE, "precision": DEFAULT_PRECISION, "threads": None,
    }


def test_translate_and_evaluate_take_every_default_from_the_library() -> None:
    expected = library_defaults()
    for command in DECODING:
        found = params(command)
        shared_names = set(expected) & set(found)
        assert shared_names >= set(expected) - {"nbest"}, command
        for name in shared_names - {"nbest"}:  # --nbest unset: one plain translation per line
            assert found[name].default == expected[name], (command, name)


def test_training_and_demo_take_their_device_defaults_from_the_library() -> None:
    train = params("train")
    assert train["device"].default == TrainOptions().device == DEFAULT_DEVICE
    assert train["threads"].default == TrainOptions().threads
    assert params("demo")["threads"].default == DemoSettings().threads


def annotation(function: object, name: str) -> object:
    """The typer.Option object a command's parameter is declared with."""
    hints = typing.get_type_hints(function, include_extras=True)
    return hints[name].__metadata__[0]


def test_commands_share_each_option_object() -> None:
    declared = {
        name: value.__metadata__[0] for name, value in vars(shared).items()
        if name.endswith("Option") and typing.get_origin(value) is typing.Annotated
    }
    commands = [translate_cli.translate_command, evaluate_cli.evaluate_command]
    names = ["checkpoint", "beam", "lenpen", "max_len_a", "max_len_b", "batch_size",
             "max_tokens", "buffer_size", "device", "precision", "threads", "errors"]
    for command in commands:
        for name in names:
            assert any(annotation(command, name) is option for option in declared.values()), \
                (command.__name__, name)
    for name in ("device", "threads"):
        assert annotation(train_cli.train_command, name) is \
            annotation(translate_cli.translate_command, name)


def test_the_library_functions_take_the_same_defaults() -> None:
    from ea_mt.decoding.evaluation import evaluate
    from ea_mt.decoding.translation import Translator, translate_file, translate_stream

    def default(function: object, name: str) -> object:
        return inspect.signature(function).parameters[name].default

    for function in (translate_stream, translate_file, evaluate):
        assert default(function, "buffer_size") == InputOptions.buffer_size
    for function in (translate_file, evaluate):
        assert default(function, "errors") == InputOptions.errors
    for function in (Translator, Translator.load):
        assert default(function, "device") == DEFAULT_DEVICE
        assert default(function, "precision") == DEFAULT_PRECISION


# Changes each default where it is defined, then builds the command line: every command
# must follow, in its parameters and in --help.
CHANGED_DEFAULTS = """
import json, sys
import ea_mt.devices as devices
from ea_mt.decoding.options import DecodeOptions, InputOptions
DecodeOptions.beam, DecodeOptions.lenpen, DecodeOptions.max_len_b = 7, 1.5, 77
DecodeOptions.batch_size, InputOptions.buffer_size, InputOptions.errors = 33, 1234, "replace"
devices.DEFAULT_DEVICE, devices.DEFAULT_PRECISION = "cpu", "bf16"
from typer.main import get_command
from typer.testing import CliRunner
from ea_mt.cli.main import app
group = get_command(app)
print(json.dumps(default=str, obj={
    name: {p.name: p.default for p in group.commands[name].params if p.name}
    for name in sys.argv[1:]
}))
print(CliRunner().invoke(app, ["translate", "--help"], terminal_width=200).output)
"""


def test_a_default_changed_where_it_is_defined_changes_every_command() -> None:
    proc = subprocess.run([sys.executable, "-c", CHANGED_DEFAULTS, *DECODING],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, _, help_text = proc.stdout.partition("\n")
    defaults = json.loads(first)
    changed = {"beam": 7, "lenpen": 1.5, "max_len_b": 77, "batch_size": 33,
               "buffer_size": 1234, "errors": "replace", "device": "cpu", "precision": "bf16"}
    for command in DECODING:
        assert {name: defaults[command][name] for name in changed} == changed, command
    for value in ("[default: 1234]", "[default: 7]", "[default: bf16]", "[default: replace]"):
        assert value in help_text
