"""The migrations themselves: up from empty, down to nothing, and up again."""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import asyncpg

from store import NO_STREAM, STREAM_EXISTS, EventStore, NewEvent, verify
from store.database import asyncpg_dsn, create_pool, with_database
from store.migrate import downgrade, upgrade
from store.write_combining import APPEND_BATCH_SQL, combined_requests
from tests.conftest import drop_database

TABLES = "SELECT count(*) FROM pg_tables WHERE schemaname = 'event_store'"
ACCESS = "SELECT count(*) FROM pg_tables WHERE schemaname = 'access'"


async def empty_database(postgres_url: str, name: str) -> str:
    """A new database with nothing in it (not even the migrations), by URL."""
    admin = await asyncpg.connect(asyncpg_dsn(postgres_url))
    await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    return with_database(postgres_url, name)


async def test_upgrade_downgrade_upgrade(postgres_url: str):
    url = await empty_database(postgres_url, "entente_migration_roundtrip")
    try:
        await asyncio.to_thread(upgrade, url)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        assert await connection.fetchval(TABLES) == 3  # events, idempotency_keys, entity_ids
        assert await connection.fetchval(ACCESS) == 2  # api_keys, calendar_tokens
        await asyncio.to_thread(downgrade, url, "base")
        assert await connection.fetchval(TABLES) == 0
        assert await connection.fetchval(ACCESS) == 0
        await asyncio.to_thread(upgrade, url)
        assert await connection.fetchval(TABLES) == 3
        assert await connection.fetchval(ACCESS) == 2  # api_keys, calendar_tokens
        await connection.close()
    finally:
        await drop_database(postgres_url, url)


async def combined_appends_work(url: str) -> None:
    """Five concurrent appends, four of them in one append_batch call, chain intact."""
    pool = await create_pool(url, max_size=4)
    try:
        store = EventStore(pool, combine_flights=1)
        streams = [f"migrated-{uuid.uuid4()}" for _ in range(5)]
        results = await asyncio.gather(
            *(store.append(sid, [NewEvent(type="Noted", data={})], NO_STREAM) for sid in streams)
        )
        assert [r.version for r in results] == [1] * 5
        assert len({r.cursor and r.cursor.transaction_id for r in results[1:]}) == 1
        several = await store.append(
            streams[0], [NewEvent(type="Noted", data={"n": n}) for n in range(3)], 1
        )
        assert several.version == 4 and list(several.positions) == sorted(several.positions)
        assert (await verify(pool)).intact
        await store.settle()
    finally:
        await pool.close()


ARRAY_BATCH_SQL = """SELECT out_versions, out_sqlstates FROM event_store.append_batch(
    $1, $2, $3, $4, $5, $6::jsonb[], $7::jsonb[], $8, $9, $10, $11, $12)"""
ARRAY_APPEND_SQL = """SELECT out_version FROM event_store.append(
    $1, $2, $3, $4, $5, $6::jsonb[], $7::jsonb[], $8, $9, $10, $11, $12)"""


def noted() -> NewEvent:
    return NewEvent(type="Noted", data={})


async def array_appends_work(url: str) -> None:
    """Below 0018 the client's calls do not exist yet: the array functions themselves (what
    the client sent before it), four requests in one append_batch call, then three events
    in one append, chain intact."""
    pool = await create_pool(url, max_size=2)
    try:
        streams = [f"migrated-{uuid.uuid4()}" for _ in range(4)]
        requests = [
            [*EventStore._append_one_arguments(sid, NO_STREAM, noted(), {}), None, None]
            for sid in streams
        ]
        columns = [list(column) for column in zip(*requests, strict=True)]
        row = await pool.fetchrow(ARRAY_BATCH_SQL, *columns)
        assert list(row["out_versions"]) == [1] * 4 and set(row["out_sqlstates"]) == {None}
        several = [noted() for _ in range(3)]
        rows = [EventStore._append_one_arguments(streams[0], 1, e, {}) for e in several]
        per_event = [list(column) for column in zip(*rows, strict=True)][2:]
        assert await pool.fetchval(ARRAY_APPEND_SQL, streams[0], 1, *per_event, None, None) == 4
        assert (await verify(pool)).intact
    finally:
        await pool.close()


