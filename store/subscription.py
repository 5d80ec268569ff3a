"""Waking readers when new events may be readable.

NOTIFY is only a hint: a notification can be lost (a dropped connection, a reader that
started listening late) and an event can become readable without one (the horizon moves
when an unrelated transaction ends). So every wait is also a bounded poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncpg

from store.database import asyncpg_dsn
from store.event_store import NOTIFY_CHANNEL, EventStore
from store.records import Cursor

POLL_INTERVAL = 0.25


class Subscription:
    """One LISTEN connection that wakes any number of waiters."""

    def __init__(self, store: EventStore, url: str, poll_interval: float = POLL_INTERVAL) -> None:
        self._store = store
        self._url = url
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._connection: Any | None = None

    async def __aenter__(self) -> Subscription:
        try:
            self._connection = await asyncpg.connect(asyncpg_dsn(self._url))
            await self._connection.add_listener(NOTIFY_CHANNEL, self._notified)
        except (OSError, asyncpg.PostgresError):
            self._connection = None  # polling alone still delivers, only later
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._connection is not None:
            await self._connection.close()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def wait_for_new(self, after: Cursor, timeout: float) -> bool:
        """Return True as soon as an event after `after` is readable, False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            self._wake.clear()
            if await self._store.has_new(after):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(self._poll_interval, remaining))


async def wait_for_new(store: EventStore, url: str, after: Cursor, timeout: float) -> bool:
    """One-off wait; long-lived readers should keep a Subscription open instead."""
    async with Subscription(store, url) as subscription:
        return await subscription.wait_for_new(after, timeout)
