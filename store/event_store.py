"""The append-only event store on PostgreSQL (asyncpg).

Global order is (transaction id, position), read only below the oldest transaction still
in flight (`pg_snapshot_xmin`), so a writer that commits late with a lower position is
never skipped: readers simply do not look past a transaction that might still commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from store.errors import DuplicateEventId, IdempotencyKeyReused, WrongExpectedVersion
from store.hashing import canonical_json, canonical_text, payload_hash_of_canonical
from store.metrics import APPEND_BATCH_SIZE, APPEND_SECONDS
from store.records import (
    ANY,
    START,
    AppendResult,
    Cursor,
    NewEvent,
    Page,
    RecordedEvent,
)

WRONG_EXPECTED_VERSION = "EE001"
IDEMPOTENCY_KEY_REUSED = "EE002"
NOTIFY_CHANNEL = "event_store"
NOTIFY_INTERVAL = 0.005
"""At most one wake-up hint per this many seconds; the last append is always announced."""

EVENT_COLUMNS = """position, transaction_id::text::bigint AS transaction_id, stream_id, version,
    event_id, type, schema_version, data::text AS data, metadata::text AS metadata,
    valid_from, valid_to, recorded_at, prev_hash, hash"""

APPEND_SQL = """SELECT out_positions, out_version, out_transaction_id, out_replayed
FROM event_store.append($1, $2, $3, $4, $5, $6::jsonb[], $7::jsonb[], $8, $9, $10, $11, $12)"""

APPEND_ONE_SQL = """SELECT out_position, out_version, out_transaction_id, out_replayed
FROM event_store.append_one($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12)"""

APPEND_BATCH_SQL = """SELECT out_positions, out_versions, out_transaction_ids, out_replayed,
    out_sqlstates, out_messages, out_details, out_constraints
