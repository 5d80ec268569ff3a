"""Audit: the raw history of any stream, the global change feed, and chain verification.

All three read the read database (a streaming replica when one is configured): a page
there may be behind the primary, never wrong. A caller that sends the `X-After-Position`
header of its own write gets that write or a 503 with Retry-After (api/freshness.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, cast

from litestar import Request, Response, get
from litestar.datastructures import ResponseHeader
from litestar.params import Parameter

from api.auth import sees_audit_trail
from api.event_pages import PAGE_LIMIT, EventPage, page_of
from api.freshness import ReadYourWrites
from api.parameters import moment, text
from api.problems import problem, problem_responses
from delivery.envelope import BATCH_MEDIA_TYPE, batch_body, source
from store.database import Pool
from store.errors import InvalidCursor
from store.event_store import EventStore
from store.records import START, Cursor
from store.verification import VerificationReport, verify

TAG = "audit"


MAX_VERSION = 2**53
"""Far beyond any stream's length, and exact as a JSON number in every client."""
Limit = Annotated[int, Parameter(ge=1, le=1000)]
AfterVersion = Annotated[int, Parameter(ge=0, le=MAX_VERSION)]


def _after_version(cursor: str | None, after_version: int) -> int:
    """This route's cursor is a version: digits, at most MAX_VERSION, and not at odds with
    an `after_version` given beside it."""
    if cursor is None:
        return after_version
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 16) or (
        int(cursor) > MAX_VERSION
    ):
        raise InvalidCursor(f"not a cursor of this stream's pages: {cursor[:40]!r}")
    if after_version not in (0, int(cursor)):
        raise InvalidCursor("give either cursor or after_version, or the same version in both")
    return int(cursor)


@get(
    "/streams/{stream_id:str}/events",
    summary="A stream's events with full metadata",
    tags=[TAG],
    opt={"permission": "audit"},
    responses=problem_responses(400, 401, 403),
)
async def stream_events(
    read_store: EventStore,
    read_your_writes: ReadYourWrites,
    stream_id: str,
    after_version: AfterVersion = 0,
    limit: Limit = PAGE_LIMIT,
    recorded_until: dt.datetime | None = None,
    cursor: Annotated[
        str | None,
        Parameter(description="the previous page's `next_cursor`; the same as `after_version`"),
    ] = None,
) -> EventPage:
    """Version order; `next_cursor` is the last version returned, to pass back as `cursor`
    (or `after_version`), as every other page's cursor is passed back."""
    text(stream_id, "stream_id")
    after_version = _after_version(cursor, after_version)
    await read_your_writes.log(None)
    events = await read_store.read_stream(
        stream_id,
        from_version=after_version + 1,
        to_version=after_version + limit,
        recorded_until=moment(recorded_until, "recorded_until"),
    )
    last = events[-1].version if events else after_version
    return page_of(events, str(last), limit)


def asks_for(accept: str, media_type: str) -> bool:
    """Whether an Accept header names `media_type` with a weight above 0 (RFC 9110 12.5.1:
    `;q=0` means "not this one"); only an explicit mention chooses a second form."""
    for item in accept.split(","):
        media, *parameters = (part.strip() for part in item.split(";"))
        if media.lower() != media_type:
            continue
        weights = [p.split("=", 1)[1] for p in parameters if p.lower().startswith("q=")]
        try:
            return not weights or float(weights[0]) > 0
        except ValueError:
            return False
    return False


@get(
    "/events",
    summary="The change feed: every event in the safe global order",
    tags=[TAG],
    opt={"permission": "read", "also_answers": {BATCH_MEDIA_TYPE: "a JSON array of CloudEvents"}},
    response_headers=[
        ResponseHeader(
            name="X-Next-Cursor",
            description="With Accept: application/cloudevents-batch+json, the page's next_cursor",
            documentation_only=True,
        )
    ],
    responses=problem_responses(400, 401, 403),
)
async def change_feed(
    request: Request[Any, Any, Any],
    store: EventStore,
    read_store: EventStore,
    read_your_writes: ReadYourWrites,
    cursor: str | None = None,
    limit: Limit = PAGE_LIMIT,
    stream_prefix: str | None = None,
) -> Response[EventPage]:
    """Resumable: store `next_cursor` and pass it back; no event is ever skipped. Who made
    each change and through which request (actor, request ids, idempotency key) is shown
    to auditors only. With `Accept: application/cloudevents-batch+json`, the page is a
    JSON array of CloudEvents (as webhooks carry them, never with audit metadata) and
    `next_cursor` is in the `X-Next-Cursor` header."""
    await read_your_writes.log(None)
    after = Cursor.decode(cursor) if cursor else START
    page = await read_store.read_all(
        after, limit=limit, stream_prefix=text(stream_prefix, "stream_prefix") or None
    )
    if not page.events:  # where a made-up cursor beyond the head would land
        await store.issued(after)
    following = page.cursor.encode()
    if asks_for(request.headers.get("accept", ""), BATCH_MEDIA_TYPE):
        batch: Any = Response(
            batch_body(page.events, source()),
            media_type=BATCH_MEDIA_TYPE,
            headers={"X-Next-Cursor": following},
        )
        return cast(Response[EventPage], batch)
    audit = sees_audit_trail(request)
    return Response(page_of(page.events, following, limit, audit=audit, tailing=True))


@get(
    "/verify",
    summary="Recompute hash chains; names each stream's first broken link",
    tags=[TAG],
    opt={"permission": "audit"},
    responses=problem_responses(400, 401, 403, 404),
)
async def verify_chains(read_pool: Pool, stream_id: str | None = None) -> VerificationReport:
    """One stream, or every stream when stream_id is omitted; a stream that holds no event
    is a 404, not a clean report (a mistyped id must not read as "nothing broken")."""
    report = await verify(read_pool, text(stream_id, "stream_id"))
    if stream_id is not None and report.streams_checked == 0:
        raise problem(404, f"no stream {stream_id[:200]!r} in the log: nothing to verify")
    return report


routes = [stream_events, change_feed, verify_chains]
