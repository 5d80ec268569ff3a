"""Webhook subscriptions in PostgreSQL: target, filters, secret, cursor, and delivery log.

The cursor is the subscription's place in the log's safe global order (the same cursor
GET /events hands out). The worker moves it only after the target answered 2xx, and only
if nobody moved it meanwhile (`advance` compares the old value): a replay or a change of
filters made while a batch was in flight wins over the worker's stale success.

The secret (`whsec_…`) is needed itself to sign (an HMAC), so unlike an API key it
cannot be kept as a hash: it is stored sealed with a key kept outside the database when
one is configured (store/sealing.py), else as issued. It is read back only to sign, and
served only once, in the answer to POST /subscriptions.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec

from store.records import Cursor
from store.sealing import key_from_env, seal, unseal

State = Literal["active", "paused", "failing"]
SECRET_PREFIX = "whsec_"  # noqa: S105 -- the prefix of every secret, not a secret

COLUMNS = """subscription_id, owner, target_url, stream_prefix, event_types, parties,
    cursor_transaction_id, cursor_position, state, failures, last_error, next_attempt_at,
    last_delivered_at, created_by, created_at, updated_at"""


class Filters(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Which events a subscription receives: all of them when every filter is null."""

    stream_prefix: str | None = None
    event_types: list[str] | None = None
    parties: list[str] | None = None


