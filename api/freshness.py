"""Read-your-writes: a query may name the position its own write produced.

Commands answer with `X-Position`; a query that sends it back (`?after_position=` or the
`X-After-Position` header) waits up to READ_YOUR_WRITES_WAIT seconds for the database it
reads to have applied it, then answers, or says 503 with Retry-After that it has not yet.
Never a stale answer: on a streaming replica the check runs on the replica itself, so it
sees the replica's own replayed log and checkpoints, not the primary's.

What "applied" means depends on what the handler reads: read models (`read_models`) have
applied a position when every projection's checkpoint on that database has reached it;
the log (`log`) when that database's read horizon has passed the position's transaction,
so the change feed and stream reads there hold the write and everything before it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from api.problems import problem
from projections.registry import NAMES
from projections.status import wait_until_reached
from store.errors import InvalidCursor
from store.event_store import EventStore
from store.records import Cursor

READ_YOUR_WRITES_WAIT = 5.0
AFTER_POSITION_HEADER = "x-after-position"
LOG_POLL = 0.05
"""Seconds between two looks at the read horizon while a read waits for a write."""


class ReadYourWrites:
    """The read database's answer to "have you applied my write yet?", waiting a bounded
    time for it. Built per request by api/dependencies.py."""

    def __init__(
        self,
        pool: Any,
        store: EventStore,
        header: str | None,
        wait: float,
        *,
        primary: EventStore | None = None,
    ) -> None:
        self._pool = pool
        self._store = store
        self._header = header
        self._wait = wait
        self._primary = primary
        """Where positions are issued (the primary's store): a position beyond its head was
        never issued, and is refused rather than waited for."""

    def _cursor(self, after_position: str | None) -> Cursor | None:
        token = after_position or self._header
        if not token:
            return None
        try:
            return Cursor.decode(token)
        except InvalidCursor:
            raise problem(
                400, f"not a position token: {token[:40]!r}", kind="invalid-cursor"
            ) from None

    async def read_models(self, after_position: str | None) -> None:
        """Return once every read model here has applied the position, or refuse (503)."""
        cursor = self._cursor(after_position)
        if cursor is None or await wait_until_reached(self._pool, cursor, NAMES, 0):
            return
        await self._issued(cursor)  # before waiting: a position never issued is a 400 at once
        if not await wait_until_reached(self._pool, cursor, NAMES, self._wait):
            raise _not_yet("the read models have not reached that position yet")

    async def log(self, after_position: str | None) -> None:
        """Return once the log here holds the position (and all before it), or refuse."""
        cursor = self._cursor(after_position)
        if cursor is None or await self._log_reached(cursor, 0):
            return
        await self._issued(cursor)
        if not await self._log_reached(cursor, self._wait):
            raise _not_yet("this database has not replayed that position yet")

    async def _issued(self, cursor: Cursor) -> None:
        if self._primary is not None:
            await self._primary.issued(cursor)

    async def _log_reached(self, cursor: Cursor, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while (await self._store.horizon()).transaction_id <= cursor.transaction_id:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(LOG_POLL)
        return True


def _not_yet(detail: str) -> Exception:
    return problem(
        503,
        f"{detail}; retry shortly",
        kind="not-yet-consistent",
        headers={"Retry-After": "1"},
    )
