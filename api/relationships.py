"""Relationships between two parties: indicators, milestones, state and merged history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.params import Parameter

from api.commanding import IfMatch, command_route
from api.conditional import REVALIDATE
from api.paging import PAGE_LIMIT, EventPage, page_of
from api.parameters import moment
from api.problems import problem, problem_responses
from api.state import state_response
from domain import commands as c
from domain.errors import InvalidValue
from domain.values import pair_of
from store.records import START, Cursor
from store.relationship_history import pair_stream, relationship_history

R = "/relationships/{pair:str}"
TAG = "relationships"

routes: list[Any] = [
    command_route(
        f"{R}/indicators", c.RecordIndicator, summary="Record an indicator", tag=TAG, created=True
    ),
    command_route(
        R + "/indicators/{indicator_id:uuid}/corrections",
        c.CorrectIndicator,
        summary="Correct an indicator",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(
        R + "/indicators/{indicator_id:uuid}/retraction",
        c.RetractIndicator,
        summary="Retract an indicator",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(
        f"{R}/milestones", c.RecordMilestone, summary="Record a milestone", tag=TAG, created=True
    ),
    command_route(
        R + "/milestones/{milestone_id:uuid}/corrections",
        c.CorrectMilestone,
        summary="Correct a milestone",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(
        R + "/milestones/{milestone_id:uuid}/retraction",
        c.RetractMilestone,
        summary="Retract a milestone",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
]


def parse_pair(pair: str) -> tuple[str, str]:
    """'KZ-US' (either order, any case) → ('KZ', 'US'), validated as ISO codes."""
    parts = pair.upper().split("-")
    if len(parts) != 2:
        raise problem(400, f"a relationship is two party codes like KZ-US, not {pair!r}")
    try:
        first, second = pair_of(parts[0], parts[1])
    except InvalidValue as error:
        raise problem(422, str(error), kind="invalid-value") from None
    return first, second


@get(
    R,
    summary="The pair's indicators and milestones (replayed)",
    tags=[TAG],
    opt={"permission": "read", "cache_control": REVALIDATE},
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def get_relationship(
    request: Request[Any, Any, Any],
    pair: str,
    as_of: dt.datetime | None = None,
    valid_at: dt.date | None = None,
) -> Response[dict[str, Any]]:
    """Replayed from the pair's own stream."""
    a, b = parse_pair(pair)
    return await state_response(request, pair_stream(a, b), as_of=as_of, valid_at=valid_at)


@get(
    f"{R}/history",
    summary="Every change between the two parties, in recorded order",
    tags=[TAG, "audit"],
    opt={"permission": "audit"},
    responses=problem_responses(400, 401, 403, 422),
)
async def get_relationship_history(
    request: Request[Any, Any, Any],
    pair: str,
    cursor: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = PAGE_LIMIT,
    recorded_from: dt.datetime | None = None,
    recorded_until: dt.datetime | None = None,
) -> EventPage:
    """Dialogues, visits and the pair's own facts merged, each event with who and why."""
    a, b = parse_pair(pair)
    page = await relationship_history(
        request.app.state.pool,
        a,
        b,
        after=Cursor.decode(cursor) if cursor else START,
        limit=limit,
        recorded_from=moment(recorded_from, "recorded_from"),
        recorded_until=moment(recorded_until, "recorded_until"),
    )
    return page_of(page.events, page.cursor.encode(), limit)


routes += [get_relationship, get_relationship_history]
