"""Conditional GET: strong ETags, 304 Not Modified and a Cache-Control chosen per route.

A route opts in with `opt={"cache_control": …}` (the policies below). Its 200 answer is
held until complete; the ETag is the route's own when it sets one (a stream's version,
which If-Match takes back) or else a hash of the exact bytes sent, so equal ETags mean
byte-identical bodies (a strong validator, RFC 9110 §8.8.3) whoever asks: an auditor's
representation, with audit metadata, never shares an ETag with a reader's. A request
whose If-None-Match names the current ETag gets 304 with no body. Only small, bounded
answers opt in (states, single read-model items, the calendar feed); export files and
pages are not held.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.types import Message, Scope, Send

REVALIDATE = "private, no-cache"
"""State and read-model items: any cache must ask each time (a 304 is cheap); private
because what an answer holds depends on the caller's key."""

CALENDAR = "private, max-age=300"
"""The calendar feed: calendar clients poll; five minutes of staleness is harmless and
the token in its URL makes it private."""


def strong_etag(body: bytes) -> str:
    """A strong validator for exactly these bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 §13.1.2: `*`, or any listed tag equal by weak comparison."""
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == bare for t in if_none_match.split(","))


def policy_of(scope: Scope) -> str | None:
    """The Cache-Control policy of a GET or HEAD whose route opts in; None otherwise."""
    if scope.get("method") not in ("GET", "HEAD"):
        return None
    handler: Any = scope.get("route_handler")
    opt = getattr(handler, "opt", None) or {}
    policy = opt.get("cache_control")
    return policy if isinstance(policy, str) else None


def held(scope: Scope, policy: str, send: Send) -> Send:
    """A `send` that holds a 200 answer until complete, then answers it with its ETag and
    `policy` (or 304); any other status passes through (api/edge.py calls this)."""
    start: dict[str, Any] | None = None
    chunks: list[bytes] = []

    async def hold(event: Message) -> None:
        nonlocal start
        message: dict[str, Any] = dict(event)
        if message["type"] == "http.response.start":
            start = message
            if message["status"] != 200:
                await send(event)
            return
        if start is None or start["status"] != 200:
            await send(event)
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await _answer(scope, start, b"".join(chunks), policy, send)

    return hold


async def _answer(
    scope: Scope, start: dict[str, Any], body: bytes, policy: str, send: Send
) -> None:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"cache-control"]
    etag = next((v.decode("latin-1") for k, v in headers if k.lower() == b"etag"), None)
    if etag is None:
        etag = strong_etag(body)
        headers.append((b"etag", etag.encode()))
    headers += [(b"cache-control", policy.encode()), (b"vary", b"Authorization")]
    asked = next(
        (v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"if-none-match"), None
    )
    if asked is not None and _matches(asked, etag):
        kept = {b"etag", b"cache-control", b"vary", b"x-request-id", b"x-position"}
        not_modified = [(k, v) for k, v in headers if k.lower() in kept]
        await send({"type": "http.response.start", "status": 304, "headers": not_modified})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
