"""Read-your-writes: a query may name the position its own write produced.

Commands answer with `X-Position`; a query that sends it back (`?after_position=` or the
`X-After-Position` header) waits up to READ_YOUR_WRITES_WAIT seconds for the read models
to apply it, then answers, or says 503 with Retry-After that they have not yet.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from api.problems import problem
from projections.registry import NAMES
from projections.status import wait_until_reached
from store.errors import InvalidCursor
from store.records import Cursor

READ_YOUR_WRITES_WAIT = 5.0


async def wait_for_position(request: Request[Any, Any, Any], after_position: str | None) -> None:
    """Block until the read models have reached the caller's write, or refuse with 503."""
    token = after_position or request.headers.get("x-after-position")
    if not token:
        return
    try:
        cursor = Cursor.decode(token)
    except InvalidCursor:
        raise problem(400, f"not a position token: {token[:40]!r}", kind="invalid-cursor") from None
    wait = getattr(request.app.state, "read_your_writes_wait", READ_YOUR_WRITES_WAIT)
    if not await wait_until_reached(request.app.state.pool, cursor, NAMES, wait):
        raise problem(
            503,
            "the read models have not reached that position yet; retry shortly",
            kind="not-yet-consistent",
            headers={"Retry-After": "1"},
        )
