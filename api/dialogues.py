"""Dialogues: launching, leads, renaming, status, corrections; and their state."""

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
from domain.streams import DIALOGUE
from service.replaying import FoldedStates
from store.event_store import EventStore

D = "/dialogues/{dialogue_id:uuid}"
TAG = "dialogues"

routes = [
    command_route(
        "/dialogues", c.LaunchDialogue, summary="Launch a dialogue", tag=TAG, created=True
    ),
    command_route(
        f"{D}/corrections",
        c.CorrectDialogue,
        summary="Correct a dialogue's charter",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(f"{D}/rename", c.RenameDialogue, summary="Rename a dialogue", tag=TAG),
    command_route(f"{D}/leads", c.AppointLead, summary="Appoint or change a side's lead", tag=TAG),
    command_route(
        f"{D}/leads/corrections",
        c.CorrectLead,
        summary="Correct a lead",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(f"{D}/suspend", c.SuspendDialogue, summary="Suspend a dialogue", tag=TAG),
    command_route(f"{D}/resume", c.ResumeDialogue, summary="Resume a dialogue", tag=TAG),
    command_route(f"{D}/conclude", c.ConcludeDialogue, summary="Conclude a dialogue", tag=TAG),
    command_route(
        f"{D}/retraction",
        c.RetractDialogue,
        summary="Retract a dialogue recorded in error",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
]


@get(
    D,
    summary="A dialogue's state (replayed; as recorded at as_of, as valid at valid_at)",
    tags=[TAG],
    opt={"permission": "read", "cache_control": REVALIDATE},
    responses=problem_responses(400, 401, 403, 404),
)
async def get_dialogue(
    read_store: EventStore,
    folded: FoldedStates,
    dialogue_id: uuid.UUID,
    as_of: dt.datetime | None = None,
    valid_at: dt.date | None = None,
) -> Response[dict[str, Any]]:
    """Replayed from the stream, never from a read model, so auditors can trust it."""
    return await state_response(
        read_store, folded, DIALOGUE.stream_id(dialogue_id), as_of=as_of, valid_at=valid_at
    )


routes.append(get_dialogue)
