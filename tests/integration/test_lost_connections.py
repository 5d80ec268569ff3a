"""The supervised projection loop after its lock and LISTEN connections are killed (a
failover, an idle-session killer, a network blip): it takes its projections and its
wake-ups back by itself, with PostgreSQL up all along."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.demo import load_demo
from projections.registry import PROJECTIONS
from projections.runner import LOCK_CLASS
from projections.running import running_projections
from store.transparency import LOCK_CLASS as CHECKPOINTER_LOCK
from store.transparency import Checkpointer
from tests.integration.test_projection_worker import caught_up

LOCK_HOLDERS = """SELECT pid, count(*) AS held FROM pg_locks
WHERE locktype = 'advisory' AND classid = $1 AND database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY pid"""
LISTENERS = """SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN%'"""


async def within(seconds: float, check: Any) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := await check()):
        assert time.monotonic() < deadline, f"not within {seconds} s"
        await asyncio.sleep(0.1)
    return found


async def test_killed_lock_and_listen_connections_are_taken_back(
    database_url: str, owner_pool: Any
):
    """The owner watches and kills sessions (the serving login may not see others' locks)."""
    pool = owner_pool
    async with running_projections(database_url) as loop:

        async def owner() -> dict[int, int]:
            rows = await pool.fetch(LOCK_HOLDERS, LOCK_CLASS)
            return {r["pid"]: r["held"] for r in rows if r["held"] == len(PROJECTIONS)}

        async def listener() -> set[int]:
            return {r["pid"] for r in await pool.fetch(LISTENERS)}

        (lock_pid,) = await within(20, owner)
        (listen_pid,) = await within(20, listener)
        await pool.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid",
            [lock_pid, listen_pid],
        )
        await load_demo(pool)  # new events only a working loop will apply

        await caught_up(pool, timeout=30)
        new_owner = await within(30, owner)
        assert lock_pid not in new_owner  # ownership was taken again, on a new session
        new_listener = await within(30, listener)
        assert listen_pid not in new_listener
        assert loop.alive


async def test_a_checkpointer_whose_lock_connection_was_killed_stops_owning(
    database_url: str, pool: Any, owner_pool: Any
):
    """Until it notices, it would extend the tree beside the next owner."""
    first = Checkpointer(pool, database_url, None)
    second = Checkpointer(pool, database_url, None)
    try:
        assert await first.try_own()
        assert not await second.try_own()
        (holder,) = await owner_pool.fetch(LOCK_HOLDERS, CHECKPOINTER_LOCK)
        await owner_pool.execute("SELECT pg_terminate_backend($1)", holder["pid"])
        await within(10, second.try_own)  # the lock went with the session
        assert not await first.try_own()  # and the first knows it is no longer the owner
    finally:
        await first.release()
        await second.release()
