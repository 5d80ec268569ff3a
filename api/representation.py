"""Turning domain state and stored events into JSON-ready bodies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from reporting.disclosure import disclosed
from store.records import RecordedEvent

MAX_TEXT = 20_000
MAX_ITEMS = 1_000


def _first_fault(value: Any, fault: Callable[[Any], str | None], path: str) -> str | None:
    """Walk a decoded body depth-first; the first place `fault` names, with its path."""
    found = fault(value)
    if found:
        return f"{path} {found}"
    children: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        found = _first_fault(child, fault, f"{path}.{key}")
        if found:
            return found
    return None


def _too_big(value: Any) -> str | None:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    if isinstance(value, list) and len(value) > MAX_ITEMS:
        return f"has more than {MAX_ITEMS} items"
    return None


def _nul(value: Any) -> str | None:
    return "contains a NUL character" if isinstance(value, str) and "\x00" in value else None


def oversize(value: Any, path: str = "body") -> str | None:
    """Where a decoded body exceeds the register's text or list limits, if anywhere."""
    return _first_fault(value, _too_big, path)


def unstorable(value: Any, path: str = "body") -> str | None:
    """Where a decoded body holds text PostgreSQL cannot store (a NUL character), if anywhere."""
    return _first_fault(value, _nul, path)


class EventView(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded event with all its metadata, as auditors read it."""

    position: int
    stream_id: str
    version: int
    event_id: str
    type: str
    schema_version: int
    recorded_at: dt.datetime
    valid_from: dt.date | None
    valid_to: dt.date | None
    data: dict[str, Any]
    metadata: dict[str, Any]
    hash: str
    prev_hash: str | None


def event_view(record: RecordedEvent, *, audit: bool = True) -> EventView:
    """A stored event as served, hashes in hex; `audit=False` drops the audit metadata
    (reporting/disclosure.py says which)."""
    metadata = disclosed(record.metadata, audit=audit)
    return EventView(
        position=record.position,
        stream_id=record.stream_id,
        version=record.version,
        event_id=str(record.event_id),
        type=record.type,
        schema_version=record.schema_version,
        recorded_at=record.recorded_at,
        valid_from=record.valid_from,
        valid_to=record.valid_to,
        data=record.data,
        metadata=metadata,
        hash=record.hash.hex(),
        prev_hash=record.prev_hash.hex() if record.prev_hash else None,
    )
