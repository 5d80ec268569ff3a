"""Which streams make up a relationship, for its audit bundle, from the read models.

A bundle takes a pair's dialogues and visits from the read models (`reporting.dialogues`,
`reporting.visits`, indexed by id), as the relationship history takes them from the
timeline read model (`reporting/relationship_history.py`), so it stays fast on a large log;
the cost is that a dialogue or visit the projections have not reached yet is left out
until they do
(docs/AUDIT.md: the server chooses the streams, the verifier checks each one it gets).
"""

from __future__ import annotations

from typing import Any

from reporting.relationship_history import pair_stream
from store.event_store import EVENT_COLUMNS, recorded_event
from store.records import RecordedEvent

STREAMS_SQL = """SELECT 'dialogue-' || dialogue_id AS stream_id FROM reporting.dialogues
WHERE parties @> $1::text[]
UNION
SELECT 'visit-' || visit_id FROM reporting.visits
WHERE ARRAY[visitor_party, host] @> $1::text[]"""

EVENTS_SQL = f"""SELECT {EVENT_COLUMNS} FROM event_store.events AS e
WHERE stream_id = ANY($1::text[])
ORDER BY e.transaction_id, e.position"""


async def relationship_events(pool: Any, a: str, b: str) -> list[RecordedEvent]:
    """Every event of the pair's own stream and of its dialogues and visits, in log order."""
    rows = await pool.fetch(STREAMS_SQL, sorted((a, b)))
    streams = [pair_stream(a, b), *(row["stream_id"] for row in rows)]
    return [recorded_event(row) for row in await pool.fetch(EVENTS_SQL, streams)]
