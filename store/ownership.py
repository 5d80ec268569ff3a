"""Ownership of named work by PostgreSQL session advisory locks, for background loops.

Several worker processes share the work (projections, subscriptions) by each taking
what no other holds: a key is owned while this process's lock connection holds the
session advisory lock (class, hashtext(key)). A process that dies loses its connection
and with it its locks, so the next one that asks takes the work over; a connection lost
here (the database restarted) is noticed, and ownership is taken afresh.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from store.database import asyncpg_dsn

log = logging.getLogger("entente.ownership")


class AdvisoryOwnership:
    """The keys of one lock class that this process owns, on one connection of its own."""

    def __init__(self, url: str, lock_class: int) -> None:
        self._url = url
        self.lock_class = lock_class
        self._connection: Any | None = None
        self.owned: set[str] = set()

    async def try_own(self, key: str) -> bool:
        """Take `key` if no other session holds it; True when this process does."""
        if self._connection is not None and self._connection.is_closed():
            log.warning("lost the lock connection (class %d); owning again", self.lock_class)
            self._connection = None
            self.owned.clear()
        if key in self.owned:
            return True
        if self._connection is None:
            self._connection = await asyncpg.connect(asyncpg_dsn(self._url))
        if await self._connection.fetchval(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", self.lock_class, key
        ):
            self.owned.add(key)
            log.info("owning %s (lock class %d)", key, self.lock_class)
        return key in self.owned

    async def release(self) -> None:
        """Give up every key (closing the lock connection releases its locks)."""
        if self._connection is not None:
            try:
                await self._connection.close(timeout=2)
            except Exception:  # a dead connection: the server released the locks with it
                self._connection.terminate()
            self._connection = None
        self.owned.clear()
