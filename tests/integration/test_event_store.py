"""The event store's contract, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import pytest

from store import (
    ANY,
    NO_STREAM,
    START,
    STREAM_EXISTS,
    Cursor,
    DuplicateEventId,
    EventStore,
    IdempotencyKeyReused,
    InvalidCursor,
    NewEvent,
    WrongExpectedVersion,
)


def event(n: int = 0, **data: object) -> NewEvent:
    return NewEvent(type="SomethingHappened", data={"n": n, **data})


def stream() -> str:
    return f"test-{uuid.uuid4()}"


async def count_events(store: EventStore, stream_id: str) -> int:
    return len(await store.read_stream(stream_id))


async def test_a_batch_is_appended_with_consecutive_versions_and_metadata(store: EventStore):
    sid = stream()
    result = await store.append(
        sid,
        [
            event(1),
            NewEvent(
                type="Other",
                data={"x": "é"},
                valid_from=date(2021, 12, 15),
                valid_to=date(2021, 12, 16),
                schema_version=2,
            ),
        ],
        NO_STREAM,
        {"actor": "tester", "request_id": "r-1"},
    )
    assert (result.version, len(result.positions), result.replayed) == (2, 2, False)
    events = await store.read_stream(sid)
    assert [(e.version, e.type, e.schema_version) for e in events] == [
        (1, "SomethingHappened", 1),
        (2, "Other", 2),
    ]
    assert events[1].data == {"x": "é"}
    assert events[1].valid_from == date(2021, 12, 15)
    assert events[0].metadata == {"actor": "tester", "request_id": "r-1"}
    assert events[1].prev_hash == events[0].hash
    assert events[0].prev_hash is None
    assert events[0].recorded_at == events[1].recorded_at


async def test_expected_version_is_enforced(store: EventStore):
    sid = stream()
    with pytest.raises(WrongExpectedVersion):
        await store.append(sid, [event()], STREAM_EXISTS)
    await store.append(sid, [event()], NO_STREAM)
    with pytest.raises(WrongExpectedVersion) as refused:
        await store.append(sid, [event()], NO_STREAM)
    assert refused.value.actual == 1
    with pytest.raises(WrongExpectedVersion):
        await store.append(sid, [event()], 5)
    assert (await store.append(sid, [event()], 1)).version == 2
    assert (await store.append(sid, [event()], ANY)).version == 3
    assert (await store.append(sid, [event()], STREAM_EXISTS)).version == 4


async def test_a_failed_batch_writes_nothing(store: EventStore):
    sid = stream()
    duplicate_id = uuid.uuid4()
    await store.append(stream(), [NewEvent(type="T", data={}, event_id=duplicate_id)])
    with pytest.raises(DuplicateEventId):
        await store.append(
            sid, [event(1), NewEvent(type="T", data={}, event_id=duplicate_id)], NO_STREAM
        )
    assert await count_events(store, sid) == 0


async def test_a_failed_single_event_append_writes_nothing(store: EventStore):
    sid = stream()
    duplicate_id = uuid.uuid4()
    await store.append(stream(), [NewEvent(type="T", data={}, event_id=duplicate_id)])
    with pytest.raises(DuplicateEventId):
        await store.append(sid, [NewEvent(type="T", data={}, event_id=duplicate_id)], NO_STREAM)
    assert await count_events(store, sid) == 0


async def test_two_writers_at_the_same_expected_version_one_wins(store: EventStore):
    sid = stream()
    await store.append(sid, [event(0)], NO_STREAM)
    outcomes = await asyncio.gather(
        store.append(sid, [event(1)], 1),
        store.append(sid, [event(2)], 1),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], WrongExpectedVersion)
    events = await store.read_stream(sid)
    assert [e.version for e in events] == [1, 2]
    assert events[1].data["n"] in (1, 2)


async def test_many_writers_racing_on_one_stream_lose_nothing(store: EventStore):
    """Writers retry on conflict from a fresh version; every accepted event survives."""
    sid = stream()

    async def writer(n: int) -> None:
        while True:
            version = await store.stream_version(sid)
            try:
                await store.append(sid, [event(n)], version)
                return
            except WrongExpectedVersion:
                continue

    await asyncio.gather(*(writer(n) for n in range(20)))
    events = await store.read_stream(sid)
    assert sorted(e.data["n"] for e in events) == list(range(20))
    assert [e.version for e in events] == list(range(1, 21))


async def test_read_stream_by_version_range(store: EventStore):
    sid = stream()
    await store.append(sid, [event(n) for n in range(5)], NO_STREAM)
    assert [e.version for e in await store.read_stream(sid, from_version=2, to_version=4)] == [
        2,
        3,
        4,
    ]


async def test_read_stream_as_recorded_at_a_past_moment(store: EventStore, pool):
    sid = stream()
    await store.append(sid, [event(1)], NO_STREAM)
    first = (await store.read_stream(sid))[0].recorded_at
    await asyncio.sleep(0.01)
    await store.append(sid, [event(2)], 1)
    as_then = await store.read_stream(sid, recorded_until=first)
    assert [e.data["n"] for e in as_then] == [1]
    assert len(await store.read_stream(sid)) == 2


async def test_idempotent_retry_returns_the_original_result_and_writes_nothing(store: EventStore):
    sid = stream()
    first = await store.append(sid, [event(1), event(2)], NO_STREAM, idempotency_key="k-1")
    again = await store.append(sid, [event(1), event(2)], NO_STREAM, idempotency_key="k-1")
    assert again.replayed and not first.replayed
    assert (again.positions, again.version) == (first.positions, first.version)
    assert await count_events(store, sid) == 2
    events = await store.read_stream(sid)
    assert events[0].metadata["idempotency_key"] == "k-1"


async def test_idempotent_single_event_retry_returns_the_original_result(store: EventStore):
    sid = stream()
    first = await store.append(sid, [event(1)], NO_STREAM, idempotency_key="k-one")
    await store.append(sid, [event(2)], 1)
    again = await store.append(sid, [event(1)], NO_STREAM, idempotency_key="k-one")
    assert again.replayed and not first.replayed
    assert (again.positions, again.version, again.cursor) == (
        first.positions,
        first.version,
        first.cursor,
    )
    assert await count_events(store, sid) == 2


async def test_a_key_spent_on_a_batch_is_refused_for_a_single_event(store: EventStore):
    sid = stream()
    await store.append(sid, [event(1), event(2)], NO_STREAM, idempotency_key="k-3")
    with pytest.raises(IdempotencyKeyReused):
        await store.append(sid, [event(1)], NO_STREAM, idempotency_key="k-3")
    with pytest.raises(IdempotencyKeyReused):
        await store.append(sid, [event(1), event(3)], NO_STREAM, idempotency_key="k-3")
    assert await count_events(store, sid) == 2


async def test_same_key_with_another_request_is_refused(store: EventStore):
    sid = stream()
    await store.append(sid, [event(1)], NO_STREAM, idempotency_key="k-2")
    with pytest.raises(IdempotencyKeyReused):
        await store.append(sid, [event(99)], NO_STREAM, idempotency_key="k-2")
    with pytest.raises(IdempotencyKeyReused):
        await store.append(stream(), [event(1)], NO_STREAM, idempotency_key="k-2")
    assert await count_events(store, sid) == 1


async def test_racing_retries_with_one_key_write_once(store: EventStore):
    sid = stream()
    results = await asyncio.gather(
        *(store.append(sid, [event(7)], NO_STREAM, idempotency_key="k-race") for _ in range(6))
    )
    assert len({r.positions for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await count_events(store, sid) == 1


async def test_idempotent_empty_decision_is_remembered(store: EventStore):
    sid = stream()
    await store.append(sid, [event(1)], NO_STREAM)
    first = await store.append(sid, [], 1, idempotency_key="k-empty")
    again = await store.append(sid, [], 1, idempotency_key="k-empty")
    assert (first.version, again.version, again.replayed, again.positions) == (1, 1, True, ())


async def _wait_until_readable(store: EventStore, written: Cursor | None) -> None:
    """The horizon is cluster-wide: on a shared server another database's open transaction
    can hold it back for a moment; wait (boundedly) until `written` is below it."""
    assert written is not None
    for _ in range(200):
        page = await store.read_all(written, limit=1)
        if page.cursor.transaction_id > written.transaction_id:
            return
        await asyncio.sleep(0.05)


async def test_read_all_pages_through_the_global_order_with_filters(store: EventStore):
    prefix = f"page-{uuid.uuid4().hex[:8]}-"
    for i in range(5):
        result = await store.append(f"{prefix}{i}", [event(i), NewEvent(type="Skip", data={})])
    await _wait_until_readable(store, result.cursor)
    seen, cursor = [], START
    while True:
        page = await store.read_all(
            cursor, limit=2, stream_prefix=prefix, types=["SomethingHappened"]
        )
        seen += [e.data["n"] for e in page.events]
        if not page.events:
            break
        cursor = page.cursor
    assert seen == [0, 1, 2, 3, 4]
    assert Cursor.decode(cursor.encode()) == cursor


async def test_payloads_read_as_text_are_the_stored_json(store: EventStore, pool):
    sid = stream()
    nested = {"when": "2021-12-15", "amount": "2.5", "parties": ["KZ", "US"], "é": None}
    await store.append(sid, [event(1, **nested), event(2)], NO_STREAM)
    as_dicts = await store.read_stream(sid)
    as_text = await store.read_stream(sid, decoded=False)
    stored = [
        r["data"]
        for r in await pool.fetch(
            "SELECT data::text AS data FROM event_store.events WHERE stream_id = $1"
            " ORDER BY version",
            sid,
        )
    ]
    assert [r.payload for r in as_text] == [r.payload for r in as_dicts] == stored
    assert [json.loads(r.payload) for r in as_text] == [r.data for r in as_dicts]
    assert [r.data for r in as_text] == [r.data for r in as_dicts]  # decoded on demand
    assert as_dicts[0].data == {"n": 1, **nested}
    await _wait_until_readable(store, (await store.append(sid, [event(3)], 2)).cursor)
    page = await store.read_all(START, limit=10_000, stream_prefix=sid, decoded=False)
    assert [(r.version, r.data) for r in page.events] == [
        (r.version, r.data) for r in [*as_dicts, *(await store.read_stream(sid, from_version=3))]
    ]


def test_cursor_tokens_are_opaque_and_checked():
    cursor = Cursor(123, 456)
    assert Cursor.decode(cursor.encode()) == cursor
    for bad in ["", "abc", "Mi4xLjI", "MS4tMS4y", "MS54LjI", "MS4y"]:
        with pytest.raises(InvalidCursor):
            Cursor.decode(bad)
    largest = Cursor(2**63 - 1, 2**63 - 1)
    assert Cursor.decode(largest.encode()) == largest
    for too_large in (Cursor(2**63, 1), Cursor(1, 2**63), Cursor(10**30, 10**30)):
        with pytest.raises(InvalidCursor):  # PostgreSQL could not compare it: a 400, not a 500
            Cursor.decode(too_large.encode())
