"""Sessions of a dialogue: schedule, reschedule, postpone, cancel, hold, correct, retract."""

from __future__ import annotations

from api.commanding import IfMatch, command_route
from domain import commands as c

S = "/dialogues/{dialogue_id:uuid}/sessions"
ONE = S + "/{session_id:uuid}"
TAG = "sessions"

routes = [
    command_route(S, c.ScheduleSession, summary="Schedule a session", tag=TAG, created=True),
    command_route(f"{ONE}/reschedule", c.RescheduleSession, summary="Reschedule", tag=TAG),
    command_route(f"{ONE}/postpone", c.PostponeSession, summary="Postpone", tag=TAG),
    command_route(f"{ONE}/cancel", c.CancelSession, summary="Cancel", tag=TAG),
    command_route(
        f"{ONE}/hold", c.HoldSession, summary="Record that the session was held", tag=TAG
    ),
    command_route(
        f"{ONE}/plan-corrections",
        c.CorrectSessionPlan,
        summary="Correct the plan",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(
        f"{ONE}/record-corrections",
        c.CorrectSessionRecord,
        summary="Correct the record of a held session",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
    command_route(
        f"{ONE}/retraction",
        c.RetractSession,
        summary="Retract a session",
        tag=TAG,
        if_match=IfMatch.REQUIRED,
    ),
]