FROM event_store.append_batch($1, $2, $3, $4, $5, $6::jsonb[], $7::jsonb[], $8, $9, $10, $11,
    $12)"""

MAX_COMBINED = 32
"""At most this many single-event appends per combined call (the function refuses more):
beyond that a call only adds latency for the callers already in it."""

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


_decode_object = msgspec.json.Decoder(dict[str, Any]).decode


def _record(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        position=row["position"],
        transaction_id=row["transaction_id"],
        stream_id=row["stream_id"],
        version=row["version"],
        event_id=row["event_id"],
        type=row["type"],
        schema_version=row["schema_version"],
        data=_decode_object(row["data"]),
        metadata=_decode_object(row["metadata"]),
        valid_from=row["valid_from"],
        valid_to=row["valid_to"],
        recorded_at=row["recorded_at"],
        prev_hash=row["prev_hash"],
        hash=row["hash"],
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


class _Waiting:
    """A single-event append queued for the next combined call."""

    __slots__ = ("arguments", "future", "stream_id")

    def __init__(self, stream_id: str, arguments: list[Any], future: asyncio.Future[Any]):
        self.stream_id = stream_id
        self.arguments = arguments
        self.future = future


def _refused_for_one_request(error: BaseException) -> bool:
    """The combined call was refused, and wrote nothing, for something one of its requests
    may have caused alone: a bad value (class 22), a constraint such as a duplicate event id
    or a key raced by another client (class 23), a deadlock with another client's call, or
    an argument asyncpg could not encode. Anything else (a timeout, the server shutting
    down, a lost connection) concerns the call as a whole."""
    if isinstance(error, asyncpg.PostgresError):
        state = str(getattr(error, "sqlstate", ""))
        return state.startswith(("22", "23")) or state == "40P01"
    # asyncpg's client-side "invalid input for query argument" (InterfaceError + ValueError)
    return isinstance(error, asyncpg.InterfaceError) and isinstance(error, ValueError)


class EventStore:
    """Append, read and replay streams; read the whole log in a safe global order."""

    def __init__(self, pool: Any, *, combine_flights: int = 2) -> None:
        if combine_flights < 1:
            raise ValueError("combine_flights must be at least 1")
        self._pool = pool
        self._hint: asyncio.Task[None] | None = None
        self._unannounced = False
        self.combine_flights = combine_flights
        """How many append calls of this store may be in flight at once (write combining)."""
        self._waiting: list[_Waiting] = []
        self._flights = 0
        self._flight_streams: set[str] = set()
        self._flight_tasks: set[asyncio.Task[None]] = set()
        self._callers = 0

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
                self._append_one_arguments(stream_id, expected_version, events[0], shared),
            )
        else:
            sql, args = (
                APPEND_SQL,
                self._append_arguments(stream_id, expected_version, events, shared),
            )
        attempts = 3 if idempotency_key is not None or expected_version == ANY else 1
        for attempt in range(attempts):
            try:
                if single and attempt == 0:
                    result = await self._append_single(
                        stream_id, [*args, idempotency_key, fingerprint]
                    )
                else:
                    row = await self._pool.fetchrow(sql, *args, idempotency_key, fingerprint)
                    if single:
                        result = self._append_one_result(stream_id, row)
                    else:
                        result = self._append_result(stream_id, row)
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
                raise self._translate(error, stream_id, expected_version, idempotency_key) from None
        raise AssertionError("unreachable")

    async def _append_single(self, stream_id: str, arguments: list[Any]) -> AppendResult:
        """One single-event append, combined with the others made at the same time.

        Write combining (group commit): an append made while this store has no other
        single-event append under way is sent at once with `append_one`, so an idle
        store adds no latency. Otherwise it queues, and each call (at most
        `combine_flights` in flight) takes the oldest queued requests, one per stream
        and none of a stream already in flight, as one `event_store.append_batch` call:
        one transaction, one result or refusal per request. A call takes an even share
        of the callers (at most MAX_COMBINED), so that while the server decides one call
        the callers of the other are already preparing their next appends. A call refused
        for one request's sake (`_refused_for_one_request`) wrote nothing and is resent
        request by request. Errors reach only their own caller, as the same exceptions the
        direct call raises.
        """
        self._callers += 1
        try:
            if (
                self._callers == 1
                and self._flights < self.combine_flights
                and stream_id not in self._flight_streams
            ):
                return await self._send_alone(stream_id, arguments)
            waiting = _Waiting(stream_id, arguments, asyncio.get_running_loop().create_future())
            self._waiting.append(waiting)
            self._pump()
            result: AppendResult = await waiting.future
            return result
        finally:
            self._callers -= 1

    async def _send_alone(self, stream_id: str, arguments: list[Any]) -> AppendResult:
        APPEND_BATCH_SIZE.observe(1)  # a call of its own: a batch of one
        self._flights += 1
        self._flight_streams.add(stream_id)
        try:
            row = await self._pool.fetchrow(APPEND_ONE_SQL, *arguments)
        finally:
            self._flights -= 1
            self._flight_streams.discard(stream_id)
            self._pump()
        return self._append_one_result(stream_id, row)

    async def settle(self) -> None:
        """Wait for this store's background work (combined calls, the last wake-up hint),
        so that its pool can close with every connection back in it. Waiting is all it
        does: the work is neither cancelled nor its errors raised here (they reached the
        callers)."""
        while pending := {t for t in (*self._flight_tasks, self._hint) if t and not t.done()}:
            await asyncio.wait(pending)

    def _pump(self) -> None:
        """Start a call for the queue while a slot is free and a request may go."""
        while self._flights < self.combine_flights and any(
            not w.future.done() and w.stream_id not in self._flight_streams for w in self._waiting
        ):
            self._flights += 1
            task = asyncio.get_running_loop().create_task(self._flight())
            self._flight_tasks.add(task)
            task.add_done_callback(self._landed)

    def _landed(self, flight: asyncio.Task[None]) -> None:
        """A call ended (or was cancelled before it started): free its slot."""
        self._flight_tasks.discard(flight)
        self._flights -= 1
        self._pump()

    async def _flight(self) -> None:
        # The batch is taken when this task first runs, not when it was created: by then
        # the callers the previous call resolved have resumed and queued their next
        # appends, so they join this call instead of trailing behind it alone.
        batch = self._take_batch()
        streams = {w.stream_id for w in batch}
        self._flight_streams |= streams
        try:
            if batch:
                await self._flush(batch)
        except BaseException as error:  # cancelled (the loop is closing): fail the batch
            for w in batch:
                if not w.future.done():
                    w.future.set_exception(
                        error
                        if isinstance(error, Exception)
                        else asyncpg.InterfaceError("event store closed")
                    )
            raise
        finally:
            self._flight_streams -= streams

    def _take_batch(self) -> list[_Waiting]:
        """The oldest waiting requests, one per stream, so a stream keeps arrival order."""
        limit = min(MAX_COMBINED, max(1, math.ceil(self._callers / self.combine_flights)))
        batch: list[_Waiting] = []
        rest: list[_Waiting] = []
        streams = set(self._flight_streams)
        for w in self._waiting:
            if w.future.done():  # its caller was cancelled before it was sent
                continue
            if len(batch) < limit and w.stream_id not in streams:
                streams.add(w.stream_id)
                batch.append(w)
            else:
                rest.append(w)
        self._waiting = rest
        return batch

    async def _flush(self, batch: list[_Waiting]) -> None:
        """Send `batch` and hand every caller its own result or error."""
        APPEND_BATCH_SIZE.observe(len(batch))
        if len(batch) > 1:
            try:
                row = await self._pool.fetchrow(
                    APPEND_BATCH_SQL,
                    *(list(column) for column in zip(*(w.arguments for w in batch), strict=True)),
                )
            except Exception as error:
                if not _refused_for_one_request(error):
                    # Whatever happened to the call happened to all of its requests.
                    for w in batch:
                        if not w.future.done():
                            w.future.set_exception(error)
                    return
                # Nothing was written: send them one by one, so that the error reaches
                # the caller of the request that caused it, and only that caller.
            else:
                positions, versions, xids, replayed, states, messages, details, constraints = row
                for i, w in enumerate(batch):
                    if w.future.done():
                        continue
                    if states[i] is not None:
                        w.future.set_exception(
                            asyncpg.PostgresError.new(
                                {
                                    "C": states[i],
                                    "M": messages[i],
                                    "D": details[i],
                                    "n": constraints[i],
                                }
                            )
                        )
                    else:
                        w.future.set_result(
                            AppendResult(
                                stream_id=w.stream_id,
                                version=versions[i],
                                positions=(positions[i],),
                                cursor=Cursor(xids[i], positions[i]),
                                replayed=replayed[i],
                            )
                        )
                return
        for w in batch:
            if w.future.done():  # its caller was cancelled meanwhile
                continue
            try:
                result = self._append_one_result(
                    w.stream_id, await self._pool.fetchrow(APPEND_ONE_SQL, *w.arguments)
                )
            except Exception as error:
                if not w.future.done():
                    w.future.set_exception(error)
            else:
                if not w.future.done():
                    w.future.set_result(result)

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
                await self._pool.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            await asyncio.sleep(NOTIFY_INTERVAL)

    @staticmethod
    def _append_one_arguments(
        stream_id: str, expected_version: int, event: NewEvent, metadata: dict[str, Any]
    ) -> list[Any]:
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
            payload_hash_of_canonical(
                data_json=data_text,
                event_id=event.event_id,
                type=event.type,
                schema_version=event.schema_version,
                metadata_json=metadata_text,
                valid_from=event.valid_from,
                valid_to=event.valid_to,
            ),
        ]

    @staticmethod
    def _append_arguments(
        stream_id: str, expected_version: int, events: Sequence[NewEvent], metadata: dict[str, Any]
    ) -> list[Any]:
        # Each value is encoded once, in canonical JSON, and that same text is both sent as
        # the jsonb column and hashed (jsonb keeps the value, not the spelling).
        metadata_text = canonical_text(metadata)
        data_texts = [canonical_text(e.data) for e in events]
        return [
            stream_id,
            expected_version,
            [e.event_id for e in events],
            [e.type for e in events],
            [e.schema_version for e in events],
            data_texts,
            [metadata_text] * len(events),
            [e.valid_from for e in events],
            [e.valid_to for e in events],
            [
                payload_hash_of_canonical(
                    data_json=data_text,
                    event_id=e.event_id,
                    type=e.type,
                    schema_version=e.schema_version,
                    metadata_json=metadata_text,
                    valid_from=e.valid_from,
                    valid_to=e.valid_to,
                )
                for e, data_text in zip(events, data_texts, strict=True)
            ],
        ]

    @staticmethod
    def _append_one_result(stream_id: str, row: asyncpg.Record) -> AppendResult:
        position, version, transaction_id, replayed = row
        return AppendResult(
            stream_id=stream_id,
            version=version,
            positions=(position,),
            cursor=Cursor(transaction_id, position),
            replayed=replayed,
        )

    @staticmethod
    def _append_result(stream_id: str, row: asyncpg.Record) -> AppendResult:
        positions, version, transaction_id, replayed = row
        return AppendResult(
            stream_id=stream_id,
            version=version,
            positions=tuple(positions),
            cursor=Cursor(transaction_id, positions[-1]) if positions else None,
            replayed=replayed,
        )

    @staticmethod
    def _translate(
        error: asyncpg.PostgresError, stream_id: str, expected: int, key: str | None
    ) -> Exception:
        if error.sqlstate == WRONG_EXPECTED_VERSION:
            actual = getattr(error, "detail", None)
            return WrongExpectedVersion(stream_id, expected, int(actual) if actual else None)
        if error.sqlstate == IDEMPOTENCY_KEY_REUSED and key is not None:
            return IdempotencyKeyReused(key)
        return error

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
    ) -> list[RecordedEvent]:
        """A stream in version order; with `recorded_until`, as it was recorded back then."""
        rows = await self._pool.fetch(
            READ_STREAM_SQL, stream_id, from_version, to_version, recorded_until
        )
        return [_record(row) for row in rows]

    async def read_all(
        self,
        after: Cursor = START,
        *,
        limit: int = 1000,
        types: Sequence[str] | None = None,
        stream_prefix: str | None = None,
        recorded_until: datetime | None = None,
    ) -> Page:
        """The next events in the global order after `after`, never skipping a late commit.

        When the page is not full, every event below the horizon was considered, so the
        returned cursor jumps to the horizon: filtered readers do not rescan what they
        skipped.
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
        events = [_record(row) for row in rows if row["position"] is not None]
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

    async def has_new(self, after: Cursor) -> bool:
        """Whether a reader at `after` has anything to read yet."""
        return bool(
            await self._pool.fetchval(HAS_NEW_SQL, str(after.transaction_id), after.position)
        )
