"""Blue/green rebuilds: a shadow copy of a projection's tables, built beside the live ones
from the start of the log, then swapped in, in one transaction, once it has caught up.

Readers never see a gap: until the swap they read the live tables, after it the rebuilt
ones. The shadow has a checkpoint of its own (`<name>:rebuild`) that the runner moves
like any other, so a rebuild survives restarts and changes of owner. The DDL here is
written as text because table and index names cannot be bound parameters.

A shadow starts with its primary keys and the indexes its own statements need
(`tables.APPLY_INDEXES`); the indexes only readers use are built once, in bulk, when it
has caught up (`complete`), before the swap and outside its transaction, under the live
tables' own names. Maintaining them row by row while the whole log is applied cost a
fifth of a rebuild (976,429 events: 69.5 s against 54.7 s with them built at the end,
docs/PERFORMANCE.md; the timeline's GIN index on parties above all).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections import checkpoints
from projections.projection import Projection
from projections.tables import APPLY_INDEXES, SCHEMA

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
                        f" (LIKE {SCHEMA}.{table.name} INCLUDING ALL EXCLUDING INDEXES)"
                    )
                )
                for statement in await _key_statements(tx, table.name):
                    await tx.execute(text(statement))
                for name, statement in await _index_statements(tx, table.name):
                    if name in APPLY_INDEXES:
                        await tx.execute(text(statement))
            await checkpoints.forget(tx, shadow_name(projection.name))
        await checkpoints.ensure(tx, [shadow_name(p.name) for p in projections], "rebuilding")


_INDEX_DEFINITION = re.compile(r"CREATE (UNIQUE )?INDEX (\S+) ON (?:ONLY )?\S+ (USING .+)", re.S)


async def _key_statements(tx: AsyncConnection, table: str) -> list[str]:
    """The live table's primary key and unique constraints, as DDL for its shadow."""
    rows = await tx.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = to_regclass(:table) AND contype IN ('p', 'u') ORDER BY conname"
        ),
        {"table": f"{SCHEMA}.{table}"},
    )
    return [
        f'ALTER TABLE {SHADOW_SCHEMA}.{table} ADD CONSTRAINT "{name}" {definition}'
        for name, definition in rows
    ]


async def _indexes(tx: AsyncConnection, schema: str, table: str) -> dict[str, str]:
    """A table's indexes other than its keys' (those come with `_key_statements`), each
    name with its definition."""
    rows = await tx.execute(
        text(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
            " JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = to_regclass(:table) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            " ORDER BY x.indexrelid"
        ),
        {"table": f"{schema}.{table}"},
    )
    return {name: definition for name, definition in rows}


async def _index_statements(tx: AsyncConnection, table: str) -> list[tuple[str, str]]:
    """The live table's other indexes, each by name with the DDL that builds it on the
    shadow under the same name (if it is not there yet)."""
    statements = []
    for name, definition in (await _indexes(tx, SCHEMA, table)).items():
        found = _INDEX_DEFINITION.fullmatch(definition)
        if found is None:
            raise ValueError(f"unexpected index definition: {definition}")
        unique, _, method = found.groups()
        statements.append(
            (
                name,
                f'CREATE {unique or ""}INDEX IF NOT EXISTS "{name}"'
                f" ON {SHADOW_SCHEMA}.{table} {method}",
            )
        )
    return statements


async def complete(engine: AsyncEngine, projection: Projection) -> None:
    """Give the shadow exactly the live tables' indexes before it is swapped in: build the
    reader-only ones in bulk, drop any the live tables lack (a shadow begun by a version
    that copied every index under names of PostgreSQL's choosing)."""
    for table in projection.tables:
        async with engine.begin() as tx:
            wanted = await _index_statements(tx, table.name)
            names = {name for name, _ in wanted}
            for name in await _indexes(tx, SHADOW_SCHEMA, table.name):
                if name not in names:
                    await tx.execute(text(f'DROP INDEX {SHADOW_SCHEMA}."{name}"'))
            for _, statement in wanted:
                await tx.execute(text(statement))


async def swap(engine: AsyncEngine, projection: Projection) -> bool:
    """Swap the caught-up shadow in, in one transaction; False if live ran ahead of it.

    Its indexes are completed first, in transactions of their own: readers of the live
    tables wait for nothing but the renames."""
    await complete(engine, projection)
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
