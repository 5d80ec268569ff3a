"""How far each projection is behind the log, for operators and for read-your-writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from store.records import Cursor

STATUS_SQL = """
SELECT c.projection, c.transaction_id, c.position, c.events_applied, c.state,
       c.updated_at, c.rebuild_requested_at, c.last_error,
       lag.events AS lag_events,
       coalesce(extract(epoch FROM now() - lag.oldest), 0)::float8 AS lag_seconds
FROM projection_state.checkpoints c
CROSS JOIN LATERAL (
    SELECT count(*) AS events, min(e.recorded_at) AS oldest FROM event_store.events e
    WHERE (e.transaction_id, e.position) > (c.transaction_id::text::xid8, c.position)
) lag
ORDER BY c.projection"""

REACHED_SQL = """
SELECT bool_and((transaction_id, position) >= ($1::bigint, $2::bigint))
FROM projection_state.checkpoints WHERE projection = ANY($3::text[])"""


class ProjectionStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One projection's checkpoint, lag and state."""

    projection: str
    checkpoint: str
    events_applied: int
    state: str
    updated_at: dt.datetime
    rebuild_requested_at: dt.datetime | None
    last_error: str | None
    lag_events: int
    lag_seconds: float


async def projection_status(pool: Any) -> list[ProjectionStatus]:
    """Every projection (and rebuild in progress), with lag in events and seconds."""
    rows = await pool.fetch(STATUS_SQL)
    return [
        ProjectionStatus(
            projection=r["projection"],
            checkpoint=Cursor(r["transaction_id"], r["position"]).encode(),
            events_applied=r["events_applied"],
            state=r["state"],
            updated_at=r["updated_at"],
            rebuild_requested_at=r["rebuild_requested_at"],
            last_error=r["last_error"],
            lag_events=r["lag_events"],
            lag_seconds=round(r["lag_seconds"], 3),
        )
        for r in rows
    ]


async def wait_until_reached(
    pool: Any, cursor: Cursor, projections: Sequence[str], timeout: float
) -> bool:
    """True once every named projection has applied everything up to `cursor`."""
    deadline = time.monotonic() + timeout
    while True:
        reached = await pool.fetchval(
            REACHED_SQL, cursor.transaction_id, cursor.position, list(projections)
        )
        if reached:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
