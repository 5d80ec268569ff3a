"""Bearer API keys and the role each route demands.

Roles are additive and narrow: readers read the register, writers change it (and read it,
since a change needs the version it applies to), auditors read history and verification,
admins manage keys. Every route names one permission; only health and docs name none.

A key is checked against the table at most once per ENTENTE_KEY_CACHE_SECONDS (default 5)
in each process (store/api_keys.py KeyCache): a key revoked elsewhere is refused here
within that bound.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.dependencies import guard_pool
from api.problems import problem
from reporting.disclosure import sees_audit
from store.api_keys import ApiKey, authenticate
from store.calendar_tokens import authenticate_token

PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"reader", "writer", "auditor"}),
    "write": frozenset({"writer"}),
    "audit": frozenset({"auditor"}),
    "admin": frozenset({"admin"}),
    "feed": frozenset({"reader", "writer", "auditor"}),
    "subscribe": frozenset({"reader", "writer", "auditor", "admin"}),
}
"""`feed` is `read` for the calendar feed, which also opens with a calendar token in
`?token=` (its clients can only put a secret in the URL); `subscribe` is managing one's
own calendar tokens (admins manage everyone's)."""
PUBLIC = "public"
FEED_TOKEN = "token"  # noqa: S105 -- the name of the feed's query parameter, not a secret
KEY_IN_URL = "key"


async def require_permission(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: authenticate the bearer key and check it grants the route's permission."""
    permission = handler.opt.get("permission", PUBLIC)
    if permission == PUBLIC:
        return
    if permission == "feed" and await _feed_token(connection):
        return
    token = _bearer(connection)
    key = await authenticate(guard_pool(connection), token) if token else None
    if key is None:
        raise problem(401, "send a live API key as 'Authorization: Bearer <key>'")
    if not PERMISSIONS[permission] & set(key.roles):
        raise problem(
            403, f"key {key.name!r} ({', '.join(key.roles)}) lacks the {permission!r} permission"
        )
    connection.scope.setdefault("state", {})["api_key"] = key


def _bearer(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def still_permitted(
    connection: ASGIConnection[Any, Any, Any, Any], permission: str
) -> Callable[[], Awaitable[bool]]:
    """For a response that outlives its request (a live stream): whether the key that
    opened it is still live and still grants `permission`, asked again as often as the
    caller likes (a revocation shows within the key cache's bound)."""
    pool, token = guard_pool(connection), _bearer(connection)

    async def permitted() -> bool:
        key = await authenticate(pool, token) if token else None
        return key is not None and bool(PERMISSIONS[permission] & set(key.roles))

    return permitted


async def _feed_token(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether a live calendar token in `?token=` opens the feed (put in scope state).

    An API key is never taken from a URL, whatever its role: URLs are logged and shared,
    and the key would open far more than a feed."""
    query = connection.query_params
    if KEY_IN_URL in query:
        raise problem(
            401,
            "an API key never goes in a URL: send it as 'Authorization: Bearer <key>', or "
            "subscribe with a calendar token (POST /calendar/tokens) as ?token=",
        )
    if FEED_TOKEN not in query:
        return False
    found = await authenticate_token(guard_pool(connection), query.get(FEED_TOKEN, ""))
    if found is None:
        raise problem(401, "send a live calendar token as ?token= (POST /calendar/tokens)")
    connection.scope.setdefault("state", {})["calendar_token"] = found
    return True


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The key the before_request hook authenticated for this request (api/request_checks.py)."""
    key: ApiKey = connection.scope["state"]["api_key"]
    return key


def sees_audit_trail(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether this request's key may see audit metadata (reporting/disclosure.py)."""
    key = connection.scope.get("state", {}).get("api_key")
    return key is not None and sees_audit(key.roles)
