"""Official visits: planned, confirmed, completed, postponed, cancelled, or logged after."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from litestar import Response, get

from api.commanding import IfMatch, command_route
from api.conditional import REVALIDATE
from api.problems import problem_responses
from api.state import state_response
from domain import commands as c
from domain.streams import VISIT
from service.replaying import FoldedStates
from store.event_store import EventStore

V = "/visits/{visit_id:uuid}"
TAG = "visits"

routes = [
    command_route("/visits", c.PlanVisit, summary="Plan a visit", tag=TAG, created=True),
    command_route(
        "/visits/logged", c.LogVisit, summary="Log a visit after the fact", tag=TAG, created=True
    ),
    command_route(f"{V}/confirm", c.ConfirmVisitDates, summary="Confirm dates", tag=TAG),
    command_route(f"{V}/complete", c.CompleteVisit, summary="Record it was made", tag=TAG),
    command_route(f"{V}/postpone", c.PostponeVisit, summary="Postpone", tag=TAG),
    command_route(f"{V}/cancel", c.CancelVisit, summary="Cancel", tag=TAG),
    command_route(
        f"{V}/corrections",
        c.CorrectVisit,
        summary="Correct a visit",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(
        f"{V}/retraction",
        c.RetractVisit,
        summary="Retract a visit",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
]


@get(
    V,
    summary="A visit's state (replayed; as_of and valid_at as for dialogues)",
    tags=[TAG],
    opt={"permission": "read", "cache_control": REVALIDATE},
    responses=problem_responses(400, 401, 403, 404),
)
async def get_visit(
    read_store: EventStore,
    folded: FoldedStates,
    visit_id: uuid.UUID,
    as_of: dt.datetime | None = None,
    valid_at: dt.date | None = None,
) -> Response[dict[str, Any]]:
    """Replayed from the visit's stream."""
    return await state_response(
        read_store, folded, VISIT.stream_id(visit_id), as_of=as_of, valid_at=valid_at
    )


routes.append(get_visit)
