"""Every statement about projection checkpoints, on the declared `projection_state` tables.

A checkpoint row says how far one projection (or a rebuild's shadow, or an export's
snapshot) has applied the log; `stream_versions` says which version of each stream its
rows reflect. The runner moves both in the transaction that writes the rows; operators,
the API and readiness checks only read them, or ask for a rebuild. Statements are
SQLAlchemy Core against `projections.tables`, run on a SQLAlchemy connection or, for the
callers that hold only an asyncpg pool (status pages, the admin API), compiled once for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Float,
    Text,
    any_,
    bindparam,
    cast,
    column,
    delete,
    extract,
    func,
    select,
    table,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import UserDefinedType

from projections.tables import checkpoints, stream_versions
from store.records import Cursor


class Xid8(UserDefinedType[int]):
    """PostgreSQL's 64-bit transaction id, the type of the log's `transaction_id`."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "xid8"


events = table(
    "events",
    column("transaction_id", Xid8()),
    column("position", BigInteger),
    column("recorded_at"),
    schema="event_store",
)
"""The log, as far as lag is concerned (the event store owns and declares the rest)."""

c = checkpoints.c
NAMES = bindparam("names", type_=ARRAY(Text))


class Checkpoint(NamedTuple):
    """Where a projection stands, and whether a rebuild of it was asked for."""

    cursor: Cursor
    rebuild_requested_at: dt.datetime | None


# ---------------------------------------------------------------- the runner's statements


async def ensure(tx: AsyncConnection, names: Sequence[str], state: str) -> None:
    """A checkpoint at the start of the log for each name that has none."""
    if names:
        rows = [
            {
                "projection": name,
                "transaction_id": 0,
                "position": 0,
                "events_applied": 0,
                "updated_at": func.now(),
                "state": state,
            }
            for name in names
        ]
        await tx.execute(
            insert(checkpoints).values(rows).on_conflict_do_nothing(index_elements=["projection"])
        )


async def lock(tx: AsyncConnection, names: Sequence[str]) -> dict[str, Checkpoint]:
    """The named checkpoints, locked until `tx` ends (in name order: no deadlock between
    two transactions locking overlapping sets)."""
    rows = await tx.execute(
        select(c.projection, c.transaction_id, c.position, c.rebuild_requested_at)
        .where(c.projection == any_(NAMES))
        .order_by(c.projection)
        .with_for_update(),
        {"names": list(names)},
    )
    return {
        r.projection: Checkpoint(Cursor(r.transaction_id, r.position), r.rebuild_requested_at)
        for r in rows
    }


async def advance(
    tx: AsyncConnection,
    name: str,
    cursor: Cursor,
    *,
    applied: int,
    state: str,
    last_recorded: dt.datetime | None,
) -> None:
    """Move a checkpoint past a batch, in the batch's transaction; clears its last error."""
    await _set(
        tx,
        name,
        transaction_id=cursor.transaction_id,
        position=cursor.position,
        events_applied=c.events_applied + applied,
        state=state,
        last_event_recorded_at=func.coalesce(last_recorded, c.last_event_recorded_at),
        last_error=None,
    )


async def _set(tx: AsyncConnection, name: str, **values: Any) -> None:
    """Change one checkpoint's columns, stamping when."""
    await tx.execute(
        update(checkpoints).where(c.projection == name).values(updated_at=func.now(), **values)
    )


async def record_failure(tx: AsyncConnection, name: str, error: str) -> None:
    """Keep a failed batch's error on its checkpoint, for `projections status`."""
    await _set(tx, name, last_error=error[:2000])


async def slowest(connection: AsyncConnection, names: Sequence[str]) -> Cursor:
    """Where the slowest of the named projections stands (the start when none has a row)."""
    row = (
        await connection.execute(
            select(c.transaction_id, c.position)
            .where(c.projection == any_(NAMES))
            .order_by(c.transaction_id, c.position)
            .limit(1),
            {"names": list(names)},
        )
    ).first()
    return Cursor(row.transaction_id, row.position) if row else Cursor(0, 0)


async def rebuild_requests(
    connection: AsyncConnection, names: Sequence[str]
) -> dict[str, dt.datetime | None]:
    """The named checkpoints that exist, each with when a rebuild was asked for."""
    rows = await connection.execute(
        select(c.projection, c.rebuild_requested_at).where(c.projection == any_(NAMES)),
        {"names": list(names)},
    )
    return {r.projection: r.rebuild_requested_at for r in rows}


async def forget(tx: AsyncConnection, name: str) -> None:
    """Drop a projection's checkpoint and stream versions (a shadow starting afresh)."""
    await tx.execute(delete(stream_versions).where(stream_versions.c.projection == name))
    await tx.execute(delete(checkpoints).where(c.projection == name))


async def take_over(tx: AsyncConnection, live: str, shadow: str) -> None:
    """The live projection takes the shadow's bookkeeping (a rebuild swapped in)."""
    versions = stream_versions.c
    await tx.execute(delete(stream_versions).where(versions.projection == live))
    await tx.execute(
        update(stream_versions).where(versions.projection == shadow).values(projection=live)
    )
    built = (
        await tx.execute(
            select(c.transaction_id, c.position, c.events_applied, c.last_event_recorded_at).where(
                c.projection == shadow
            )
        )
    ).one()
    await _set(tx, live, **built._asdict(), state="running", rebuild_requested_at=None)
    await tx.execute(delete(checkpoints).where(c.projection == shadow))


