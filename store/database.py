"""Connections to PostgreSQL: URL spellings and the asyncpg pool every adapter shares."""

from __future__ import annotations

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
