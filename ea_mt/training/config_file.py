"""``ea-mt train --config FILE``: training options from a YAML file or a saved run.

FILE is either the ``train_config.json`` that a run wrote next to its checkpoints (its
``options`` are the effective settings of that run) or a YAML (or JSON) mapping of option
names to values, spelt as on the command line or as Python names::

    arch: ea_transformer_tiny
    max-update: 2000
    ea_alpha: 0.5
    extra_args: [--update-freq, "2"]

:func:`read_options` checks every name and type against :class:`TrainOptions`;
:func:`dump_options` writes options back as YAML, which :func:`read_options` reads.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from pathlib import Path
from typing import Any

from ea_mt.errors import UserError
from ea_mt.training.options import TRAIN_CONFIG_FORMAT, TrainOptions

_FIELDS = {field.name: field for field in dataclasses.fields(TrainOptions)}


def read_options(path: Path) -> dict[str, Any]:
    """The TrainOptions fields that ``path`` sets, checked; a UserError naming the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--config {path}: cannot read it ({error})") from None
    data = _parse(path, text)
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of option names to values")
    if data.get("format") == TRAIN_CONFIG_FORMAT:  # a train_config.json that a run wrote
        data = data.get("options")
        if not isinstance(data, dict):
            raise UserError(f"--config {path}: its 'options' are not a mapping")
    options = {}
    for key, value in data.items():
        name = str(key).removeprefix("--").replace("-", "_")
        if name not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise UserError(f"--config {path}: unknown option {key!r}; known: {known}")
        options[name] = _checked(path, name, value)
    return options


def dump_options(options: TrainOptions) -> str:
    """``options`` as YAML that :func:`read_options` reads back to the same options."""
    import yaml

    values = dataclasses.asdict(options)
    values["extra_args"] = list(options.extra_args)
    return yaml.safe_dump(values, sort_keys=False, allow_unicode=True)


def _parse(path: Path, text: str) -> Any:
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise UserError(f"--config {path}: not valid JSON ({error})") from None
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        reason = " ".join(str(error).split())
        raise UserError(f"--config {path}: not valid YAML ({reason})") from None


def _checked(path: Path, name: str, value: Any) -> Any:
    """``value`` converted to the type of field ``name``, or a UserError."""
    hint = typing.get_type_hints(TrainOptions)[name]
    allowed = set(typing.get_args(hint)) if isinstance(hint, types.UnionType) else {hint}
    if value is None:
        if type(None) in allowed:
            return None
    elif name == "extra_args":
        if isinstance(value, list | tuple) and all(isinstance(v, str | int | float) for v in value):
            return tuple(str(v) for v in value)
    elif bool in allowed:
        if isinstance(value, bool):
            return value
    elif isinstance(value, bool):
        pass  # never a number or a string
    elif int in allowed and isinstance(value, int):
        return value
    elif float in allowed and isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    elif str in allowed and isinstance(value, str):
        return value
    names = sorted("null" if t is type(None) else t.__name__ for t in allowed)
    names.sort(key=lambda n: n == "null")
    wanted = "a list of strings" if name == "extra_args" else " or ".join(names)
    raise UserError(f"--config {path}: {name} must be {wanted}, not {value!r}")
