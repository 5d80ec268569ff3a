"""Calendar feed tokens over HTTP: any key may make, list and revoke its own; admins all.

A reader subscribing a calendar app makes a token for itself rather than asking an
admin: the token opens less than the reader's key already does (one feed, read-only),
so letting readers make them gives nothing away, and keeps keys out of URLs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, post

from api.auth import caller
from api.parameters import whole
from api.problems import problem, problem_responses
from api.read_models import party_filter
from store.calendar_tokens import CalendarToken, create_token, list_tokens, revoke_token
from store.database import Pool

TAG = "exports"
SUBSCRIBE = {"permission": "subscribe"}
TOKEN_ID = re.compile(r"^[0-9a-f]{16}$")


class NewCalendarToken(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A token to make: a name to recognise it by, and optionally the one party it shows."""

    name: Annotated[
        str, msgspec.Meta(min_length=1, max_length=100, pattern=whole(r"^[^\x00-\x1f]+$"))
    ]
    party: Annotated[str, msgspec.Meta(pattern=whole(r"^[A-Za-z]{2}$"))] | None = None


class CreatedCalendarToken(msgspec.Struct, frozen=True, kw_only=True):
    """The token and, this once, its secret and the feed URL path to subscribe to."""

    calendar_token: CalendarToken
    token: str
    feed: str


def _owner_scope(request: Request[Any, Any, Any]) -> str | None:
    """Whose tokens this caller manages: its own, or everyone's (None) for an admin."""
    key = caller(request)
    return None if "admin" in key.roles else key.name


@post(
    "/calendar/tokens",
    summary="Make a calendar feed token",
    tags=[TAG],
    opt=SUBSCRIBE,
    status_code=201,
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def make_token(
    request: Request[Any, Any, Any], pool: Pool, data: NewCalendarToken
) -> CreatedCalendarToken:
    """Subscribe to `feed` (`/calendar.ics?token=…`); the secret is shown only now."""
    made, token = await create_token(
        pool, data.name, caller(request).name, party_filter(data.party)
    )
    return CreatedCalendarToken(
        calendar_token=made, token=token, feed=f"/calendar.ics?token={token}"
    )


@get(
    "/calendar/tokens",
    summary="List calendar feed tokens (never their secrets)",
    tags=[TAG],
    opt=SUBSCRIBE,
    responses=problem_responses(401, 403),
)
async def tokens(request: Request[Any, Any, Any], pool: Pool) -> list[CalendarToken]:
    """The caller's own tokens (an admin's: every token), revoked ones included."""
    return await list_tokens(pool, _owner_scope(request))


@delete(
    "/calendar/tokens/{token_id:str}",
    summary="Revoke a calendar feed token",
    tags=[TAG],
    opt=SUBSCRIBE,
    status_code=204,
    responses=problem_responses(400, 401, 403, 404),
)
async def revoke(request: Request[Any, Any, Any], pool: Pool, token_id: str) -> None:
    """The caller's own token (an admin: anyone's); the feed refuses it from now on."""
    if not (TOKEN_ID.match(token_id) and await revoke_token(pool, token_id, _owner_scope(request))):
        raise problem(404, f"no live calendar token {token_id[:64]!r} of yours")


routes = [make_token, tokens, revoke]
