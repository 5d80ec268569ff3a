"""Visits and relationship facts: happy paths and refusals, messages checked."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import msgspec
import pytest

from domain import commands as c
from domain import events as e
from domain import relationship, visit
from domain.errors import (
    AlreadyExists,
    DatesOutOfOrder,
    InvalidTransition,
    InvalidValue,
    InvariantViolated,
    NotFound,
    NothingChanges,
    UnknownParty,
)
from domain.validity import in_force
from domain.values import PartialDate

from .builders import US_HEAD, I, V, indicator, milestone, visit_plan

DATES = PartialDate.parse("2022-03-10/2022-03-12")
PLANNED = (c.PlanVisit(visit_id=V, plan=visit_plan()),)
CONFIRMED = (*PLANNED, c.ConfirmVisitDates(visit_id=V, dates=DATES))


def visited(*commands: c.VisitCommand) -> visit.Visit:
    state = visit.initial_state
    for command in commands:
        state = visit.fold(visit.decide(state, command), state)
    return state


def test_plan_confirm_complete_visit():
    assert visited(*PLANNED).status == "planned"
    assert visited(*CONFIRMED).dates == DATES
    done = visited(*CONFIRMED, c.CompleteVisit(visit_id=V))
    assert (done.status, done.dates) == ("completed", DATES)


def test_log_postpone_cancel_correct_retract_visit():
    logged = visited(c.LogVisit(visit_id=V, plan=visit_plan(), dates=DATES))
    assert (logged.status, logged.dates) == ("completed", DATES)
    later = PartialDate.parse("second half of 2022")
    moved = visited(*CONFIRMED, c.PostponeVisit(visit_id=V, reason="x", window=later))
    assert (moved.status, moved.dates, moved.plan and moved.plan.window) == (
        "postponed",
        None,
        later,
    )
    assert visited(*PLANNED, c.CancelVisit(visit_id=V, reason="x")).status == "cancelled"
    fixed = visit_plan(host="KZ", visitor=US_HEAD)
    assert visited(*PLANNED, c.CorrectVisit(visit_id=V, plan=fixed, reason="x")).plan == fixed
    assert visited(*PLANNED, c.RetractVisit(visit_id=V, reason="x")).status == "retracted"
    assert visit.decide(visited(*PLANNED), PLANNED[0]) == []


VISIT_REFUSALS = [
    (
        (),
        c.PlanVisit(visit_id=V, plan=visit_plan(host="KZ")),
        InvariantViolated,
        "A visit crosses borders: A of KZ cannot visit KZ",
    ),
    (
        PLANNED,
        c.PlanVisit(visit_id=V, plan=visit_plan(host="UZ")),
        AlreadyExists,
        f"Visit {V} is already recorded with other details",
    ),
    ((), c.ConfirmVisitDates(visit_id=V, dates=DATES), NotFound, f"No visit {V} in the register"),
    (
        CONFIRMED,
        c.ConfirmVisitDates(visit_id=V, dates=DATES),
        NothingChanges,
        "Nothing changes: the visit's dates is already recorded so",
    ),
    (
        PLANNED,
        c.CompleteVisit(visit_id=V),
        InvariantViolated,
        f"Give the dates of visit {V}: none were confirmed",
    ),
    (
        (*CONFIRMED, c.CompleteVisit(visit_id=V)),
        c.CancelVisit(visit_id=V, reason="x"),
        InvalidTransition,
        f"Cannot cancel visit {V}: it is completed",
    ),
    (
        (*PLANNED, c.CancelVisit(visit_id=V, reason="x")),
        c.CompleteVisit(visit_id=V, dates=DATES),
        InvalidTransition,
        f"Cannot complete visit {V}: it is cancelled",
    ),
    (
        (*PLANNED, c.PostponeVisit(visit_id=V, reason="x")),
        c.PostponeVisit(visit_id=V, reason="x"),
        InvalidTransition,
        f"Cannot postpone visit {V}: it is postponed",
    ),
    (
        PLANNED,
        c.PostponeVisit(visit_id=V, reason="x", window=PartialDate.parse("2021")),
        DatesOutOfOrder,
        "Dates out of order: the new window (2021) cannot be before the planned first half of 2022",
    ),
    (
        PLANNED,
        c.CorrectVisit(visit_id=V, plan=visit_plan(), reason="x"),
        NothingChanges,
        "Nothing changes: the visit is already recorded so",
    ),
    (
        (*CONFIRMED, c.CompleteVisit(visit_id=V)),
        c.CorrectVisit(visit_id=V, plan=visit_plan(host="UZ"), reason="x"),
        InvariantViolated,
        f"Visit {V} took place: its dates cannot be removed",
    ),
    (
        (*PLANNED, c.RetractVisit(visit_id=V, reason="x")),
        c.RetractVisit(visit_id=V, reason="x"),
        NotFound,
        f"No visit {V} in the register",
    ),
]


@pytest.mark.parametrize(("history", "command", "error", "message"), VISIT_REFUSALS)
def test_visit_refusal(history, command, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        visit.decide(visited(*history), command)


PAIR = ("US", "KZ")
RECORD_I = c.RecordIndicator(parties=PAIR, indicator_id=I, indicator=indicator())
RECORD_M = c.RecordMilestone(parties=PAIR, milestone_id=I, milestone=milestone())


def related(*commands: c.RelationshipCommand) -> relationship.Relationship:
    state = relationship.initial_state
    for command in commands:
        state = relationship.fold(relationship.decide(state, command), state)
    return state


def test_indicators_recorded_corrected_retracted():
    state = related(RECORD_I)
    assert (state.parties, state.indicators) == (("KZ", "US"), {I: indicator()})
    fix = c.CorrectIndicator(parties=PAIR, indicator_id=I, indicator=indicator(3), reason="x")
    assert related(RECORD_I, fix).indicators[I] == indicator(3)
    gone = c.RetractIndicator(parties=PAIR, indicator_id=I, reason="x")
    assert related(RECORD_I, gone).indicators == {}
    assert relationship.decide(state, RECORD_I) == []


def test_milestones_recorded_corrected_retracted():
    assert related(RECORD_M).milestones == {I: milestone()}
    fix = c.CorrectMilestone(parties=PAIR, milestone_id=I, milestone=milestone("R"), reason="x")
    assert related(RECORD_M, fix).milestones[I].description == "R"
    gone = c.RetractMilestone(parties=PAIR, milestone_id=I, reason="x")
    assert related(RECORD_M, gone).milestones == {}


RELATIONSHIP_REFUSALS = [
    (
        (),
        c.RecordIndicator(parties=("KZ", "KZ"), indicator_id=I, indicator=indicator()),
        InvalidValue,
        "A relationship needs two distinct parties, not KZ twice",
    ),
    (
        (RECORD_I,),
        c.RecordIndicator(parties=PAIR, indicator_id=I, indicator=indicator(5)),
        AlreadyExists,
        f"Indicator {I} is already recorded with other details",
    ),
    (
        (),
        c.CorrectIndicator(parties=PAIR, indicator_id=I, indicator=indicator(), reason="x"),
        NotFound,
        f"No indicator {I} in the register",
    ),
    (
        (RECORD_I,),
        c.CorrectIndicator(parties=PAIR, indicator_id=I, indicator=indicator(), reason="x"),
        NothingChanges,
        "Nothing changes: the indicator is already recorded so",
    ),
    (
        (),
        c.RetractMilestone(parties=PAIR, milestone_id=I, reason="x"),
        NotFound,
        f"No milestone {I} in the register",
    ),
    (
        (RECORD_M,),
        c.CorrectMilestone(parties=PAIR, milestone_id=I, milestone=milestone(), reason="x"),
        NothingChanges,
        "Nothing changes: the milestone is already recorded so",
    ),
]


@pytest.mark.parametrize(("history", "command", "error", "message"), RELATIONSHIP_REFUSALS)
def test_relationship_refusal(history, command, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        relationship.decide(related(*history), command)


def test_unknown_party_refused_in_a_relationship():
    with pytest.raises(UnknownParty, match="Unknown party 'XX'"):
        c.RecordMilestone(parties=("KZ", "XX"), milestone_id=I, milestone=milestone())


def test_a_retracted_fact_does_not_come_back_when_its_create_is_sent_again():
    """A retried create after a retraction: the same fact is a no-op, another a refusal."""
    for record, gone, other in (
        (RECORD_I, c.RetractIndicator(parties=PAIR, indicator_id=I, reason="x"), indicator(9)),
        (RECORD_M, c.RetractMilestone(parties=PAIR, milestone_id=I, reason="x"), milestone("Z")),
    ):
        state = related(record, gone)
        assert relationship.decide(state, record) == []
        kind = "indicator" if isinstance(record, c.RecordIndicator) else "milestone"
        changed = msgspec.structs.replace(record, **{kind: other})
        with pytest.raises(AlreadyExists):
            relationship.decide(state, changed)


def test_valid_time_of_a_pairs_facts_follows_their_corrected_dates():
    """Recorded for 2019, then corrected to 2022; another recorded and retracted."""
    other = uuid.UUID(int=7)
    events = [
        *relationship.decide(relationship.initial_state, RECORD_I),
        e.IndicatorCorrected(
            parties=("KZ", "US"),
            indicator_id=I,
            indicator=msgspec.structs.replace(indicator(), period=PartialDate.parse("2022")),
            reason="the year was wrong",
        ),
        e.MilestoneRecorded(parties=("KZ", "US"), milestone_id=other, milestone=milestone()),
        e.MilestoneRetracted(parties=("KZ", "US"), milestone_id=other, reason="never"),
    ]
    for year, expected in ((2020, {}), (2021, {}), (2022, {I: 3}), (2030, {I: 3})):
        state = relationship.fold(in_force(events, dt.date(year, 6, 1)))
        assert {k: v.value for k, v in state.indicators.items()} == {
            k: indicator().value for k in expected
        }, year
        assert state.milestones == {}  # retracted: at no date
    assert relationship.fold(in_force(events[:1], dt.date(2020, 1, 1))).indicators == {
        I: indicator()
    }
