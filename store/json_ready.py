"""Domain values (Structs, read-only mappings, sets) as plain JSON-ready builtins."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec


def _builtin(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(value, key=str)
    raise NotImplementedError(type(value).__name__)


def to_builtins(value: Any) -> Any:
    """The value as dicts, lists, strings and numbers, keys sorted for stable output."""
    return msgspec.to_builtins(value, enc_hook=_builtin, order="sorted")
