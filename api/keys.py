"""API key management (admin only). A key's secret is shown once, at creation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, delete, get, post
from litestar.params import Parameter

from api.auth import caller
from api.parameters import whole
from api.problems import problem, problem_responses
from store.api_keys import ApiKey, KeyExists, LastAdminKey, create_key, list_keys, revoke_key
from store.database import Pool

TAG = "keys"
Role = Literal["reader", "writer", "auditor", "admin"]


NAME_PATTERN = whole(r"^[A-Za-z0-9_.@-]{1,64}$")
KeyName = Annotated[str, Parameter(pattern=NAME_PATTERN, description="the key's name")]


class NewKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key to create."""

    name: Annotated[str, msgspec.Meta(pattern=NAME_PATTERN)]
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=4)]


class CreatedKey(msgspec.Struct, frozen=True, kw_only=True):
    """The key and, this once, its token."""

    key: ApiKey
    token: str


@post(
    "/keys",
    summary="Create an API key",
    tags=[TAG],
    opt={"permission": "admin"},
    status_code=201,
    responses=problem_responses(400, 401, 403, 409, 413, 422),
)
async def create(request: Request[Any, Any, Any], pool: Pool, data: NewKey) -> CreatedKey:
    """The token is returned once and stored only as a hash."""
    try:
        key, token = await create_key(pool, data.name, list(data.roles), actor=caller(request).name)
    except KeyExists:
        raise problem(409, f"a key named {data.name!r} exists", kind="already-exists") from None
    return CreatedKey(key=key, token=token)


@get(
    "/keys",
    summary="List API keys (never their secrets)",
    tags=[TAG],
    opt={"permission": "admin"},
    responses=problem_responses(401, 403),
)
async def index(pool: Pool) -> list[ApiKey]:
    """Revoked keys included, with when they were revoked."""
    return await list_keys(pool)


@delete(
    "/keys/{name:str}",
    summary="Revoke an API key",
    tags=[TAG],
    opt={"permission": "admin"},
    status_code=204,
    responses=problem_responses(400, 401, 403, 404, 409),
)
async def revoke(request: Request[Any, Any, Any], pool: Pool, name: KeyName) -> None:
    """Revocation takes effect at once in the API process that answers this, and within
    ENTENTE_KEY_CACHE_SECONDS (default 5 s) in any other. The last live admin
    key cannot be revoked (409): create another admin key first."""
    try:
        revoked = await revoke_key(pool, name, actor=caller(request).name)
    except LastAdminKey:
        raise problem(
            409, f"{name!r} is the last live admin key; create another first", kind="last-admin-key"
        ) from None
    if not revoked:
        raise problem(404, f"no live key named {name!r}")
    return None


routes = [create, index, revoke]
