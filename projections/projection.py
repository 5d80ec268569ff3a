"""What a projection is, and the row-shaping pieces the projections share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.values import PartialDate
from projections.states import StreamStates
from store.records import RecordedEvent


class Projection(Protocol):
    """A read model: which events it wants, which tables it owns, how it applies a batch."""

    name: str
    tables: tuple[Table, ...]
    stream_prefixes: tuple[str, ...]

    async def apply(
        self, tx: AsyncConnection, batch: Sequence[RecordedEvent], states: StreamStates
    ) -> None:
        """Apply events (already in global order) inside the caller's transaction."""


def window(prefix: str, when: PartialDate | None) -> dict[str, Any]:
    """A partial date as the four columns `projections.tables._window` declares."""
    return {
        f"{prefix}_from": when.start if when else None,
        f"{prefix}_to": when.end if when else None,
        f"{prefix}_wording": when.wording if when else None,
        f"{prefix}_precision": when.precision if when else None,
    }
