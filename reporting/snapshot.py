"""The read models as they were at one position of the event log, for exports.

An export must be reproducible: the same report, parameters and position give the same
rows whatever the live projections are doing. So an export projects the log up to its
position into a private schema (the same projection code, the same tables), reads there,
and drops the schema. Cost grows with the log; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections.catalog import PROJECTIONS
from projections.runner import ENSURE, Runner, Target
from projections.tables import SCHEMA
from store.event_store import EventStore
from store.records import Cursor


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
        await tx.execute(text(f"CREATE SCHEMA {schema}"))
        for projection in PROJECTIONS:
            for table in projection.tables:
                await tx.execute(
                    text(
                        f"CREATE TABLE {schema}.{table.name} (LIKE {SCHEMA}.{table.name}"
                        " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"
                    )
                )
        for target in targets:
            await tx.execute(ENSURE, {"name": target.name, "state": "snapshot"})
    try:
        runner = Runner(engine, store, url, PROJECTIONS)
        for target in targets:
            await runner.drain(target, until=position)
        async with engine.connect() as connection:
            yield await connection.execution_options(schema_translate_map={SCHEMA: schema})
    finally:
        async with engine.begin() as tx:
            await tx.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            names = [t.name for t in targets]
            await tx.execute(
                text("DELETE FROM projection_state.checkpoints WHERE projection = ANY(:names)"),
                {"names": names},
            )
            await tx.execute(
                text("DELETE FROM projection_state.stream_versions WHERE projection = ANY(:names)"),
                {"names": names},
            )
