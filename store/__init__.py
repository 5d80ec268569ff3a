"""The append-only PostgreSQL event store."""

from store.errors import (
    DuplicateEventId,
    EventStoreError,
    IdempotencyKeyReused,
    InvalidCursor,
    WrongExpectedVersion,
)
from store.event_store import EventStore
from store.records import (
    ANY,
    NO_STREAM,
    START,
    STREAM_EXISTS,
    AppendResult,
    Cursor,
    NewEvent,
    Page,
    RecordedEvent,
)
from store.verification import BrokenLink, VerificationReport, verify

__all__ = [
    "ANY",
    "NO_STREAM",
    "START",
    "STREAM_EXISTS",
    "AppendResult",
    "BrokenLink",
    "Cursor",
    "DuplicateEventId",
    "EventStore",
    "EventStoreError",
    "IdempotencyKeyReused",
    "InvalidCursor",
    "NewEvent",
    "Page",
    "RecordedEvent",
    "VerificationReport",
    "WrongExpectedVersion",
    "verify",
]
