"""API keys: generated once, shown once, stored only as a hash.

A key reads `ent_<key_id>_<secret>`; the key id finds the row, the secret is compared by
SHA-256 in constant time. Secrets are 256 random bits, so a fast hash is enough: there is
no low-entropy password for a slow hash to protect.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

import msgspec

ROLES = ("reader", "writer", "auditor", "admin")


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key as listed: never its secret."""

    name: str
    key_id: str
    roles: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


class KeyExists(Exception):
    """A key with that name exists already."""


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_key(
    pool: Any, name: str, roles: list[str], *, actor: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns it with the token, which is never retrievable again.

    Through access.create_key (SECURITY DEFINER): the service's role may not insert keys
    itself, and the function records `actor` (None: the database role that asked).
    """
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    try:
        row = await pool.fetchrow(
            "SELECT name, key_id, roles, created_at, revoked_at"
            " FROM access.create_key($1, $2, $3, $4, $5)",
            name,
            key_id,
            _hash(secret),
            sorted(set(roles)),
            actor,
        )
    except Exception as error:
        if getattr(error, "sqlstate", None) == "23505":
            raise KeyExists(name) from None
        raise
    return ApiKey(**dict(row)), f"ent_{key_id}_{secret}"


async def list_keys(pool: Any) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    rows = await pool.fetch(
        "SELECT name, key_id, roles, created_at, revoked_at FROM access.api_keys"
        " ORDER BY created_at, name"
    )
    return [ApiKey(**dict(row)) for row in rows]


class LastAdminKey(Exception):
    """Revoking this key would leave no live admin key, and with none nobody could create
    or revoke keys again over the API."""


ADMIN_KEYS_LOCK = 0x656E_7465_6E74_6501
"""Transaction-level advisory lock taken around every revocation, so that two admins
revoking each other's keys at once cannot both pass the last-admin check."""


async def revoke_key(pool: Any, name: str, *, actor: str | None = None) -> bool:
    """Revoke a key by name; False when no live key has that name; LastAdminKey (and
    nothing revoked) when it is the last live key with the admin role.

    The write goes through access.revoke_key (SECURITY DEFINER), which records `actor` as
    revoked_by; the serving role cannot UPDATE the table itself.
    """
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", ADMIN_KEYS_LOCK)
        roles = await connection.fetchval(
            "SELECT roles FROM access.api_keys WHERE name = $1 AND revoked_at IS NULL", name
        )
        if roles is None:
            return False
        other_admins = await connection.fetchval(
            "SELECT count(*) FROM access.api_keys"
            " WHERE revoked_at IS NULL AND 'admin' = ANY(roles) AND name <> $1",
            name,
        )
        if "admin" in roles and not other_admins:
            raise LastAdminKey(name)
        return bool(await connection.fetchval("SELECT access.revoke_key($1, $2)", name, actor))


async def authenticate(pool: Any, token: str) -> ApiKey | None:
    """The live key a bearer token belongs to, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ent" or len(token) > 200 or "\x00" in token:
        return None
    row = await pool.fetchrow(
        "SELECT name, key_id, roles, created_at, revoked_at, secret_hash FROM access.api_keys"
        " WHERE key_id = $1 AND revoked_at IS NULL",
        parts[1],
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), _hash(parts[2])):
        return None
    return ApiKey(**{k: row[k] for k in ("name", "key_id", "roles", "created_at", "revoked_at")})
