"""The append path's held connections (store.database.HeldConnections): kept between
appends, given back to the pool when idle or settled, and replaced when lost."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from store import NO_STREAM, EventStore, NewEvent
from store.database import HOLD_IDLE, create_pool


def noted() -> NewEvent:
    return NewEvent(type="Noted", data={})


def stream() -> str:
    return f"held-{uuid.uuid4()}"


async def backend_of_appends(pool: Any, store: EventStore) -> int:
    """The server process of the connection the store's appends go out on."""
    pid: int = (await store._combiner._connections.fetchrow("SELECT pg_backend_pid()"))[0]
    return pid


async def test_appends_keep_their_connection_and_give_it_back_when_idle(database_url: str):
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        store = EventStore(pool)
        await store.append(stream(), [noted()], NO_STREAM)
        first = await backend_of_appends(pool, store)
        for _ in range(5):
            await store.append(stream(), [noted()], NO_STREAM)
        assert await backend_of_appends(pool, store) == first  # one session all along
        assert pool.get_idle_size() < pool.get_size()  # and it is out of the pool
        await asyncio.sleep(HOLD_IDLE * 4)
        assert pool.get_idle_size() == pool.get_size()  # idle: back in the pool
    finally:
        await asyncio.wait_for(pool.close(), 30)


async def test_settle_hands_every_held_connection_back(database_url: str):
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        store = EventStore(pool)
        await asyncio.gather(*(store.append(stream(), [noted()], NO_STREAM) for _ in range(6)))
        await store.settle()
        assert pool.get_idle_size() == pool.get_size()
    finally:
        await asyncio.wait_for(pool.close(), 30)


async def test_a_held_connection_lost_while_idle_is_replaced(database_url: str, owner_pool: Any):
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        store = EventStore(pool)
        await store.append(stream(), [noted()], NO_STREAM)
        lost = await backend_of_appends(pool, store)
        await owner_pool.execute("SELECT pg_terminate_backend($1)", lost)
        await asyncio.sleep(0.2)  # the client sees the end of the session
        result = await store.append(stream(), [noted()], NO_STREAM)
        assert result.version == 1
        assert await backend_of_appends(pool, store) != lost
    finally:
        await asyncio.wait_for(pool.close(), 30)


async def test_a_held_connection_lost_mid_query_fails_that_query_and_is_replaced(
    database_url: str, owner_pool: Any
):
    pool = await create_pool(database_url, min_size=1, max_size=4)
    try:
        store = EventStore(pool)
        await store.append(stream(), [noted()], NO_STREAM)
        lost = await backend_of_appends(pool, store)
        sid = stream()
        sleeping = asyncio.ensure_future(
            store._combiner.fetchrow("SELECT pg_sleep(5)")  # holds the connection
        )
        await asyncio.sleep(0.2)
        await owner_pool.execute("SELECT pg_terminate_backend($1)", lost)
        failed = await asyncio.gather(sleeping, return_exceptions=True)
        assert isinstance(failed[0], (asyncpg.PostgresError, asyncpg.InterfaceError))
        assert (await store.append(sid, [noted()], NO_STREAM)).version == 1
        assert await backend_of_appends(pool, store) != lost
    finally:
        await asyncio.wait_for(pool.close(), 30)
