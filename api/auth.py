"""Bearer API keys and the role each route demands.

Roles are additive and narrow: readers read the register, writers change it (and read it,
since a change needs the version it applies to), auditors read history and verification,
admins manage keys. Every route names one permission; only health and docs name none.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.problems import problem
from store.api_keys import ApiKey, authenticate

PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset({"reader", "writer", "auditor"}),
    "write": frozenset({"writer"}),
    "audit": frozenset({"auditor"}),
    "admin": frozenset({"admin"}),
    "feed": frozenset({"reader", "writer", "auditor"}),
}
"""`feed` is `read` for the calendar feed, whose clients can only pass the key as ?key=."""
PUBLIC = "public"


async def require_permission(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: authenticate the bearer key and check it grants the route's permission."""
    permission = handler.opt.get("permission", PUBLIC)
    if permission == PUBLIC:
        return
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header and permission == "feed":
        scheme, token = "bearer", connection.query_params.get("key", "")
    key = None
    if scheme.lower() == "bearer" and token:
        key = await authenticate(connection.app.state.pool, token.strip())
    if key is None:
        raise problem(401, "send a live API key as 'Authorization: Bearer <key>'")
    if not PERMISSIONS[permission] & set(key.roles):
        raise problem(
            403, f"key {key.name!r} ({', '.join(key.roles)}) lacks the {permission!r} permission"
        )
    connection.scope.setdefault("state", {})["api_key"] = key


def caller(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKey:
    """The key the guard authenticated for this request."""
    key: ApiKey = connection.scope["state"]["api_key"]
    return key