async def stale_snapshots(connection: AsyncConnection, older_than: dt.timedelta) -> list[str]:
    """The export snapshots (`snapshot-<tag>`) whose checkpoints have not moved for
    `older_than`: what exports that died mid-way left behind."""
    snapshot = func.split_part(c.projection, ":", 1)
    rows = await connection.execute(
        select(snapshot)
        .where(c.state == "snapshot")
        .group_by(snapshot)
        .having(func.max(c.updated_at) < func.now() - older_than)
    )
    return list(rows.scalars())


async def forget_matching(tx: AsyncConnection, pattern: str) -> None:
    """Drop the checkpoints and stream versions of every name LIKE `pattern` (a finished
    or abandoned export snapshot's `snapshot-<tag>:%`)."""
    await tx.execute(delete(stream_versions).where(stream_versions.c.projection.like(pattern)))
    await tx.execute(delete(checkpoints).where(c.projection.like(pattern)))


async def positions(connection: AsyncConnection, names: Sequence[str]) -> dict[str, Cursor]:
    """Each named projection's checkpoint as `connection` sees it (an export reads them in
    its REPEATABLE READ snapshot); a projection never run here is missing."""
    rows = await connection.execute(
        select(c.projection, c.transaction_id, c.position).where(c.projection.in_(names))
    )
    return {r.projection: Cursor(r.transaction_id, r.position) for r in rows}


# ---------------------------------------------------------------- for pool holders


def _after(transaction_id: Any, position: Any) -> Any:
    """Events of the log after a checkpoint's (transaction id, position)."""
    return tuple_(events.c.transaction_id, events.c.position) > tuple_(
        cast(cast(transaction_id, Text), Xid8()), position
    )


REQUEST_REBUILD = (
    update(checkpoints)
    .where(c.projection == bindparam("name"), c.rebuild_requested_at.is_(None))
    .values(rebuild_requested_at=func.now())
)

_lag = (
    select(
        func.count().label("events"),
        func.min(events.c.recorded_at).label("oldest"),
    )
    .where(_after(c.transaction_id, c.position))
    .lateral("lag")
)
STATUS = (
    select(
        c.projection,
        c.transaction_id,
        c.position,
        c.events_applied,
        c.state,
        c.updated_at,
        c.rebuild_requested_at,
        c.last_error,
        _lag.c.events.label("lag_events"),
        cast(func.coalesce(extract("epoch", func.now() - _lag.c.oldest), 0), Float).label(
            "lag_seconds"
        ),
    )
    .select_from(checkpoints.join(_lag, true()))
    .order_by(c.projection)
)
"""Every checkpoint (live, rebuilds, snapshots) with its lag in events and seconds."""

_wanted = func.unnest(NAMES).table_valued("projection").render_derived(name="wanted")
_next = (
    select(events.c.recorded_at)
    .where(
        _after(func.coalesce(c.transaction_id, 0), func.coalesce(c.position, 0)),
    )
    .order_by(events.c.transaction_id, events.c.position)
    .limit(1)
    .lateral("next")
)
WORST_LAG = select(
    cast(
        func.coalesce(func.max(extract("epoch", func.now() - _next.c.recorded_at)), 0),
        Float,
    )
).select_from(
    _wanted.outerjoin(checkpoints, c.projection == _wanted.c.projection).join(_next, true())
)
"""A projection without a checkpoint row (its worker never started) lags from the start."""

REACHED = select(
    func.bool_and(
        tuple_(c.transaction_id, c.position)
        >= tuple_(
            bindparam("transaction_id", type_=BigInteger),
            bindparam("position", type_=BigInteger),
        )
    )
).where(c.projection == any_(NAMES))
"""Whether every named checkpoint reached a cursor (false when none of them exists)."""


class PoolStatement(NamedTuple):
    """A Core statement compiled for asyncpg: SQL with $n, the names of its arguments in
    order, and the values of those the statement fixes itself."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]

    @classmethod
    def of(cls, statement: ClauseElement) -> PoolStatement:
        compiled: Any = statement.compile(dialect=PGDialect_asyncpg())  # type: ignore[no-untyped-call]
        return cls(compiled.string, tuple(compiled.positiontup or ()), dict(compiled.params))

    def arguments(self, **values: Any) -> list[Any]:
        given = {**self.fixed, **values}
        return [given[name] for name in self.names]


_STATUS = PoolStatement.of(STATUS)
_WORST_LAG = PoolStatement.of(WORST_LAG)
_REACHED = PoolStatement.of(REACHED)
_REQUEST_REBUILD = PoolStatement.of(REQUEST_REBUILD)


async def status_rows(pool: Any) -> list[Any]:
    """STATUS on an asyncpg pool."""
    return list(await pool.fetch(_STATUS.sql, *_STATUS.arguments()))


async def worst_lag(pool: Any, names: Sequence[str]) -> float:
    """Age in seconds of the oldest event any named projection has not applied yet."""
    return float(await pool.fetchval(_WORST_LAG.sql, *_WORST_LAG.arguments(names=list(names))))


async def reached(pool: Any, cursor: Cursor, names: Sequence[str]) -> bool:
    """Whether every named projection has applied the log up to `cursor`."""
    arguments = _REACHED.arguments(
        transaction_id=cursor.transaction_id, position=cursor.position, names=list(names)
    )
    return bool(await pool.fetchval(_REACHED.sql, *arguments))


async def request_rebuild(pool: Any, name: str) -> None:
    """Ask the worker that owns `name` to rebuild it beside the live tables (once: a
    request already pending keeps its time)."""
    await pool.execute(_REQUEST_REBUILD.sql, *_REQUEST_REBUILD.arguments(name=name))
