"""The append-only event store on PostgreSQL (asyncpg).

Global order is (transaction id, position), read only below the oldest transaction still
in flight (`pg_snapshot_xmin`), so a writer that commits late with a lower position is
never skipped: readers simply do not look past a transaction that might still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from store.errors import (
    DuplicateEventId,
    IdempotencyKeyReused,
    InvalidCursor,
    WrongExpectedVersion,
)
from store.hashing import canonical_json, canonical_text, payload_hash_of_canonical
from store.metrics import APPEND_SECONDS
from store.records import (
    ANY,
    START,
    AppendResult,
    Cursor,
    NewEvent,
    Page,
    RecordedEvent,
    decode_object,
)
from store.write_combining import APPEND_BATCH_SQL as APPEND_BATCH_SQL
from store.write_combining import APPEND_ONE_SQL as APPEND_ONE_SQL
from store.write_combining import MAX_COMBINED as MAX_COMBINED
from store.write_combining import WriteCombiner, single_result

WRONG_EXPECTED_VERSION = "EE001"
IDEMPOTENCY_KEY_REUSED = "EE002"
NOTIFY_CHANNEL = "event_store"
NOTIFY_INTERVAL = 0.025
"""At most one wake-up hint per this many seconds; the last append is always announced.
Each hint is a round trip and a commit of its own: at 5 ms a lone writer sent one per
~10 appends on a quiet machine and one per append on a loaded one; 25 ms adds at most
that much to a reader's wake-up, well inside the feed's and the projections' budgets."""

EVENT_COLUMNS = """position, transaction_id::text::bigint AS transaction_id, stream_id, version,
    event_id, type, schema_version, data::text AS data, metadata::text AS metadata,
    valid_from, valid_to, recorded_at, prev_hash, hash"""

APPEND_SQL = """SELECT out_positions, out_version, out_transaction_id, out_replayed
FROM event_store.append_json($1, $2, $3::jsonb, $4::jsonb, $5, $6)"""
"""Several events for one stream: the events as one jsonb array (`append_arguments`),
unpacked by the server into `append`'s arrays (migration 0018)."""

READ_STREAM_SQL = f"""SELECT {EVENT_COLUMNS} FROM event_store.events
WHERE stream_id = $1 AND version >= $2 AND ($3::bigint IS NULL OR version <= $3)
  AND ($4::timestamptz IS NULL OR recorded_at <= $4)
ORDER BY version"""

READ_ALL_SQL = f"""WITH horizon AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin
)
SELECT h.xmin::text::bigint AS horizon, e.*
FROM horizon h LEFT JOIN LATERAL (
    SELECT {EVENT_COLUMNS} FROM event_store.events AS e
    WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
      AND transaction_id < h.xmin
      AND ($3::text[] IS NULL OR type = ANY($3))
      AND ($4::text IS NULL OR starts_with(stream_id, $4))
      AND ($6::timestamptz IS NULL OR recorded_at <= $6)
    ORDER BY e.transaction_id, e.position  -- the columns, not their bigint aliases
    LIMIT $5
) e ON true"""

HAS_NEW_SQL = """SELECT EXISTS (
    SELECT 1 FROM event_store.events
    WHERE (transaction_id, position) > ($1::text::xid8, $2::bigint)
      AND transaction_id < pg_snapshot_xmin(pg_current_snapshot()))"""


