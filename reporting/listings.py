"""The read models as filtered, sorted, keyset-paginated listings (SQLAlchemy Core).

Each listing names its filters; date filters apply to valid time (when things happened
or are planned in the world), never to recorded time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    any_,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from projections.tables import (
    dialogues,
    indicators,
    milestones,
    outcome_progress,
    outcomes,
    sessions,
    timeline,
    visits,
)
from reporting.keyset import MAX_LIMIT, after_cursor, decode_cursor, encode_cursor


@dataclass(frozen=True)
class Filters:
    """Everything a listing may be narrowed by; each listing uses the ones that apply."""

    party: str | None = None
    parties: tuple[str, str] | None = None
    dialogue_id: uuid.UUID | None = None
    status: str | None = None
    kind: str | None = None
    topic: str | None = None
    framework: str | None = None
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    due_before: dt.date | None = None
    overdue_as_of: dt.date | None = None
    name: str | None = None


@dataclass(frozen=True)
class Listing:
    """How one read model is listed: its query, sort key, id, and which filters mean what."""

    name: str
    query: Select[Any]
    sort: ColumnElement[Any]
    ident: ColumnElement[Any]
    when: ColumnElement[Any] | None = None
    party_of: Any = None


def _any_party(column: ColumnElement[Any], code: str) -> ColumnElement[bool]:
    return literal(code) == any_(column)


SESSION_DAY = func.coalesce(sessions.c.held_from, sessions.c.planned_from)

LISTINGS: dict[str, Listing] = {
    "dialogues": Listing(
        "dialogues",
        select(dialogues),
        dialogues.c.name,
        dialogues.c.dialogue_id,
        party_of=lambda code: _any_party(dialogues.c.parties, code),
    ),
    "sessions": Listing(
        "sessions",
        select(
            sessions, dialogues.c.name.label("dialogue_name"), dialogues.c.parties.label("parties")
        ).join(dialogues, dialogues.c.dialogue_id == sessions.c.dialogue_id),
        SESSION_DAY,
        sessions.c.session_id,
        when=SESSION_DAY,
        party_of=lambda code: _any_party(dialogues.c.parties, code),
    ),
    "outcomes": Listing(
        "outcomes",
        select(outcomes),
        outcomes.c.adopted_from,
        outcomes.c.outcome_id,
        when=outcomes.c.adopted_from,
        party_of=lambda code: _any_party(outcomes.c.responsible, code),
    ),
    "outcome_progress": Listing(
        "outcome_progress",
        select(outcome_progress),
        outcome_progress.c.progress_id,
        outcome_progress.c.progress_id,
        when=outcome_progress.c.on_from,
    ),
    "visits": Listing(
        "visits",
        select(visits),
        visits.c.window_from,
        visits.c.visit_id,
        when=func.coalesce(visits.c.dates_from, visits.c.window_from),
        party_of=lambda code: or_(visits.c.visitor_party == code, visits.c.host == code),
    ),
    "indicators": Listing(
        "indicators",
        select(indicators),
        indicators.c.period_from,
        indicators.c.indicator_id,
        when=indicators.c.period_from,
        party_of=lambda code: _any_party(indicators.c.parties, code),
    ),
    "milestones": Listing(
        "milestones",
        select(milestones),
        milestones.c.on_from,
        milestones.c.milestone_id,
        when=milestones.c.on_from,
        party_of=lambda code: _any_party(milestones.c.parties, code),
    ),
    "timeline": Listing(
        "timeline",
        select(timeline),
        timeline.c.position,
        timeline.c.position,
        when=timeline.c.occurred_from,
        party_of=lambda code: _any_party(timeline.c.parties, code),
    ),
}


def _literal_like(text: str) -> str:
    """`text` matched as typed: `%` and `_` in a name are characters, not wildcards."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _conditions(listing: Listing, f: Filters) -> list[ColumnElement[bool]]:
    table_columns = listing.query.selected_columns
    found: list[ColumnElement[bool]] = []
    if f.party and listing.party_of:
        found.append(listing.party_of(f.party))
    if f.parties and listing.party_of:
        found += [listing.party_of(f.parties[0]), listing.party_of(f.parties[1])]
    for name in ("dialogue_id", "status", "kind"):
        value = getattr(f, name)
        if value is not None and name in table_columns:
            found.append(table_columns[name] == value)
    if f.topic and "topics" in table_columns:
        found.append(literal(f.topic) == any_(table_columns["topics"]))
    if f.framework and "frameworks" in table_columns:
        found.append(literal(f.framework) == any_(table_columns["frameworks"]))
    if f.name and "name" in table_columns:
        found.append(table_columns["name"].ilike(f"%{_literal_like(f.name)}%", escape="\\"))
    if listing.when is not None and f.valid_from:
        found.append(listing.when >= f.valid_from)
    if listing.when is not None and f.valid_to:
        found.append(listing.when < f.valid_to)
    if "target_to" in table_columns:
        open_ = ~table_columns["is_final"]
        if f.due_before:
            found.append(and_(open_, table_columns["target_to"] <= f.due_before))
        if f.overdue_as_of:
            found.append(and_(open_, table_columns["target_to"] <= f.overdue_as_of))
    return found


