"""Every route by every role: the allowed status or 403; only health and docs need no key."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler

from api.app import create_app
from api.auth import PERMISSIONS, PUBLIC
from tests.api.conftest import auth

ROLES = ("reader", "writer", "auditor", "admin", None)
_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
UNKNOWN = uuid.UUID("00000000-0000-4000-8000-00000000dead")


def _fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "uuid":
            return str(UNKNOWN)
        if name == "pair":
            return "KZ-US"
        return "no-such-thing"

    return _PARAM.sub(value, path)


def routes_of(app: Litestar) -> list[tuple[str, str, str, str]]:
    """(method, path template, concrete path, permission) for every HTTP route handler."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            permission = handler.opt.get("permission", PUBLIC)
            for method in sorted(handler.http_methods):
                if method in {"HEAD", "OPTIONS"}:
                    continue
                found.append((method, route.path, _fill(route.path), permission))
    return sorted(found)


ROUTES = routes_of(create_app("postgresql://unused/unused"))


def test_the_matrix_is_not_empty() -> None:
    permissions = {p for *_, p in ROUTES}
    assert permissions == {"read", "write", "audit", "admin", "feed", "subscribe", PUBLIC}
    assert len([r for r in ROUTES if r[3] == "write"]) == 41
    public = {path for _, path, _, p in ROUTES if p == PUBLIC}
    assert all(path.startswith(("/health", "/docs", "/metrics")) for path in public), public


@pytest.mark.parametrize(
    ("method", "template", "path", "permission"), ROUTES, ids=[f"{r[0]} {r[1]}" for r in ROUTES]
)
async def test_route_by_role(
    client: Any, tokens: dict[str, str], method: str, template: str, path: str, permission: str
) -> None:
    for role in ROLES:
        headers = auth(tokens[role]) if role else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if method in {"POST", "PUT", "PATCH"}:
            kwargs["json"] = {}
        response = await client.request(method, path, **kwargs)
        status = response.status_code
        assert status < 500, (role, response.text)
        if permission == PUBLIC:
            assert status not in {401, 403}, (role, response.text)
        elif role is None:
            assert status == 401, response.text
        elif role in PERMISSIONS[permission]:
            assert status not in {401, 403}, (role, response.text)
        else:
            assert status == 403, (role, response.text)
            problem = response.json()
            assert problem["type"] == "urn:entente:problem:forbidden"
        if status >= 400 and not template.startswith("/docs"):
            assert response.headers["content-type"].startswith("application/problem+json"), (
                role,
                status,
            )


async def test_the_all_roles_key_reaches_every_route(client, tokens):
    for method, _, path, _ in ROUTES:
        kwargs: dict[str, Any] = {"headers": auth(tokens["all"])}
        if method == "POST":
            kwargs["json"] = {}
        response = await client.request(method, path, **kwargs)
        assert response.status_code not in {401, 403, 500}, (method, path, response.text)