class WebhookSubscription(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription as stored, never with its secret."""

    subscription_id: uuid.UUID
    owner: str
    target_url: str
    filters: Filters
    cursor: Cursor
    state: State
    failures: int
    last_error: str | None
    next_attempt_at: datetime | None
    last_delivered_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime


class DeliveryAttempt(msgspec.Struct, frozen=True, kw_only=True):
    """One POST to the target: what was sent and how it went."""

    attempt_id: int
    webhook_id: str
    attempted_at: datetime
    event_count: int
    first_position: int
    last_position: int
    status_code: int | None
    latency_ms: float
    error: str | None
    delivered: bool


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _subscription(row: Any) -> WebhookSubscription:
    return WebhookSubscription(
        subscription_id=row["subscription_id"],
        owner=row["owner"],
        target_url=row["target_url"],
        filters=Filters(
            stream_prefix=row["stream_prefix"],
            event_types=row["event_types"],
            parties=row["parties"],
        ),
        cursor=Cursor(row["cursor_transaction_id"], row["cursor_position"]),
        state=row["state"],
        failures=row["failures"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        last_delivered_at=row["last_delivered_at"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def create_subscription(
    pool: Any,
    *,
    owner: str,
    target_url: str,
    filters: Filters,
    start: Cursor,
    created_by: str,
) -> tuple[WebhookSubscription, str]:
    """A new active subscription delivering what follows `start`, and its secret, once."""
    secret, subscription_id = new_secret(), uuid.uuid4()
    row = await pool.fetchrow(
        "INSERT INTO webhooks.subscriptions (subscription_id, owner, target_url, secret,"
        " stream_prefix, event_types, parties, cursor_transaction_id, cursor_position,"
        f" created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}",
        subscription_id,
        owner,
        target_url,
        seal(secret, subscription_id, key_from_env()),
        filters.stream_prefix,
        filters.event_types,
        filters.parties,
        start.transaction_id,
        start.position,
        created_by,
    )
    return _subscription(row), secret


async def list_subscriptions(pool: Any, owner: str | None = None) -> list[WebhookSubscription]:
    """`owner`'s subscriptions (every one when None), oldest first."""
    rows = await pool.fetch(
        f"SELECT {COLUMNS} FROM webhooks.subscriptions"
        " WHERE $1::text IS NULL OR owner = $1 ORDER BY created_at, subscription_id",
        owner,
    )
    return [_subscription(row) for row in rows]


async def get_subscription(
    pool: Any, subscription_id: uuid.UUID, owner: str | None = None
) -> WebhookSubscription | None:
    """One subscription (only if `owner`'s, when given)."""
    row = await pool.fetchrow(
        f"SELECT {COLUMNS} FROM webhooks.subscriptions"
        " WHERE subscription_id = $1 AND ($2::text IS NULL OR owner = $2)",
        subscription_id,
        owner,
    )
    return None if row is None else _subscription(row)


async def signing_secret(pool: Any, subscription_id: uuid.UUID) -> str | None:
    """The secret the worker signs with (never served after creation); None once the
    subscription is deleted, SecretUnavailable when it is sealed and cannot be opened."""
    stored: str | None = await pool.fetchval(
        "SELECT secret FROM webhooks.subscriptions WHERE subscription_id = $1", subscription_id
    )
    return None if stored is None else unseal(stored, subscription_id, key_from_env())


async def change_subscription(
    pool: Any,
    subscription_id: uuid.UUID,
    *,
    state: State | None = None,
    filters: Filters | None = None,
    cursor: Cursor | None = None,
) -> WebhookSubscription | None:
    """Pause, resume (which forgets past failures), change filters or move the cursor."""
    resume = state == "active"
    row = await pool.fetchrow(
        "UPDATE webhooks.subscriptions SET"
        " state = coalesce($2, state),"
        " failures = CASE WHEN $3 THEN 0 ELSE failures END,"
        " next_attempt_at = CASE WHEN $3 OR $8 THEN NULL ELSE next_attempt_at END,"
        " last_error = CASE WHEN $3 THEN NULL ELSE last_error END,"
        " stream_prefix = CASE WHEN $4 THEN $5 ELSE stream_prefix END,"
        " event_types = CASE WHEN $4 THEN $6 ELSE event_types END,"
        " parties = CASE WHEN $4 THEN $7 ELSE parties END,"
        " cursor_transaction_id = coalesce($9, cursor_transaction_id),"
        " cursor_position = coalesce($10, cursor_position),"
        " updated_at = now()"
        f" WHERE subscription_id = $1 RETURNING {COLUMNS}",
        subscription_id,
        state,
        resume,
        filters is not None,
        filters.stream_prefix if filters else None,
        filters.event_types if filters else None,
        filters.parties if filters else None,
        cursor is not None,
        cursor.transaction_id if cursor else None,
        cursor.position if cursor else None,
    )
    return None if row is None else _subscription(row)


async def delete_subscription(pool: Any, subscription_id: uuid.UUID) -> bool:
    """Delete a subscription and its delivery log; False when there was none."""
    status = await pool.execute(
        "DELETE FROM webhooks.subscriptions WHERE subscription_id = $1", subscription_id
    )
    return bool(status.endswith(" 1"))


async def active_subscription_ids(pool: Any) -> list[uuid.UUID]:
    """The subscriptions the worker should be delivering to."""
    rows = await pool.fetch(
        "SELECT subscription_id FROM webhooks.subscriptions WHERE state = 'active'"
    )
    return [row["subscription_id"] for row in rows]


async def advance(
    pool: Any, subscription_id: uuid.UUID, old: Cursor, new: Cursor, *, delivered: bool
) -> bool:
    """Move the cursor from `old` to `new` (and forget failures after a delivery); False
    when the cursor is no longer at `old` (replayed meanwhile): nothing changes then."""
    status = await pool.execute(
        "UPDATE webhooks.subscriptions SET cursor_transaction_id = $4, cursor_position = $5,"
        " failures = CASE WHEN $6 THEN 0 ELSE failures END,"
        " last_error = CASE WHEN $6 THEN NULL ELSE last_error END,"
        " next_attempt_at = CASE WHEN $6 THEN NULL ELSE next_attempt_at END,"
        " last_delivered_at = CASE WHEN $6 THEN now() ELSE last_delivered_at END"
        " WHERE subscription_id = $1 AND cursor_transaction_id = $2 AND cursor_position = $3",
        subscription_id,
        old.transaction_id,
        old.position,
        new.transaction_id,
        new.position,
        delivered,
    )
    return bool(status.endswith(" 1"))


async def record_failure(
    pool: Any,
    subscription_id: uuid.UUID,
    at: Cursor,
    error: str,
    retry_in: float,
    max_failures: int,
) -> WebhookSubscription | None:
    """Count a failed attempt at cursor `at`; the subscription turns `failing` (and is no
    longer delivered to until resumed) at `max_failures` consecutive failures."""
    row = await pool.fetchrow(
        "UPDATE webhooks.subscriptions SET failures = failures + 1, last_error = $4,"
        " next_attempt_at = now() + make_interval(secs => $5),"
        " state = CASE WHEN failures + 1 >= $6 THEN 'failing' ELSE state END,"
        " updated_at = CASE WHEN failures + 1 >= $6 THEN now() ELSE updated_at END"
        " WHERE subscription_id = $1 AND cursor_transaction_id = $2 AND cursor_position = $3"
        f" RETURNING {COLUMNS}",
        subscription_id,
        at.transaction_id,
        at.position,
        error[:1000],
        retry_in,
        max_failures,
    )
    return None if row is None else _subscription(row)


async def log_attempt(
    pool: Any,
    subscription_id: uuid.UUID,
    *,
    webhook_id: str,
    positions: Sequence[int],
    status_code: int | None,
    latency_ms: float,
    error: str | None,
    delivered: bool,
) -> None:
    """Append one attempt to the subscription's delivery log (none once it is deleted)."""
    await pool.execute(
        "INSERT INTO webhooks.deliveries (subscription_id, webhook_id, event_count,"
        " first_position, last_position, status_code, latency_ms, error, delivered)"
        " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 FROM webhooks.subscriptions"
        " WHERE subscription_id = $1 FOR KEY SHARE",
        subscription_id,
        webhook_id,
        len(positions),
        positions[0],
        positions[-1],
        status_code,
        latency_ms,
        error[:1000] if error else None,
        delivered,
    )


async def list_attempts(
    pool: Any, subscription_id: uuid.UUID, *, before: int | None = None, limit: int = 100
) -> list[DeliveryAttempt]:
    """The latest attempts first (those before attempt `before`, when given)."""
    rows = await pool.fetch(
        "SELECT attempt_id, webhook_id, attempted_at, event_count, first_position,"
        " last_position, status_code, latency_ms, error, delivered FROM webhooks.deliveries"
        " WHERE subscription_id = $1 AND ($2::bigint IS NULL OR attempt_id < $2)"
        " ORDER BY attempt_id DESC LIMIT $3",
        subscription_id,
        before,
        limit,
    )
    return [DeliveryAttempt(**dict(row)) for row in rows]


async def prune_attempts(pool: Any, keep_days: int = 7) -> None:
    """Forget attempts older than `keep_days`: the log is for diagnosing, not for ever."""
    await pool.execute(
        "DELETE FROM webhooks.deliveries WHERE attempted_at < now() - make_interval(days => $1)",
        keep_days,
    )
