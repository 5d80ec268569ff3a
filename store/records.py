"""The shapes that cross the store's boundary: events going in, events coming out, cursors."""

from __future__ import annotations

import base64
import binascii
import os
import re
import time
import uuid
from datetime import date, datetime
from typing import Any, Final

import msgspec

from store.errors import InvalidCursor

MAX_BIGINT: Final = 2**63 - 1
"""The largest transaction id or position PostgreSQL can hold (bigint, xid8 as stored)."""

ANY: Final = -1
"""Expected version: append whatever the stream's version is."""
STREAM_EXISTS: Final = -2
"""Expected version: the stream must already have at least one event."""
NO_STREAM: Final = 0
"""Expected version: the stream must not exist yet."""


def time_ordered_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562: 48 bits of Unix milliseconds, then 74 random bits).

    Why not uuid4: the log's unique index on event ids then takes each new id on a
    random leaf page, and the first change to a page after a checkpoint writes the whole
    page to the WAL; ids that grow with time land on the index's last pages, as the
    positions do. The random bits keep ids from two processes in one millisecond apart.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10))
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return uuid.UUID(int=value)


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event the domain decided, ready to be appended."""

    type: str
    data: dict[str, Any]
    schema_version: int = 1
    event_id: uuid.UUID = msgspec.field(default_factory=time_ordered_id)
    valid_from: date | None = None
    valid_to: date | None = None


decode_object = msgspec.json.Decoder(dict[str, Any]).decode
"""A stored JSON object (an event's payload or metadata) as a dict."""


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as the store holds it, with everything the database stamped on it.

    The payload is kept as the JSON text PostgreSQL returns (`payload`); `data` is that
    payload as a dict. The store's reads decode it as they read (their callers all want
    the dict); a reader that decodes payloads itself, straight into the domain's events
    (the projections, through `domain.codec.decode_payload`), asks for the text alone and
    skips the dict, which costs more than the rest of reading a row.
    """

    position: int
    transaction_id: int
    stream_id: str
    version: int
    event_id: uuid.UUID
    type: str
    schema_version: int
    payload: str
    """The event's data as stored: its JSON text (jsonb), the same JSON value as `data`."""
    metadata: dict[str, Any]
    valid_from: date | None
    valid_to: date | None
    recorded_at: datetime
    prev_hash: bytes | None
    hash: bytes
    _data: dict[str, Any] | None = None
    """`payload` as a dict when the read decoded it; None when it was read as text alone."""

    @property
    def data(self) -> dict[str, Any]:
        """The payload as a dict: the one the read decoded, else decoded now (afresh on
        each use: a reader that asked for the text alone is not expected to want it)."""
        data = self._data
        return data if data is not None else decode_object(self.payload)

    @property
    def cursor(self) -> Cursor:
        """Where a reader that has consumed this event resumes."""
        return Cursor(self.transaction_id, self.position)


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an append produced: the stream's new version and where the events landed."""

    stream_id: str
    version: int
    positions: tuple[int, ...]
    cursor: Cursor | None
    replayed: bool
    """True when an idempotency key matched an earlier append and nothing new was written."""


_CURSOR_TEXT = re.compile(r"1\.(0|[1-9][0-9]{0,18})\.(0|[1-9][0-9]{0,18})")


class Cursor(msgspec.Struct, frozen=True, order=True):
    """A point in the global order: (transaction id, position), compared as a pair."""

    transaction_id: int
    position: int

    def encode(self) -> str:
        """An opaque, URL-safe token; integrators must not parse it."""
        raw = f"1.{self.transaction_id}.{self.position}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Read a token produced by `encode`, refusing anything else."""
        if len(token) > 64:  # 19 + 19 digits and two dots, in base64
            raise InvalidCursor(f"not a cursor: {token[:64]!r}…")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        except (ValueError, binascii.Error, UnicodeDecodeError) as error:
            raise InvalidCursor(f"not a cursor: {token!r}") from error
        # exactly what `encode` writes: int() alone would take " 1", "+1" or other digits
        found = _CURSOR_TEXT.fullmatch(raw)
        if found is None:
            raise InvalidCursor(f"not a cursor: {token[:64]!r}")
        cursor = cls(int(found[1]), int(found[2]))
        if not (cursor.transaction_id <= MAX_BIGINT and cursor.position <= MAX_BIGINT):
            raise InvalidCursor(f"not a cursor: {token!r}")
        return cursor


START: Final = Cursor(0, 0)
"""Before the first event."""


class Page(msgspec.Struct, frozen=True, kw_only=True):
    """A slice of the global order and the cursor to continue from."""

    events: list[RecordedEvent]
    cursor: Cursor
