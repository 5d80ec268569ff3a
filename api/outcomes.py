"""Outcomes adopted at sessions, and what happened to them afterwards."""

from __future__ import annotations

from api.commanding import IfMatch, command_route
from domain import commands as c

OUTCOMES = "/dialogues/{dialogue_id:uuid}/outcomes"
ONE = OUTCOMES + "/{outcome_id:uuid}"
P = ONE + "/progress"
TAG = "outcomes"
REQUIRED = IfMatch.REQUIRED

routes = [
    command_route(
        OUTCOMES,
        c.AdoptOutcome,
        summary="Adopt an outcome at a held session",
        tag=TAG,
        created=True,
    ),
    command_route(
        f"{ONE}/corrections",
        c.CorrectOutcome,
        summary="Correct an outcome",
        tag=TAG,
        if_match=REQUIRED,
    ),
    command_route(
        f"{ONE}/retraction",
        c.RetractOutcome,
        summary="Retract an outcome",
        tag=TAG,
        if_match=REQUIRED,
    ),
    command_route(P, c.RecordProgress, summary="Record progress", tag=TAG, created=True),
    command_route(
        P + "/{progress_id:uuid}/corrections",
        c.CorrectProgress,
        summary="Correct a progress note",
        tag=TAG,
        if_match=REQUIRED,
    ),
    command_route(
        P + "/{progress_id:uuid}/retraction",
        c.RetractProgress,
        summary="Retract a progress note",
        tag=TAG,
        if_match=REQUIRED,
    ),
    command_route(f"{ONE}/status", c.ChangeOutcomeStatus, summary="Change status", tag=TAG),
    command_route(
        f"{ONE}/status-corrections",
        c.CorrectOutcomeStatus,
        summary="Correct a status",
        tag=TAG,
        if_match=REQUIRED,
    ),
    command_route(f"{ONE}/compliance", c.AssessCompliance, summary="Assess compliance", tag=TAG),
    command_route(
        f"{ONE}/compliance-corrections",
        c.CorrectCompliance,
        summary="Correct a compliance assessment",
        tag=TAG,
        if_match=REQUIRED,
    ),
]
