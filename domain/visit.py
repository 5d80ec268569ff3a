"""The Visit aggregate, in its own stream.

A visit may come out of an outcome, but it is planned, moved and completed on its own
calendar, often by other people than those who record the dialogue, and many visits belong
to no dialogue at all. Its rules concern only itself, so it needs no dialogue in its stream;
the link to an outcome is a reference (OutcomeRef), not a shared consistency boundary.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal

import msgspec
from msgspec.structs import replace

from domain import commands as c
from domain import events as e
from domain.decider import Decider, decided, dispatch, echo, must_change, once
from domain.errors import DatesOutOfOrder, InvalidTransition, InvariantViolated, NotFound
from domain.facts import VisitPlan
from domain.values import PartialDate

VisitStatus = Literal[
    "unrecorded", "planned", "confirmed", "postponed", "completed", "cancelled", "retracted"
]


class Visit(msgspec.Struct, frozen=True, kw_only=True):
    visit_id: uuid.UUID | None = None
    status: VisitStatus = "unrecorded"
    plan: VisitPlan | None = None
    dates: PartialDate | None = None


initial_state = Visit()


def _check_plan(plan: VisitPlan) -> None:
    if plan.visitor.party == plan.host:
        raise InvariantViolated(
            f"A visit crosses borders: {plan.visitor.name} of {plan.host} cannot visit {plan.host}"
        )


def _existing(state: Visit, visit_id: uuid.UUID, allowed: set[str], action: str) -> VisitPlan:
    if state.plan is None or state.status == "retracted":
        raise NotFound("visit", visit_id)
    if state.status not in allowed:
        raise InvalidTransition(action, "visit", visit_id, state.status)
    return state.plan


_OPEN = {"planned", "confirmed", "postponed"}
_ANY = _OPEN | {"completed", "cancelled"}


def is_open(status: str) -> bool:
    """A planned, confirmed or postponed visit may still be made; the read models store
    this decision (`visits.is_open`) so the calendar never restates the statuses."""
    return status in _OPEN


def _plan(state: Visit, cmd: c.PlanVisit) -> list[e.VisitEvent]:
    _check_plan(cmd.plan)
    planned = echo(e.VisitPlanned, cmd)
    return once(state.plan, cmd.plan, "visit", cmd.visit_id, [planned])


def _log(state: Visit, cmd: c.LogVisit) -> list[e.VisitEvent]:
    _check_plan(cmd.plan)
    logged = echo(e.VisitLogged, cmd)
    existing = state.plan and (state.plan, state.dates)
    return once(existing, (cmd.plan, cmd.dates), "visit", cmd.visit_id, [logged])


def _confirm(state: Visit, cmd: c.ConfirmVisitDates) -> list[e.VisitEvent]:
    _existing(state, cmd.visit_id, _OPEN, "confirm the dates of")
    must_change(state.dates, cmd.dates, "visit's dates")
    return [echo(e.VisitDatesConfirmed, cmd)]


def _complete(state: Visit, cmd: c.CompleteVisit) -> list[e.VisitEvent]:
    _existing(state, cmd.visit_id, _OPEN, "complete")
    dates = cmd.dates or state.dates
    if dates is None:
        raise InvariantViolated(f"Give the dates of visit {cmd.visit_id}: none were confirmed")
    return [e.VisitCompleted(visit_id=cmd.visit_id, dates=dates, note=cmd.note)]


def _postpone(state: Visit, cmd: c.PostponeVisit) -> list[e.VisitEvent]:
    plan = _existing(state, cmd.visit_id, {"planned", "confirmed"}, "postpone")
    if cmd.window is not None and cmd.window.is_before(plan.window):
        raise DatesOutOfOrder(f"the new window ({cmd.window})", f"the planned {plan.window}")
    return [echo(e.VisitPostponed, cmd)]


def _cancel(state: Visit, cmd: c.CancelVisit) -> list[e.VisitEvent]:
    _existing(state, cmd.visit_id, _OPEN, "cancel")
    return [echo(e.VisitCancelled, cmd)]


def _correct(state: Visit, cmd: c.CorrectVisit) -> list[e.VisitEvent]:
    plan = _existing(state, cmd.visit_id, _ANY, "correct")
    must_change((plan, state.dates), (cmd.plan, cmd.dates), "visit")
    _check_plan(cmd.plan)
    if state.status == "completed" and cmd.dates is None:
        raise InvariantViolated(f"Visit {cmd.visit_id} took place: its dates cannot be removed")
    return [echo(e.VisitCorrected, cmd)]


def _retract(state: Visit, cmd: c.RetractVisit) -> list[e.VisitEvent]:
    _existing(state, cmd.visit_id, _ANY, "retract")
    return [echo(e.VisitRetracted, cmd)]


_DECISIONS: dict[type, Callable[[Visit, Any], list[e.VisitEvent]]] = {
    c.PlanVisit: _plan,
    c.LogVisit: _log,
    c.ConfirmVisitDates: _confirm,
    c.CompleteVisit: _complete,
    c.PostponeVisit: _postpone,
    c.CancelVisit: _cancel,
    c.CorrectVisit: _correct,
    c.RetractVisit: _retract,
}


def decide(state: Visit, command: c.VisitCommand) -> list[e.VisitEvent]:
    """The events a command causes, or a DomainError naming the rule it would break."""
    return decided(_DECISIONS, state, command)


def _postponed(state: Visit, ev: e.VisitPostponed) -> Visit:
    plan = (
        state.plan
        if ev.window is None or state.plan is None
        else replace(state.plan, window=ev.window)
    )
    return replace(state, status="postponed", plan=plan, dates=None)


_EVOLUTIONS: dict[type, Callable[[Visit, Any], Visit]] = {
    e.VisitPlanned: lambda s, ev: Visit(visit_id=ev.visit_id, status="planned", plan=ev.plan),
    e.VisitLogged: lambda s, ev: Visit(
        visit_id=ev.visit_id, status="completed", plan=ev.plan, dates=ev.dates
    ),
    e.VisitDatesConfirmed: lambda s, ev: replace(s, status="confirmed", dates=ev.dates),
    e.VisitCompleted: lambda s, ev: replace(s, status="completed", dates=ev.dates),
    e.VisitPostponed: _postponed,
    e.VisitCancelled: lambda s, ev: replace(s, status="cancelled"),
    e.VisitCorrected: lambda s, ev: replace(s, plan=ev.plan, dates=ev.dates),
    e.VisitRetracted: lambda s, ev: replace(s, status="retracted"),
}


def evolve(state: Visit, event: e.VisitEvent) -> Visit:
    return dispatch(_EVOLUTIONS, event)(state, event)  # type: ignore[no-any-return]


decider: Decider[Visit, c.VisitCommand, e.VisitEvent] = Decider(
    "visit", initial_state, decide, evolve
)


def fold(events: Iterable[e.VisitEvent], state: Visit = initial_state) -> Visit:
    return decider.fold(events, state)
