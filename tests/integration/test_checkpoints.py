"""The checkpoint statements on their own: requests, reach, and an export's leftovers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from projections import checkpoints
from projections.registry import create_engine
from store.records import Cursor


async def test_a_rebuild_request_keeps_the_time_it_was_first_asked(database_url: str, pool: Any):
    name = f"probe-{uuid.uuid4().hex[:8]}"
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as tx:
            await checkpoints.ensure(tx, [name], "idle")
        await checkpoints.request_rebuild(pool, name)
        first = await pool.fetchval(
            "SELECT rebuild_requested_at FROM projection_state.checkpoints WHERE projection = $1",
            name,
        )
        await checkpoints.request_rebuild(pool, name)
        again = await pool.fetchval(
            "SELECT rebuild_requested_at FROM projection_state.checkpoints WHERE projection = $1",
            name,
        )
        assert first is not None and again == first
        assert not await checkpoints.reached(pool, Cursor(1, 1), [name])
        async with engine.begin() as tx:
            await checkpoints.advance(
                tx, name, Cursor(5, 7), applied=3, state="running", last_recorded=None
            )
        assert await checkpoints.reached(pool, Cursor(5, 7), [name])
        assert not await checkpoints.reached(pool, Cursor(5, 8), [name])
        assert not await checkpoints.reached(pool, Cursor(0, 0), ["no-such-projection"])
    finally:
        async with engine.begin() as tx:
            await checkpoints.forget(tx, name)
        await engine.dispose()


async def test_an_abandoned_snapshot_is_found_and_forgotten(database_url: str, pool: Any):
    tag = uuid.uuid4().hex[:12]
    old, fresh = f"snapshot-{tag}", f"snapshot-{uuid.uuid4().hex[:12]}"
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as tx:
            await checkpoints.ensure(tx, [f"{old}:dialogues", f"{fresh}:dialogues"], "snapshot")
        await pool.execute(
            "UPDATE projection_state.checkpoints SET updated_at = now() - interval '2 hours'"
            " WHERE projection = $1",
            f"{old}:dialogues",
        )
        async with engine.connect() as connection:
            stale = await checkpoints.stale_snapshots(connection, dt.timedelta(hours=1))
        assert old in stale and fresh not in stale
        async with engine.begin() as tx:
            await checkpoints.forget_matching(tx, f"{old}:%")
        left = await pool.fetch(
            "SELECT projection FROM projection_state.checkpoints WHERE projection LIKE 'snapshot-%'"
        )
        assert {r["projection"] for r in left} >= {f"{fresh}:dialogues"}
        assert f"{old}:dialogues" not in {r["projection"] for r in left}
    finally:
        async with engine.begin() as tx:
            for snapshot in (old, fresh):
                await checkpoints.forget_matching(tx, f"{snapshot}:%")
        await engine.dispose()
