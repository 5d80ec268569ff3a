"""Tamper evidence: recompute every stream's hash chain from the stored rows alone.

Verification trusts nothing the writer computed: it rebuilds each payload hash from the
row's columns and each link from the previous row, and names the first link that breaks.
Verifying the whole log also recomputes the transparency log's tree from the events and
checks it against the stored leaves and the latest signed checkpoint
(store/transparency.py): a chain rewritten consistently still breaks there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from store.hashing import chain_hash, payload_hash
from store.transparency import TreeReport, verify_tree

ROWS_SQL = """SELECT position, stream_id, version, event_id, type, schema_version,
    data::text AS data, metadata::text AS metadata, valid_from, valid_to, recorded_at,
    prev_hash, hash
FROM event_store.events
WHERE ($1::text IS NULL OR stream_id = $1)
ORDER BY stream_id, version"""

TREE_EXISTS_SQL = "SELECT to_regclass('transparency.leaves') IS NOT NULL"


class BrokenLink(msgspec.Struct, frozen=True, kw_only=True):
    """The first event of a stream whose stored hash does not match its recomputation."""

    stream_id: str
    version: int
    position: int
    event_id: str
    reason: str


class VerificationReport(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one verification run."""

    streams_checked: int
    events_checked: int
    broken: list[BrokenLink]
    tree: TreeReport | None = None
    """The transparency log checked against the events (whole-log runs only)."""

    @property
    def intact(self) -> bool:
        """True when every chain recomputed to what is stored, and so did the tree."""
        return not self.broken and (self.tree is None or self.tree.intact)


def recompute_link(row: Any, prev_hash: bytes | None) -> bytes:
    """The chain link a stored row (ROWS_SQL's columns) should carry after `prev_hash`."""
    return chain_hash(
        prev_hash,
        row["stream_id"],
        row["version"],
        row["recorded_at"],
        payload_hash(
            event_id=row["event_id"],
            type=row["type"],
            schema_version=row["schema_version"],
            data=json.loads(row["data"]),
            metadata=json.loads(row["metadata"]),
            valid_from=row["valid_from"],
            valid_to=row["valid_to"],
        ),
    )


def _fault(row: Any, previous: Any | None) -> str | None:
    """Why this row breaks the chain, or None if it holds."""
    expected_version = previous["version"] + 1 if previous is not None else 1
    if row["version"] != expected_version:
        return f"version {row['version']} follows {expected_version - 1}: an event is missing"
    prev_hash = previous["hash"] if previous is not None else None
    if row["prev_hash"] != prev_hash:
        return "prev_hash does not match the previous event's hash"
    recomputed = recompute_link(row, prev_hash)
    if recomputed != row["hash"]:
        return "content does not match its hash: the event was altered after it was recorded"
    return None


async def _rows(pool: Any, stream_id: str | None) -> AsyncIterator[Any]:
    async with pool.acquire() as connection, connection.transaction(readonly=True):
        async for row in connection.cursor(ROWS_SQL, stream_id, prefetch=2000):
            yield row


async def verify(pool: Any, stream_id: str | None = None) -> VerificationReport:
    """Recompute one stream's chain, or every stream's (and then the tree), reporting each
    first broken link."""
    broken: list[BrokenLink] = []
    streams = events = 0
    previous: Any | None = None
    failed_stream: str | None = None
    async for row in _rows(pool, stream_id):
        events += 1
        if previous is None or previous["stream_id"] != row["stream_id"]:
            streams += 1
            previous = None
        if row["stream_id"] != failed_stream:
            reason = _fault(row, previous)
            if reason is not None:
                failed_stream = row["stream_id"]
                broken.append(
                    BrokenLink(
                        stream_id=row["stream_id"],
                        version=row["version"],
                        position=row["position"],
                        event_id=str(row["event_id"]),
                        reason=reason,
                    )
                )
        previous = row
    tree = None
    if stream_id is None and await pool.fetchval(TREE_EXISTS_SQL):  # not before 0009
        tree = await verify_tree(pool)
    return VerificationReport(
        streams_checked=streams, events_checked=events, broken=broken, tree=tree
    )
