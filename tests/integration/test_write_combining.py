"""Write combining: concurrent single-event appends share one call and one transaction,
and every caller still gets exactly its own result or its own error."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from store import (
    ANY,
    NO_STREAM,
    AppendResult,
    DuplicateEventId,
    EventStore,
    IdempotencyKeyReused,
    NewEvent,
    WrongExpectedVersion,
    verify,
)
from store.database import asyncpg_dsn
from store.event_store import APPEND_BATCH_SQL, APPEND_ONE_SQL, MAX_COMBINED


def event(n: int = 0, **data: object) -> NewEvent:
    return NewEvent(type="Combined", data={"n": n, **data})


def stream() -> str:
    return f"combine-{uuid.uuid4()}"


async def transaction_of(pool: Any, position: int) -> int:
    value = await pool.fetchval(
        "SELECT transaction_id::text::bigint FROM event_store.events WHERE position = $1",
        position,
    )
    return int(value)


def requests_in(batch_arguments: tuple[Any, ...]) -> int:
    """How many requests a combined call carries (one JSON row each, migration 0018)."""
    return len(json.loads(batch_arguments[0]))


class Through:
    """The pool, with `fetchrow` open to inspection by a subclass."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)


@pytest.fixture
def combining(pool: Any) -> EventStore:
    """A store with one call in flight: of appends started together, the first is sent
    alone at once and all the others queue behind it and go out as one combined call."""
    return EventStore(pool, combine_flights=1)


async def outcomes(*appends: Any) -> list[Any]:
    """Run the appends concurrently; with `combining`, results[1:] share one call."""
    return list(await asyncio.gather(*appends, return_exceptions=True))


async def test_concurrent_single_appends_are_combined_with_correct_versions(
    store: EventStore, pool
):
    writers, per_writer = 24, 12
    streams = [stream() for _ in range(writers)]

    async def writer(sid: str) -> list[int]:
        positions = []
        for version in range(per_writer):
            result = await store.append(sid, [event(version)], version, {"actor": "w"})
            assert (result.version, result.replayed) == (version + 1, False)
            positions.append(result.positions[0])
        return positions

    positions = [p for ps in await asyncio.gather(*(writer(s) for s in streams)) for p in ps]
    assert len(positions) == len(set(positions)) == writers * per_writer
    transactions = await pool.fetchval(
        "SELECT count(DISTINCT transaction_id) FROM event_store.events WHERE stream_id = ANY($1)",
        streams,
    )
    assert transactions < writers * per_writer / 2  # actually combined, not one each
    for sid in streams:
        events = await store.read_stream(sid)
        assert [e.version for e in events] == list(range(1, per_writer + 1))
        assert [e.data["n"] for e in events] == list(range(per_writer))
        assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(events))
    report = await verify(pool)
    assert report.intact
    assert report.events_checked >= writers * per_writer


async def test_a_combined_batch_shares_one_transaction_and_orders_positions(
    combining: EventStore, pool
):
    first, *rest = [stream() for _ in range(8)]
    results = await outcomes(
        combining.append(first, [event()], NO_STREAM),
        *(combining.append(sid, [event()], NO_STREAM) for sid in rest),
    )
    combined = results[1:]
    assert all(r.version == 1 and not r.replayed for r in combined)
    transactions = {r.cursor.transaction_id for r in combined}
    assert len(transactions) == 1
    assert transactions == {await transaction_of(pool, r.positions[0]) for r in combined}
    assert results[0].cursor.transaction_id not in transactions
    page = await combining.read_all(results[0].cursor)
    for _ in range(100):  # until an unrelated in-flight transaction (a NOTIFY) has ended
        if len(page.events) >= len(combined):
            break
        await asyncio.sleep(0.01)
        page = await combining.read_all(results[0].cursor)
    in_order = [e.position for e in page.events]
    first_combined = in_order.index(min(r.positions[0] for r in combined))
    assert in_order[first_combined : first_combined + len(combined)] == sorted(
        r.positions[0] for r in combined
    )


