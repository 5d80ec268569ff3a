"""The live change feed: GET /events/stream as Server-Sent Events.

The stream reads the same safe global order as GET /events (store/event_store.py), with
the same filter, so it never skips an event that commits late: it sends what follows
the cursor (or the `Last-Event-ID` a reconnecting client sends, which wins), then waits
for new events (the store's NOTIFY, with a bounded poll) and sends them as they become
readable. Each event's SSE `id` is the cursor after it, so a client that reconnects with
the last id it saw resumes exactly after that event: every event once, in order. A
comment line (`: heartbeat`) goes out when nothing else did for HEARTBEAT seconds, so
proxies keep the connection open and clients notice a dead one.

Streams end by themselves when the server shuts down (`close_streams`, called by
`entente serve` on SIGTERM/SIGINT before uvicorn waits for open connections): a client
sees the stream end and reconnects elsewhere with its Last-Event-ID.

The stream reads the read database (a streaming replica when one is configured); the
wake-up LISTENs on the primary and asks the replica whether anything new is readable
there, so a replay that lags only delays an event, by at most one poll after it lands.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Stream

from api.auth import sees_audit_trail, still_permitted
from api.dependencies import close_streams as close_streams  # `entente serve` calls it here
from api.parameters import text
from api.problems import problem_responses
from api.representation import event_view
from store.event_store import EventStore
from store.records import START, Cursor
from store.subscription import Subscription

TAG = "audit"
HEARTBEAT = float(os.environ.get("ENTENTE_SSE_HEARTBEAT_SECONDS", "15"))
PAGE = 500
CHECK_CLOSING = 0.5
"""At most this long between two looks at whether the server is shutting down."""
EVENT_STREAM = "text/event-stream"

_encode = msgspec.json.Encoder().encode


KEY_RECHECK = 1.0
"""Seconds between two looks at whether the stream's key is still live: a revoked key's
stream ends within this and the key cache's bound (ENTENTE_KEY_CACHE_SECONDS)."""


@dataclass(frozen=True)
class _Source:
    """Where a live stream reads, what wakes it, what ends it, and whether its key still
    opens it."""

    store: EventStore
    wake: Subscription
    closing: asyncio.Event
    permitted: Callable[[], Awaitable[bool]]

    async def open(self, last_checked: float) -> tuple[bool, float]:
        """(still open, when the key was last checked): ends on shutdown or revocation."""
        if self.closing.is_set():
            return False, last_checked
        if time.monotonic() - last_checked < KEY_RECHECK:
            return True, last_checked
        return await self.permitted(), time.monotonic()


async def _events(
    source: _Source, after: Cursor, stream_prefix: str | None, follow: bool, audit: bool
) -> AsyncIterator[bytes]:
    yield b"retry: 1000\n\n"
    sent_at = checked_at = time.monotonic()
    while True:
        is_open, checked_at = await source.open(checked_at)
        if not is_open:
            return
        page = await source.store.read_all(after, limit=PAGE, stream_prefix=stream_prefix)
        for event in page.events:
            view = _encode(event_view(event, audit=audit))
            yield b"id: " + event.cursor.encode().encode() + b"\ndata: " + view + b"\n\n"
        if page.events:
            sent_at = time.monotonic()
        after = page.cursor
        if len(page.events) == PAGE:
            continue
        if not follow:
            return
        while True:
            is_open, checked_at = await source.open(checked_at)
            if not is_open:
                return
            if await source.wake.wait_for_new(after, CHECK_CLOSING):
                break
            if time.monotonic() - sent_at >= HEARTBEAT:
                yield b": heartbeat\n\n"
                sent_at = time.monotonic()


@get(
    "/events/stream",
    summary="The change feed, live: Server-Sent Events in the safe global order",
    tags=[TAG],
    opt={"permission": "read"},
    media_type=EVENT_STREAM,
    responses=problem_responses(400, 401, 403),
)
async def event_stream(
    request: Request[Any, Any, Any],
    store: EventStore,
    read_store: EventStore,
    wake: Subscription,
    streams_closing: asyncio.Event,
    cursor: str | None = None,
    stream_prefix: str | None = None,
    follow: Annotated[
        bool, Parameter(description="false: end once caught up instead of waiting for more")
    ] = True,
    last_event_id: Annotated[
        str | None, Parameter(header="Last-Event-ID", description="resume after this id")
    ] = None,
) -> Stream:
    """Each event as `id: <cursor>` and `data: <the event as GET /events shows it>`; resume
    with `Last-Event-ID` (or `cursor`). Audit metadata is shown to auditors only."""
    resume = last_event_id or cursor
    after = await store.issued(Cursor.decode(resume)) if resume else START
    prefix = text(stream_prefix, "stream_prefix") or None
    return Stream(
        _events(
            _Source(read_store, wake, streams_closing, still_permitted(request, "read")),
            after,
            prefix,
            follow,
            sees_audit_trail(request),
        ),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


routes = [event_stream]
