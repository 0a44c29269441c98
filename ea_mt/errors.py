"""Errors that are the user's to fix: the CLI prints them as one line, never a traceback."""

import math


class UserError(Exception):
    """A problem with the user's input, files or options; its message is shown as is."""


def check_finite(option: str, value: float | None) -> None:
    """A UserError when a number option is infinite or not a number (None: not given)."""
    if value is not None and not math.isfinite(value):
        raise UserError(f"{option} must be a finite number, not {value}")