async def list_rows(
    connection: AsyncConnection,
    listing_name: str,
    filters: Filters,
    *,
    cursor: str | None = None,
    limit: int = 100,
    descending: bool = False,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of a listing and the cursor to the next page (None at the end)."""
    listing = LISTINGS[listing_name]
    limit = max(1, min(limit, MAX_LIMIT))
    position = decode_cursor(listing.name, cursor) if cursor else None
    query = listing.query.where(*_conditions(listing, filters))
    query = query.add_columns(listing.sort.label("_sort"))
    query = after_cursor(query, listing.sort, listing.ident, position, descending=descending)
    rows = [dict(r._mapping) for r in (await connection.execute(query.limit(limit + 1))).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    following = None
    if more:
        last = rows[-1]
        following = encode_cursor(listing.name, last["_sort"], last[listing.ident.key])
    for row in rows:
        row.pop("_sort", None)
    return rows, following


async def get_row(
    connection: AsyncConnection, listing_name: str, ident: Any
) -> dict[str, Any] | None:
    """One row by id.

    The register refuses an id another stream already uses (store/entity_ids.py), but a
    log written before that may hold one id in two dialogues (the read models key rows
    by owner and id, migration 0012): the row of the lowest owner is then answered, the
    same one every time.
    """
    listing = LISTINGS[listing_name]
    keys = [c for c in listing.query.selected_columns if getattr(c, "primary_key", False)]
    query = listing.query.where(listing.ident == ident).order_by(*keys).limit(1)
    row = (await connection.execute(query)).first()
    return dict(row._mapping) if row else None


def calendar_query(start: dt.date, end: dt.date | None, party: str | None) -> Select[Any]:
    """Sessions and visits planned from `start` (until `end`), one shape for both."""
    session_part = (
        select(
            literal("session").label("kind"),
            sessions.c.session_id.label("id"),
            sessions.c.dialogue_id,
            dialogues.c.name.label("title"),
            sessions.c.status,
            sessions.c.planned_from.label("starts_on"),
            sessions.c.planned_to.label("ends_on"),
            sessions.c.planned_wording.label("wording"),
            sessions.c.place_city.label("city"),
            sessions.c.place_country.label("country"),
            dialogues.c.parties,
        )
        .join(dialogues, dialogues.c.dialogue_id == sessions.c.dialogue_id)
        .where(sessions.c.is_upcoming, sessions.c.planned_to > start)
    )
    visit_start = func.coalesce(visits.c.dates_from, visits.c.window_from)
    visit_part = select(
        literal("visit").label("kind"),
        visits.c.visit_id.label("id"),
        literal(None).label("dialogue_id"),
        (
            visits.c.visitor_name + " to " + func.coalesce(visits.c.destination_city, visits.c.host)
        ).label("title"),
        visits.c.status,
        visit_start.label("starts_on"),
        func.coalesce(visits.c.dates_to, visits.c.window_to).label("ends_on"),
        func.coalesce(visits.c.dates_wording, visits.c.window_wording).label("wording"),
        visits.c.destination_city.label("city"),
        visits.c.destination_country.label("country"),
        postgresql.array([visits.c.visitor_party, visits.c.host]).label("parties"),
    ).where(
        visits.c.is_open,
        func.coalesce(visits.c.dates_to, visits.c.window_to) > start,
    )
    everything = union_all(session_part, visit_part).subquery()
    query = select(everything)
    if end is not None:
        query = query.where(everything.c.starts_on < end)
    if party:
        query = query.where(literal(party) == any_(everything.c.parties))
    return query.order_by(everything.c.starts_on, everything.c.id)


async def calendar_rows(
    connection: AsyncConnection, start: dt.date, end: dt.date | None, party: str | None
) -> list[dict[str, Any]]:
    """The calendar's entries (`calendar_query`), in date order."""
    rows = await connection.execute(calendar_query(start, end, party))
    return [dict(r._mapping) for r in rows]


async def all_rows(
    connection: AsyncConnection, listing_name: str, filters: Filters
) -> list[dict[str, Any]]:
    """Every row of a listing in its order, for exports (which are read whole)."""
    listing = LISTINGS[listing_name]
    query = listing.query.where(*_conditions(listing, filters))
    query = query.order_by(listing.sort.asc(), listing.ident.asc())
    return [dict(r._mapping) for r in (await connection.execute(query)).all()]
