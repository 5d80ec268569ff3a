"""Write combining (group commit): concurrent single-event appends share one call.

An append made while the store has no other single-event append under way is sent at
once with `event_store.append_one`, so an idle store adds no latency. Otherwise it queues,
and each call (at most `flights` in flight) takes the oldest queued requests, one per
stream and none of a stream already in flight, as one `event_store.append_batch_json` call
(decided and written by one statement since migration 0019): one transaction, one result
or refusal per request. Every caller gets exactly its own result, or its own error as the
same exception the direct call raises.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import asyncpg
import msgspec

from store.database import held_connections
from store.metrics import APPEND_BATCH_SIZE, APPEND_CALL_SECONDS
from store.records import AppendResult, Cursor

APPEND_ONE_SQL = """SELECT out_position, out_version, out_transaction_id, out_replayed
FROM event_store.append_one($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12)"""

APPEND_BATCH_SQL = """SELECT out_positions, out_versions, out_transaction_ids, out_replayed,
    out_sqlstates, out_messages, out_details, out_constraints
FROM event_store.append_batch_json($1::jsonb)"""
"""A combined call: its requests as one jsonb array (`combined_requests`), decided and
written by one statement on the server (migration 0019)."""

MAX_COMBINED = 32
"""At most this many single-event appends per combined call (the function refuses more):
beyond that a call only adds latency for the callers already in it."""


HELD_AT_LEAST = 2
"""Connections the append path keeps, however few calls may be in flight: a lone or
multi-event append and the wake-up hint run beside the combined call."""


def single_result(stream_id: str, row: asyncpg.Record) -> AppendResult:
    """The result of one `append_one` call."""
    position, version, transaction_id, replayed = row
    return AppendResult(
        stream_id=stream_id,
        version=version,
        positions=(position,),
        cursor=Cursor(transaction_id, position),
        replayed=replayed,
    )


_encode = msgspec.json.Encoder().encode
_Raw = msgspec.Raw


def combined_requests(requests: list[list[Any]]) -> str:
    """`append_batch_json`'s parameter: one row per request (`append_one`'s arguments).

    One encoder call for the whole call, instead of asyncpg encoding twelve arrays element
    by element. data and metadata are already canonical JSON and go in as they are;
    bytea goes as base64, uuids and dates as their text.
    """
    return _encode([[*r[:5], _Raw(r[5]), _Raw(r[6]), *r[7:]] for r in requests]).decode()


def refused_for_one_request(error: BaseException) -> bool:
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


class _Waiting:
    """A single-event append queued for the next combined call."""

    __slots__ = ("arguments", "future", "stream_id")

    def __init__(self, stream_id: str, arguments: list[Any], future: asyncio.Future[Any]):
        self.stream_id = stream_id
        self.arguments = arguments
        self.future = future


def _settle_batch(batch: list[_Waiting], row: asyncpg.Record) -> None:
    """Hand each caller of a combined call its own result or its own refusal."""
    positions, versions, xids, replayed, states, messages, details, constraints = row
    for i, w in enumerate(batch):
        if w.future.done():
            continue
        if states[i] is not None:
            w.future.set_exception(
                asyncpg.PostgresError.new(
                    {"C": states[i], "M": messages[i], "D": details[i], "n": constraints[i]}
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


def _fail_batch(batch: list[_Waiting], error: BaseException) -> None:
    """Whatever happened to the call happened to every request still waiting in it."""
    for w in batch:
        if not w.future.done():
            w.future.set_exception(
                error
                if isinstance(error, Exception)
                else asyncpg.InterfaceError("event store closed")
            )


class WriteCombiner:
    """Sends the single-event appends of one store, alone or combined with the others
    made at the same time.

    A call takes an even share of the callers (at most MAX_COMBINED). One call in flight
    (the store's default) makes the calls as large as they can be: every commit is a WAL
    flush that costs the server more CPU than deciding a request, so at 8 and 32 writers
    one call of all waiting requests beat two calls of half of them each, in server and
    client CPU per event and in throughput (`BENCH_FLIGHTS=2 make bench-store` measures
    both in the same rounds). More flights overlap the client's preparing with the
    server's deciding instead. A call refused for one request's sake
    (`refused_for_one_request`) wrote nothing and is resent request by request, so the
    error reaches only its own caller.
    """

    def __init__(self, pool: Any, flights: int) -> None:
        if flights < 1:
            raise ValueError("combine_flights must be at least 1")
        self._connections = held_connections(pool, max(flights, HELD_AT_LEAST))
        self.flights = flights
        """How many append calls may be in flight at once."""
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._flight_streams: set[str] = set()
        self._flight_tasks: set[asyncio.Task[None]] = set()
        self._callers = 0

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """One call of the append path on the held connections, timed: any other append
        (not combined) as well as the combined and lone ones sent from here."""
        started = time.perf_counter()
        try:
            return await self._connections.fetchrow(sql, *args)
        finally:
            APPEND_CALL_SECONDS.observe(time.perf_counter() - started)

    async def execute(self, sql: str, *args: Any) -> Any:
        """A statement beside the appends (the wake-up hint), on the same connections."""
        return await self._connections.execute(sql, *args)

    def pending(self) -> set[asyncio.Task[None]]:
        """The calls still under way and the connections on their way back to the pool
        (a pool must not close before they end)."""
        if not self._flight_tasks and not self._in_flight:
            self._connections.release_all()
        return {
            *(task for task in self._flight_tasks if not task.done()),
            *self._connections.pending(),
        }

    async def append(self, stream_id: str, arguments: list[Any]) -> AppendResult:
        """One single-event append (`append_one`'s arguments), combined when others wait."""
        self._callers += 1
        try:
            if (
                self._callers == 1
                and self._in_flight < self.flights
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
        self._in_flight += 1
        self._flight_streams.add(stream_id)
        try:
            row = await self.fetchrow(APPEND_ONE_SQL, *arguments)
        finally:
            self._in_flight -= 1
            self._flight_streams.discard(stream_id)
            self._pump()
        return single_result(stream_id, row)

    def _pump(self) -> None:
        """Start a call for the queue while a slot is free and a request may go."""
        while self._in_flight < self.flights and any(
            not w.future.done() and w.stream_id not in self._flight_streams for w in self._waiting
        ):
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._flight())
            self._flight_tasks.add(task)
            task.add_done_callback(self._landed)

    def _landed(self, flight: asyncio.Task[None]) -> None:
        """A call ended (or was cancelled before it started): free its slot."""
        self._flight_tasks.discard(flight)
        self._in_flight -= 1
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
            _fail_batch(batch, error)
            raise
        finally:
            self._flight_streams -= streams

    def _take_batch(self) -> list[_Waiting]:
        """The oldest waiting requests, one per stream, so a stream keeps arrival order."""
        limit = min(MAX_COMBINED, max(1, math.ceil(self._callers / self.flights)))
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
                row = await self.fetchrow(
                    APPEND_BATCH_SQL, combined_requests([w.arguments for w in batch])
                )
            except Exception as error:
                if not refused_for_one_request(error):
                    _fail_batch(batch, error)
                    return
                # Nothing was written: send them one by one, so that the error reaches
                # the caller of the request that caused it, and only that caller.
            else:
                _settle_batch(batch, row)
                return
        for w in batch:
            if w.future.done():  # its caller was cancelled meanwhile
                continue
            try:
                result = single_result(
                    w.stream_id, await self.fetchrow(APPEND_ONE_SQL, *w.arguments)
                )
            except Exception as error:
                if not w.future.done():
                    w.future.set_exception(error)
            else:
                if not w.future.done():
                    w.future.set_result(result)