async def test_stale_expected_version_fails_alone_in_a_combined_batch(combining: EventStore, pool):
    stale = stream()
    await combining.append(stale, [event(), event()], NO_STREAM)
    neighbours = [stream() for _ in range(5)]
    results = await outcomes(
        combining.append(stream(), [event()], NO_STREAM),
        combining.append(neighbours[0], [event()], NO_STREAM),
        combining.append(stale, [event(3)], 1),
        *(combining.append(sid, [event()], ANY) for sid in neighbours[1:]),
    )
    error = results[2]
    assert isinstance(error, WrongExpectedVersion)
    assert (error.expected, error.actual) == (1, 2)
    ok = [results[1], *results[3:]]
    assert all(not isinstance(r, BaseException) and r.version == 1 for r in ok)
    assert len({r.cursor.transaction_id for r in ok}) == 1  # they were combined
    assert await combining.stream_version(stale) == 2
    assert (await verify(pool)).intact


async def test_reused_idempotency_key_fails_alone_and_a_retry_replays(combining: EventStore):
    spent, retried = stream(), stream()
    original = await combining.append(spent, [event(1)], NO_STREAM, idempotency_key="k-spent")
    first = await combining.append(retried, [event(7)], NO_STREAM, idempotency_key="k-retry")
    neighbours = [stream() for _ in range(4)]
    results = await outcomes(
        combining.append(stream(), [event()], NO_STREAM),
        combining.append(neighbours[0], [event()], NO_STREAM, idempotency_key="k-fresh"),
        combining.append(spent, [event(2)], 1, idempotency_key="k-spent"),  # another request
        combining.append(retried, [event(7)], NO_STREAM, idempotency_key="k-retry"),  # the same
        *(combining.append(sid, [event()], NO_STREAM) for sid in neighbours[1:]),
    )
    assert isinstance(results[2], IdempotencyKeyReused)
    replay = results[3]
    assert replay.replayed
    assert (replay.positions, replay.version, replay.cursor) == (
        first.positions,
        first.version,
        first.cursor,
    )
    ok = [results[1], *results[4:]]
    assert all(not isinstance(r, BaseException) and r.version == 1 for r in ok)
    assert len({r.cursor.transaction_id for r in ok}) == 1
    assert [e.version for e in await combining.read_stream(spent)] == [original.version]
    assert len(await combining.read_stream(retried)) == 1
    # the key written inside the combined batch is remembered like any other
    again = await combining.append(neighbours[0], [event()], NO_STREAM, idempotency_key="k-fresh")
    assert again.replayed and again.positions == results[1].positions


async def test_racing_duplicate_keys_in_one_batch_write_once(combining: EventStore):
    sid, other = stream(), stream()
    results = await outcomes(
        combining.append(stream(), [event()], NO_STREAM),
        combining.append(sid, [event(5)], NO_STREAM, idempotency_key="k-race"),
        combining.append(sid, [event(5)], NO_STREAM, idempotency_key="k-race"),
        combining.append(other, [event(5)], NO_STREAM, idempotency_key="k-race"),
    )
    winners = [r for r in results[1:] if not isinstance(r, BaseException) and not r.replayed]
    assert len(winners) == 1  # racing requests with one key write once
    if winners[0] is results[1]:  # then the retry on the same stream replays it
        assert results[2].replayed and results[2].positions == results[1].positions
        assert isinstance(results[3], IdempotencyKeyReused)
    else:  # the other stream's request came first in lock order
        assert isinstance(results[1], IdempotencyKeyReused)
        assert isinstance(results[2], IdempotencyKeyReused)
    written = len(await combining.read_stream(sid)) + len(await combining.read_stream(other))
    assert written == 1


async def test_duplicate_event_id_fails_alone_in_a_combined_batch(combining: EventStore, pool):
    existing = NewEvent(type="Combined", data={})
    await combining.append(stream(), [existing], NO_STREAM)
    twin = uuid.uuid4()
    victim, late_twin = stream(), stream()
    neighbours = [stream() for _ in range(4)]
    results = await outcomes(
        combining.append(stream(), [event()], NO_STREAM),
        combining.append(victim, [NewEvent(type="Combined", data={}, event_id=existing.event_id)]),
        combining.append(neighbours[0], [NewEvent(type="Combined", data={}, event_id=twin)]),
        combining.append(late_twin, [NewEvent(type="Combined", data={}, event_id=twin)]),
        *(combining.append(sid, [event()], NO_STREAM) for sid in neighbours[1:]),
    )
    assert isinstance(results[1], DuplicateEventId)
    twins = [r for r in results[2:4] if isinstance(r, DuplicateEventId)]
    assert len(twins) == 1  # exactly one of the two requests carrying `twin` wins
    ok = [r for r in results[2:] if not isinstance(r, BaseException)]
    assert len(ok) == 4 and all(r.version == 1 for r in ok)
    # the combined call failed as a whole and was resent request by request
    assert len({r.cursor.transaction_id for r in ok}) == 4
    assert all([len(await combining.read_stream(sid)) == 1 for sid in neighbours[1:]])
    assert await combining.read_stream(victim) == []
    assert (await verify(pool)).intact


