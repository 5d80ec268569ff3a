"""Looking up an idempotency key before deciding anything.

A retried command must get its original answer even when deciding it again would now be
refused (the session it held is already held), so the key is checked before the decider
runs; the append itself re-checks under the stream lock for retries that race.
"""

from __future__ import annotations

from typing import Any

import msgspec

RECALL_SQL = """SELECT fingerprint, stream_id, positions, versions, stream_version
FROM event_store.idempotency_keys WHERE key = $1"""


class Remembered(msgspec.Struct, frozen=True, kw_only=True):
    """What an earlier request with this key did."""

    fingerprint: bytes
    stream_id: str
    positions: tuple[int, ...]
    versions: tuple[int, ...]
    stream_version: int


async def recall(pool: Any, key: str) -> Remembered | None:
    """The earlier request's result for `key`, or None if the key is new."""
    row = await pool.fetchrow(RECALL_SQL, key)
    if row is None:
        return None
    return Remembered(
        fingerprint=bytes(row["fingerprint"]),
        stream_id=row["stream_id"],
        positions=tuple(row["positions"]),
        versions=tuple(row["versions"]),
        stream_version=row["stream_version"],
    )
