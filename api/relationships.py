"""Relationships between two parties: indicators, milestones, state and merged history."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Response, get
from litestar.params import Parameter

from api.commanding import IfMatch, command_route
from api.conditional import REVALIDATE
from api.event_pages import PAGE_LIMIT, page_of
from api.freshness import ReadYourWrites
from api.parameters import moment
from api.problems import problem, problem_responses
from api.representation import EventView
from api.state import state_response
from domain import commands as c
from domain.errors import InvalidValue
from domain.values import pair_of
from reporting.catalogue import in_order
from reporting.relationship_history import (
    PairStream,
    pair_stream,
    pair_streams,
    relationship_history,
)
from service.replaying import FoldedStates
from store.database import Pool
from store.event_store import EventStore
from store.records import START, Cursor

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


MULTILATERAL = Parameter(
    description=(
        "Include events of dialogues of more than two parties (default true); false keeps"
        " bilateral dialogues, visits and the pair's own indicators and milestones"
    )
)


class DialogueSource(msgspec.Struct, frozen=True, kw_only=True):
    """The dialogue an event of a relationship's history came through."""

    dialogue_id: str
    party_count: int
    multilateral: bool


class RelationshipEventView(EventView, frozen=True, kw_only=True):
    """An event of a pair's history; `dialogue` is null for visits and the pair's own facts."""

    dialogue: DialogueSource | None


class RelationshipHistoryPage(msgspec.Struct, frozen=True, kw_only=True):
    """A page of a pair's merged history; pass `next_cursor` as `cursor` to continue."""

    events: list[RelationshipEventView]
    next_cursor: str | None


def dialogue_source(stream: PairStream) -> DialogueSource | None:
    """Which dialogue (and how many parties it has) a stream of the pair is, if any."""
    if stream.dialogue_id is None:
        return None
    return DialogueSource(
        dialogue_id=stream.dialogue_id,
        party_count=stream.party_count,
        multilateral=stream.party_count > 2,
    )


@get(
    R,
    summary="The pair's indicators and milestones (replayed)",
    tags=[TAG],
    opt={"permission": "read", "cache_control": REVALIDATE},
    responses=problem_responses(400, 401, 403, 404, 422, 503),
)
async def get_relationship(
    read_pool: Pool,
    read_store: EventStore,
    folded: FoldedStates,
    read_your_writes: ReadYourWrites,
    pair: str,
    as_of: dt.datetime | None = None,
    valid_at: dt.date | None = None,
    multilateral: Annotated[bool, MULTILATERAL] = True,
    after_position: str | None = None,
) -> Response[dict[str, Any]]:
    """The pair's own stream replayed. Any pair with history answers, also one that only
    met in a multilateral dialogue or a visit (version 0: no indicator or milestone yet;
    the history and the timeline say through which dialogues); 404 when the pair has no
    history at all by `as_of` (with `multilateral=false`, none outside multilateral
    dialogues). The body depends only on the pair's own stream, so its version stays the
    ETag that If-Match takes back and a 304 is never stale."""
    a, b = parse_pair(pair)
    await read_your_writes.read_models(after_position)
    streams = await pair_streams(
        read_pool,
        a,
        b,
        recorded_until=moment(as_of, "as_of"),
        multilateral=multilateral,
    )
    response = await state_response(
        read_store,
        folded,
        pair_stream(a, b),
        as_of=as_of,
        valid_at=valid_at,
        absent_ok=bool(streams),
    )
    assert isinstance(response.content, dict)
    if response.content["version"] == 0:
        response.content["state"]["parties"] = [a, b]
    return response


@get(
    f"{R}/history",
    summary="Every change between the two parties, in recorded order",
    tags=[TAG, "audit"],
    opt={"permission": "audit"},
    responses=problem_responses(400, 401, 403, 422, 503),
)
async def get_relationship_history(
    store: EventStore,
    read_pool: Pool,
    read_your_writes: ReadYourWrites,
    pair: str,
    cursor: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = PAGE_LIMIT,
    recorded_from: dt.datetime | None = None,
    recorded_until: dt.datetime | None = None,
    multilateral: Annotated[bool, MULTILATERAL] = True,
    after_position: str | None = None,
) -> RelationshipHistoryPage:
    """Dialogues (bilateral and, unless `multilateral=false`, multilateral), visits and the
    pair's own facts merged, each event with who and why and the dialogue it came through."""
    a, b = parse_pair(pair)
    since, until = moment(recorded_from, "recorded_from"), moment(recorded_until, "recorded_until")
    in_order(("recorded_from", since), ("recorded_until", until))
    await read_your_writes.read_models(after_position)
    after = Cursor.decode(cursor) if cursor else START
    page = await relationship_history(
        read_pool,
        a,
        b,
        after=after,
        limit=limit,
        recorded_from=since,
        recorded_until=until,
        multilateral=multilateral,
    )
    if not page.events:  # where a made-up cursor beyond the head would land
        await store.issued(after)
    records = [record for record, _ in page.events]
    served = page_of(records, page.cursor.encode(), limit)
    return RelationshipHistoryPage(
        events=[
            RelationshipEventView(**msgspec.structs.asdict(view), dialogue=dialogue_source(stream))
            for view, (_, stream) in zip(served.events, page.events, strict=True)
        ],
        next_cursor=served.next_cursor,
    )


routes += [get_relationship, get_relationship_history]