async def test_the_set_based_appends_downgrade_to_the_first_ones(postgres_url: str):
    url = await empty_database(postgres_url, "entente_migration_append_batch")
    source = "SELECT string_agg(prosrc, '') FROM pg_proc WHERE proname LIKE 'append%'"
    per_statement = ("EXCEPTION WHEN OTHERS", "RETURNING e.position, e.hash INTO written")
    try:
        await asyncio.to_thread(upgrade, url)
        await combined_appends_work(url)
        await asyncio.to_thread(downgrade, url, "0004_exports")
        connection = await asyncpg.connect(asyncpg_dsn(url))
        functions = await connection.fetchval(source)
        assert all(s in functions for s in per_statement)
        await array_appends_work(url)
        await asyncio.to_thread(upgrade, url)
        functions = await connection.fetchval(source)
        assert not any(s in functions for s in per_statement)
        await connection.close()
        await combined_appends_work(url)
    finally:
        await drop_database(postgres_url, url)


PRIVILEGES = """SELECT has_table_privilege('entente_app', 'access.api_keys', 'INSERT'),
    (SELECT tableowner FROM pg_tables WHERE schemaname = 'reporting' AND tablename = 'dialogues'),
    to_regprocedure('access.create_key(text, text, bytea, text[], text)') IS NOT NULL"""


async def privileges(connection: asyncpg.Connection) -> tuple[bool, str, bool]:
    """(entente_app may INSERT keys, owner of reporting.dialogues, key function exists)."""
    row = await connection.fetchrow(PRIVILEGES)
    assert row is not None
    return (row[0], row[1], row[2])


async def test_least_privilege_downgrades_to_0006_and_back(postgres_url: str):
    url = await empty_database(postgres_url, f"entente_migration_privilege_{os.getpid()}")
    try:
        await asyncio.to_thread(upgrade, url)
        connection = await asyncpg.connect(asyncpg_dsn(url))
        owner = await connection.fetchval("SELECT current_user")
        assert await privileges(connection) == (False, "entente_app", True)
        await asyncio.to_thread(downgrade, url, "0006_timeline_by_stream")
        assert await privileges(connection) == (True, owner, False)
        await asyncio.to_thread(upgrade, url)
        assert await privileges(connection) == (False, "entente_app", True)
        await connection.close()
    finally:
        await drop_database(postgres_url, url)


PRIMARY_KEY = """SELECT pg_get_constraintdef(oid) FROM pg_constraint
WHERE contype = 'p' AND conrelid = 'reporting.sessions'::regclass"""


async def test_entity_keys_claim_each_logged_id_for_its_first_stream(postgres_url: str):
    url = await empty_database(postgres_url, f"entente_migration_entity_ids_{os.getpid()}")
    try:
        await asyncio.to_thread(upgrade, url, "0008_calendar_tokens")
        pool = await create_pool(url, max_size=2)
        store = EventStore(pool)
        session, indicator = uuid.uuid4(), uuid.uuid4()
        for stream_id in ("dialogue-b", "dialogue-a"):  # b uses the session id first
            await store.append(
                stream_id,
                [NewEvent(type="SessionScheduled", data={"session_id": str(session)})],
                NO_STREAM,
            )
        await store.append(
            "relationship-KZ-US",
            [NewEvent(type="IndicatorRecorded", data={"indicator_id": str(indicator)})],
            NO_STREAM,
        )
        await store.settle()
        await asyncio.to_thread(upgrade, url)
        claims = await pool.fetch(
            "SELECT kind, entity_id, stream_id FROM event_store.entity_ids ORDER BY kind"
        )
        assert [tuple(c) for c in claims] == [
            ("indicator", indicator, "relationship-KZ-US"),
            ("session", session, "dialogue-b"),
        ]
        assert await pool.fetchval(PRIMARY_KEY) == "PRIMARY KEY (dialogue_id, session_id)"
        await asyncio.to_thread(downgrade, url, "0008_calendar_tokens")
        assert await pool.fetchval(PRIMARY_KEY) == "PRIMARY KEY (session_id)"
        assert await pool.fetchval("SELECT to_regclass('event_store.entity_ids')") is None
        await pool.close()
    finally:
        await drop_database(postgres_url, url)


