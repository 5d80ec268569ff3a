"""The iCalendar feed of sessions and visits, read from the read models.

Cancelled items stay in the feed with STATUS:CANCELLED, so subscribed calendars remove
them; SEQUENCE is the item's stream version, so every change is picked up as an update.
LAST-MODIFIED (and DTSTAMP) is when that version was recorded, so an unchanged register
gives a byte-identical feed and its ETag holds (api/conditional.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from reporting.formats import CalendarEntry

FEED_SQL = text("""
SELECT 'session' AS kind, s.session_id AS id, s.status, s.planned_from, s.planned_to,
       s.held_from, s.held_to, s.planned_precision, s.place_city, s.place_country,
       CASE WHEN s.held_from IS NULL THEN s.planned_precision ELSE s.held_precision END
           AS precision,
       CASE WHEN s.held_from IS NULL THEN s.planned_wording ELSE s.held_wording END AS wording,
       coalesce(d.acronym, d.name) AS title, d.name AS dialogue, d.parties,
       coalesce(v.version, 1) AS sequence,
       coalesce(t.modified, e.recorded_at, now()) AS modified
FROM reporting.sessions s
JOIN reporting.dialogues d USING (dialogue_id)
LEFT JOIN projection_state.stream_versions v
       ON v.projection = 'dialogues' AND v.stream_id = 'dialogue-' || s.dialogue_id
LEFT JOIN LATERAL (SELECT max(recorded_at) AS modified FROM reporting.relationship_timeline
                   WHERE stream_id = 'dialogue-' || s.dialogue_id) t ON true
LEFT JOIN event_store.events e
       ON e.stream_id = 'dialogue-' || s.dialogue_id AND e.version = v.version
WHERE coalesce(s.held_to, s.planned_to) > :since
  AND (CAST(:party AS text) IS NULL OR :party = ANY(d.parties))
UNION ALL
SELECT 'visit', x.visit_id, x.status, x.window_from, x.window_to, x.dates_from, x.dates_to,
       x.window_precision, x.destination_city, x.destination_country,
       CASE WHEN x.dates_from IS NULL THEN x.window_precision ELSE x.dates_precision END,
       CASE WHEN x.dates_from IS NULL THEN x.window_wording ELSE x.dates_wording END,
       x.visitor_name || ' (' || x.visitor_party || ') to ' || x.destination_city,
       coalesce(x.purpose, ''), ARRAY[x.visitor_party, x.host],
       coalesce(v.version, 1), coalesce(t.modified, e.recorded_at, now())
FROM reporting.visits x
LEFT JOIN projection_state.stream_versions v
       ON v.projection = 'visits' AND v.stream_id = 'visit-' || x.visit_id
LEFT JOIN LATERAL (SELECT max(recorded_at) AS modified FROM reporting.relationship_timeline
                   WHERE stream_id = 'visit-' || x.visit_id) t ON true
LEFT JOIN event_store.events e
       ON e.stream_id = 'visit-' || x.visit_id AND e.version = v.version
WHERE coalesce(x.dates_to, x.window_to) > :since
  AND (CAST(:party AS text) IS NULL OR :party IN (x.visitor_party, x.host))
""")

STATUS = {
    "scheduled": "tentative",
    "postponed": "tentative",
    "cancelled": "cancelled",
    "held": "confirmed",
    "planned": "tentative",
    "confirmed": "confirmed",
    "completed": "confirmed",
}


def entry(row: Any) -> CalendarEntry:
    """One feed entry; a dated plan is confirmed, a window ("first half of 2022") tentative
    and described as one."""
    starts, ends = row.held_from or row.planned_from, row.held_to or row.planned_to
    status = STATUS.get(row.status, "tentative")
    if row.kind == "session" and row.status == "scheduled" and row.planned_precision == "day":
        status = "confirmed"
    place = ", ".join(p for p in (row.place_city, row.place_country) if p)
    return CalendarEntry(
        uid=f"{row.kind}-{row.id}@entente",
        summary=f"{row.title} session" if row.kind == "session" else row.title,
        starts_on=starts,
        ends_on=ends,
        status=status,  # type: ignore[arg-type]
        sequence=int(row.sequence),
        last_modified=row.modified,
        location=place or None,
        description=f"{row.dialogue}: {row.status} ({'-'.join(sorted(row.parties))})"
        + _imprecision(row.precision, row.wording),
    )


def _imprecision(precision: str | None, wording: str | None) -> str:
    """A date known only to the month, quarter, half or year is the whole span it
    covers (DTSTART/DTEND); the description says so, in the record's own words."""
    if precision in (None, "day"):
        return ""
    return f'. Dates known only as "{wording or precision}": shown as that whole span.'


async def calendar_entries(
    connection: AsyncConnection, since: dt.date, party: str | None = None
) -> list[CalendarEntry]:
    """Every session and visit that ends after `since`, cancelled ones included."""
    rows = (await connection.execute(FEED_SQL, {"since": since, "party": party})).all()
    return [entry(row) for row in rows]
