"""Property tests: any sequence of commands keeps the record consistent and replayable."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import codec
from domain import commands as c
from domain.dialogue import Dialogue
from domain.errors import DomainError
from domain.events import Event
from domain.facts import (
    FINAL_OUTCOME_STATUSES,
    Assessment,
    Charter,
    Indicator,
    Milestone,
    OutcomeTerms,
    Pledge,
    Progress,
    SessionPlan,
    SessionRecord,
    VisitPlan,
)
from domain.relationship import Relationship
from domain.streams import decider_for, stream_id_for
from domain.values import PartialDate, Person, Place, Statement
from domain.visit import Visit

D = uuid.UUID(int=1)
SESSIONS = [uuid.UUID(int=10), uuid.UUID(int=11)]
OUTCOMES = [uuid.UUID(int=20), uuid.UUID(int=21)]
NOTES = [uuid.UUID(int=30), uuid.UUID(int=31)]
VISITS = [uuid.UUID(int=40)]
FACTS = [uuid.UUID(int=50), uuid.UUID(int=51)]

parties = st.sampled_from(["KZ", "US", "UZ"])
dates = st.sampled_from(
    [
        PartialDate.parse(t)
        for t in ("2020", "2021-12-15", "early 2022", "first half of 2022", "2023-05")
    ]
)
maybe_dates = st.none() | dates
reasons = st.just("recorded in error")
people = st.builds(
    Person,
    name=st.sampled_from(["A", "B"]),
    title=st.just("Minister"),
    organization=st.just("MFA"),
    party=parties,
)
places = st.builds(Place, city=st.just("Almaty"), country=parties)
charters = st.builds(
    Charter,
    name=st.sampled_from(["ESPD", "Dialogue"]),
    acronym=st.none() | st.just("X"),
    format=st.sampled_from(["bilateral", "multilateral"]),
    parties=st.sampled_from([("KZ", "US"), ("KZ", "US", "UZ"), ("KZ", "KZ"), ("US", "UZ")]),
    launched_on=st.none() | st.just(PartialDate.parse("2021")),
)
plans = st.builds(SessionPlan, planned=dates, host=st.none() | parties, agreed_on=maybe_dates)
records = st.builds(
    SessionRecord,
    held_on=dates,
    place=places,
    heads=st.lists(people, min_size=0, max_size=3).map(tuple),
    members=st.lists(people, max_size=2).map(tuple),
    statements=st.lists(
        st.builds(Statement, by=st.tuples(parties), text=st.just("said")), max_size=2
    ).map(tuple),
)
terms = st.builds(
    OutcomeTerms,
    kind=st.sampled_from(["agreement", "commitment"]),
    text=st.sampled_from(["a", "b"]),
    responsible=st.lists(parties, min_size=0, max_size=2, unique=True).map(tuple),
    target=maybe_dates,
    pledges=st.lists(
        st.builds(
            Pledge,
            amount=st.sampled_from([Decimal("2.5"), Decimal("1000000"), Decimal("0.000001")]),
            currency=st.sampled_from(["USD", "EUR"]),
            programme=st.sampled_from(["", "Green Central Asia"]),
            by=st.none() | parties,
        ),
        max_size=2,
    ).map(tuple),
)
progresses = st.builds(Progress, note=st.sampled_from(["n", "m"]), on=maybe_dates)
assessments = st.builds(
    Assessment,
    party=parties,
    score=st.sampled_from([-1, 0, 1]),
    rationale=st.just("r"),
    assessor=st.just("G20 RG"),
    on=maybe_dates,
)
statuses = st.sampled_from(["adopted", "in progress", *sorted(FINAL_OUTCOME_STATUSES)])
visit_plans = st.builds(VisitPlan, visitor=people, host=parties, destination=places, window=dates)
pairs = st.sampled_from([("KZ", "US"), ("US", "KZ"), ("KZ", "UZ")])
indicators = st.builds(
    Indicator,
    name=st.just("trade"),
    period=dates,
    value=st.sampled_from([1, 2]).map(lambda v: __import__("decimal").Decimal(v)),
    unit=st.just("USD"),
)
milestones = st.builds(
    Milestone, kind=st.just("anniversary"), on=dates, description=st.sampled_from(["x", "y"])
)

ids = {"dialogue_id": st.just(D)}
sid = {**ids, "session_id": st.sampled_from(SESSIONS)}
oid = {**ids, "outcome_id": st.sampled_from(OUTCOMES)}
vid = {"visit_id": st.sampled_from(VISITS)}
iid = {"parties": pairs, "indicator_id": st.sampled_from(FACTS)}
mid = {"parties": pairs, "milestone_id": st.sampled_from(FACTS)}

command_strategy = st.one_of(
    st.builds(c.LaunchDialogue, charter=charters, **ids),
    st.builds(c.CorrectDialogue, charter=charters, reason=reasons, **ids),
    st.builds(c.RenameDialogue, name=st.sampled_from(["ESPD", "New"]), **ids),
    st.builds(c.AppointLead, lead=people, **ids),
    st.builds(c.CorrectLead, lead=people, reason=reasons, **ids),
    st.builds(c.SuspendDialogue, reason=reasons, **ids),
    st.builds(c.ResumeDialogue, **ids),
    st.builds(c.ConcludeDialogue, reason=reasons, **ids),
    st.builds(c.RetractDialogue, reason=reasons, **ids),
    st.builds(c.ScheduleSession, plan=plans, **sid),
    st.builds(c.RescheduleSession, plan=plans, reason=reasons, **sid),
    st.builds(c.CorrectSessionPlan, plan=plans, reason=reasons, **sid),
    st.builds(c.PostponeSession, reason=reasons, **sid),
    st.builds(c.CancelSession, reason=reasons, **sid),
    st.builds(c.HoldSession, record=records, **sid),
    st.builds(c.CorrectSessionRecord, record=records, reason=reasons, **sid),
    st.builds(c.RetractSession, reason=reasons, **sid),
    st.builds(c.AdoptOutcome, session_id=st.sampled_from(SESSIONS), terms=terms, **oid),
    st.builds(c.CorrectOutcome, terms=terms, reason=reasons, **oid),
    st.builds(c.RetractOutcome, reason=reasons, **oid),
    st.builds(c.RecordProgress, progress_id=st.sampled_from(NOTES), progress=progresses, **oid),
    st.builds(
        c.CorrectProgress,
        progress_id=st.sampled_from(NOTES),
        progress=progresses,
        reason=reasons,
        **oid,
    ),
    st.builds(c.RetractProgress, progress_id=st.sampled_from(NOTES), reason=reasons, **oid),
    st.builds(c.ChangeOutcomeStatus, status=statuses, effective=maybe_dates, **oid),
    st.builds(c.CorrectOutcomeStatus, status=statuses, reason=reasons, **oid),
    st.builds(c.AssessCompliance, assessment=assessments, **oid),
    st.builds(c.CorrectCompliance, assessment=assessments, reason=reasons, **oid),
    st.builds(c.PlanVisit, plan=visit_plans, **vid),
    st.builds(c.LogVisit, plan=visit_plans, dates=dates, **vid),
    st.builds(c.ConfirmVisitDates, dates=dates, **vid),
    st.builds(c.CompleteVisit, dates=maybe_dates, **vid),
    st.builds(c.PostponeVisit, reason=reasons, window=maybe_dates, **vid),
    st.builds(c.CancelVisit, reason=reasons, **vid),
    st.builds(c.CorrectVisit, plan=visit_plans, dates=maybe_dates, reason=reasons, **vid),
    st.builds(c.RetractVisit, reason=reasons, **vid),
    st.builds(c.RecordIndicator, indicator=indicators, **iid),
    st.builds(c.CorrectIndicator, indicator=indicators, reason=reasons, **iid),
    st.builds(c.RetractIndicator, reason=reasons, **iid),
    st.builds(c.RecordMilestone, milestone=milestones, **mid),
    st.builds(c.CorrectMilestone, milestone=milestones, reason=reasons, **mid),
    st.builds(c.RetractMilestone, reason=reasons, **mid),
)


KZ, US = (
    Person(name=n, title="Minister", organization="MFA", party=p)
    for n, p in (("A", "KZ"), ("B", "US"))
)
OPENING = [
    c.LaunchDialogue(
        dialogue_id=D, charter=Charter(name="ESPD", format="bilateral", parties=("KZ", "US"))
    ),
    c.HoldSession(
        dialogue_id=D,
        session_id=SESSIONS[0],
        record=SessionRecord(
            held_on=PartialDate.parse("2021-12-15"),
            place=Place(city="Almaty", country="KZ"),
            heads=(KZ, US),
        ),
    ),
]


def dialogue_violations(state: Dialogue) -> list[str]:
    if state.charter is None:
        return []
    parties = set(state.parties)
    found = []
    if len(parties) < 2 or (state.charter.format == "bilateral") != (len(parties) == 2):
        found.append("party count")
    found += [f"lead {p}" for p in state.leads if p not in parties]
    for session in state.sessions.values():
        if session.record:
            heads = [h.party for h in session.record.heads]
            if not heads or len(set(heads)) != len(heads) or not set(heads) <= parties:
                found.append(f"heads of {session.session_id}")
    for outcome in state.outcomes.values():
        if outcome.retracted:
            continue
        session = state.sessions[outcome.session_id]
        if session.status != "held":
            found.append(f"outcome {outcome.outcome_id} at a {session.status} session")
        if not set(outcome.terms.responsible) <= parties:
            found.append(f"responsible of {outcome.outcome_id}")
        if outcome.terms.target and outcome.terms.target.is_before(outcome.adopted_on):
            found.append(f"target of {outcome.outcome_id}")
    return found


def violations(state: Any) -> list[str]:
    if isinstance(state, Dialogue):
        return dialogue_violations(state)
    if isinstance(state, Visit) and state.plan:
        bad = state.plan.visitor.party == state.plan.host
        return ["visit to own party"] * bad + ["completed without dates"] * (
            state.status == "completed" and state.dates is None
        )
    if isinstance(state, Relationship) and state.parties:
        return [] if state.parties[0] < state.parties[1] else ["pair order"]
    return []


def assert_round_trips(event: Event) -> None:
    assert msgspec.json.decode(msgspec.json.encode(event), type=Event) == event
    tag, version, data = codec.encode_event(event)
    assert codec.decode_event(tag, version, data) == event
    stored = json.dumps(data, separators=(", ", ": "))  # as PostgreSQL gives a jsonb back
    assert codec.decode_payload(tag, version, stored) == event


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command_strategy, min_size=1, max_size=40))
def test_random_command_sequences_keep_the_record_consistent(commands):
    commands = [*OPENING, *commands]
    streams: dict[str, list[Event]] = {}
    states: dict[str, Any] = {}
    for command in commands:
        stream_id, decider = stream_id_for(command), decider_for(command)
        state = states.get(stream_id, decider.initial_state)
        try:
            new_events = decider.decide(state, command)
        except DomainError:
            continue
        for event in new_events:
            assert_round_trips(event)
            state = decider.evolve(state, event)
        assert violations(state) == [], (command, violations(state))
        states[stream_id] = state
        streams.setdefault(stream_id, []).extend(new_events)
    for stream_id, events in streams.items():
        decider = decider_for(next(cmd for cmd in commands if stream_id_for(cmd) == stream_id))
        assert decider.fold(events) == states[stream_id]