async def test_a_value_the_server_refuses_fails_only_its_own_request(combining: EventStore):
    too_long, bad_json = stream(), stream()
    neighbours = [stream() for _ in range(3)]
    results = await outcomes(
        combining.append(stream(), [event()], NO_STREAM),
        combining.append(too_long, [NewEvent(type="x" * 201, data={})], NO_STREAM),
        combining.append(bad_json, [event(text="nul \x00 inside")], NO_STREAM),  # jsonb refuses
        *(combining.append(sid, [event()], NO_STREAM) for sid in neighbours),
    )
    assert isinstance(results[1], asyncpg.CheckViolationError)
    assert isinstance(results[2], asyncpg.PostgresError)
    assert all(not isinstance(r, BaseException) and r.version == 1 for r in results[3:])
    assert await combining.read_stream(too_long) == await combining.read_stream(bad_json) == []


async def test_requests_for_one_stream_keep_their_arrival_order(combining: EventStore):
    sid = stream()
    others = [stream() for _ in range(6)]
    appends = []
    for version in range(10):
        appends.append(combining.append(sid, [event(version)], version))
        appends.append(combining.append(others[version % 6], [event(version)], ANY))
    results = await outcomes(*appends)
    assert not [r for r in results if isinstance(r, BaseException)]
    assert [r.version for r in results[::2]] == list(range(1, 11))
    assert [e.data["n"] for e in await combining.read_stream(sid)] == list(range(10))


async def test_a_batch_never_exceeds_the_combining_limit(store: EventStore, pool):
    calls: list[int] = []

    class Counting(Through):
        async def fetchrow(self, sql: str, *args: Any) -> Any:
            if sql == APPEND_BATCH_SQL:
                calls.append(requests_in(args))
            return await pool.fetchrow(sql, *args)

    counting = EventStore(Counting(pool), combine_flights=1)
    streams = [stream() for _ in range(MAX_COMBINED * 3 + 1)]
    results = await outcomes(*(counting.append(sid, [event()], NO_STREAM) for sid in streams))
    assert all(r.version == 1 for r in results)
    assert calls and max(calls) == MAX_COMBINED and sum(calls) == len(streams) - 1


async def test_under_load_the_work_is_shared_evenly_by_the_calls_in_flight(pool):
    """Eight busy writers, two calls in flight: calls of about four requests each (one
    being decided by the server while the other's callers prepare their next append),
    not a lone append beside a big batch."""
    sizes: list[int] = []

    class Counting(Through):
        async def fetchrow(self, sql: str, *args: Any) -> Any:
            sizes.append(requests_in(args) if sql == APPEND_BATCH_SQL else 1)
            return await pool.fetchrow(sql, *args)

    counting = EventStore(Counting(pool), combine_flights=2)

    async def writer(sid: str) -> None:
        for version in range(20):
            await counting.append(sid, [event(version)], version)

    await asyncio.gather(*(writer(stream()) for _ in range(8)))
    assert sum(sizes) == 160
    assert max(sizes) == 4, sizes
    # smaller calls only while writers start, or once some have finished
    assert sum(n for n in sizes if n == 4) >= 80, sizes


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    ],
)
async def test_a_failed_call_reaches_every_waiting_caller(
    store: EventStore, pool, failure: Exception
):
    """A failure of the call as a whole is every caller's, and nothing is resent."""
    sent: list[str] = []

    class Failing(Through):
        async def fetchrow(self, sql: str, *args: Any) -> Any:
            sent.append(sql)
            if sql == APPEND_BATCH_SQL:
                raise failure
            return await pool.fetchrow(sql, *args)

    failing = EventStore(Failing(pool), combine_flights=1)
    streams = [stream() for _ in range(6)]
    results = await outcomes(*(failing.append(sid, [event()], NO_STREAM) for sid in streams))
    assert results[0].version == 1
    assert all(type(r) is type(failure) for r in results[1:])
    assert sent == [APPEND_ONE_SQL, APPEND_BATCH_SQL]
    assert all([await store.read_stream(sid) == [] for sid in streams[1:]])
    # and the store keeps working afterwards
    assert (await failing.append(streams[1], [event()], NO_STREAM)).version == 1


