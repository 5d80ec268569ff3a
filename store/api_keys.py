"""API keys: generated once, shown once, stored only as a hash.

A key reads `ent_<key_id>_<secret>`; the key id finds the row, the secret is compared by
SHA-256 in constant time. Secrets are 256 random bits, so a fast hash is enough: there is
no low-entropy password for a slow hash to protect.

A key found live is remembered by the process for at most ENTENTE_KEY_CACHE_SECONDS
(default 5; 0 turns the cache off), so a busy API does not read the key table on every
request: a revocation made in another process (the CLI, another API process) is
honoured by this one within that bound, one made in this process at once. Only the
SHA-256 of the secret is kept, as in the table, and refusals are never remembered.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
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


def secret_hash(secret: str) -> bytes:
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
            secret_hash(secret),
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


async def is_live_key(pool: Any, name: str) -> bool:
    """Whether a key of that name exists and is not revoked."""
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM access.api_keys WHERE name = $1 AND revoked_at IS NULL)",
            name,
        )
    )


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
        revoked = bool(await connection.fetchval("SELECT access.revoke_key($1, $2)", name, actor))
    KEYS.forget(name)  # after the commit; a lookup that raced it keeps its own deadline
    return revoked


CACHE_SECONDS_ENV = "ENTENTE_KEY_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 5.0
CACHE_ENTRIES = 1024
"""Keys remembered at once; past that the oldest entry goes (a refill is one lookup)."""


class KeyCache:
    """Keys found live lately, by key id, each with the SHA-256 of its secret and the
    moment it must be looked up again.

    An entry's deadline counts from before the lookup that found the key live, so no
    answer outlives a revocation by more than `seconds`, however slow that lookup was.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._entries: dict[str, tuple[bytes, ApiKey, float]] = {}

    @classmethod
    def from_env(cls) -> KeyCache:
        """The bound ENTENTE_KEY_CACHE_SECONDS sets (default 5 s; 0 or less: no cache)."""
        return cls(float(os.environ.get(CACHE_SECONDS_ENV, DEFAULT_CACHE_SECONDS)))

    def now(self) -> float:
        """The cache's clock (monotonic), read before a lookup to date its answer."""
        return self._clock()

    def get(self, key_id: str, secret_hash: bytes) -> ApiKey | None:
        """The key, while its entry is fresh and the secret matches; else None."""
        entry = self._entries.get(key_id)
        if entry is None:
            return None
        stored, key, deadline = entry
        if self._clock() >= deadline:
            del self._entries[key_id]
            return None
        return key if hmac.compare_digest(stored, secret_hash) else None

    def put(self, secret_hash: bytes, key: ApiKey, looked_up_at: float) -> None:
        """Remember a key found live by a lookup that started at `looked_up_at`."""
        if self.seconds <= 0:
            return
        if len(self._entries) >= CACHE_ENTRIES and key.key_id not in self._entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key.key_id] = (secret_hash, key, looked_up_at + self.seconds)

    def forget(self, name: str | None = None) -> None:
        """Drop the key called `name` (every key when None): it was revoked here."""
        for key_id, (_, key, _) in list(self._entries.items()):
            if name is None or key.name == name:
                del self._entries[key_id]


KEYS = KeyCache.from_env()
"""This process's cache; revoke_key empties the revoked key's entry at once."""


async def authenticate(pool: Any, token: str, cache: KeyCache = KEYS) -> ApiKey | None:
    """The live key a bearer token belongs to, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "ent" or len(token) > 200 or "\x00" in token:
        return None
    hashed = secret_hash(parts[2])
    cached = cache.get(parts[1], hashed)
    if cached is not None:
        return cached
    looked_up_at = cache.now()
    row = await pool.fetchrow(
        "SELECT name, key_id, roles, created_at, revoked_at, secret_hash FROM access.api_keys"
        " WHERE key_id = $1 AND revoked_at IS NULL",
        parts[1],
    )
    if row is None or not hmac.compare_digest(bytes(row["secret_hash"]), hashed):
        return None
    key = ApiKey(**{k: row[k] for k in ("name", "key_id", "roles", "created_at", "revoked_at")})
    cache.put(hashed, key, looked_up_at)
    return key
