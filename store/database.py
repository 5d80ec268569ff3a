"""Connections to PostgreSQL: URL spellings and the asyncpg pool every adapter shares."""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import asyncpg

Pool = asyncpg.Pool
"""The asyncpg pool, as handlers and adapters name it."""

READ_URL_ENV = "ENTENTE_READ_DATABASE_URL"
"""A streaming replica for the reads that may be stale (docs/SCALING.md); a least-privilege
login like the serving URL. Unset: every read goes to the primary."""

IDLE_IN_TRANSACTION_TIMEOUT = "30s"
"""An idle transaction holds back the global-order horizon for every reader; cap it."""

SESSION_SETTINGS = {
    "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT,
    "application_name": "entente",
}


def asyncpg_dsn(url: str) -> str:
    """Accept SQLAlchemy-style URLs (postgresql+asyncpg://) wherever a DSN is expected."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def sqlalchemy_url(url: str) -> str:
    """The same database, spelled for SQLAlchemy's asyncpg dialect."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+asyncpg://", url)


def with_database(url: str, database: str) -> str:
    """Point a URL at another database on the same server, keeping host and options."""
    match = re.match(r"^(?P<head>[^/]*//[^/?]*)(?:/[^?]*)?(?P<query>\?.*)?$", url)
    if match is None:
        raise ValueError(f"not a PostgreSQL URL: {url!r}")
    return f"{match['head']}/{database}{match['query'] or ''}"


async def keep_session(connection: Any) -> None:
    """Hand a released connection back as it is, without asyncpg's reset round trip.

    asyncpg still rolls back a transaction left open and drops listeners. Its default
    reset (`RESET ALL; UNLISTEN *; CLOSE ALL; pg_advisory_unlock_all()`) would cost one
    more round trip after every query, while no code of ours leaves session state on a
    pooled connection: session advisory locks and LISTEN get connections of their own,
    settings are set per transaction (SET LOCAL) or at connect (SESSION_SETTINGS).
    tests/api/test_pooled_sessions.py holds the service to that.
    """


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> Any:
    """A pool whose sessions cannot sit idle inside a transaction for long.

    Its connections must not carry session state from one user to the next (see
    `keep_session`): take a connection of your own for anything session-scoped.
    """
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        server_settings=SESSION_SETTINGS,
        reset=keep_session,
        **kwargs,
    )


HOLD_IDLE = 0.05
"""Seconds a held connection may sit unused before it goes back to the pool: long enough
to bridge the gap between one append and the next of a busy writer, short enough that a
pool closing (which waits for every connection) or another user of the pool barely
notices it."""


class HeldConnections:
    """Up to `keep` connections of an asyncpg pool, held by one user between its queries.

    Every pooled query pays an acquire and a release, and asyncpg's `Pool.release` wraps
    each release in `asyncio.shield` (a task of its own): for a single-event append that
    was a seventh of the client's CPU. The write path keeps its connections instead, and
    gives them back when idle for HOLD_IDLE, on `release_all`, or at once when a query
    failed for another reason than the server refusing it (a lost connection, a
    cancellation, a timeout): the pool then resets or replaces it, and the next query
    takes a healthy one, so an outage heals exactly as it does for pooled queries.
    """

    def __init__(self, pool: Any, keep: int) -> None:
        self._pool = pool
        self._keep = keep
        self._free: list[Any] = []
        self._last_use = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._returning: set[asyncio.Task[None]] = set()

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        """One query's first row, on a held connection (taken from the pool if none is free)."""
        return await self._on_held("fetchrow", sql, args)

    async def execute(self, sql: str, *args: Any) -> Any:
        """One statement, on a held connection (taken from the pool if none is free)."""
        return await self._on_held("execute", sql, args)

    async def _on_held(self, method: str, sql: str, args: tuple[Any, ...]) -> Any:
        connection = await self._take()
        try:
            row = await getattr(connection, method)(sql, *args)
        except asyncpg.PostgresError:
            await self._put_back(connection)  # a refusal: the session is as it was
            raise
        except BaseException:
            await self._give_back(connection)
            raise
        await self._put_back(connection)
        return row

    def pending(self) -> set[asyncio.Task[None]]:
        """Connections on their way back to the pool."""
        return {task for task in self._returning if not task.done()}

    def release_all(self) -> None:
        """Give every idle held connection back to the pool now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        free, self._free = self._free, []
        for connection in free:
            task = asyncio.get_running_loop().create_task(self._give_back(connection))
            self._returning.add(task)
            task.add_done_callback(self._returning.discard)

    async def _take(self) -> Any:
        while self._free:
            connection = self._free.pop()
            if not connection.is_closed():
                return connection
            await self._give_back(connection)  # lost while idle: the pool replaces it
        return await self._pool.acquire()

    async def _put_back(self, connection: Any) -> None:
        if len(self._free) >= self._keep or connection.is_closed():
            await self._give_back(connection)
            return
        self._free.append(connection)
        loop = asyncio.get_running_loop()
        self._last_use = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(self._last_use + HOLD_IDLE, self._idle_check)

    async def _give_back(self, connection: Any) -> None:
        """Release to the pool. A connection lost or a pool closed meanwhile is the pool's
        business (it terminates the connection and opens another on the next acquire):
        nothing for the caller, and no unretrieved error in a background task."""
        with contextlib.suppress(Exception):
            await self._pool.release(connection)

    def _idle_check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_use >= HOLD_IDLE:
            self.release_all()
        elif self._free:
            self._timer = loop.call_at(self._last_use + HOLD_IDLE, self._idle_check)


class Unheld:
    """The same calls on anything with its own `fetchrow` (a connection, a test double):
    nothing to hold."""

    def __init__(self, target: Any) -> None:
        self.fetchrow = target.fetchrow
        self.execute = target.execute

    def pending(self) -> set[asyncio.Task[None]]:
        """Nothing is ever on its way back."""
        return set()

    def release_all(self) -> None:
        """Nothing is held."""


def held_connections(pool: Any, keep: int) -> HeldConnections | Unheld:
    """Held connections of an asyncpg pool; anything else is used as it is."""
    return HeldConnections(pool, keep) if isinstance(pool, asyncpg.Pool) else Unheld(pool)
