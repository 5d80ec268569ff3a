"""The merged history of a relationship: every stream between two parties, in log order.

A relationship is not written to directly; its streams are the pair's own stream
(indicators, milestones), every dialogue whose parties include both — bilateral or
multilateral — and every visit between them. Which streams those are is read from the
timeline read model (`reporting.relationship_timeline`, whose `parties` column the domain
decides per event and a GIN index serves), never from payload JSON paths; the events
themselves come from the log, so a stream once found is complete up to the safe horizon.
A stream the timeline has not reached yet is left out until it does (the API's
`after_position` waits for it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from store.event_store import EVENT_COLUMNS, recorded_event
from store.records import START, Cursor, RecordedEvent

_PAIR_STREAMS = """pair_streams AS (
    SELECT stream_id,
           (array_agg(cardinality(parties) ORDER BY position DESC))[1] AS party_count
    FROM reporting.relationship_timeline
    WHERE parties @> $1::text[]
      AND ($2::timestamptz IS NULL OR recorded_at <= $2)
    GROUP BY stream_id
    HAVING $3::boolean OR (array_agg(cardinality(parties) ORDER BY position DESC))[1] <= 2
)"""
"""The pair's streams with the number of parties each stands between now (2 for visits and
the pair's own stream, the dialogue's parties for a dialogue); $3 false leaves out streams
of more than two parties (multilateral dialogues)."""

STREAMS_SQL = f"""WITH {_PAIR_STREAMS}
SELECT stream_id, party_count FROM pair_streams ORDER BY stream_id"""

HISTORY_SQL = f"""WITH {_PAIR_STREAMS},
horizon AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT {EVENT_COLUMNS}, party_count
FROM event_store.events AS e JOIN pair_streams USING (stream_id)
WHERE (transaction_id, position) > ($4::text::xid8, $5::bigint)
  AND transaction_id < (SELECT xmin FROM horizon)
  AND ($6::timestamptz IS NULL OR recorded_at >= $6)
  AND ($2::timestamptz IS NULL OR recorded_at <= $2)
ORDER BY e.transaction_id, e.position
LIMIT $7"""


class PairStream(msgspec.Struct, frozen=True, kw_only=True):
    """A stream between the pair and how many parties it is between."""

    stream_id: str
    party_count: int

    @property
    def dialogue_id(self) -> str | None:
        """The dialogue the stream is, if it is one."""
        return self.stream_id.removeprefix("dialogue-") if self.is_dialogue else None

    @property
    def is_dialogue(self) -> bool:
        return self.stream_id.startswith("dialogue-")


class HistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """A slice of the pair's history, each event with the stream it came through."""

    events: list[tuple[RecordedEvent, PairStream]]
    cursor: Cursor


def pair_stream(a: str, b: str) -> str:
    """The pair's own stream id, codes sorted."""
    first, second = sorted((a, b))
    return f"relationship-{first}-{second}"


async def pair_streams(
    pool: Any,
    a: str,
    b: str,
    *,
    recorded_until: dt.datetime | None = None,
    multilateral: bool = True,
) -> list[PairStream]:
    """The streams through which the pair has history recorded by `recorded_until`."""
    rows = await pool.fetch(STREAMS_SQL, sorted((a, b)), recorded_until, multilateral)
    return [PairStream(stream_id=r["stream_id"], party_count=r["party_count"]) for r in rows]


async def relationship_history(
    pool: Any,
    a: str,
    b: str,
    *,
    after: Cursor = START,
    limit: int = 100,
    recorded_from: dt.datetime | None = None,
    recorded_until: dt.datetime | None = None,
    multilateral: bool = True,
) -> HistoryPage:
    """One page of the pair's merged history, oldest first; `multilateral=False` keeps only
    the streams between exactly two parties (bilateral dialogues, visits, the pair's own)."""
    rows = await pool.fetch(
        HISTORY_SQL,
        sorted((a, b)),
        recorded_until,
        multilateral,
        str(after.transaction_id),
        after.position,
        recorded_from,
        limit,
    )
    events = [
        (
            recorded_event(row),
            PairStream(stream_id=row["stream_id"], party_count=row["party_count"]),
        )
        for row in rows
    ]
    return HistoryPage(events=events, cursor=events[-1][0].cursor if events else after)
