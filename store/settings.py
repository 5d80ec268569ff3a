"""Numbers read from the environment once, at start: a bad one stops the process there,
naming the variable, instead of failing later in the middle of the work."""

from __future__ import annotations

import os


def positive_number(
    name: str,
    default: str,
    *,
    whole: bool = False,
    below: float | None = None,
    zero: bool = False,
) -> float:
    """A positive (`whole`: integer) number from the environment variable `name`, below
    `below` when given, or 0 when `zero` allows it (a check turned off); anything else
    is a ValueError naming the variable."""
    text = os.environ.get(name, default).strip() or default
    try:
        value = float(int(text)) if whole else float(text)
    except ValueError:
        value = -1.0
    if not ((value > 0 or (zero and value == 0)) and value < (below or float("inf"))):
        kind = "a positive whole number" if whole else "a positive number"
        bound = f" (below {below:g})" if below is not None else ""
        raise ValueError(f"{name} must be {kind}{bound}{' or 0' * zero}, not {text!r}")
    return value