async def test_a_refused_call_is_resent_only_for_callers_still_waiting(store: EventStore, pool):
    """A call refused for one request's sake is resent one by one, skipping callers that
    gave up meanwhile: nothing is written for them."""
    tasks: list[asyncio.Task[Any]] = []

    class Refusing(Through):
        async def fetchrow(self, sql: str, *args: Any) -> Any:
            if sql == APPEND_BATCH_SQL:
                tasks[2].cancel()  # this caller gives up while the call is refused
                await asyncio.sleep(0)
                raise asyncpg.UniqueViolationError("duplicate key value")
            return await pool.fetchrow(sql, *args)

    refusing = EventStore(Refusing(pool), combine_flights=1)
    streams = [stream() for _ in range(5)]
    tasks.extend(
        asyncio.ensure_future(refusing.append(sid, [event()], NO_STREAM)) for sid in streams
    )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[2], asyncio.CancelledError)
    others = [r for i, r in enumerate(results) if i != 2]
    assert [r.version if isinstance(r, AppendResult) else r for r in others] == [1, 1, 1, 1]
    assert await store.read_stream(streams[2]) == []


def test_a_store_needs_at_least_one_call_in_flight(pool):
    with pytest.raises(ValueError, match="combine_flights"):
        EventStore(pool, combine_flights=0)


async def test_a_lone_append_is_sent_at_once_without_the_batch_call(store: EventStore, pool):
    seen: list[str] = []

    class Recording(Through):
        async def fetchrow(self, sql: str, *args: Any) -> Any:
            seen.append(sql)
            return await pool.fetchrow(sql, *args)

    recording = EventStore(Recording(pool))
    for version in range(3):
        await recording.append(stream(), [event(version)], NO_STREAM)
    assert len(seen) == 3 and APPEND_BATCH_SQL not in seen


async def test_the_application_role_may_run_a_combined_batch(database_url: str):
    async def as_app_role(connection: Any) -> None:
        await connection.execute("SET ROLE entente_app")

    app_pool = await asyncpg.create_pool(
        asyncpg_dsn(database_url), min_size=1, max_size=4, init=as_app_role
    )
    try:
        assert await app_pool.fetchval("SELECT current_user") == "entente_app"
        as_app = EventStore(app_pool, combine_flights=1)
        results = await outcomes(*(as_app.append(stream(), [event()], NO_STREAM) for _ in range(5)))
    finally:
        await app_pool.close()
    assert all(not isinstance(r, BaseException) and r.version == 1 for r in results)
    assert len({r.cursor.transaction_id for r in results[1:]}) == 1


@pytest.mark.parametrize("combined", [4])
async def test_cancelled_waiting_callers_are_not_sent(combining: EventStore, combined: int):
    first = stream()
    leader = asyncio.ensure_future(combining.append(first, [event()], NO_STREAM))
    others = [
        asyncio.ensure_future(combining.append(stream(), [event()], NO_STREAM))
        for _ in range(combining.combine_flights - 1)
    ]
    await asyncio.sleep(0)
    waiting = [stream() for _ in range(combined)]
    tasks = [asyncio.ensure_future(combining.append(sid, [event()], NO_STREAM)) for sid in waiting]
    await asyncio.sleep(0)  # all queued behind the leader
    tasks[0].cancel()
    await leader
    await asyncio.gather(*others)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, AppendResult) and r.version == 1 for r in results[1:])
    assert await combining.read_stream(waiting[0]) == []


async def test_every_database_call_of_the_append_path_is_timed(store: EventStore):
    """`entente_append_call_seconds` counts each call, lone, combined or multi-event, once:
    as many as the batch-size histogram counts for single appends, plus the multi-event
    append, which is never combined."""

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    names = (
        "entente_append_call_seconds_count",
        "entente_append_call_seconds_sum",
        "entente_append_batch_size_count",
        "entente_append_batch_size_sum",
    )
    before = [sample(n) for n in names]
    await outcomes(*(store.append(stream(), [event(n)], NO_STREAM) for n in range(20)))
    await store.append(stream(), [event(1), event(2)], NO_STREAM)
    calls, seconds, batches, combined = (sample(n) - b for n, b in zip(names, before, strict=True))
    assert combined == 20  # every single append was in exactly one observed call
    assert 1 < batches < 20  # combined, so fewer calls than appends
    assert calls == batches + 1
    assert seconds > 0
