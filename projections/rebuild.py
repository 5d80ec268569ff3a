"""Blue/green rebuilds: a shadow copy of a projection's tables, built beside the live ones
from the start of the log, then swapped in, in one transaction, once it has caught up.

Readers never see a gap: until the swap they read the live tables, after it the rebuilt
ones. The shadow has a checkpoint of its own (`<name>:rebuild`) that the runner moves
like any other, so a rebuild survives restarts and changes of owner. The DDL here is
the only SQL text of the projections: table names cannot be bound parameters.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections import checkpoints
from projections.projection import Projection
from projections.tables import SCHEMA

log = logging.getLogger("entente.projections")

SHADOW_SCHEMA = "reporting_rebuild"
RETIRED_SCHEMA = "reporting_retired"


def shadow_name(name: str) -> str:
    """The bookkeeping name of a projection's rebuild."""
    return f"{name}:rebuild"


async def create_work_schema(tx: AsyncConnection, schema: str) -> None:
    """A rebuild or snapshot schema, made for (and owned by) entente_app, which may not
    CREATE SCHEMA itself (migrations/versions/0007_least_privilege.py)."""
    await tx.execute(text("SELECT projection_state.create_work_schema(:name)"), {"name": schema})


async def start_shadows(engine: AsyncEngine, projections: Sequence[Projection]) -> None:
    """Empty shadow tables and a shadow checkpoint at the start of the log, for each."""
    async with engine.begin() as tx:
        await create_work_schema(tx, SHADOW_SCHEMA)
        for projection in projections:
            for table in projection.tables:
                await tx.execute(text(f"DROP TABLE IF EXISTS {SHADOW_SCHEMA}.{table.name}"))
                await tx.execute(
                    text(
                        f"CREATE TABLE {SHADOW_SCHEMA}.{table.name}"
                        f" (LIKE {SCHEMA}.{table.name} INCLUDING ALL)"
                    )
                )
            await checkpoints.forget(tx, shadow_name(projection.name))
        await checkpoints.ensure(tx, [shadow_name(p.name) for p in projections], "rebuilding")


async def swap(engine: AsyncEngine, projection: Projection) -> bool:
    """Swap the caught-up shadow in, in one transaction; False if live ran ahead of it."""
    shadow = shadow_name(projection.name)
    async with engine.begin() as tx:
        points = await checkpoints.lock(tx, [projection.name, shadow])
        if points[shadow].cursor < points[projection.name].cursor:
            return False
        await create_work_schema(tx, RETIRED_SCHEMA)
        for table in projection.tables:
            name = table.name
            await tx.execute(text(f"DROP TABLE IF EXISTS {RETIRED_SCHEMA}.{name}"))
            await tx.execute(text(f"ALTER TABLE {SCHEMA}.{name} SET SCHEMA {RETIRED_SCHEMA}"))
            await tx.execute(text(f"ALTER TABLE {SHADOW_SCHEMA}.{name} SET SCHEMA {SCHEMA}"))
            await tx.execute(text(f"DROP TABLE {RETIRED_SCHEMA}.{name}"))
        await checkpoints.take_over(tx, projection.name, shadow)
    log.info("rebuilt projection %s and swapped it in", projection.name)
    return True


async def requested(engine: AsyncEngine, projections: Sequence[Projection]) -> list[Projection]:
    """The projections whose rebuild was asked for; their shadows are started if new."""
    names = [n for p in projections for n in (p.name, shadow_name(p.name))]
    async with engine.connect() as connection:
        found = await checkpoints.rebuild_requests(connection, names)
    wanted = [p for p in projections if found.get(p.name) is not None]
    fresh = [p for p in wanted if shadow_name(p.name) not in found]
    if fresh:
        await start_shadows(engine, fresh)
    return wanted
