"""The read models as they were at one position of the event log, for exports.

An export must be reproducible: the same report, parameters and position give the same
rows whatever the live projections are doing. So an export projects the log up to its
position into a private schema (the same projection code, the same tables), reads there,
and drops the schema. Cost grows with the log; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections import checkpoints
from projections.rebuild import create_work_schema
from projections.registry import PROJECTIONS
from projections.runner import Runner, Target
from projections.tables import SCHEMA
from store.event_store import EventStore
from store.records import Cursor

STALE_AFTER = dt.timedelta(hours=1)
"""A snapshot whose checkpoints have not moved for this long belongs to a dead export."""

STALE_SNAPSHOTS = text(
    "SELECT split_part(projection, ':', 1) AS snapshot FROM projection_state.checkpoints"
    " WHERE state = 'snapshot' GROUP BY 1 HAVING max(updated_at) < now() - CAST(:age AS interval)"
)


async def drop_stale_snapshots(engine: AsyncEngine, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Remove what exports that died mid-way left behind (a schema, checkpoint rows);
    returns how many. A live export moves its checkpoints with every batch."""
    dropped = 0
    async with engine.begin() as tx:
        for row in (await tx.execute(STALE_SNAPSHOTS, {"age": older_than})).all():
            tag = re.fullmatch(r"snapshot-([0-9a-f]{12})", row.snapshot)
            if tag is None:
                continue
            await tx.execute(text(f"DROP SCHEMA IF EXISTS snapshot_{tag[1]} CASCADE"))
            await _forget(tx, f"{row.snapshot}:%")
            dropped += 1
    return dropped


async def _forget(tx: AsyncConnection, names_like: str) -> None:
    """Drop a snapshot's bookkeeping rows."""
    for table in ("checkpoints", "stream_versions"):
        await tx.execute(
            text(f"DELETE FROM projection_state.{table} WHERE projection LIKE :names"),
            {"names": names_like},
        )


async def current_position(store: EventStore) -> Cursor:
    """Everything committed and safely ordered now: the log's horizon."""
    return await store.horizon()


@asynccontextmanager
async def read_models_at(
    engine: AsyncEngine, store: EventStore, url: str, position: Cursor
) -> AsyncIterator[AsyncConnection]:
    """A connection whose `reporting` tables hold exactly the log up to `position`."""
    tag = uuid.uuid4().hex[:12]
    schema = f"snapshot_{tag}"
    targets = [
        Target(p, store, name=f"snapshot-{tag}:{p.name}", schema=schema) for p in PROJECTIONS
    ]
    async with engine.begin() as tx:
        await create_work_schema(tx, schema)
        for projection in PROJECTIONS:
            for table in projection.tables:
                await tx.execute(
                    text(
                        f"CREATE TABLE {schema}.{table.name} (LIKE {SCHEMA}.{table.name}"
                        " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"
                    )
                )
        await checkpoints.ensure(tx, [target.name for target in targets], "snapshot")
    try:
        runner = Runner(engine, store, url, PROJECTIONS)
        await runner.drain_all(targets, until=position)
        async with engine.connect() as connection:
            yield await connection.execution_options(schema_translate_map={SCHEMA: schema})
    finally:
        async with engine.begin() as tx:
            await tx.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            await _forget(tx, f"snapshot-{tag}:%")
