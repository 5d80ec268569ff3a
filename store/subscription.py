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

from store.availability import database_unavailable
from store.database import asyncpg_dsn
from store.event_store import NOTIFY_CHANNEL, EventStore
from store.records import Cursor

POLL_INTERVAL = 0.25
RELISTEN_INTERVAL = 1.0


class Subscription:
    """One LISTEN connection that wakes any number of waiters."""

    def __init__(self, store: EventStore, url: str, poll_interval: float = POLL_INTERVAL) -> None:
        self._store = store
        self._url = url
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._connection: Any | None = None
        self._listen_tried_at = 0.0

    async def __aenter__(self) -> Subscription:
        await self._listen()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close()

    async def _listen(self) -> None:
        self._listen_tried_at = time.monotonic()
        try:
            self._connection = await asyncpg.connect(asyncpg_dsn(self._url))
            await self._connection.add_listener(NOTIFY_CHANNEL, self._notified)
        except Exception as error:
            await self._close()  # polling alone still delivers, only later
            if not database_unavailable(error):
                raise

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close(timeout=2)
            except Exception:  # already dead: nothing to say goodbye to
                connection.terminate()

    async def _keep_listening(self) -> None:
        """LISTEN again when the connection was lost (a database restart): at most once
        per RELISTEN_INTERVAL, polling covers the gap."""
        if self._connection is not None and not self._connection.is_closed():
            return
        if time.monotonic() - self._listen_tried_at >= RELISTEN_INTERVAL:
            await self._close()
            await self._listen()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def wait_for_new(self, after: Cursor, timeout: float) -> bool:
        """Return True as soon as an event after `after` is readable, False on timeout."""
        await self._keep_listening()
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
