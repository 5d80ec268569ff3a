"""Connections to PostgreSQL: URL spellings and the asyncpg pool every adapter shares."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

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


async def create_pool(url: str, *, min_size: int = 1, max_size: int = 10, **kwargs: Any) -> Any:
    """A pool whose sessions cannot sit idle inside a transaction for long."""
    return await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        server_settings=SESSION_SETTINGS,
        **kwargs,
    )
