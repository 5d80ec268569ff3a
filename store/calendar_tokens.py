"""Calendar feed tokens: what a calendar app puts in the URL it polls, instead of a key.

A token reads `cal_<token_id>_<secret>` and opens `/calendar.ics` only (optionally
narrowed to one party): it cannot read the register, so a URL that leaks into a log, a
shared calendar or a browser history gives away one feed, and revoking the token ends
it. Stored like API keys: the token id finds the row, the secret is compared by its
SHA-256 (store/api_keys.py's hash) in constant time, and the token is shown only once.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any

import msgspec

from store.api_keys import secret_hash

PREFIX = "cal"
COLUMNS = "token_id, name, owner, party, created_at, revoked_at"


class CalendarToken(msgspec.Struct, frozen=True, kw_only=True):
    """A feed token as listed: never its secret. `owner` is the key that made it."""

    token_id: str
    name: str
    owner: str
    party: str | None
    created_at: datetime
    revoked_at: datetime | None = None


async def create_token(
    pool: Any, name: str, owner: str, party: str | None = None
) -> tuple[CalendarToken, str]:
    """A new token for the feed (narrowed to `party` if given), with its secret, once."""
    token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    row = await pool.fetchrow(
        "INSERT INTO access.calendar_tokens (token_id, secret_hash, name, owner, party)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}",
        token_id,
        secret_hash(secret),
        name,
        owner,
        party,
    )
    return CalendarToken(**dict(row)), f"{PREFIX}_{token_id}_{secret}"


async def list_tokens(pool: Any, owner: str | None = None) -> list[CalendarToken]:
    """Tokens made by `owner` (every token when None), revoked ones included, oldest first."""
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM access.calendar_tokens"
        " WHERE $1::text IS NULL OR owner = $1 ORDER BY created_at, token_id",
        owner,
    )
    return [CalendarToken(**dict(row)) for row in rows]


async def revoke_token(pool: Any, token_id: str, owner: str | None = None) -> bool:
    """Revoke a live token (only one of `owner`'s when given); False when there is none."""
    status = await pool.execute(
        "UPDATE access.calendar_tokens SET revoked_at = now()"
        " WHERE token_id = $1 AND revoked_at IS NULL AND ($2::text IS NULL OR owner = $2)",
        token_id,
        owner,
    )
    return bool(status.endswith(" 1"))


LIVE_TOKEN_SQL = f"""SELECT {COLUMNS}, secret_hash FROM access.calendar_tokens AS t
WHERE token_id = $1 AND revoked_at IS NULL
AND NOT EXISTS (SELECT 1 FROM access.api_keys AS k WHERE k.name = t.owner
                AND (k.revoked_at IS NOT NULL
                     OR NOT k.roles && ARRAY['reader', 'writer', 'auditor']))"""
"""A token is live while it is not revoked and, when an API key made it, while that key is
live and may read: a token never opens more, nor for longer, than the key that made it
(a token the command line made for an owner that names no key lives on its own)."""


async def authenticate_token(pool: Any, token: str) -> CalendarToken | None:
    """The live feed token `token` is, or None (an API key is never one)."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(token) > 200 or "\x00" in token:
        return None
    row = await pool.fetchrow(LIVE_TOKEN_SQL, parts[1])
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), secret_hash(parts[2])):
        return None
    return CalendarToken(**{k: row[k] for k in COLUMNS.split(", ")})