def recorded_event(row: asyncpg.Record, decoded: bool = True) -> RecordedEvent:
    """The row as a record; its payload decoded to a dict too, unless `decoded` is False."""
    payload = row["data"]
    return RecordedEvent(
        position=row["position"],
        transaction_id=row["transaction_id"],
        stream_id=row["stream_id"],
        version=row["version"],
        event_id=row["event_id"],
        type=row["type"],
        schema_version=row["schema_version"],
        payload=payload,
        metadata=decode_object(row["metadata"]),
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        recorded_at=row["recorded_at"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        _data=decode_object(payload) if decoded else None,
    )


def request_fingerprint(stream_id: str, expected_version: int, events: Sequence[NewEvent]) -> bytes:
    """What makes two appends "the same request": everything but the generated event ids."""
    return hashlib.sha256(
        canonical_json(
            {
                "stream_id": stream_id,
                "expected_version": expected_version,
                "events": [
                    [e.type, e.schema_version, e.data, str(e.valid_from), str(e.valid_to)]
                    for e in events
                ],
            }
        )
    ).digest()


def _payload_hash(event: NewEvent, data_text: str, metadata_text: str) -> bytes:
    """The event's payload hash, of the same canonical texts that are sent as jsonb."""
    return payload_hash_of_canonical(
        data_json=data_text,
        event_id=event.event_id,
        type=event.type,
        schema_version=event.schema_version,
        metadata_json=metadata_text,
        valid_from=event.valid_from,
        valid_to=event.valid_to,
    )


def append_one_arguments(
    stream_id: str, expected_version: int, event: NewEvent, metadata: dict[str, Any]
) -> list[Any]:
    """`append_one`'s arguments, but for the idempotency key and fingerprint."""
    metadata_text = canonical_text(metadata)
    data_text = canonical_text(event.data)
    return [
        stream_id,
        expected_version,
        event.event_id,
        event.type,
        event.schema_version,
        data_text,
        metadata_text,
        event.valid_from,
        event.valid_to,
        _payload_hash(event, data_text, metadata_text),
    ]


def append_arguments(
    stream_id: str, expected_version: int, events: Sequence[NewEvent], metadata: dict[str, Any]
) -> list[Any]:
    """`append_json`'s arguments, but for the idempotency key and fingerprint."""
    # Each value is encoded once, in canonical JSON, and that same text is both sent as
    # the jsonb column and hashed (jsonb keeps the value, not the spelling). The rows go
    # as one JSON text (one encoder call), the metadata once for all of them.
    metadata_text = canonical_text(metadata)
    rows = []
    for e in events:
        data_text = canonical_text(e.data)
        rows.append(
            [
                e.event_id,
                e.type,
                e.schema_version,
                msgspec.Raw(data_text),
                e.valid_from,
                e.valid_to,
                _payload_hash(e, data_text, metadata_text),
            ]
        )
    return [stream_id, expected_version, _encode(rows).decode(), metadata_text]


_encode = msgspec.json.Encoder().encode


def many_result(stream_id: str, row: asyncpg.Record) -> AppendResult:
    """The result of one multi-event `append` call."""
    positions, version, transaction_id, replayed = row
    return AppendResult(
        stream_id=stream_id,
        version=version,
        positions=tuple(positions),
        cursor=Cursor(transaction_id, positions[-1]) if positions else None,
        replayed=replayed,
    )


def translate_refusal(
    error: asyncpg.PostgresError, stream_id: str, expected: int, key: str | None
) -> Exception:
    """The store's own exception for a refusal the append function raised."""
    if error.sqlstate == WRONG_EXPECTED_VERSION:
        actual = getattr(error, "detail", None)
        return WrongExpectedVersion(stream_id, expected, int(actual) if actual else None)
    if error.sqlstate == IDEMPOTENCY_KEY_REUSED and key is not None:
        return IdempotencyKeyReused(key)
    return error


class EventStore:
    """Append, read and replay streams; read the whole log in a safe global order."""

    def __init__(self, pool: Any, *, combine_flights: int = 1) -> None:
        self._pool = pool
        self._combiner = WriteCombiner(pool, combine_flights)
        self._hint: asyncio.Task[None] | None = None
        self._unannounced = False

    _append_one_arguments = staticmethod(append_one_arguments)

    @property
    def combine_flights(self) -> int:
        """How many append calls of this store may be in flight at once (write combining)."""
        return self._combiner.flights

    @property
    def pool(self) -> Any:
        """The asyncpg pool, for adapters (subscriptions, verification) that share it."""
        return self._pool

    async def append(
        self,
        stream_id: str,
        events: Sequence[NewEvent],
        expected_version: int = ANY,
        metadata: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        fingerprint: bytes | None = None,
    ) -> AppendResult:
        """Append all of `events` or none of them.

        Raises WrongExpectedVersion when the stream is not at `expected_version`, and
        IdempotencyKeyReused when the key was spent on a different request. A retry with
        the same key and request returns the original result and writes nothing.
        """
        started = time.perf_counter()
        shared = dict(metadata or {})
        if idempotency_key is not None:
            shared["idempotency_key"] = idempotency_key
            fingerprint = fingerprint or request_fingerprint(stream_id, expected_version, events)
        single = len(events) == 1
        if single:
            sql, args = (
                APPEND_ONE_SQL,
                append_one_arguments(stream_id, expected_version, events[0], shared),
            )
        else:
            sql, args = (
                APPEND_SQL,
                append_arguments(stream_id, expected_version, events, shared),
            )
        attempts = 3 if idempotency_key is not None or expected_version == ANY else 1
        for attempt in range(attempts):
            try:
                if single and attempt == 0:
                    result = await self._combiner.append(
                        stream_id, [*args, idempotency_key, fingerprint]
                    )
                else:
                    row = await self._combiner.fetchrow(sql, *args, idempotency_key, fingerprint)
                    if single:
                        result = single_result(stream_id, row)
                    else:
                        result = many_result(stream_id, row)
                if result.positions and not result.replayed:
                    self._wake_readers()
                    APPEND_SECONDS.observe(time.perf_counter() - started)
                return result
            except asyncpg.UniqueViolationError as error:
                if error.constraint_name == "events_event_id_key":
                    raise DuplicateEventId(str(error.detail)) from None
                # A concurrent writer won the race; with a key or ANY, asking again is safe.
                if attempt == attempts - 1:
                    raise WrongExpectedVersion(
                        stream_id, expected_version, await self.stream_version(stream_id)
                    ) from None
            except asyncpg.PostgresError as error:
                raise translate_refusal(
                    error, stream_id, expected_version, idempotency_key
                ) from None
        raise AssertionError("unreachable")

    async def settle(self) -> None:
        """Wait for this store's background work (combined calls, the last wake-up hint)
        and hand its held connections back, so that its pool can close with every
        connection in it (unsettled, they go back after 50 ms idle anyway). Waiting is all
        it does: the work is neither cancelled nor its errors raised here (they reached
        the callers)."""
        while pending := {*self._combiner.pending(), *self._pending_hint()}:
            await asyncio.wait(pending)

    def _pending_hint(self) -> set[asyncio.Task[None]]:
        return {self._hint} if self._hint is not None and not self._hint.done() else set()

    def _wake_readers(self) -> None:
        """NOTIFY after the commit, coalesced: one hint covers every append before it.

        Notifying inside the append would serialise all committing writers on the
        notification queue's lock; readers poll anyway, so a hint sent just after is enough.
        Hints go out at most every NOTIFY_INTERVAL: a hint per append would cost as much
        as the append itself under load, while one covering the last few milliseconds
        wakes readers just as well. An append made while a hint is pending or cooling
        down is covered by the next one, so the last append is always announced.
        """
        self._unannounced = True
        if self._hint is None or self._hint.done():
            self._hint = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        while self._unannounced:
            self._unannounced = False
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                # on the append path's held connections, not through the pool
                await self._combiner.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            await asyncio.sleep(NOTIFY_INTERVAL)

    async def stream_version(self, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        version = await self._pool.fetchval(
            "SELECT coalesce(max(version), 0) FROM event_store.events WHERE stream_id = $1",
            stream_id,
        )
        return int(version)

    async def read_stream(
        self,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        recorded_until: datetime | None = None,
        decoded: bool = True,
    ) -> list[RecordedEvent]:
        """A stream in version order; with `recorded_until`, as it was recorded back then.

        `decoded=False` leaves each payload as its stored text (`RecordedEvent.payload`)
        for a reader that decodes it straight into events (`domain.codec.decode_payload`).
        """
        rows = await self._pool.fetch(
            READ_STREAM_SQL, stream_id, from_version, to_version, recorded_until
        )
        return [recorded_event(row, decoded) for row in rows]

    async def read_all(
        self,
        after: Cursor = START,
        *,
        limit: int = 1000,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        recorded_until: datetime | None = None,
        decoded: bool = True,
    ) -> Page:
        """The next events in the global order after `after`, never skipping a late commit.

        When the page is not full, every event below the horizon was considered, so the
        returned cursor jumps to the horizon: filtered readers do not rescan what they
        skipped. `decoded=False` leaves each payload as its stored text (`read_stream`).
        """
        rows = await self._pool.fetch(
            READ_ALL_SQL,
            str(after.transaction_id),
            after.position,
            list(types) if types is not None else None,
            stream_prefix,
            limit,
            recorded_until,
        )
        events = [recorded_event(row, decoded) for row in rows if row["position"] is not None]
        cursor = events[-1].cursor if events else after
        if len(events) < limit:
            cursor = max(cursor, Cursor(rows[0]["horizon"], 0))
        return Page(events=events, cursor=cursor)

    async def horizon(self) -> Cursor:
        """The position below which every transaction has ended: all of it is readable."""
        xmin = await self._pool.fetchval(
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        )
        return Cursor(int(xmin), 0)

    async def issued(self, cursor: Cursor) -> Cursor:
        """`cursor`, when this log can have issued it; InvalidCursor when it names a
        transaction not even begun yet (past the snapshot's xmax). Such a cursor was
        made up, and a reader holding it would skip every event until the log got there.
        Not the read horizon (xmin): a write's own position may lie past it while an older
        transaction is still open. Ask the primary's store: a replica may be behind a
        cursor a client has already seen."""
        xmax = await self._pool.fetchval(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
        )
        if cursor > Cursor(int(xmax), 0):  # (xmax, 0) itself: before whatever comes next
            raise InvalidCursor("this cursor lies beyond the head of the log: it was not issued")
        return cursor

    async def has_new(self, after: Cursor) -> bool:
        """Whether a reader at `after` has anything to read yet."""
        return bool(
            await self._pool.fetchval(HAS_NEW_SQL, str(after.transaction_id), after.position)
        )
