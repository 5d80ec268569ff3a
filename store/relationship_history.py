"""The merged history of a relationship: every stream between two parties, in log order.

A relationship is not written to directly; its streams are the pair's own stream
(indicators, milestones), every dialogue whose charter names both parties, and every
visit between them. Until the projections keep a stream→parties table, this is found by
looking at the events that state parties (charters and visit plans).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from store.event_store import EVENT_COLUMNS, _record
from store.records import START, Cursor, Page

HISTORY_SQL = f"""WITH horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
streams AS (
    SELECT DISTINCT stream_id FROM event_store.events
    WHERE stream_id = $1
       OR (starts_with(stream_id, 'dialogue-')
           AND jsonb_typeof(data->'charter'->'parties') = 'array'
           AND (data->'charter'->'parties') ?& $2::text[])
       OR (starts_with(stream_id, 'visit-')
           AND ARRAY[data->'plan'->'visitor'->>'party', data->'plan'->>'host'] @> $2::text[])
)
SELECT {EVENT_COLUMNS} FROM event_store.events AS e
WHERE stream_id IN (SELECT stream_id FROM streams)
  AND (transaction_id, position) > ($3::text::xid8, $4::bigint)
  AND transaction_id < (SELECT xmin FROM horizon)
  AND ($5::timestamptz IS NULL OR recorded_at >= $5)
  AND ($6::timestamptz IS NULL OR recorded_at <= $6)
ORDER BY e.transaction_id, e.position
LIMIT $7"""


def pair_stream(a: str, b: str) -> str:
    """The pair's own stream id, codes sorted."""
    first, second = sorted((a, b))
    return f"relationship-{first}-{second}"


async def relationship_history(
    pool: Any,
    a: str,
    b: str,
    *,
    after: Cursor = START,
    limit: int = 100,
    recorded_from: dt.datetime | None = None,
    recorded_until: dt.datetime | None = None,
) -> Page:
    """One page of the pair's merged history, oldest first."""
    rows = await pool.fetch(
        HISTORY_SQL,
        pair_stream(a, b),
        sorted((a, b)),
        str(after.transaction_id),
        after.position,
        recorded_from,
        recorded_until,
        limit,
    )
    events = [_record(row) for row in rows]
    return Page(events=events, cursor=events[-1].cursor if events else after)
