"""The read models as they were at one position of the event log, for exports.

An export must be reproducible: the same report, parameters and position give the same
rows whatever the live projections are doing. The live read models serve a position when,
inside one REPEATABLE READ snapshot, every projection the report reads holds exactly the
log up to it: its checkpoint is at or past the position and no event of its streams lies
between the two (`live_position`). That costs the report, not the history. Only a
position the live models no longer (or not yet) hold falls back to projecting the log up
to it into a private schema (`read_models_at`), whose cost grows with the log; see
docs/PERFORMANCE.md.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from sqlalchemy import Table, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from projections import checkpoints
from projections.projection import Projection
from projections.rebuild import create_work_schema
from projections.registry import PROJECTIONS
from projections.runner import Runner, Target
from projections.tables import SCHEMA
from store.event_store import EventStore
from store.records import START, Cursor

STALE_AFTER = dt.timedelta(hours=1)
"""A snapshot whose checkpoints have not moved for this long belongs to a dead export."""


async def drop_stale_snapshots(engine: AsyncEngine, older_than: dt.timedelta = STALE_AFTER) -> int:
    """Remove what exports that died mid-way left behind (a schema, checkpoint rows);
    returns how many. A live export moves its checkpoints with every batch."""
    dropped = 0
    async with engine.begin() as tx:
        for snapshot in await checkpoints.stale_snapshots(tx, older_than):
            tag = re.fullmatch(r"snapshot-([0-9a-f]{12})", snapshot)
            if tag is None:
                continue
            await tx.execute(text(f"DROP SCHEMA IF EXISTS snapshot_{tag[1]} CASCADE"))
            await checkpoints.forget_matching(tx, f"{snapshot}:%")
            dropped += 1
    return dropped


async def current_position(store: EventStore) -> Cursor:
    """Everything committed and safely ordered now: the log's horizon."""
    return await store.horizon()


SNAPSHOT_HORIZON = text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
"""The first statement of a snapshot: every transaction below it had ended when it was
taken, so every event up to (horizon, 0) is visible in it."""


CHANGED_BETWEEN = text(
    "SELECT EXISTS (SELECT 1 FROM event_store.events"
    " WHERE (transaction_id, position) > (CAST(CAST(:low_tx AS text) AS xid8), :low_pos)"
    "   AND (transaction_id, position) <= (CAST(CAST(:high_tx AS text) AS xid8), :high_pos)"
    "   AND EXISTS (SELECT 1 FROM unnest(CAST(:prefixes AS text[])) AS p(prefix)"
    "               WHERE starts_with(stream_id, p.prefix)))"
)


@asynccontextmanager
async def consistent_snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read-only REPEATABLE READ transaction: every query in it sees the same
    committed state, checkpoints and read-model rows alike."""
    async with engine.connect() as connection:
        snapshot = await connection.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        async with snapshot.begin():
            yield snapshot


async def snapshot_horizon(connection: AsyncConnection) -> Cursor:
    """Everything up to this position is visible in the connection's snapshot (the first
    query of a REPEATABLE READ transaction fixes the snapshot)."""
    return Cursor(int((await connection.execute(SNAPSHOT_HORIZON)).scalar_one()), 0)


LAST_EVENT_BEFORE = text(
    "SELECT e.transaction_id::text::bigint AS transaction_id, e.position"
    " FROM event_store.events AS e"
    " WHERE e.transaction_id < CAST(CAST(:horizon AS text) AS xid8)"
    " ORDER BY e.transaction_id DESC, e.position DESC LIMIT 1"
)
"""Qualified so that ORDER BY names the indexed columns, not the bigint output alias
(which would sort the whole log for one row)."""


async def settled_position(connection: AsyncConnection) -> Cursor:
    """The last event every reader of this snapshot sees: the log up to it is the log up
    to the horizon, and it stays the same while nothing is appended (the horizon moves
    with every transaction on the server), so an export of an unchanged log keeps its
    position, its file name and its bytes."""
    horizon = await snapshot_horizon(connection)
    below = {"horizon": str(horizon.transaction_id)}
    last = (await connection.execute(LAST_EVENT_BEFORE, below)).first()
    return Cursor(last.transaction_id, last.position) if last else START


async def live_checkpoints(
    connection: AsyncConnection, projections: Sequence[Projection]
) -> dict[str, Cursor]:
    """Each projection's live checkpoint in this snapshot (missing: never run here)."""
    return await checkpoints.positions(connection, [p.name for p in projections])


async def live_position(
    connection: AsyncConnection,
    projections: Sequence[Projection],
    wanted: Cursor | None,
    at_least: Cursor = START,
) -> Cursor | None:
    """The position the live read models of `projections` hold exactly in this snapshot:
    `wanted` if they hold it, else (when no position was asked for) the freshest one they
    all agree on that is not before `at_least`; None when they hold none.

    A projection at checkpoint c holds position p exactly when none of its streams has an
    event between c and p (either way round): behind p it has nothing left to apply, past
    p nothing it applied came after p; p must be visible in the snapshot (at most its
    horizon).
    """
    horizon = await snapshot_horizon(connection)
    at = await live_checkpoints(connection, projections)
    if len(at) < len(projections):
        return None
    now = await settled_position(connection)
    candidates = [wanted] if wanted else [now, max(at.values()), min(at.values())]
    for candidate in candidates:
        if (
            at_least <= candidate
            and candidate <= horizon
            and await _all_hold(connection, projections, at, candidate)
        ):
            return candidate
    return None


async def _all_hold(
    connection: AsyncConnection,
    projections: Sequence[Projection],
    at: dict[str, Cursor],
    position: Cursor,
) -> bool:
    for projection in projections:
        if not await _holds(connection, projection, at[projection.name], position):
            return False
    return True


async def _holds(
    connection: AsyncConnection, projection: Projection, checkpoint: Cursor, position: Cursor
) -> bool:
    """Whether a projection at `checkpoint` holds exactly the log up to `position`."""
    if checkpoint == position:
        return True
    low, high = min(checkpoint, position), max(checkpoint, position)
    changed = await connection.execute(
        CHANGED_BETWEEN,
        {
            "low_tx": str(low.transaction_id),
            "low_pos": low.position,
            "high_tx": str(high.transaction_id),
            "high_pos": high.position,
            "prefixes": list(projection.stream_prefixes),
        },
    )
    return not changed.scalar_one()


def projections_reading(tables: Sequence[Table]) -> tuple[Projection, ...]:
    """The projections that own any of `tables` (a report's inputs)."""
    return tuple(p for p in PROJECTIONS if set(tables) & set(p.tables))


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
            await checkpoints.forget_matching(tx, f"snapshot-{tag}:%")
