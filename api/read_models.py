"""Query endpoints over the reporting read models (reader role).

Lists are keyset-paginated: pass `next_cursor` back as `cursor`. Date filters (`from`,
`to`) are over valid time. Any query accepts `after_position` for read-your-writes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get
from litestar.params import Parameter

from api.auth import sees_audit_trail
from api.conditional import REVALIDATE
from api.freshness import wait_for_position
from api.parameters import text
from api.problems import problem, problem_responses
from api.relationships import parse_pair
from domain.errors import InvalidValue
from domain.values import party_code
from reporting.disclosure import disclosed
from reporting.listings import Filters, calendar_rows, get_row, list_rows

TAG = "read models"


class RowPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of read-model rows; `next_cursor` is null on the last page."""

    items: list[dict[str, Any]]
    next_cursor: str | None


FromDate = Annotated[dt.date | None, Parameter(query="from", description="valid time ≥")]
ToDate = Annotated[dt.date | None, Parameter(query="to", description="valid time <")]
Limit = Annotated[int, Parameter(ge=1, le=500)]
Order = Literal["asc", "desc"]


def party_filter(code: str | None) -> str | None:
    if code is None:
        return None
    try:
        return str(party_code(code.upper()))
    except InvalidValue as error:
        raise problem(422, str(error), kind="invalid-value") from None


FREE_TEXT_FILTERS = ("status", "kind", "topic", "name", "framework")


async def _page(
    request: Request[Any, Any, Any],
    listing: str,
    filters: Filters,
    cursor: str | None,
    limit: int,
    order: str,
    after_position: str | None,
) -> RowPage:
    for name in FREE_TEXT_FILTERS:
        text(getattr(filters, name), name)
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        items, following = await list_rows(
            connection,
            listing,
            filters,
            cursor=cursor,
            limit=limit,
            descending=order == "desc",
        )
    audit = sees_audit_trail(request)
    return RowPage(items=[disclosed(i, audit=audit) for i in items], next_cursor=following)


async def _one(
    request: Request[Any, Any, Any], listing: str, ident: Any, after_position: str | None
) -> dict[str, Any]:
    await wait_for_position(request, after_position)
    async with request.app.state.engine.connect() as connection:
        row = await get_row(connection, listing, ident)
    if row is None:
        raise problem(404, f"no {listing[:-1]} {ident} in the read model")
    return disclosed(row, audit=sees_audit_trail(request))


READ = {"permission": "read"}


