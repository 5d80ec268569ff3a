"""How far each projection is behind the log, for operators and for read-your-writes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from projections import checkpoints
from store.records import Cursor
from store.settings import positive_number
from store.supervision import LoopStatus

UNHEALTHY_LOOP_STATES = ("restarting", "failing", "stopped")


def max_lag_seconds() -> float:
    """ENTENTE_READY_MAX_LAG_SECONDS (default 60): how old the oldest event a projection
    has not applied may be before the projection counts as stalled and the process as
    not ready; 0 turns the check off."""
    return positive_number("ENTENTE_READY_MAX_LAG_SECONDS", "60", zero=True)


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


async def projection_status(
    pool: Any, *, loop: LoopStatus | None = None, stalled_after: float | None = None
) -> list[ProjectionStatus]:
    """Every projection (and rebuild in progress), with lag in events and seconds.

    `state` tells the truth even when the worker cannot write it down: `failing` when a
    batch failed (`last_error`), `restarting`/`failing` with the loop's error when `loop`
    (this process's projection loop, if it runs one) is not running, `stalled` when events
    older than `stalled_after` seconds (default max_lag_seconds()) wait unapplied.
    """
    stalled_after = max_lag_seconds() if stalled_after is None else stalled_after
    loop_down = loop is not None and loop.state in UNHEALTHY_LOOP_STATES
    found = []
    for r in await checkpoints.status_rows(pool):
        state, last_error = r["state"], r["last_error"]
        if loop_down and loop is not None:
            state, last_error = loop.state, last_error or loop.last_error
        elif last_error:
            state = "failing"
        elif r["lag_events"] and 0 < stalled_after < r["lag_seconds"]:
            state = "stalled"
        found.append(
            ProjectionStatus(
                projection=r["projection"],
                checkpoint=Cursor(r["transaction_id"], r["position"]).encode(),
                events_applied=r["events_applied"],
                state=state,
                updated_at=r["updated_at"],
                rebuild_requested_at=r["rebuild_requested_at"],
                last_error=last_error,
                lag_events=r["lag_events"],
                lag_seconds=round(r["lag_seconds"], 3),
            )
        )
    return found


async def worst_lag_seconds(pool: Any, projections: Sequence[str]) -> float:
    """Age of the oldest event any of `projections` has not applied yet (0 when none)."""
    return await checkpoints.worst_lag(pool, projections)


async def wait_until_reached(
    pool: Any, cursor: Cursor, projections: Sequence[str], timeout: float
) -> bool:
    """True once every named projection has applied everything up to `cursor`."""
    deadline = time.monotonic() + timeout
    while True:
        if await checkpoints.reached(pool, cursor, projections):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