def _request(stream_id: str, expected: int, key: str | None = None, n: int = 0) -> list[Any]:
    """One request of a combined call (`append_one`'s arguments, key and fingerprint)."""
    arguments = EventStore._append_one_arguments(
        stream_id, expected, NewEvent(type="Noted", data={"n": n}), {}
    )
    return [*arguments, key, None if key is None else f"fingerprint-{n}".encode()]


async def judged(pool: Any, tag: str) -> list[tuple[Any, ...]]:
    """One combined call of every kind of request, after a first call that sets the scene:
    accepted on a new and on an existing stream, a stale and a missing expected version,
    a key replayed, a key reused for another body. What each request got, positions and
    transaction ids as whether they are set, and the chain intact."""
    s = [f"judged-{tag}-{n}" for n in range(6)]
    first = [_request(s[1], NO_STREAM), _request(s[4], NO_STREAM, f"key-{tag}-4", 4)]
    first.append(_request(s[5], NO_STREAM, f"key-{tag}-5", 5))
    await pool.fetchrow(APPEND_BATCH_SQL, combined_requests(first))
    second = [
        _request(s[0], NO_STREAM),
        _request(s[1], 1),
        _request(s[2], 3),  # stale: the stream is new
        _request(s[3], STREAM_EXISTS),
        _request(s[4], NO_STREAM, f"key-{tag}-4", 4),  # replays the first call's append
        _request(s[5], NO_STREAM, f"key-{tag}-5", 6),  # the same key, another body
    ]
    row = await pool.fetchrow(APPEND_BATCH_SQL, combined_requests(second))
    assert (await verify(pool)).intact
    positions, versions, xids, replayed, states, messages, details, constraints = row
    return [
        (p is not None, v, x is not None, r, st, m and m.replace(tag, "*"), d, c)
        for p, v, x, r, st, m, d, c in zip(
            positions,
            versions,
            xids,
            replayed,
            states,
            messages,
            details,
            constraints,
            strict=True,
        )
    ]


async def test_one_statement_batches_judge_as_0018_did_and_downgrade(postgres_url: str):
    url = await empty_database(postgres_url, f"entente_migration_batches_{os.getpid()}")
    source = "SELECT prosrc FROM pg_proc WHERE proname = 'append_batch_json'"
    try:
        await asyncio.to_thread(upgrade, url)
        pool = await create_pool(url, max_size=2)
        assert "event_store.append_batch(" not in await pool.fetchval(source)
        at_head = await judged(pool, "head")
        await asyncio.to_thread(downgrade, url, "0018_append_path")
        assert "event_store.append_batch(" in await pool.fetchval(source)
        assert await judged(pool, "0018") == at_head
        await asyncio.to_thread(upgrade, url)
        assert "event_store.append_batch(" not in await pool.fetchval(source)
        assert await judged(pool, "again") == at_head
        await pool.close()
    finally:
        await drop_database(postgres_url, url)
    assert at_head == [
        (True, 1, True, False, None, None, None, None),
        (True, 2, True, False, None, None, None, None),
        (
            False,
            None,
            False,
            None,
            "EE001",
            "stream judged-*-2 is at version 0, expected 3",
            "0",
            None,
        ),
        (
            False,
            None,
            False,
            None,
            "EE001",
            "stream judged-*-3 is at version 0, expected -2",
            "0",
            None,
        ),
        (True, 1, True, True, None, None, None, None),
        (
            False,
            None,
            False,
            None,
            "EE002",
            "idempotency key key-*-5 was used for another request",
            None,
            None,
        ),
    ]