@get(
    "/dialogues",
    summary="Dialogues (read model)",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def list_dialogues(
    request: Request[Any, Any, Any],
    party: str | None = None,
    status: str | None = None,
    name: str | None = None,
    cursor: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    after_position: str | None = None,
) -> RowPage:
    """Sorted by name."""
    filters = Filters(party=party_filter(party), status=status, name=name)
    return await _page(request, "dialogues", filters, cursor, limit, order, after_position)


@get(
    "/sessions",
    summary="Sessions (read model)",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def list_sessions(
    request: Request[Any, Any, Any],
    party: str | None = None,
    status: str | None = None,
    dialogue_id: uuid.UUID | None = None,
    topic: str | None = None,
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    cursor: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    after_position: str | None = None,
) -> RowPage:
    """Sorted by the held date, else the planned date."""
    filters = Filters(
        party=party_filter(party),
        status=status,
        dialogue_id=dialogue_id,
        topic=topic,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return await _page(request, "sessions", filters, cursor, limit, order, after_position)


@get(
    "/sessions/{session_id:uuid}",
    summary="One session (read model)",
    tags=[TAG],
    opt={**READ, "cache_control": REVALIDATE},
    responses=problem_responses(400, 401, 403, 404, 503),
)
async def get_session(
    request: Request[Any, Any, Any], session_id: uuid.UUID, after_position: str | None = None
) -> dict[str, Any]:
    """404 until the projection has it (use after_position after a write)."""
    return await _one(request, "sessions", session_id, after_position)


@get(
    "/outcomes",
    summary="Outcomes (read model)",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def list_outcomes(
    request: Request[Any, Any, Any],
    party: str | None = None,
    status: str | None = None,
    kind: str | None = None,
    dialogue_id: uuid.UUID | None = None,
    framework: Annotated[
        str | None, Parameter(description="a framework the outcome refers to, e.g. C5+1")
    ] = None,
    due_before: dt.date | None = None,
    overdue_as_of: dt.date | None = None,
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    cursor: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    after_position: str | None = None,
) -> RowPage:
    """Sorted by adoption date; `overdue_as_of` = open and past its target window then."""
    filters = Filters(
        party=party_filter(party),
        status=status,
        kind=kind,
        dialogue_id=dialogue_id,
        framework=framework,
        due_before=due_before,
        overdue_as_of=overdue_as_of,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return await _page(request, "outcomes", filters, cursor, limit, order, after_position)


@get(
    "/outcomes/{outcome_id:uuid}",
    summary="One outcome (read model)",
    tags=[TAG],
    opt={**READ, "cache_control": REVALIDATE},
    responses=problem_responses(400, 401, 403, 404, 503),
)
async def get_outcome(
    request: Request[Any, Any, Any], outcome_id: uuid.UUID, after_position: str | None = None
) -> dict[str, Any]:
    """With its latest progress and compliance per party."""
    return await _one(request, "outcomes", outcome_id, after_position)


@get(
    "/visits",
    summary="Visits (read model)",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def list_visits(
    request: Request[Any, Any, Any],
    party: str | None = None,
    status: str | None = None,
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    cursor: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    after_position: str | None = None,
) -> RowPage:
    """Sorted by planned window."""
    filters = Filters(
        party=party_filter(party), status=status, valid_from=valid_from, valid_to=valid_to
    )
    return await _page(request, "visits", filters, cursor, limit, order, after_position)


@get(
    "/indicators",
    summary="Indicators (read model)",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def list_indicators(
    request: Request[Any, Any, Any],
    party: str | None = None,
    name: str | None = None,
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    cursor: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    after_position: str | None = None,
) -> RowPage:
    """Sorted by period."""
    filters = Filters(
        party=party_filter(party), name=name, valid_from=valid_from, valid_to=valid_to
    )
    return await _page(request, "indicators", filters, cursor, limit, order, after_position)


@get(
    "/relationships/{pair:str}/timeline",
    summary="A pair's timeline (read model)",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def get_timeline(
    request: Request[Any, Any, Any],
    pair: str,
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    cursor: str | None = None,
    limit: Limit = 100,
    order: Order = "asc",
    after_position: str | None = None,
) -> RowPage:
    """One row per recorded change between the two parties, in log order; who made it
    (`actor`) is shown to auditors only."""
    filters = Filters(parties=parse_pair(pair), valid_from=valid_from, valid_to=valid_to)
    return await _page(request, "timeline", filters, cursor, limit, order, after_position)


@get(
    "/calendar",
    summary="Upcoming sessions and visits",
    tags=[TAG],
    opt=READ,
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def get_calendar(
    request: Request[Any, Any, Any],
    valid_from: FromDate = None,
    valid_to: ToDate = None,
    party: str | None = None,
    after_position: str | None = None,
) -> list[dict[str, Any]]:
    """Everything planned that has not ended before `from` (default: today, UTC)."""
    await wait_for_position(request, after_position)
    start = valid_from or dt.datetime.now(dt.UTC).date()
    async with request.app.state.engine.connect() as connection:
        rows = await calendar_rows(connection, start, valid_to, party_filter(party))
    audit = sees_audit_trail(request)
    return [disclosed(r, audit=audit) for r in rows]


routes = [
    list_dialogues,
    list_sessions,
    get_session,
    list_outcomes,
    get_outcome,
    list_visits,
    list_indicators,
    get_timeline,
    get_calendar,
]
