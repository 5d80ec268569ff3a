"""The log is append-only in the database itself, and verification catches what slips past."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from store import NO_STREAM, EventStore, NewEvent, verify


async def _append(store: EventStore, events: int = 3) -> str:
    sid = f"audit-{uuid.uuid4()}"
    await store.append(
        sid,
        [NewEvent(type="Noted", data={"n": n}) for n in range(events)],
        NO_STREAM,
        {"actor": "auditor-test"},
    )
    return sid


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE event_store.events SET data = '{}' WHERE stream_id = $1",
        "DELETE FROM event_store.events WHERE stream_id = $1",
        "TRUNCATE event_store.events",
    ],
)
async def test_changing_or_removing_events_is_rejected(store: EventStore, owner_pool, statement):
    """Even the owner (a superuser here) meets the triggers."""
    sid = await _append(store)
    args = [sid] if "$1" in statement else []
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await owner_pool.execute(statement, *args)
    assert len(await store.read_stream(sid)) == 3


async def test_the_application_role_may_only_select_and_insert(store: EventStore, pool):
    sid = await _append(store)
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SET LOCAL ROLE entente_app")
        assert (
            await connection.fetchval(
                "SELECT count(*) FROM event_store.events WHERE stream_id = $1", sid
            )
            == 3
        )
        for statement in (
            "UPDATE event_store.events SET type = 'x' WHERE stream_id = $1",
            "DELETE FROM event_store.events WHERE stream_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with connection.transaction():
                    await connection.execute(statement, sid)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("TRUNCATE event_store.events")
        await store_append_as(connection, sid)


async def store_append_as(connection, sid: str) -> None:
    """The role can still append through the store's function."""
    result = await EventStore(connection).append(sid, [NewEvent(type="Noted", data={})], 3)
    assert result.version == 4


async def test_verify_passes_on_an_untouched_log(store: EventStore, pool):
    sid = await _append(store, 5)
    report = await verify(pool, sid)
    assert report.intact
    assert (report.streams_checked, report.events_checked) == (1, 5)


async def test_verify_names_the_event_a_superuser_edited(store: EventStore, pool, owner_pool):
    intact = await _append(store)
    sid = await _append(store, 5)
    victim = (await store.read_stream(sid))[2]
    async with owner_pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "ALTER TABLE event_store.events DISABLE TRIGGER events_append_only"
        )
        await connection.execute(
            "UPDATE event_store.events SET data = '{\"n\": 999}' WHERE position = $1",
            victim.position,
        )
        await connection.execute("ALTER TABLE event_store.events ENABLE TRIGGER events_append_only")

    report = await verify(pool)
    assert not report.intact
    assert [(b.stream_id, b.version, b.position) for b in report.broken] == [
        (sid, 3, victim.position)
    ]
    assert "altered" in report.broken[0].reason
    assert (await verify(pool, intact)).intact


async def test_verify_names_a_removed_event(store: EventStore, pool, owner_pool):
    sid = await _append(store, 4)
    victim = (await store.read_stream(sid))[1]
    async with owner_pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "ALTER TABLE event_store.events DISABLE TRIGGER events_append_only"
        )
        await connection.execute(
            "DELETE FROM event_store.events WHERE position = $1", victim.position
        )
        await connection.execute("ALTER TABLE event_store.events ENABLE TRIGGER events_append_only")
    report = await verify(pool, sid)
    assert [(b.version, b.reason.split(":")[0]) for b in report.broken] == [
        (3, "version 3 follows 1")
    ]
